//! ISO 7816-4 APDUs and the status words of the My Number card.

use core::fmt;
use zeroize::{Zeroize, Zeroizing};

/// A command APDU (short form only: the card needs nothing longer, see card-protocol.md §9).
#[derive(Clone, PartialEq, Eq)]
pub struct Command {
    /// Class byte.
    pub cla: u8,
    /// Instruction.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (at most 255 bytes).
    pub data: Vec<u8>,
    /// Expected response length: None for no Le, 1..=256 otherwise (256 is sent as `00`).
    pub le: Option<u16>,
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Command data can be a PIN or a 照合番号: print its length only.
        write!(
            f,
            "Command({:02X} {:02X} {:02X} {:02X}, {} data bytes, le {:?})",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            self.data.len(),
            self.le
        )
    }
}

impl Drop for Command {
    fn drop(&mut self) {
        // Command data may be a PIN or a 照合番号: leave nothing behind in freed memory.
        self.data.zeroize();
    }
}

impl Command {
    /// A command without data or Le (case 1).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        Command { cla, ins, p1, p2, data: Vec::new(), le: None }
    }

    /// Adds command data.
    pub fn with_data(mut self, data: &[u8]) -> Self {
        self.data.zeroize();
        self.data = data.to_vec();
        self
    }

    /// Adds Le.
    pub fn with_le(mut self, le: u16) -> Self {
        self.le = Some(le);
        self
    }

    /// The bytes on the wire (wiped when dropped); None when the command does not fit a short APDU.
    pub fn to_bytes(&self) -> Option<Zeroizing<Vec<u8>>> {
        if self.data.len() > 255 || matches!(self.le, Some(0) | Some(257..)) {
            return None;
        }
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        if !self.data.is_empty() {
            out.push(self.data.len() as u8);
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            out.push((le % 256) as u8);
        }
        Some(Zeroizing::new(out))
    }

    /// Parses a short command APDU (used by the virtual card); None when malformed.
    pub fn parse(bytes: &[u8]) -> Option<Command> {
        let (&[cla, ins, p1, p2], body) = (bytes.first_chunk::<4>()?, &bytes[4..]);
        let mut command = Command::new(cla, ins, p1, p2);
        match body.len() {
            0 => {}
            1 => command.le = Some(if body[0] == 0 { 256 } else { body[0] as u16 }),
            n => {
                let lc = body[0] as usize;
                if lc == 0 {
                    return None;
                }
                command.data = body.get(1..1 + lc)?.to_vec();
                match n - 1 - lc {
                    0 => {}
                    1 => command.le = Some(if body[1 + lc] == 0 { 256 } else { body[1 + lc] as u16 }),
                    _ => return None,
                }
            }
        }
        Some(command)
    }
}

/// The two status bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusWord(pub u16);

impl fmt::Debug for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X}", self.0)
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04X} ({})", self.0, self.status().describe())
    }
}

/// Meaning of a status word, as far as public sources know the card's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `9000`.
    Ok,
    /// `61xx`: more bytes waiting, fetch with GET RESPONSE.
    MoreData(u8),
    /// `6282`: end of file reached before Le bytes.
    EndOfFile,
    /// `6300`: verification failed, key without a retry limit.
    VerifyFailedNoCounter,
    /// `63Cx`: verification failed or counter read; x tries left (`63C0` blocked).
    RetriesLeft(u8),
    /// `6581`: memory failure.
    MemoryFailure,
    /// `66F1`: secure messaging session key not supported by this application.
    SessionKeyUnsupported,
    /// `6700`: wrong length.
    WrongLength,
    /// `6882`: secure messaging not supported.
    SecureMessagingUnsupported,
    /// `6981`: command incompatible with the file structure.
    IncompatibleFile,
    /// `6982`: security status not satisfied (credential needed).
    SecurityNotSatisfied,
    /// `6983`: authentication method blocked.
    AuthMethodBlocked,
    /// `6984`: referenced data (the PIN) blocked.
    ReferenceBlocked,
    /// `6985`: conditions of use not satisfied.
    ConditionsNotSatisfied,
    /// `6986`: command not allowed (no current EF).
    NoCurrentEf,
    /// `69FC`: wrong secure-messaging CLA.
    SecureMessagingClaRefused,
    /// `6A80`: incorrect data.
    IncorrectData,
    /// `6A82`: file or application not found.
    FileNotFound,
    /// `6A86`: incorrect P1/P2.
    IncorrectP1P2,
    /// `6A88`: referenced data not found (e.g. a PIN that was never set).
    ReferenceNotFound,
    /// `6B00`: offset outside the file.
    WrongOffset,
    /// `6Cxx`: wrong Le; xx is the right one.
    WrongLe(u8),
    /// `6D00`: instruction not supported.
    InsNotSupported,
    /// `6E00`: class not supported.
    ClaNotSupported,
    /// `6F00`: no precise diagnosis.
    Unknown,
    /// Anything else.
    Other(u16),
}

