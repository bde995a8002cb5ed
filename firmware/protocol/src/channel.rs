//! The authenticated, encrypted channel between reader and terminal (feature `channel`).
//!
//! Every connection starts with a Noise `XX` handshake ([`NOISE_PARAMS`], through `snow`): each
//! side proves it holds its static X25519 key and learns the other's. After it every frame travels
//! sealed ([`Body::Sealed`]): ChaCha20-Poly1305 with the transport's implicit counter, so a frame
//! that is altered, replayed, dropped or reordered fails to open and the connection ends.
//!
//! Keys are pinned at pairing: the reader shows a six-digit [`PairingCode`] derived from the
//! handshake hash, the terminal's operator types it into the terminal, and the terminal compares
//! it with the code of its own handshake before sending it; a party in the middle has two
//! handshakes with two hashes, so the codes differ. The reader then keeps the terminal's key, the
//! terminal keeps the reader's key, serial and device key. Later handshakes are the same `XX`,
//! checked against the pinned keys (a peer whose key is not pinned gets only the pairing request).

use crate::{Body, DecodeError, Frame, MAX_FRAME_LEN, PairingCode};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// The Noise protocol name: XX pattern, X25519, ChaCha20-Poly1305, BLAKE2s.
pub const NOISE_PARAMS: &str = "Noise_XX_25519_ChaChaPoly_BLAKE2s";

/// Bound into every handshake: a handshake for another protocol or version fails.
pub const PROLOGUE: &[u8] = b"KAOYOMI-LINK-V2";

/// Largest frame carried inside a sealed frame, so that the sealed frame (tag and envelope added)
/// stays within [`MAX_FRAME_LEN`].
pub const MAX_INNER_LEN: usize = MAX_FRAME_LEN - 64;

/// A static X25519 key (the reader's or the terminal's). Wiped on drop; `Debug` shows only the
/// public half.
pub struct StaticKey {
    private: Zeroizing<[u8; 32]>,
    public: [u8; 32],
}

impl core::fmt::Debug for StaticKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "StaticKey(public {:02x?}..)", &self.public[..4])
    }
}

impl StaticKey {
    /// A key from 32 secret bytes (clamped by X25519 itself).
    pub fn from_secret(mut secret: [u8; 32]) -> StaticKey {
        use snow::resolvers::CryptoResolver;
        let private = Zeroizing::new(secret);
        secret.zeroize();
        let mut public = [0u8; 32];
        if let Some(mut dh) = snow::resolvers::DefaultResolver.resolve_dh(&snow::params::DHChoice::Curve25519) {
            dh.set(private.as_slice());
            public.copy_from_slice(&dh.pubkey()[..32]);
        }
        StaticKey { private, public }
    }

    /// A new key from the OS random source.
    pub fn generate() -> Result<StaticKey, ChannelError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|_| ChannelError::Crypto)?;
        Ok(StaticKey::from_secret(secret))
    }

    /// The public half, which the other side pins.
    pub fn public(&self) -> [u8; 32] {
        self.public
    }

    /// The secret bytes (to store them).
    pub fn secret(&self) -> &[u8; 32] {
        &self.private
    }
}

/// What the reader tells about itself inside the handshake (encrypted, authenticated by it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReaderHello {
    /// Serial number.
    pub serial: String,
    /// The Ed25519 key that signs reports.
    pub device_key: [u8; 32],
    /// Whether the reader has this terminal's key pinned (known only once the terminal's key
    /// came; always false in the handshake, filled by [`Responder::finish`] for the reader's use).
    pub paired: bool,
}

/// What the terminal tells about itself inside the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TerminalHello {
    /// A name for the staff (the terminal's host name), shown when pairing.
    pub name: String,
}

/// Why the channel failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChannelError {
    /// A handshake or sealed message that does not open (altered, replayed, out of order, or
    /// made with other keys).
    Crypto,
    /// A frame that is not the expected step of the handshake, or a sealed frame before it ended.
    Unexpected,
    /// The payload inside does not decode.
    Decode(DecodeError),
    /// A frame to seal is longer than [`MAX_INNER_LEN`].
    TooLong,
}

impl core::fmt::Display for ChannelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ChannelError::Crypto => {
                f.write_str("a message failed to authenticate (altered, replayed or from another key)")
            }
            ChannelError::Unexpected => f.write_str("a message out of the channel's order"),
            ChannelError::Decode(e) => write!(f, "inside the channel: {e}"),
            ChannelError::TooLong => f.write_str("a frame too long to seal"),
        }
    }
}

impl From<snow::Error> for ChannelError {
    fn from(_: snow::Error) -> ChannelError {
        ChannelError::Crypto
    }
}

/// The pairing code of a handshake: six digits from its hash.
fn pairing_code(hash: &[u8]) -> PairingCode {
    use blake2::Digest;
    let digest = blake2::Blake2s256::new().chain_update(b"KAOYOMI-PAIRING-CODE\0").chain_update(hash).finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    PairingCode((u64::from_be_bytes(first) % 1_000_000) as u32)
}

