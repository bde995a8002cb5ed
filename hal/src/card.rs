//! Contactless card readers: presence, connection and APDU exchange.

use crate::Error;
use std::time::Duration;

/// An answer-to-reset (or ATS-derived ATR on a contactless reader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Atr(pub Vec<u8>);

/// Whether a card is in the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// A card is present.
    Present,
    /// No card.
    Absent,
    /// A card is present, but not the one this reader was connected to: it was taken away and
    /// a card (maybe the same) placed since, or its connection was lost while it lay there.
    /// Whoever keeps track of placements counts this as a removal and a new placement.
    Replaced,
}

/// Sends one command APDU and returns the response APDU (data and the two status bytes).
///
/// Implementors: return an error of kind [`crate::ErrorKind::CardRemoved`] when the card left the
/// field during the exchange; never retry a command on your own (a retried VERIFY spends a PIN try).
pub trait Transmit {
    /// The implementation's error.
    type Error: Error;
    /// Exchanges one APDU.
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Self::Error>;
}

impl<T: Transmit + ?Sized> Transmit for &mut T {
    type Error = T::Error;
    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, Self::Error> {
        (**self).transmit(command)
    }
}

/// A card reader slot.
///
/// Implementors: [`CardReader::wait_presence`] must return within `timeout` so the caller can
/// interleave other work; [`CardReader::connect`] resets the card (its security state, not its
/// retry counters, which live on the card).
pub trait CardReader: Transmit {
    /// Waits up to `timeout` for a change and returns the presence then.
    fn wait_presence(&mut self, timeout: Duration) -> Result<Presence, Self::Error>;
    /// Powers up the card in the field and returns its ATR.
    fn connect(&mut self) -> Result<Atr, Self::Error>;
    /// Powers the card down; the next [`CardReader::connect`] starts a fresh card session.
    fn disconnect(&mut self);
    /// Resets the card in the field and keeps it: its security state (a verified PIN, an opened
    /// card-face application) ends here, so nothing after the job that needed it can use it.
    /// A reader that can reset in place overrides this; the default powers the card down and up.
    fn reset(&mut self) -> Result<Atr, Self::Error> {
        self.disconnect();
        self.connect()
    }
    /// The reader's own name if it is attached now, `None` if it is not (the self-test asks;
    /// a reader that is always there and has no name says `Some("")`, the default).
    fn attached(&mut self) -> Result<Option<String>, Self::Error> {
        Ok(Some(String::new()))
    }
}
