//! The reader <-> terminal protocol of Kaoyomi.
//!
//! Every message travels in a [`Frame`]: a protocol version byte, a sequence number and a [`Body`],
//! encoded with postcard and delimited with COBS (a zero byte ends each frame), so a receiver that
//! meets garbage resynchronises at the next zero byte instead of losing the link.
//! The same frames run over a local socket (sim board) and over USB bulk endpoints (device).
//!
//! Results are signed: the reader encodes a [`SessionReport`] to bytes, signs those exact bytes with
//! its Ed25519 device key and sends both in a [`SignedReport`]; the terminal verifies before decoding.
//! `docs/protocol.md` in the repository describes the endpoints; the golden-byte tests below pin the
//! encoding so that a change to the wire format cannot go unnoticed.
#![no_std]

extern crate alloc;

#[cfg(feature = "channel")]
pub mod channel;

use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// Version of the wire format; a peer with another major version is refused with [`ErrorCode::Version`].
pub const PROTOCOL_VERSION: u8 = 2;

/// Largest encoded frame either side accepts (before COBS); anything longer is garbage.
pub const MAX_FRAME_LEN: usize = 16 * 1024;

/// Largest 利用者証明用 certificate the reader puts in a report (a card's is about 1.5 KB); a card
/// offering a longer one is refused as unreadable, so that every report fits in one frame
/// (a test checks the largest report against [`MAX_FRAME_LEN`]).
pub const MAX_CERTIFICATE_LEN: usize = 8 * 1024;

/// Largest card signature a report carries (RSA-4096 and below).
pub const MAX_CARD_SIGNATURE_LEN: usize = 512;

/// Context string the card's 利用者証明用 signature covers, ahead of the terminal's nonce.
///
/// The card signs `DigestInfo(SHA-256(CARD_CHALLENGE_CONTEXT || nonce))` with PKCS#1 v1.5: the
/// context stops a reader from being used as an oracle that makes cards sign arbitrary digests.
pub const CARD_CHALLENGE_CONTEXT: &[u8] = b"KAOYOMI-PIN-AUTH-V1\0";

/// Context tag ahead of the report bytes in what the reader's device key signs: a signature made
/// for a report of this version can never be taken for anything else the key signs, nor for
/// another version's report.
pub const REPORT_CONTEXT: &[u8] = b"KAOYOMI-REPORT-V2\0";

/// Context tag ahead of a [`SessionRequest`]'s bytes in [`SessionRequest::digest`].
pub const REQUEST_CONTEXT: &[u8] = b"KAOYOMI-REQUEST-V2\0";

/// What the reader's device key signs for report bytes `report`: [`REPORT_CONTEXT`] ‖ `report`.
pub fn report_signing_message(report: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(REPORT_CONTEXT.len() + report.len());
    message.extend_from_slice(REPORT_CONTEXT);
    message.extend_from_slice(report);
    message
}

/// Message the card signs on the PIN path for a given terminal nonce.
pub fn card_challenge_message(nonce: &[u8; 32]) -> Vec<u8> {
    let mut message = Vec::with_capacity(CARD_CHALLENGE_CONTEXT.len() + nonce.len());
    message.extend_from_slice(CARD_CHALLENGE_CONTEXT);
    message.extend_from_slice(nonce);
    message
}

/// One unit on the link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// [`PROTOCOL_VERSION`] of the sender.
    pub version: u8,
    /// Sender's sequence number; a response names the request's in [`Body::Response`].
    pub seq: u32,
    /// The message.
    pub body: Body,
}

/// What a frame carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Terminal -> reader.
    Request(Request),
    /// Reader -> terminal, answering the request with sequence number `to`.
    Response {
        /// Sequence number of the request answered.
        to: u32,
        /// The answer.
        response: Response,
    },
    /// Reader -> terminal, unsolicited: progress and results.
    Notification(Notification),
    /// A Noise handshake message (`channel`): the first frames of every connection.
    Handshake(Vec<u8>),
    /// A frame sealed in the channel (`channel`): after the handshake, every frame travels so.
    Sealed(Vec<u8>),
}

