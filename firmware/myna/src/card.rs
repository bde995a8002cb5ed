//! ISO 7816-4 operations on a card behind a [`Transmit`].

use crate::apdu::{Command, Response, Status, StatusWord};
use crate::tlv::{self, TlvError};
use kaoyomi_hal::ErrorKind;
use kaoyomi_hal::card::Transmit;

/// Largest file the reader reads: 15-bit READ BINARY offsets plus one last chunk.
pub const MAX_FILE_LEN: usize = 0x7FFF + 256;

/// Failures of a card operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The link to the card failed (card removed, reader gone, time-out).
    #[error("card link: {0}")]
    Transmit(ErrorKind),
    /// The card answered with fewer than two bytes, or data that breaks the protocol.
    #[error("malformed card answer: {0}")]
    Malformed(&'static str),
    /// The card refused an operation.
    #[error("{op} refused: {sw}")]
    Refused {
        /// What was being done.
        op: &'static str,
        /// The card's answer.
        sw: StatusWord,
    },
    /// A file's TLV structure is broken.
    #[error("card file: {0}")]
    Tlv(#[from] TlvError),
}

impl Error {
    /// Whether the card left the reader.
    pub fn is_card_removed(&self) -> bool {
        matches!(self, Error::Transmit(ErrorKind::CardRemoved))
    }
}

/// State of a PIN (or 照合番号) as read with an empty VERIFY, which uses no try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinStatus {
    /// Tries left.
    Remaining(u8),
    /// No tries left (`63C0` or `6984`).
    Blocked,
    /// Verified already in this card session (`9000`).
    Verified,
    /// A key without retry limit (`6300`).
    NoLimit,
    /// No PIN was set on this card (`6A88`, or the key file does not exist).
    NotSet,
}

/// Result of a VERIFY with data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Accepted; the counter is back at its maximum.
    Ok,
    /// Wrong; tries left after this one.
    Wrong(u8),
    /// Blocked; nothing was checked.
    Blocked,
}

/// Outcome of [`Card::verify_guarded`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    /// Accepted.
    Verified,
    /// Wrong; tries left after this one.
    Wrong(u8),
    /// Blocked; nothing was sent.
    Blocked,
    /// One try left and the caller did not allow it; nothing was sent.
    NeedsConfirmation,
    /// The key was never set; nothing was sent.
    NotSet,
}

/// A card session over a transport.
pub struct Card<T> {
    transport: T,
}

impl<T: Transmit> Card<T> {
    /// Wraps a transport.
    pub fn new(transport: T) -> Self {
        Card { transport }
    }

    /// The transport back.
    pub fn into_inner(self) -> T {
        self.transport
    }

    fn exchange(&mut self, command: &Command) -> Result<Response, Error> {
        let bytes = command.to_bytes().ok_or(Error::Malformed("command does not fit a short APDU"))?;
        let raw = self.transport.transmit(&bytes).map_err(|e| Error::Transmit(kaoyomi_hal::Error::kind(&e)))?;
        Response::parse(&raw).ok_or(Error::Malformed("response shorter than a status word"))
    }

    /// Sends a command, collecting `61xx` data with GET RESPONSE and resending reads once on `6Cxx`.
    /// Commands that spend a try (VERIFY) or use a key are never resent.
    pub fn transmit(&mut self, command: &Command) -> Result<Response, Error> {
        let mut response = self.exchange(command)?;
        if let Status::WrongLe(le) = response.sw.status() {
            let is_read = matches!(command.ins, 0xB0 | 0xB2 | 0xC0 | 0xCA | 0x84);
            if is_read && command.le.is_some() {
                let mut again = command.clone();
                again.le = Some(if le == 0 { 256 } else { le as u16 });
                response = self.exchange(&again)?;
            }
        }
        let mut data = core::mem::take(&mut response.data);
        // Bounded: a card that keeps answering 61xx cannot hold the reader forever.
        for _ in 0..64 {
            let Status::MoreData(n) = response.sw.status() else { break };
            let get = Command::new(0x00, 0xC0, 0, 0).with_le(if n == 0 { 256 } else { n as u16 });
            response = self.exchange(&get)?;
            data.append(&mut response.data);
            if data.len() > MAX_FILE_LEN {
                return Err(Error::Malformed("card sends more data than any file holds"));
            }
        }
        response.data = data;
        Ok(response)
    }

