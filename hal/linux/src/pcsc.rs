//! The NFC card reader through pcscd (PC/SC), chosen by a reader-name pattern from the board file.
//!
//! - Presence comes from `SCardGetStatusChange`, including the PnP notification so a reader that is
//!   plugged in later (or comes back after being unplugged) is picked up.
//! - Connection is shared, any protocol (T=1 on contact readers, T=CL on contactless ones).
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
        Ok(if events.contains(State::PRESENT) && !events.contains(State::MUTE) {
            Presence::Present
        } else {
            Presence::Absent
        })
    }

    fn connect(&mut self) -> Result<Atr, PcscError> {
        self.find_reader()?;
        let name = self.reader_name().ok_or(PcscError {
            kind: ErrorKind::DeviceGone,
            detail: format!("no reader matching {:?}", self.pattern),
        })?;
        let card = self.context.connect(name, ShareMode::Shared, Protocols::ANY).map_err(error)?;
        // The ATR from SCardStatus: every IFD handler supports it (vpcd does not answer the
        // SCARD_ATTR_ATR_STRING attribute).
        let atr = card.status2_owned().map_err(error)?.atr().to_vec();
        self.card = Some(card);
        Ok(Atr(atr))
    }

    fn disconnect(&mut self) {
        if let Some(card) = self.card.take() {
            // Reset the card so its security state (a verified PIN) does not outlive the session.
            let _ = card.disconnect(Disposition::ResetCard);
        }
    }
}
