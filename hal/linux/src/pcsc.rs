//! The NFC card reader through pcscd (PC/SC), chosen by a reader-name pattern from the board file.
//!
//! - Presence comes from `SCardGetStatusChange`, including the PnP notification so a reader that is
//!   plugged in later (or comes back after being unplugged) is picked up.
//! - Connection is exclusive, any protocol (T=1 on contact readers, T=CL on contactless ones): while
//!   the reader holds the card no other PC/SC program can select an application on it, sign with a
//!   key the patient's PIN opened or read the card face (it gets `SCARD_E_SHARING_VIOLATION`).
//!   [`CardReader::reset`] resets the card in place and keeps it exclusive, so the security state of
//!   a finished job ends without letting go of the card.
//! - A card reset by another process or by the reader (`SCARD_W_RESET_CARD`) ends the card session: the
//!   transmit fails as "card removed" and the next `connect` reconnects; nothing is resent, because
//!   the card has lost its security state and a resent VERIFY would spend a try.
//! - 61xx/6Cxx are handled above this layer (kaoyomi-myna), the same for every reader.

use kaoyomi_hal::card::{Atr, CardReader, Presence, Transmit};
use kaoyomi_hal::{Error, ErrorKind};
use pcsc::{Card, Context, Disposition, Protocols, ReaderState, Scope, ShareMode, State};
use std::ffi::CStr;
use std::time::Duration;

/// A PC/SC failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcscError {
    kind: ErrorKind,
    detail: String,
}

impl std::fmt::Display for PcscError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PC/SC: {} ({})", self.kind, self.detail)
    }
}

impl std::error::Error for PcscError {}

impl Error for PcscError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

fn error(e: pcsc::Error) -> PcscError {
    let kind = match e {
        pcsc::Error::RemovedCard | pcsc::Error::ResetCard | pcsc::Error::NoSmartcard | pcsc::Error::UnpoweredCard => {
            ErrorKind::CardRemoved
        }
        pcsc::Error::ReaderUnavailable
        | pcsc::Error::UnknownReader
        | pcsc::Error::NoService
        | pcsc::Error::ServiceStopped
        | pcsc::Error::NoReadersAvailable => ErrorKind::DeviceGone,
        pcsc::Error::Timeout => ErrorKind::Timeout,
        pcsc::Error::SharingViolation => ErrorKind::InUse,
        pcsc::Error::CommError | pcsc::Error::ProtoMismatch | pcsc::Error::InvalidAtr => ErrorKind::Protocol,
        _ => ErrorKind::Other,
    };
    PcscError { kind, detail: e.to_string() }
}

/// A reader slot of pcscd whose name contains `pattern`.
pub struct PcscReader {
    context: Context,
    pattern: String,
    states: Vec<ReaderState>,
    card: Option<Card>,
    /// The reader's event count (insertions and removals) when the card was connected; None
    /// until learnt after a reset.
    connected_events: Option<u32>,
    /// The connection was lost (card removed or reset by someone) while it was in use.
    lost: bool,
}

const PNP: &CStr = c"\\\\?PnP?\\Notification";

impl PcscReader {
    /// Connects to pcscd; the reader itself may appear later.
    pub fn new(pattern: &str) -> Result<PcscReader, PcscError> {
        let context = Context::establish(Scope::User).map_err(error)?;
        Ok(PcscReader {
            context,
            pattern: pattern.to_string(),
            states: vec![ReaderState::new(PNP, State::UNAWARE)],
            card: None,
            connected_events: None,
            lost: false,
        })
    }

    /// The matching reader's name, if it is connected now.
    pub fn reader_name(&self) -> Option<&CStr> {
        self.states.get(1).map(ReaderState::name)
    }

    /// Names of all readers pcscd knows.
    pub fn list(&self) -> Result<Vec<String>, PcscError> {
        let readers = self.context.list_readers_owned().map_err(error)?;
        Ok(readers.iter().map(|r| r.to_string_lossy().into_owned()).collect())
    }

    fn find_reader(&mut self) -> Result<(), PcscError> {
        if self.states.len() > 1 {
            return Ok(());
        }
        let readers = match self.context.list_readers_owned() {
            Ok(r) => r,
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(e) => return Err(error(e)),
        };
        if let Some(name) = readers.into_iter().find(|r| r.to_string_lossy().contains(&self.pattern)) {
            log::info!("card reader: using {}", name.to_string_lossy());
            self.states.push(ReaderState::new(name, State::UNAWARE));
        }
        Ok(())
    }
}