    fn expect_ok(&mut self, op: &'static str, command: &Command) -> Result<Vec<u8>, Error> {
        let mut response = self.transmit(command)?;
        if response.sw.is_ok() {
            Ok(core::mem::take(&mut response.data))
        } else {
            Err(Error::Refused { op, sw: response.sw })
        }
    }

    /// SELECT an application by its full AID.
    pub fn select_df(&mut self, aid: &[u8]) -> Result<(), Error> {
        self.expect_ok("SELECT application", &Command::new(0x00, 0xA4, 0x04, 0x0C).with_data(aid)).map(drop)
    }

    /// SELECT an EF of the current application.
    pub fn select_ef(&mut self, fid: u16) -> Result<(), Error> {
        self.expect_ok("SELECT file", &Command::new(0x00, 0xA4, 0x02, 0x0C).with_data(&fid.to_be_bytes())).map(drop)
    }

    /// READ BINARY of up to `len` (1..=256) bytes at `offset` of the current EF.
    /// Returns what the card gave; at the end of the file that may be less.
    pub fn read_binary(&mut self, offset: u16, len: u16) -> Result<Vec<u8>, Error> {
        if offset > 0x7FFF {
            return Err(Error::Malformed("READ BINARY offset beyond 15 bits"));
        }
        let [p1, p2] = offset.to_be_bytes();
        self.read_data("READ BINARY", &Command::new(0x00, 0xB0, p1, p2).with_le(len))
    }

    /// A read whose answer may stop short at the end of the file (`6282`).
    fn read_data(&mut self, op: &'static str, command: &Command) -> Result<Vec<u8>, Error> {
        let mut response = self.transmit(command)?;
        match response.sw.status() {
            Status::Ok | Status::EndOfFile => Ok(core::mem::take(&mut response.data)),
            _ => Err(Error::Refused { op, sw: response.sw }),
        }
    }