/// Six digits both sides of a handshake derive from its hash (`channel`); equal only when no one
/// is between them. `Debug` does not show them.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairingCode(pub u32);

impl core::fmt::Display for PairingCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:03} {:03}", self.0 / 1000, self.0 % 1000)
    }
}

impl core::fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("PairingCode(..)")
    }
}

impl PairingCode {
    /// Parses six digits, spaces allowed ("123 456").
    pub fn parse(text: &str) -> Option<PairingCode> {
        let digits: alloc::string::String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.len() != 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(PairingCode)
    }
}

/// Requests (the endpoints) a terminal may send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Who are you? Answered with [`Response::DeviceInfo`].
    GetDeviceInfo,
    /// Arm the reader for one patient. Answered with [`Response::SessionStarted`].
    StartSession(SessionRequest),
    /// Stop the running session (staff pressed cancel at the terminal).
    CancelSession {
        /// Session to cancel.
        session_id: u32,
    },
    /// Staff switch for the visual (目視) check.
    SetVisualMode {
        /// On or off.
        enabled: bool,
    },
    /// Pair this terminal: the code the reader's staff display shows, typed by the terminal's
    /// operator (and compared by the terminal with its own first). Answered with
    /// [`Response::Paired`]; the only request a terminal that is not paired may send.
    Pair {
        /// The code typed.
        code: PairingCode,
    },
    /// Forget this terminal's key (the reader then serves it only for pairing again).
    Unpair,
    /// A page of the operation log or the error log, oldest first, after the record numbered
    /// `after_id` (0: from the start). Answered with [`Response::LogPage`].
    ExportLog {
        /// Which log.
        log: LogKind,
        /// The last record number already received.
        after_id: u64,
    },
    /// The statistics of the last `days` days (at most [`MAX_STATISTICS_DAYS`]), one CSV row per
    /// day. Answered with [`Response::Statistics`].
    ExportStatistics {
        /// How many days, today included.
        days: u16,
    },
    /// The settings as a file signed by the reader. Answered with [`Response::SettingsFile`].
    ExportSettings,
    /// New settings from a signed settings file, by the field engineer (their account's
    /// password; wrong passwords count towards the same lockout as at the reader). Answered with
    /// [`Response::SettingsChanged`].
    ImportSettings {
        /// The engineer's Device ID and password.
        credential: Credential,
        /// The settings file (JSON, as [`Response::SettingsFile`] gives it).
        file: Vec<u8>,
    },
}

/// A reader's serial (its Device ID) from its Ed25519 device key: `KY-` and the first five bytes
/// of the key's SHA-256 in capital hex.
pub fn serial_for(device_key: &[u8; 32]) -> String {
    use core::fmt::Write;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(device_key);
    let mut serial = String::from("KY-");
    for b in &digest[..5] {
        let _ = write!(serial, "{b:02X}");
    }
    serial
}

/// The most days [`Request::ExportStatistics`] covers in one answer.
pub const MAX_STATISTICS_DAYS: u16 = 120;

/// Which log [`Request::ExportLog`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogKind {
    /// The operation log (start and stop, sessions, settings changes, logins).
    Operations,
    /// The error log (codes with the engineer's advice).
    Errors,
}

/// The encoding of a text document the reader sends (the facility's output setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TextEncoding {
    /// UTF-8.
    Utf8,
    /// Shift_JIS (Windows-31J).
    ShiftJis,
}

/// A maintenance account's Device ID and password, sent only inside the sealed channel: the
/// password is wiped on drop and never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The reader's Device ID (its serial).
    pub device_id: String,
    /// The password.
    pub password: String,
}

impl core::fmt::Debug for Credential {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Credential").field("device_id", &self.device_id).finish_non_exhaustive()
    }
}