impl Transmit for PcscReader {
    type Error = PcscError;

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, PcscError> {
        let card =
            self.card.as_ref().ok_or(PcscError { kind: ErrorKind::CardRemoved, detail: "not connected".into() })?;
        let mut buf = [0u8; pcsc::MAX_BUFFER_SIZE_EXTENDED];
        match card.transmit(command, &mut buf) {
            Ok(answer) => Ok(answer.to_vec()),
            Err(e) => {
                // The card session is over (removed or reset): forget it; `connect` starts a new one.
                if matches!(e, pcsc::Error::RemovedCard | pcsc::Error::ResetCard) {
                    self.card = None;
                    self.lost = true;
                }
                Err(error(e))
            }
        }
    }
}

impl CardReader for PcscReader {
    fn wait_presence(&mut self, timeout: Duration) -> Result<Presence, PcscError> {
        self.find_reader()?;
        for state in &mut self.states {
            state.sync_current_state();
        }
        match self.context.get_status_change(Some(timeout), &mut self.states) {
            Ok(()) | Err(pcsc::Error::Timeout) => {}
            Err(pcsc::Error::UnknownReader) | Err(pcsc::Error::ReaderUnavailable) => {
                log::warn!("card reader {:?} went away", self.pattern);
                self.states.truncate(1);
                self.card = None;
                return Ok(Presence::Absent);
            }
            Err(e) => return Err(error(e)),
        }
        let Some(reader) = self.states.get(1) else { return Ok(Presence::Absent) };
        let events = reader.event_state();
        if events.intersects(State::UNKNOWN | State::UNAVAILABLE | State::IGNORE) {
            log::warn!("card reader {:?} went away", self.pattern);
            self.states.truncate(1);
            self.card = None;
            return Ok(Presence::Absent);
        }
        if !events.contains(State::PRESENT) || events.contains(State::MUTE) {
            self.lost = false;
            return Ok(Presence::Absent);
        }
        let count = reader.event_count();
        if std::mem::take(&mut self.lost) {
            return Ok(Presence::Replaced);
        }
        match self.connected_events {
            Some(at_connect) if self.card.is_some() && count != at_connect => {
                // Taken away and placed again between two looks: not the card connected to.
                self.connected_events = Some(count);
                Ok(Presence::Replaced)
            }
            None if self.card.is_some() => {
                self.connected_events = Some(count);
                Ok(Presence::Present)
            }
            _ => Ok(Presence::Present),
        }
    }

    fn connect(&mut self) -> Result<Atr, PcscError> {
        self.find_reader()?;
        let name = self.reader_name().ok_or(PcscError {
            kind: ErrorKind::DeviceGone,
            detail: format!("no reader matching {:?}", self.pattern),
        })?;
        let card = self.context.connect(name, ShareMode::Exclusive, Protocols::ANY).map_err(error)?;
        // The ATR from SCardStatus: every IFD handler supports it (vpcd does not answer the
        // SCARD_ATTR_ATR_STRING attribute).
        let atr = card.status2_owned().map_err(error)?.atr().to_vec();
        self.card = Some(card);
        self.connected_events = self.states.get(1).map(ReaderState::event_count);
        self.lost = false;
        Ok(Atr(atr))
    }

    fn reset(&mut self) -> Result<Atr, PcscError> {
        let Some(card) = self.card.as_mut() else { return self.connect() };
        match card.reconnect(ShareMode::Exclusive, Protocols::ANY, Disposition::ResetCard) {
            Ok(_) => {
                let atr = card.status2_owned().map_err(error)?.atr().to_vec();
                // Learnt again at the next look, whether or not pcscd counts a reset as an event.
                self.connected_events = None;
                Ok(Atr(atr))
            }
            Err(e) => {
                // The card left or was taken: the next placement connects afresh.
                self.card = None;
                self.lost = true;
                Err(error(e))
            }
        }
    }

    fn disconnect(&mut self) {
        if let Some(card) = self.card.take() {
            // Reset the card so its security state (a verified PIN) does not outlive the session.
            let _ = card.disconnect(Disposition::ResetCard);
        }
    }

    fn attached(&mut self) -> Result<Option<String>, PcscError> {
        self.find_reader()?;
        Ok(self.reader_name().map(|n| n.to_string_lossy().into_owned()))
    }
}
