//! Secrets that pass through the session: the PIN the patient types.
//!
//! They zeroize on drop and their `Debug` never shows the contents, so a trace, a log line or a
//! panic message cannot leak them.

use core::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Number of digits of the 利用者証明用 PIN.
pub const PIN_LEN: usize = 4;

/// The digits typed so far on the PIN pad.
#[derive(Default, Zeroize, ZeroizeOnDrop)]
pub struct PinBuffer {
    digits: [u8; PIN_LEN],
    len: u8,
}

impl PinBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Digits typed so far.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Nothing typed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a digit (0-9); returns the complete PIN on the 4th digit and empties the buffer.
    /// Anything that is not a digit is ignored.
    pub fn push(&mut self, digit: u8) -> Option<Pin> {
        if digit > 9 || self.len() >= PIN_LEN {
            return None;
        }
        self.digits[self.len()] = b'0' + digit;
        self.len += 1;
        if self.len() == PIN_LEN {
            let pin = Pin(self.digits);
            self.zeroize();
            Some(pin)
        } else {
            None
        }
    }

    /// Deletes the last digit.
    pub fn delete(&mut self) {
        if self.len > 0 {
            self.len -= 1;
            self.digits[self.len()] = 0;
        }
    }
}

impl fmt::Debug for PinBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinBuffer({} digits)", self.len)
    }
}

/// A complete 4-digit PIN as the ASCII bytes the card expects.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct Pin([u8; PIN_LEN]);

impl Pin {
    /// Parses four ASCII digits; used by scripted input and tests.
    pub fn from_ascii(text: &str) -> Option<Pin> {
        let bytes = text.as_bytes();
        if bytes.len() != PIN_LEN || !bytes.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut digits = [0u8; PIN_LEN];
        digits.copy_from_slice(bytes);
        Some(Pin(digits))
    }

    /// The ASCII digits, for the VERIFY command only.
    pub fn expose_ascii(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fourth_digit_completes_and_clears() {
        let mut buf = PinBuffer::new();
        assert!(buf.push(1).is_none());
        assert!(buf.push(12).is_none(), "not a digit");
        assert_eq!(buf.len(), 1);
        buf.delete();
        assert!(buf.is_empty());
        for d in [4, 3, 2] {
            assert!(buf.push(d).is_none());
        }
        let pin = buf.push(1).expect("4th digit submits");
        assert_eq!(pin.expose_ascii(), b"4321");
        assert!(buf.is_empty());
    }

    #[test]
    fn debug_never_shows_digits() {
        let pin = Pin::from_ascii("9876").unwrap();
        assert_eq!(format!("{pin:?}"), "Pin(****)");
        let mut buf = PinBuffer::new();
        buf.push(9);
        assert!(!format!("{buf:?}").contains('9'));
        assert!(Pin::from_ascii("12a4").is_none());
        assert!(Pin::from_ascii("12345").is_none());
    }
}