impl Drop for Credential {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

/// Answers to [`Request`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// Answer to [`Request::GetDeviceInfo`].
    DeviceInfo(DeviceInfo),
    /// The session is armed; progress and the result follow as notifications.
    SessionStarted {
        /// Identifier of the new session.
        session_id: u32,
    },
    /// The request was done.
    Ok,
    /// The request was refused.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Words for an engineer (never personal data).
        message: String,
    },
    /// Paired: the reader has pinned this terminal's key.
    Paired,
    /// Answer to [`Request::ExportLog`].
    LogPage {
        /// Which log.
        log: LogKind,
        /// The document's encoding.
        encoding: TextEncoding,
        /// CSV rows (with the header line when the page is the first).
        csv: Vec<u8>,
        /// The last record number on this page (ask again after it when `more`).
        last_id: u64,
        /// More records follow.
        more: bool,
    },
    /// Answer to [`Request::ExportStatistics`].
    Statistics {
        /// The document's encoding.
        encoding: TextEncoding,
        /// CSV, a header line and one row per day.
        csv: Vec<u8>,
    },
    /// Answer to [`Request::ExportSettings`]: the signed settings file.
    SettingsFile {
        /// The settings' version.
        version: u32,
        /// The file (JSON).
        file: Vec<u8>,
    },
    /// Answer to [`Request::ImportSettings`]: the settings now in force.
    SettingsChanged {
        /// Their new version.
        version: u32,
    },
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The frame's protocol version is not ours.
    Version,
    /// The frame could not be decoded.
    Malformed,
    /// A session is already running.
    Busy,
    /// No such session.
    NoSession,
    /// The reader is not in a state to do this.
    NotNow,
    /// This terminal is not paired with the reader: only `Pair` is served.
    NotPaired,
    /// The pairing code is not the one the reader shows.
    WrongCode,
    /// Too many wrong pairing codes: pairing is refused for a while.
    PairingLocked,
    /// The reader is in maintenance (the engineer or the facility's administrator is at its
    /// maintenance menu): no patient session starts until they leave it.
    InMaintenance,
    /// The maintenance login was refused (wrong Device ID or password, or locked after too many).
    LoginRefused,
    /// The settings were refused (the message names each field and why).
    SettingsRefused,
    /// The reader's database cannot answer (the message says why).
    StorageUnavailable,
}

/// Reader identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Protocol version the reader speaks.
    pub protocol_version: u8,
    /// Firmware version string.
    pub firmware_version: String,
    /// Board name from the board file (sim, qemu-virt, rk3399).
    pub board: String,
    /// Serial number, unique per reader.
    pub serial: String,
    /// Ed25519 public key that signs every [`SignedReport`].
    pub device_key: [u8; 32],
    /// Whether staff have switched the visual check on.
    pub visual_mode: bool,
}

/// Consents the terminal asks the patient for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConsentRequest {
    /// 診療・薬剤情報.
    pub medical: bool,
    /// 特定健診情報.
    pub checkup: bool,
    /// 限度額情報 (高額療養費).
    pub limit: bool,
}

/// One consent topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ConsentTopic {
    /// 診療・薬剤情報.
    Medical,
    /// 特定健診情報.
    Checkup,
    /// 限度額情報.
    Limit,
}

impl ConsentRequest {
    /// The topics asked, in the order they are shown.
    pub fn topics(&self) -> Vec<ConsentTopic> {
        let mut topics = Vec::new();
        if self.medical {
            topics.push(ConsentTopic::Medical);
        }
        if self.checkup {
            topics.push(ConsentTopic::Checkup);
        }
        if self.limit {
            topics.push(ConsentTopic::Limit);
        }
        topics
    }
}

/// What the terminal asks for when it arms the reader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRequest {
    /// Fresh random challenge; the card signs it on the PIN path and the report repeats it.
    pub nonce: [u8; 32],
    /// Consents to ask.
    pub consents: ConsentRequest,
    /// The card is not yet registered for health-insurance use: ask for 初回登録.
    pub registration_needed: bool,
}

