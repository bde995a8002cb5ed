//! Hardware traits and shared device types of the Kaoyomi reader.
//!
//! Written in the style of embedded-hal: every method is fallible, each implementation has its own
//! error type, and every error can say what *kind* of failure it is through [`Error::kind`], so the
//! firmware reacts to a removed card the same way whether pcscd or the simulator reported it.
//! Implementations live in `kaoyomi-hal-linux` (real devices) and `kaoyomi-hal-sim` (simulated).

pub mod audio;
pub mod camera;
pub mod card;

/// What went wrong, independent of the implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The card left the field (or was never there).
    CardRemoved,
    /// The reader device itself is gone (unplugged, service stopped).
    DeviceGone,
    /// The device did not answer in time.
    Timeout,
    /// The device answered something malformed.
    Protocol,
    /// Another program holds the device (a second PC/SC client on the card).
    InUse,
    /// Anything else.
    Other,
}

impl core::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ErrorKind::CardRemoved => "the card was removed",
            ErrorKind::DeviceGone => "the device is gone",
            ErrorKind::Timeout => "the device did not answer in time",
            ErrorKind::Protocol => "the device answered something malformed",
            ErrorKind::InUse => "another program is using the device",
            ErrorKind::Other => "device error",
        })
    }
}

/// An implementation's error.
pub trait Error: core::fmt::Debug + core::fmt::Display {
    /// The kind of failure.
    fn kind(&self) -> ErrorKind;
}
