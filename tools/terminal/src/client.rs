//! A protocol client over any byte stream: the channel's handshake, pairing, requests and
//! notifications, every frame sealed once the channel is open.

use crate::pairing::PairedReader;
use kaoyomi_protocol::channel::{Channel, Initiator, ReaderHello, StaticKey, TerminalHello};
use kaoyomi_protocol::{
    Body, DeviceInfo, Frame, FrameReader, Notification, PairingCode, Request, Response, SessionRequest,
};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Client errors.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The link failed or closed.
    #[error("link to the reader: {0}")]
    Io(#[from] std::io::Error),
    /// The reader closed the link.
    #[error("the reader closed the link")]
    Closed,
    /// Nothing arrived in time.
    #[error("the reader did not answer within {0:?}")]
    Timeout(Duration),
    /// The reader refused a request.
    #[error("the reader refused: {message} ({code:?})")]
    Refused {
        /// Code.
        code: kaoyomi_protocol::ErrorCode,
        /// Message.
        message: String,
    },
    /// The reader answered something that does not fit the request.
    #[error("unexpected answer from the reader: {0}")]
    Unexpected(String),
    /// The channel failed: a frame that does not open, a handshake that fails.
    #[error("the channel to the reader failed: {0}")]
    Channel(String),
    /// The reader's keys are not the ones pinned for its serial.
    #[error(
        "reader {0} presents other keys than the ones pinned when it was paired: refusing it (another device claiming its serial?)"
    )]
    RogueReader(String),
    /// The reader is not paired with this terminal.
    #[error("reader {0} is not paired with this terminal: pair it first (`kaoyomi-term pair`)")]
    NotPaired(String),
    /// The code typed is not the one of this connection: not the reader in front of the operator,
    /// or someone is between them.
    #[error(
        "the code typed is not this connection's code: a typo, another reader's display, or someone between the terminal and the reader"
    )]
    CodeMismatch,
}

impl ClientError {
    /// The link itself is gone (cable pulled, reader restarted), as opposed to a refusal or a
    /// time-out: the running session is lost and the link must be opened again.
    pub fn is_link_lost(&self) -> bool {
        match self {
            ClientError::Closed => true,
            ClientError::Io(e) => !matches!(e.kind(), std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock),
            _ => false,
        }
    }
}

/// A stream the client can put a read time-out on.
pub trait Link: Read + Write {
    /// Sets the read time-out.
    fn set_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()>;
}

#[cfg(unix)]
impl Link for std::os::unix::net::UnixStream {
    fn set_timeout(&mut self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.set_read_timeout(timeout)
    }
}

/// A connected reader.
pub struct Client<S: Link> {
    stream: S,
    frames: FrameReader,
    pending: VecDeque<Frame>,
    seq: u32,
    channel: Option<Channel>,
    reader: Option<ReaderHello>,
}

impl<S: Link> Client<S> {
    /// Wraps a connected stream without a channel: the reader serves such a client nothing
    /// (tests use it to put garbage on the link).
    pub fn new(stream: S) -> Self {
        Client { stream, frames: FrameReader::new(), pending: VecDeque::new(), seq: 1, channel: None, reader: None }
    }

    /// Connects over `stream`: the channel's handshake with the terminal's key `key`, telling the
    /// reader `name`. The reader's keys are not checked yet: [`Client::check_pinned`] does, or
    /// [`Client::pair`] pins them.
    pub fn connect(stream: S, key: &StaticKey, name: &str, timeout: Duration) -> Result<Self, ClientError> {
        let mut client = Client::new(stream);
        let (initiator, first) = Initiator::start(key).map_err(|e| ClientError::Channel(e.to_string()))?;
        client.write_frame(&first)?;
        let deadline = Instant::now() + timeout;
        // Frames an earlier program left on the same link (USB stays configured between
        // programs: the reader may still be sending what the last one did not read) are skipped.
        let answer = loop {
            match client.read_frame(deadline, timeout)? {
                frame @ Frame { body: Body::Handshake(_), .. } => break frame,
                Frame { body: Body::Response { response: Response::Error { code, message }, .. }, .. } => {
                    return Err(ClientError::Refused { code, message });
                }
                _ => continue,
            }
        };
        let hello = TerminalHello { name: name.to_string() };
        let (last, channel, reader) =
            initiator.finish(&answer, &hello).map_err(|e| ClientError::Channel(e.to_string()))?;
        client.write_frame(&last)?;
        client.channel = Some(channel);
        client.reader = Some(reader);
        Ok(client)
    }

    /// Connects and checks the reader against the keys pinned for its serial in `paired`
    /// (the terminal's store): a reader that is not there, or presents other keys, is refused.
    pub fn connect_paired(
        stream: S,
        key: &StaticKey,
        name: &str,
        paired: &[PairedReader],
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let client = Client::connect(stream, key, name, timeout)?;
        let serial = client.reader_serial().to_string();
        match paired.iter().find(|r| r.serial == serial) {
            Some(pinned) => client.check_pinned(pinned).map(|()| client),
            None => Err(ClientError::NotPaired(serial)),
        }
    }

    /// What the reader said it is in the handshake (serial, device key).
    pub fn reader_serial(&self) -> &str {
        self.reader.as_ref().map(|r| r.serial.as_str()).unwrap_or_default()
    }

    /// The reader's keys as this connection saw them (what pairing pins).
    pub fn reader_keys(&self) -> Option<PairedReader> {
        let (reader, channel) = (self.reader.as_ref()?, self.channel.as_ref()?);
        Some(PairedReader {
            serial: reader.serial.clone(),
            link_key: channel.remote_key(),
            device_key: reader.device_key,
        })
    }