    /// Reads `len` bytes from the start of the current EF.
    pub fn read_exact(&mut self, len: usize) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(len.min(MAX_FILE_LEN));
        while out.len() < len {
            let chunk = (len - out.len()).min(256) as u16;
            let offset = u16::try_from(out.len()).map_err(|_| Error::Malformed("file too long"))?;
            let data = self.read_binary(offset, chunk)?;
            if data.is_empty() {
                return Err(Error::Malformed("file ends before its declared length"));
            }
            out.extend_from_slice(&data[..data.len().min(len - out.len())]);
        }
        Ok(out)
    }

    /// Reads the BER-TLV object that the current EF holds, to its declared length (without filler).
    pub fn read_tlv_file(&mut self) -> Result<Vec<u8>, Error> {
        let head = self.read_binary(0, 8)?;
        let total = tlv::total_len(&head)?;
        if total > MAX_FILE_LEN {
            return Err(Error::Malformed("declared length larger than any file"));
        }
        let mut data = if total <= head.len() { head[..total].to_vec() } else { head };
        while data.len() < total {
            let chunk = (total - data.len()).min(256) as u16;
            let offset = u16::try_from(data.len()).map_err(|_| Error::Malformed("file too long"))?;
            let part = self.read_binary(offset, chunk)?;
            if part.is_empty() {
                return Err(Error::Malformed("file ends before its declared length"));
            }
            let take = part.len().min(total - data.len());
            data.extend_from_slice(&part[..take]);
        }
        Ok(data)
    }

    /// Reads the retry counter of the current key EF with an empty VERIFY (uses no try).
    pub fn pin_status(&mut self) -> Result<PinStatus, Error> {
        let response = self.transmit(&Command::new(0x00, 0x20, 0x00, 0x80))?;
        match response.sw.status() {
            Status::RetriesLeft(0) | Status::ReferenceBlocked | Status::AuthMethodBlocked => Ok(PinStatus::Blocked),
            Status::RetriesLeft(n) => Ok(PinStatus::Remaining(n)),
            Status::Ok => Ok(PinStatus::Verified),
            Status::VerifyFailedNoCounter => Ok(PinStatus::NoLimit),
            Status::ReferenceNotFound | Status::FileNotFound => Ok(PinStatus::NotSet),
            _ => Err(Error::Refused { op: "read retry counter", sw: response.sw }),
        }
    }

    /// VERIFY the current key EF with `secret` (ASCII). Spends a try when wrong: callers check
    /// [`Card::pin_status`] first.
    pub fn verify(&mut self, secret: &[u8]) -> Result<Verify, Error> {
        if secret.is_empty() {
            return Err(Error::Malformed("empty secret would only read the counter"));
        }
        let response = self.transmit(&Command::new(0x00, 0x20, 0x00, 0x80).with_data(secret))?;
        match response.sw.status() {
            Status::Ok => Ok(Verify::Ok),
            Status::RetriesLeft(n) => Ok(Verify::Wrong(n)),
            Status::ReferenceBlocked | Status::AuthMethodBlocked => Ok(Verify::Blocked),
            _ => Err(Error::Refused { op: "VERIFY", sw: response.sw }),
        }
    }

    /// COMPUTE DIGITAL SIGNATURE (`80 2A 00 80`) with the current key EF over `digest_info`.
    pub fn sign(&mut self, digest_info: &[u8]) -> Result<Vec<u8>, Error> {
        self.signature("COMPUTE DIGITAL SIGNATURE", 0x80, digest_info)
    }

    /// `80 2A 00 <p2>` over `digest_info`; a 2048-bit signature or an error.
    fn signature(&mut self, op: &'static str, p2: u8, digest_info: &[u8]) -> Result<Vec<u8>, Error> {
        let command = Command::new(0x80, 0x2A, 0x00, p2).with_data(digest_info).with_le(256);
        let signature = self.expect_ok(op, &command)?;
        if signature.len() != 256 {
            return Err(Error::Malformed("signature is not 2048 bits"));
        }
        Ok(signature)
    }

    /// The patient-protecting VERIFY: reads the current key's counter first (no try used) and
    /// sends `secret` only to a key that is set, not blocked, and not on its last try unless
    /// `allow_last_try`. Never retries. Every credential the reader presents goes through here.
    pub fn verify_guarded(&mut self, secret: &[u8], allow_last_try: bool) -> Result<Guarded, Error> {
        match self.pin_status()? {
            PinStatus::Blocked => return Ok(Guarded::Blocked),
            PinStatus::NotSet => return Ok(Guarded::NotSet),
            PinStatus::Remaining(1) if !allow_last_try => return Ok(Guarded::NeedsConfirmation),
            PinStatus::Remaining(_) | PinStatus::Verified | PinStatus::NoLimit => {}
        }
        Ok(match self.verify(secret)? {
            Verify::Ok => Guarded::Verified,
            Verify::Wrong(n) => Guarded::Wrong(n),
            Verify::Blocked => Guarded::Blocked,
        })
    }
}

impl<T: Transmit> Card<T> {
    /// READ RECORD `number` of the current record EF (`00 B2 nn 04 00`).
    pub fn read_record(&mut self, number: u8) -> Result<Vec<u8>, Error> {
        self.read_data("READ RECORD", &Command::new(0x00, 0xB2, number, 0x04).with_le(256))
    }