impl SessionRequest {
    /// SHA-256 over [`REQUEST_CONTEXT`] ‖ the request's postcard bytes: the report names the
    /// request it answers by this, so a report cannot be passed off as the answer to another
    /// request (other consents asked, registration asked or not, another nonce).
    pub fn digest(&self) -> [u8; 32] {
        use sha2::Digest;
        let bytes = postcard::to_allocvec(self).unwrap_or_default();
        sha2::Sha256::new().chain_update(REQUEST_CONTEXT).chain_update(bytes).finalize().into()
    }
}

/// How identity was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthMethod {
    /// 顔認証.
    Face,
    /// 暗証番号.
    Pin,
    /// 目視確認 by staff.
    Visual,
}

/// What kind of credential was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenKind {
    /// A physical My Number card.
    Card,
    /// A smartphone carrying the JPKI 利用者証明用 key (Android).
    AndroidPhone,
    /// A smartphone carrying the JPKI 利用者証明用 key (iPhone).
    IPhone,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Identity confirmed by `method`.
    Verified,
    /// The check failed (face mismatch and no fallback, PIN blocked, staff rejected).
    NotVerified,
    /// The session ended before a check finished.
    Cancelled(CancelReason),
}

/// Why a session ended without a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CancelReason {
    /// The terminal cancelled.
    Terminal,
    /// Staff cancelled at the reader.
    Staff,
    /// The patient did not answer in time.
    PatientTimeout,
    /// The patient chose to stop.
    Patient,
    /// The card could not be used (unknown card, card fault).
    CardUnusable,
}

/// The patient's answer to one consent topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentAnswer {
    /// Topic.
    pub topic: ConsentTopic,
    /// Yes or no.
    pub agreed: bool,
}

/// The result of one session, as the reader signs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionReport {
    /// Session identifier from [`Response::SessionStarted`].
    pub session_id: u32,
    /// Reader serial number.
    pub reader_serial: String,
    /// The terminal's nonce, repeated.
    pub nonce: [u8; 32],
    /// [`SessionRequest::digest`] of the request this report answers.
    pub request: [u8; 32],
    /// Method of the identity check (None when no check ran).
    pub method: Option<AuthMethod>,
    /// How the session ended.
    pub outcome: Outcome,
    /// Credential kind, when a card was read.
    pub token: Option<TokenKind>,
    /// The 利用者証明用 certificate (DER), when a card was read.
    pub auth_certificate: Option<Vec<u8>>,
    /// PIN path: the card's PKCS#1 v1.5 SHA-256 signature over
    /// [`card_challenge_message`]`(nonce)`.
    pub card_signature: Option<Vec<u8>>,
    /// Consent answers, in the order asked.
    pub consents: Vec<ConsentAnswer>,
    /// 初回登録 answer, when asked.
    pub registration: Option<bool>,
    /// Session start (card placed), milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// Session end, milliseconds since the Unix epoch.
    pub finished_ms: u64,
}

/// A [`SessionReport`] as encoded bytes plus the reader's Ed25519 signature over them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedReport {
    /// postcard encoding of a [`SessionReport`].
    pub report: Vec<u8>,
    /// Ed25519 signature by [`DeviceInfo::device_key`] over [`report_signing_message`]`(report)`.
    pub signature: Vec<u8>,
}

/// Session steps the terminal is told about (for the staff's screen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Progress {
    /// Armed, waiting for the card.
    WaitingForCard,
    /// A card was placed and is being read.
    CardPlaced,
    /// The card was removed before the session ended; waiting for it again.
    CardRemoved,
    /// The patient is choosing the check.
    ChoosingMethod,
    /// The check is running.
    Checking(AuthMethod),
    /// A PIN was wrong (tries left after it).
    PinWrong {
        /// Tries left on the card.
        tries_left: u8,
    },
    /// Staff are needed at the reader.
    StaffNeeded,
    /// The patient is answering consents.
    Consents,
    /// Waiting for the patient to remove the card.
    RemoveCard,
    /// The card placed cannot be used; the reader waits for another card.
    CardRejected(CardRejection),
}