impl StatusWord {
    /// `90 00`.
    pub const OK: StatusWord = StatusWord(0x9000);

    /// Classifies the status word.
    pub fn status(self) -> Status {
        let [sw1, sw2] = self.0.to_be_bytes();
        match (sw1, sw2) {
            (0x90, 0x00) => Status::Ok,
            (0x61, n) => Status::MoreData(n),
            (0x62, 0x82) => Status::EndOfFile,
            (0x63, 0x00) => Status::VerifyFailedNoCounter,
            (0x63, n) if n & 0xF0 == 0xC0 => Status::RetriesLeft(n & 0x0F),
            (0x65, 0x81) => Status::MemoryFailure,
            (0x66, 0xF1) => Status::SessionKeyUnsupported,
            (0x67, 0x00) => Status::WrongLength,
            (0x68, 0x82) => Status::SecureMessagingUnsupported,
            (0x69, 0x81) => Status::IncompatibleFile,
            (0x69, 0x82) => Status::SecurityNotSatisfied,
            (0x69, 0x83) => Status::AuthMethodBlocked,
            (0x69, 0x84) => Status::ReferenceBlocked,
            (0x69, 0x85) => Status::ConditionsNotSatisfied,
            (0x69, 0x86) => Status::NoCurrentEf,
            (0x69, 0xFC) => Status::SecureMessagingClaRefused,
            (0x6A, 0x80) => Status::IncorrectData,
            (0x6A, 0x82) => Status::FileNotFound,
            (0x6A, 0x86) => Status::IncorrectP1P2,
            (0x6A, 0x88) => Status::ReferenceNotFound,
            (0x6B, 0x00) => Status::WrongOffset,
            (0x6C, n) => Status::WrongLe(n),
            (0x6D, 0x00) => Status::InsNotSupported,
            (0x6E, 0x00) => Status::ClaNotSupported,
            (0x6F, 0x00) => Status::Unknown,
            _ => Status::Other(self.0),
        }
    }

    /// Whether this is `9000`.
    pub fn is_ok(self) -> bool {
        self == Self::OK
    }
}

impl Status {
    /// Words for an engineer's log.
    pub fn describe(self) -> &'static str {
        match self {
            Status::Ok => "success",
            Status::MoreData(_) => "more data available",
            Status::EndOfFile => "end of file reached",
            Status::VerifyFailedNoCounter => "verification failed",
            Status::RetriesLeft(0) => "verification failed, no tries left",
            Status::RetriesLeft(_) => "tries left",
            Status::MemoryFailure => "card memory failure",
            Status::SessionKeyUnsupported => "session key not supported",
            Status::WrongLength => "wrong length",
            Status::SecureMessagingUnsupported => "secure messaging not supported",
            Status::IncompatibleFile => "command incompatible with the file",
            Status::SecurityNotSatisfied => "credential required",
            Status::AuthMethodBlocked => "authentication method blocked",
            Status::ReferenceBlocked => "PIN blocked",
            Status::ConditionsNotSatisfied => "conditions of use not satisfied",
            Status::NoCurrentEf => "no file selected",
            Status::SecureMessagingClaRefused => "secure-messaging class refused",
            Status::IncorrectData => "incorrect data",
            Status::FileNotFound => "file or application not found",
            Status::IncorrectP1P2 => "incorrect parameters",
            Status::ReferenceNotFound => "referenced data not found",
            Status::WrongOffset => "offset outside the file",
            Status::WrongLe(_) => "wrong expected length",
            Status::InsNotSupported => "instruction not supported",
            Status::ClaNotSupported => "class not supported",
            Status::Unknown => "no precise diagnosis",
            Status::Other(_) => "unknown status",
        }
    }
}