    /// COMPUTE DIGITAL SIGNATURE with the selected application's own key (`80 2A 00 00`), which
    /// needs no credential: the chip proves it holds the key its signed record names.
    pub fn sign_with_application_key(&mut self, digest_info: &[u8]) -> Result<Vec<u8>, Error> {
        self.signature("internal authentication", 0x00, digest_info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[derive(Debug)]
    struct Gone;
    impl core::fmt::Display for Gone {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("gone")
        }
    }
    impl kaoyomi_hal::Error for Gone {
        fn kind(&self) -> ErrorKind {
            ErrorKind::CardRemoved
        }
    }

    /// Answers from a script and records the commands.
    struct Scripted {
        answers: VecDeque<Vec<u8>>,
        sent: Vec<Vec<u8>>,
    }

    impl Transmit for Scripted {
        type Error = Gone;
        fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Gone> {
            self.sent.push(command.to_vec());
            self.answers.pop_front().ok_or(Gone)
        }
    }

    fn card(answers: &[&[u8]]) -> Card<Scripted> {
        Card::new(Scripted { answers: answers.iter().map(|a| a.to_vec()).collect(), sent: Vec::new() })
    }

    #[test]
    fn more_data_is_collected_with_get_response() {
        let mut c = card(&[&[1, 2, 0x61, 0x02], &[3, 4, 0x61, 0x00], &[5, 0x90, 0x00]]);
        assert_eq!(c.read_binary(0, 5).unwrap(), [1, 2, 3, 4, 5]);
        let sent = c.into_inner().sent;
        assert_eq!(sent[1], [0x00, 0xC0, 0x00, 0x00, 0x02]);
        assert_eq!(sent[2], [0x00, 0xC0, 0x00, 0x00, 0x00], "61 00 means 256 more");
    }

    #[test]
    fn wrong_le_resends_reads_but_never_a_verify() {
        let mut c = card(&[&[0x6C, 0x03], &[7, 8, 9, 0x90, 0x00]]);
        assert_eq!(c.read_binary(0, 10).unwrap(), [7, 8, 9]);
        assert_eq!(c.into_inner().sent[1], [0x00, 0xB0, 0x00, 0x00, 0x03]);
        let mut c = card(&[&[0x6C, 0x03]]);
        assert!(matches!(c.verify(b"1234"), Err(Error::Refused { .. })));
        assert_eq!(c.into_inner().sent.len(), 1, "VERIFY is never sent twice");
    }

    #[test]
    fn endless_more_data_is_cut_off() {
        let answers: Vec<Vec<u8>> = (0..200).map(|_| [vec![0xAA; 254], vec![0x61, 0x00]].concat()).collect();
        let refs: Vec<&[u8]> = answers.iter().map(Vec::as_slice).collect();
        let mut c = card(&refs);
        assert!(c.read_binary(0, 1).is_err());
        assert!(c.into_inner().sent.len() <= 66);
    }

    #[test]
    fn counters_and_verify_statuses() {
        let mut c = card(&[&[0x63, 0xC2], &[0x69, 0x84], &[0x6A, 0x88], &[0x90, 0x00], &[0x6D, 0x00]]);
        assert_eq!(c.pin_status().unwrap(), PinStatus::Remaining(2));
        assert_eq!(c.pin_status().unwrap(), PinStatus::Blocked);
        assert_eq!(c.pin_status().unwrap(), PinStatus::NotSet);
        assert_eq!(c.pin_status().unwrap(), PinStatus::Verified);
        assert!(c.pin_status().is_err());
        let mut c = card(&[&[0x63, 0xC1], &[0x63, 0xC0], &[0x69, 0x84], &[0x90]]);
        assert_eq!(c.verify(b"1111").unwrap(), Verify::Wrong(1));
        assert_eq!(c.verify(b"1111").unwrap(), Verify::Wrong(0));
        assert_eq!(c.verify(b"1111").unwrap(), Verify::Blocked);
        assert_eq!(c.verify(b"1111"), Err(Error::Malformed("response shorter than a status word")));
        assert!(c.verify(b"").is_err(), "an empty secret is refused before it reaches the card");
    }

    #[test]
    fn a_tlv_file_is_read_to_its_declared_length() {
        let mut file = crate::tlv::encode(0x30, &[0x55; 600]);
        file.extend_from_slice(&[0xFF; 40]);
        let mut answers: Vec<Vec<u8>> = vec![[&file[..8], &[0x90, 0x00][..]].concat()];
        let mut pos = 8;
        while pos < 604 {
            let n = (604 - pos).min(256);
            answers.push([&file[pos..pos + n], &[0x90, 0x00][..]].concat());
            pos += n;
        }
        let refs: Vec<&[u8]> = answers.iter().map(Vec::as_slice).collect();
        let mut c = card(&refs);
        assert_eq!(c.read_tlv_file().unwrap(), file[..604]);
        let mut c = card(&[&[0x30, 0x82, 0x7F, 0xFF, 0x90, 0x00], &[0x62, 0x82]]);
        assert!(c.read_tlv_file().is_err(), "a file that ends early is an error");
    }
}