/// Why a placed card was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CardRejection {
    /// Not a My Number card.
    NotMyNumberCard,
    /// Past its expiry date.
    Expired,
    /// It did not answer, or answered something the reader cannot use.
    Unreadable,
}

/// Unsolicited reader -> terminal messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Notification {
    /// A step of a session.
    Progress {
        /// Session.
        session_id: u32,
        /// Step.
        progress: Progress,
    },
    /// The signed result; one per session.
    Result(SignedReport),
}

/// Errors of the codec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Not a frame (bad COBS, bad postcard, trailing bytes).
    Malformed,
    /// Longer than [`MAX_FRAME_LEN`].
    TooLong,
    /// A frame of another protocol version.
    Version(u8),
}

impl core::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DecodeError::Malformed => f.write_str("malformed frame"),
            DecodeError::TooLong => f.write_str("frame longer than the protocol allows"),
            DecodeError::Version(v) => write!(f, "peer speaks protocol version {v}, we speak {PROTOCOL_VERSION}"),
        }
    }
}

impl Frame {
    /// A frame of this protocol version.
    pub fn new(seq: u32, body: Body) -> Self {
        Frame { version: PROTOCOL_VERSION, seq, body }
    }

    /// COBS-encoded bytes, ending with the zero delimiter.
    pub fn encode(&self) -> Vec<u8> {
        // Serialising our own types into a Vec cannot fail.
        postcard::to_allocvec_cobs(self).unwrap_or_default()
    }

    /// Decodes one COBS frame (with or without its trailing zero).
    pub fn decode(cobs: &[u8]) -> Result<Frame, DecodeError> {
        if cobs.len() > MAX_FRAME_LEN + MAX_FRAME_LEN / 254 + 2 {
            return Err(DecodeError::TooLong);
        }
        let mut buf = cobs.to_vec();
        if buf.last() != Some(&0) {
            buf.push(0);
        }
        // A frame of another version that still decodes is reported as such; anything else is garbage.
        match postcard::from_bytes_cobs::<Frame>(&mut buf) {
            Ok(f) if f.version != PROTOCOL_VERSION => Err(DecodeError::Version(f.version)),
            Ok(f) => Ok(f),
            Err(_) => Err(DecodeError::Malformed),
        }
    }
}

impl SessionReport {
    /// The bytes the reader signs.
    pub fn to_bytes(&self) -> Vec<u8> {
        postcard::to_allocvec(self).unwrap_or_default()
    }

    /// Decodes report bytes (after the signature was checked).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        postcard::from_bytes(bytes).map_err(|_| DecodeError::Malformed)
    }
}

/// Splits a byte stream into frames at zero delimiters.
///
/// Bytes beyond [`MAX_FRAME_LEN`] without a delimiter are dropped and reported once as
/// [`DecodeError::TooLong`] when the delimiter finally comes.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    overflow: bool,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; returns each complete frame's decode result in order.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Result<Frame, DecodeError>> {
        let mut out = Vec::new();
        for &b in bytes {
            if b == 0 {
                if self.overflow {
                    out.push(Err(DecodeError::TooLong));
                } else if !self.buf.is_empty() {
                    out.push(Frame::decode(&self.buf));
                }
                self.buf.clear();
                self.overflow = false;
            } else if self.buf.len() >= MAX_FRAME_LEN + MAX_FRAME_LEN / 254 + 2 {
                self.overflow = true;
            } else {
                self.buf.push(b);
            }
        }
        out
    }

    /// Whether bytes of an unfinished frame are waiting for the rest (a link that stops here
    /// for long is holding the reader's terminal slot with half a frame).
    pub fn mid_frame(&self) -> bool {
        !self.buf.is_empty() || self.overflow
    }
}

#[cfg(test)]
mod tests;