fn handshake(key: &StaticKey, initiator: bool) -> Result<snow::HandshakeState, ChannelError> {
    // The parameters are a constant that parses.
    let params: snow::params::NoiseParams = NOISE_PARAMS.parse().map_err(|_| ChannelError::Crypto)?;
    let builder = snow::Builder::new(params).local_private_key(key.secret())?.prologue(PROLOGUE)?;
    Ok(if initiator { builder.build_initiator()? } else { builder.build_responder()? })
}

fn handshake_frame(hs: &mut snow::HandshakeState, payload: &[u8]) -> Result<Frame, ChannelError> {
    let mut message = vec![0u8; payload.len() + 256];
    let n = hs.write_message(payload, &mut message)?;
    message.truncate(n);
    Ok(Frame::new(0, Body::Handshake(message)))
}

fn read_handshake(hs: &mut snow::HandshakeState, frame: &Frame) -> Result<Zeroizing<Vec<u8>>, ChannelError> {
    let Body::Handshake(message) = &frame.body else { return Err(ChannelError::Unexpected) };
    let mut payload = Zeroizing::new(vec![0u8; message.len()]);
    let n = hs.read_message(message, &mut payload)?;
    payload.truncate(n);
    Ok(payload)
}

/// The terminal's side of a handshake in progress.
pub struct Initiator {
    hs: snow::HandshakeState,
}

impl Initiator {
    /// Starts a handshake with `key`; returns the first frame to send.
    pub fn start(key: &StaticKey) -> Result<(Initiator, Frame), ChannelError> {
        let mut hs = handshake(key, true)?;
        let frame = handshake_frame(&mut hs, &[])?;
        Ok((Initiator { hs }, frame))
    }

    /// Takes the reader's answer; returns the last frame to send, the open channel, what the
    /// reader says it is and its static key (which the caller checks against a pinned one).
    pub fn finish(
        mut self,
        answer: &Frame,
        hello: &TerminalHello,
    ) -> Result<(Frame, Channel, ReaderHello), ChannelError> {
        let payload = read_handshake(&mut self.hs, answer)?;
        let reader: ReaderHello =
            postcard::from_bytes(&payload).map_err(|_| ChannelError::Decode(DecodeError::Malformed))?;
        let bytes = postcard::to_allocvec(hello).map_err(|_| ChannelError::TooLong)?;
        let last = handshake_frame(&mut self.hs, &bytes)?;
        let channel = Channel::from(self.hs)?;
        Ok((last, channel, reader))
    }
}

/// The reader's side of a handshake in progress.
pub struct Responder {
    hs: snow::HandshakeState,
}

impl Responder {
    /// Answers the terminal's first frame, telling `hello` (encrypted to the terminal's ephemeral
    /// key, authenticated by the reader's static key).
    pub fn answer(key: &StaticKey, first: &Frame, hello: &ReaderHello) -> Result<(Responder, Frame), ChannelError> {
        let mut hs = handshake(key, false)?;
        read_handshake(&mut hs, first)?;
        let bytes = postcard::to_allocvec(hello).map_err(|_| ChannelError::TooLong)?;
        let frame = handshake_frame(&mut hs, &bytes)?;
        Ok((Responder { hs }, frame))
    }

    /// Takes the terminal's last frame; returns the open channel and what the terminal says.
    pub fn finish(mut self, last: &Frame) -> Result<(Channel, TerminalHello), ChannelError> {
        let payload = read_handshake(&mut self.hs, last)?;
        let hello: TerminalHello =
            postcard::from_bytes(&payload).map_err(|_| ChannelError::Decode(DecodeError::Malformed))?;
        Ok((Channel::from(self.hs)?, hello))
    }
}

/// An open channel: seals frames for the other side and opens theirs.
pub struct Channel {
    transport: snow::TransportState,
    remote: [u8; 32],
    code: PairingCode,
}

impl Channel {
    fn from(hs: snow::HandshakeState) -> Result<Channel, ChannelError> {
        let code = pairing_code(hs.get_handshake_hash());
        let remote: [u8; 32] =
            hs.get_remote_static().and_then(|k| k.try_into().ok()).ok_or(ChannelError::Unexpected)?;
        Ok(Channel { transport: hs.into_transport_mode()?, remote, code })
    }

    /// The other side's static key.
    pub fn remote_key(&self) -> [u8; 32] {
        self.remote
    }

    /// The code both sides derive from this handshake.
    pub fn pairing_code(&self) -> PairingCode {
        self.code
    }

