//! A simulated reader slot holding at most one [`VirtualCard`].
//!
//! [`SimCardReader`] is the firmware's side (it implements [`CardReader`] like the PC/SC reader);
//! [`SimCardControl`] is the outside world's side: a hand that places and removes cards, and a test
//! that injects faults (the card leaving before the n-th APDU, a truncated or garbled answer).

use crate::card::{ATR, VirtualCard};
use kaoyomi_hal::card::{Atr, CardReader, Presence, Transmit};
use kaoyomi_hal::{Error, ErrorKind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// The simulated reader's error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCardError {
    kind: ErrorKind,
}

impl std::fmt::Display for SimCardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "simulated card reader: {}", self.kind)
    }
}

impl std::error::Error for SimCardError {}

impl Error for SimCardError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// A fault to inject into the APDU stream, counted from the next APDU (1 = the next one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The card leaves the field just before APDU n reaches it.
    RemoveBefore(usize),
    /// The card leaves right after processing APDU n (its effect happened, the answer is lost).
    RemoveAfter(usize),
    /// APDU n is processed but its answer is cut to one byte.
    TruncateAnswer(usize),
    /// APDU n is processed but its answer is replaced by an unknown status word `6F42`.
    GarbleAnswer(usize),
}

#[derive(Default)]
struct SlotState {
    card: Option<VirtualCard>,
    connected: bool,
    fault: Option<Fault>,
    apdus_since_fault: usize,
    /// Bumped on every insert/remove so a waiting reader notices a quick remove+insert.
    generation: u64,
}

impl SlotState {
    /// An injected removal: the card leaves the field and the fault is spent.
    fn take_card_away(&mut self) {
        self.fault = None;
        self.card = None;
        self.connected = false;
        self.generation += 1;
    }
}

/// The shared slot.
#[derive(Clone, Default)]
pub struct SimCardSlot {
    inner: Arc<(Mutex<SlotState>, Condvar)>,
}

impl SimCardSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.inner.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The firmware's side.
    pub fn reader(&self) -> SimCardReader {
        SimCardReader { slot: self.clone(), seen_generation: 0, watched_generation: 0 }
    }

    /// The outside world's side.
    pub fn control(&self) -> SimCardControl {
        SimCardControl { slot: self.clone() }
    }
}

/// Places and removes cards, injects faults.
#[derive(Clone)]
pub struct SimCardControl {
    slot: SimCardSlot,
}

impl SimCardControl {
    /// Places a card (replacing any card already there).
    pub fn insert(&self, card: VirtualCard) {
        let mut s = self.slot.lock();
        s.card = Some(card);
        s.connected = false;
        s.generation += 1;
        self.slot.inner.1.notify_all();
    }

    /// Removes the card; returns it (with its counters) if there was one.
    pub fn remove(&self) -> Option<VirtualCard> {
        let mut s = self.slot.lock();
        s.connected = false;
        s.generation += 1;
        let card = s.card.take();
        self.slot.inner.1.notify_all();
        card
    }

    /// Whether a card is in the slot.
    pub fn is_present(&self) -> bool {
        self.slot.lock().card.is_some()
    }

    /// Arms a fault, counted from the next APDU.
    pub fn inject(&self, fault: Fault) {
        let mut s = self.slot.lock();
        s.fault = Some(fault);
        s.apdus_since_fault = 0;
    }

    /// Runs `f` on the card in the slot (tests read counters this way).
    pub fn with_card<R>(&self, f: impl FnOnce(&VirtualCard) -> R) -> Option<R> {
        self.slot.lock().card.as_ref().map(f)
    }
}

/// The firmware's view of the slot.
pub struct SimCardReader {
    slot: SimCardSlot,
    /// Generation of the slot when this reader connected (a later insert is another card).
    seen_generation: u64,
    /// Generation of the slot at the last presence report.
    watched_generation: u64,
}

impl Transmit for SimCardReader {
    type Error = SimCardError;

    fn transmit(&mut self, command: &[u8]) -> Result<Vec<u8>, SimCardError> {
        let removed = SimCardError { kind: ErrorKind::CardRemoved };
        let mut s = self.slot.lock();
        if !s.connected || s.card.is_none() || s.generation != self.seen_generation {
            return Err(removed);
        }
        s.apdus_since_fault += 1;
        let n = s.apdus_since_fault;
        if s.fault == Some(Fault::RemoveBefore(n)) {
            s.take_card_away();
            self.slot.inner.1.notify_all();
            return Err(removed);
        }
        let Some(card) = s.card.as_mut() else { return Err(removed) };
        let answer = card.process(command);
        match s.fault {
            Some(Fault::RemoveAfter(k)) if k == n => {
                s.take_card_away();
                self.slot.inner.1.notify_all();
                Err(removed)
            }
            Some(Fault::TruncateAnswer(k)) if k == n => {
                s.fault = None;
                Ok(answer[..1].to_vec())
            }
            Some(Fault::GarbleAnswer(k)) if k == n => {
                s.fault = None;
                Ok(vec![0x6F, 0x42])
            }
            _ => Ok(answer),
        }
    }
}

impl CardReader for SimCardReader {
    fn wait_presence(&mut self, timeout: Duration) -> Result<Presence, SimCardError> {
        let (lock, cvar) = &*self.slot.inner;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let watched = self.watched_generation;
        let (guard, _) =
            cvar.wait_timeout_while(guard, timeout, |s| s.generation == watched).unwrap_or_else(|e| e.into_inner());
        self.watched_generation = guard.generation;
        Ok(match &guard.card {
            None => Presence::Absent,
            // Connected before, to a card that has left since (even if another took its place).
            Some(_) if self.seen_generation != 0 && self.seen_generation != guard.generation => Presence::Replaced,
            Some(_) => Presence::Present,
        })
    }

    fn connect(&mut self) -> Result<Atr, SimCardError> {
        let mut s = self.slot.lock();
        let generation = s.generation;
        let Some(card) = s.card.as_mut() else { return Err(SimCardError { kind: ErrorKind::CardRemoved }) };
        card.reset();
        s.connected = true;
        self.seen_generation = generation;
        Ok(Atr(ATR.to_vec()))
    }

    fn reset(&mut self) -> Result<Atr, SimCardError> {
        // As a reader resetting in place: only the card connected to, never one placed since.
        let mut s = self.slot.lock();
        if !s.connected || s.generation != self.seen_generation {
            return Err(SimCardError { kind: ErrorKind::CardRemoved });
        }
        let Some(card) = s.card.as_mut() else { return Err(SimCardError { kind: ErrorKind::CardRemoved }) };
        card.reset();
        Ok(Atr(ATR.to_vec()))
    }

    fn disconnect(&mut self) {
        let mut s = self.slot.lock();
        if s.generation == self.seen_generation {
            s.connected = false;
            if let Some(card) = s.card.as_mut() {
                card.reset();
            }
        }
    }
}