/// A response APDU.
#[derive(Clone, PartialEq, Eq)]
pub struct Response {
    /// Response data.
    pub data: Vec<u8>,
    /// Status word.
    pub sw: StatusWord,
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Response({} data bytes, {:?})", self.data.len(), self.sw)
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        // Response data can be card-face data or a certificate: wipe what the reader drops.
        self.data.zeroize();
    }
}

impl Response {
    /// Splits response bytes into data and status word; None when shorter than two bytes.
    pub fn parse(bytes: &[u8]) -> Option<Response> {
        let (data, sw) = bytes.split_last_chunk::<2>()?;
        Some(Response { data: data.to_vec(), sw: StatusWord(u16::from_be_bytes(*sw)) })
    }

    /// Encodes data and status word (used by the virtual card).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.data.clone();
        out.extend_from_slice(&self.sw.0.to_be_bytes());
        out
    }

    /// A status-only response.
    pub fn status(sw: u16) -> Response {
        Response { data: Vec::new(), sw: StatusWord(sw) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_every_case() {
        assert_eq!(Command::new(0, 0x20, 0, 0x80).to_bytes().unwrap().as_slice(), [0, 0x20, 0, 0x80]);
        assert_eq!(Command::new(0, 0xB0, 1, 0).with_le(256).to_bytes().unwrap().as_slice(), [0, 0xB0, 1, 0, 0]);
        assert_eq!(
            Command::new(0, 0xA4, 2, 0x0C).with_data(&[0, 0x0A]).to_bytes().unwrap().as_slice(),
            [0, 0xA4, 2, 0x0C, 2, 0, 0x0A]
        );
        assert_eq!(
            Command::new(0x80, 0x2A, 0, 0x80).with_data(&[1]).with_le(256).to_bytes().unwrap().as_slice(),
            [0x80, 0x2A, 0, 0x80, 1, 1, 0]
        );
        assert!(Command::new(0, 0, 0, 0).with_data(&[0; 256]).to_bytes().is_none());
    }

    #[test]
    fn parse_round_trips_and_rejects_bad_lengths() {
        for c in [
            Command::new(0, 0x20, 0, 0x80),
            Command::new(0, 0xB0, 1, 0).with_le(256),
            Command::new(0, 0xA4, 4, 0x0C).with_data(&[0xD3; 10]),
            Command::new(0x80, 0x2A, 0, 0x80).with_data(&[1, 2]).with_le(7),
        ] {
            assert_eq!(Command::parse(&c.to_bytes().unwrap()), Some(c));
        }
        assert_eq!(Command::parse(&[0, 0xA4, 2]), None);
        assert_eq!(Command::parse(&[0, 0xA4, 2, 0x0C, 5, 1, 2]), None, "Lc longer than the data");
        assert_eq!(Command::parse(&[0, 0xA4, 2, 0x0C, 1, 1, 2, 3]), None, "bytes after Le");
    }

    #[test]
    fn status_words_of_the_card() {
        assert_eq!(StatusWord(0x63C2).status(), Status::RetriesLeft(2));
        assert_eq!(StatusWord(0x63C0).status(), Status::RetriesLeft(0));
        assert_eq!(StatusWord(0x6984).status(), Status::ReferenceBlocked);
        assert_eq!(StatusWord(0x6982).status(), Status::SecurityNotSatisfied);
        assert_eq!(StatusWord(0x6A82).status(), Status::FileNotFound);
        assert_eq!(StatusWord(0x6110).status(), Status::MoreData(0x10));
        assert_eq!(StatusWord(0x6C20).status(), Status::WrongLe(0x20));
        assert_eq!(StatusWord(0x1234).status(), Status::Other(0x1234));
        assert_eq!(Response::parse(&[0x90]), None);
        assert_eq!(Response::parse(&[1, 0x90, 0]).unwrap().data, [1]);
        assert!(format!("{:?}", Command::new(0, 0x20, 0, 0x80).with_data(b"1234")).contains("4 data bytes"));
    }
}