    /// Seals `frame` into a [`Body::Sealed`] frame.
    pub fn seal(&mut self, frame: &Frame) -> Result<Frame, ChannelError> {
        let plain = Zeroizing::new(postcard::to_allocvec(frame).map_err(|_| ChannelError::TooLong)?);
        if plain.len() > MAX_INNER_LEN {
            return Err(ChannelError::TooLong);
        }
        let mut sealed = vec![0u8; plain.len() + 16];
        let n = self.transport.write_message(&plain, &mut sealed)?;
        sealed.truncate(n);
        Ok(Frame::new(0, Body::Sealed(sealed)))
    }

    /// Opens a [`Body::Sealed`] frame; any failure means the connection is to be closed.
    pub fn open(&mut self, frame: &Frame) -> Result<Frame, ChannelError> {
        let Body::Sealed(sealed) = &frame.body else { return Err(ChannelError::Unexpected) };
        let mut plain = Zeroizing::new(vec![0u8; sealed.len()]);
        let n = self.transport.read_message(sealed, &mut plain)?;
        let inner: Frame =
            postcard::from_bytes(&plain[..n]).map_err(|_| ChannelError::Decode(DecodeError::Malformed))?;
        if inner.version != crate::PROTOCOL_VERSION {
            return Err(ChannelError::Decode(DecodeError::Version(inner.version)));
        }
        if matches!(inner.body, Body::Sealed(_) | Body::Handshake(_)) {
            return Err(ChannelError::Unexpected);
        }
        Ok(inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> StaticKey {
        StaticKey::from_secret([n; 32])
    }

    fn hello() -> ReaderHello {
        ReaderHello { serial: "KY-0000000001".into(), device_key: [9; 32], paired: false }
    }

    fn open_pair(reader: &StaticKey, terminal: &StaticKey) -> (Channel, Channel) {
        let (initiator, first) = Initiator::start(terminal).unwrap();
        let (responder, answer) = Responder::answer(reader, &first, &hello()).unwrap();
        let (last, t, said) = initiator.finish(&answer, &TerminalHello { name: "desk".into() }).unwrap();
        assert_eq!(said, hello());
        let (r, name) = responder.finish(&last).unwrap();
        assert_eq!(name.name, "desk");
        (r, t)
    }

    #[test]
    fn both_sides_learn_each_others_key_and_the_same_code() {
        let (reader, terminal) = (key(1), key(2));
        let (mut r, mut t) = open_pair(&reader, &terminal);
        assert_eq!(r.remote_key(), terminal.public());
        assert_eq!(t.remote_key(), reader.public());
        assert_eq!(r.pairing_code(), t.pairing_code());
        let request = Frame::new(5, Body::Request(crate::Request::GetDeviceInfo));
        let sealed = t.seal(&request).unwrap();
        assert_eq!(r.open(&sealed).unwrap(), request);
        // The next handshake has another hash, so another code.
        let (r2, _) = open_pair(&reader, &terminal);
        assert_ne!(r2.pairing_code().0, r.pairing_code().0);
    }

    #[test]
    fn replayed_altered_or_reordered_frames_do_not_open() {
        let (mut r, mut t) = open_pair(&key(1), &key(2));
        let a = t.seal(&Frame::new(1, Body::Request(crate::Request::GetDeviceInfo))).unwrap();
        let b = t.seal(&Frame::new(2, Body::Request(crate::Request::GetDeviceInfo))).unwrap();
        // Out of order.
        assert_eq!(r.open(&b), Err(ChannelError::Crypto));
        let (mut r, mut t) = open_pair(&key(1), &key(2));
        let a2 = t.seal(&Frame::new(1, Body::Request(crate::Request::GetDeviceInfo))).unwrap();
        assert!(r.open(&a2).is_ok());
        // Replayed.
        assert_eq!(r.open(&a2), Err(ChannelError::Crypto));
        // Altered.
        let mut altered = t.seal(&Frame::new(3, Body::Request(crate::Request::GetDeviceInfo))).unwrap();
        if let Body::Sealed(bytes) = &mut altered.body {
            bytes[0] ^= 1;
        }
        assert_eq!(r.open(&altered), Err(ChannelError::Crypto));
        // A frame of another connection.
        assert_eq!(r.open(&a), Err(ChannelError::Crypto));
    }

    #[test]
    fn a_party_in_the_middle_sees_other_codes_on_each_side() {
        let (reader, terminal, middle) = (key(1), key(2), key(3));
        let (r, _) = open_pair(&reader, &middle);
        let (_, t) = open_pair(&middle, &terminal);
        assert_ne!(r.pairing_code(), t.pairing_code());
        assert_eq!(t.remote_key(), middle.public(), "the terminal sees the middle's key, not the reader's");
    }

    #[test]
    fn codes_parse_and_print_as_six_digits() {
        assert_eq!(PairingCode::parse("012 345"), Some(PairingCode(12345)));
        assert_eq!(PairingCode::parse("12345"), None);
        assert_eq!(PairingCode::parse("12a456"), None);
        assert_eq!(alloc::format!("{}", PairingCode(12345)), "012 345");
        assert_eq!(alloc::format!("{:?}", PairingCode(12345)), "PairingCode(..)");
    }
}