    /// Checks that the reader presents the keys pinned for it.
    pub fn check_pinned(&self, pinned: &PairedReader) -> Result<(), ClientError> {
        match self.reader_keys() {
            Some(seen) if seen == *pinned => Ok(()),
            _ => Err(ClientError::RogueReader(pinned.serial.clone())),
        }
    }

    /// This connection's pairing code, as the terminal computes it. A terminal does not show it
    /// to its operator (the operator types the code the reader shows); tests use it in place of
    /// reading the reader's staff display.
    pub fn handshake_code(&self) -> Option<PairingCode> {
        self.channel.as_ref().map(Channel::pairing_code)
    }

    /// Pairs with the reader: `typed` is the code its staff display shows, as the operator typed
    /// it. It must equal this connection's own code (else someone is between them, or it is
    /// another reader's display) before it is sent; the reader checks it too. Returns the keys to
    /// keep.
    pub fn pair(&mut self, typed: PairingCode, timeout: Duration) -> Result<PairedReader, ClientError> {
        if self.handshake_code() != Some(typed) {
            return Err(ClientError::CodeMismatch);
        }
        match self.request(Request::Pair { code: typed }, timeout)? {
            Response::Paired => self.reader_keys().ok_or(ClientError::Channel("no channel".into())),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    fn write_frame(&mut self, frame: &Frame) -> Result<(), ClientError> {
        self.stream.write_all(&frame.encode())?;
        // USB endpoints send what was written only on flush.
        self.stream.flush()?;
        Ok(())
    }

    fn read_frame(&mut self, deadline: Instant, total: Duration) -> Result<Frame, ClientError> {
        loop {
            if let Some(frame) = self.pending.pop_front() {
                return Ok(frame);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout(total));
            }
            self.stream.set_timeout(Some(left))?;
            let mut buf = [0u8; 4096];
            let n = match self.stream.read(&mut buf) {
                Ok(0) => return Err(ClientError::Closed),
                Ok(n) => n,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => continue,
                Err(e) => return Err(e.into()),
            };
            for frame in self.frames.push(&buf[..n]) {
                let frame = match frame {
                    Ok(frame) => frame,
                    // Before the channel: what an earlier program on the same link left half
                    // read (USB) is skipped up to the next frame.
                    Err(_) if self.channel.is_none() => continue,
                    Err(e) => return Err(ClientError::Unexpected(e.to_string())),
                };
                let frame = match (&mut self.channel, &frame.body) {
                    (Some(channel), Body::Sealed(_)) => {
                        channel.open(&frame).map_err(|e| ClientError::Channel(e.to_string()))?
                    }
                    // Once the channel is open, nothing outside it is believed.
                    (Some(_), _) => return Err(ClientError::Channel("a frame outside the channel".into())),
                    (None, _) => frame,
                };
                self.pending.push_back(frame);
            }
        }
    }

    /// Sends a request without waiting for its answer; returns its sequence number.
    pub fn send(&mut self, request: Request) -> Result<u32, ClientError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let frame = Frame::new(seq, Body::Request(request));
        let frame = match &mut self.channel {
            Some(channel) => channel.seal(&frame).map_err(|e| ClientError::Channel(e.to_string()))?,
            None => frame,
        };
        self.write_frame(&frame)?;
        Ok(seq)
    }

    /// Sends a request and waits for its answer; notifications that arrive meanwhile are kept.
    pub fn request(&mut self, request: Request, timeout: Duration) -> Result<Response, ClientError> {
        let seq = self.send(request)?;
        let deadline = Instant::now() + timeout;
        let mut kept = VecDeque::new();
        let result = loop {
            match self.read_frame(deadline, timeout) {
                Ok(Frame { body: Body::Response { to, response }, .. }) if to == seq || to == 0 => {
                    break match response {
                        Response::Error { code, message } => Err(ClientError::Refused { code, message }),
                        other => Ok(other),
                    };
                }
                Ok(frame) => kept.push_back(frame),
                Err(e) => break Err(e),
            }
        };
        kept.append(&mut self.pending);
        self.pending = kept;
        result
    }

    /// Device info.
    pub fn device_info(&mut self, timeout: Duration) -> Result<DeviceInfo, ClientError> {
        match self.request(Request::GetDeviceInfo, timeout)? {
            Response::DeviceInfo(info) => Ok(info),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// Arms a session; returns its id.
    pub fn start_session(&mut self, request: SessionRequest, timeout: Duration) -> Result<u32, ClientError> {
        match self.request(Request::StartSession(request), timeout)? {
            Response::SessionStarted { session_id } => Ok(session_id),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    /// The next notification.
    pub fn next_notification(&mut self, timeout: Duration) -> Result<Notification, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.read_frame(deadline, timeout)? {
                Frame { body: Body::Notification(n), .. } => return Ok(n),
                Frame { body: Body::Response { response: Response::Error { code, message }, .. }, .. } => {
                    return Err(ClientError::Refused { code, message });
                }
                _ => continue,
            }
        }
    }

    /// Sends raw bytes (tests use this to put garbage on the link).
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.stream.write_all(bytes)?;
        Ok(self.stream.flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_dead_link_counts_as_lost() {
        let io = |kind| ClientError::Io(std::io::Error::new(kind, "x"));
        assert!(ClientError::Closed.is_link_lost());
        assert!(io(std::io::ErrorKind::ConnectionAborted).is_link_lost());
        assert!(io(std::io::ErrorKind::BrokenPipe).is_link_lost());
        assert!(!io(std::io::ErrorKind::TimedOut).is_link_lost());
        assert!(!ClientError::Timeout(Duration::from_secs(1)).is_link_lost());
        let refused = ClientError::Refused { code: kaoyomi_protocol::ErrorCode::Busy, message: "busy".into() };
        assert!(!refused.is_link_lost());
    }
}
