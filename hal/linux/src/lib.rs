//! Real devices of the Kaoyomi reader on Linux, named after the interface they wrap.
//!
//! One Cargo feature per subsystem, so a board build carries only what it uses:
//! - `pcsc`: [`pcsc::PcscReader`], the contactless reader through pcscd (PC/SC).

#[cfg(feature = "pcsc")]
pub mod pcsc;
