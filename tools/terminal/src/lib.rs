//! The terminal side of the Kaoyomi protocol: connect to a reader, run a session, verify its result.
//!
//! Depends on `kaoyomi-protocol` only (never on firmware or hal crates) so that it builds for the
//! Windows terminal. Transports: a local socket to a simulated reader, and USB ([`usb`]).

pub mod client;
pub mod pairing;
pub mod usb;
pub mod verify;

pub use client::{Client, ClientError};
pub use pairing::{PairedReader, Store};
pub use verify::{CardSignature, ChainCheck, Expected, Verified, VerifyError, verify_report};
