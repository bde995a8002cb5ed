//! Reading 照合番号B from the front of the card: the card camera's frame in, the 14 digits out
//! with how sure the reading is, or a reason to ask for the card again.
//!
//! - [`layout`]: where the card prints what.
//! - [`date`]: eras and calendar dates, checked.
//! - [`card`]: finding the card in the frame, rectifying it, cutting a window to its text line.
//! - [`parse`]: the printed lines to dates and digits, everything validated.
//! - [`read`] (with the models): one frame's fields recognised.
//! - [`guard`]: several frames fused; 照合番号B only when they agree and everything checks.

pub mod card;
pub mod date;
#[cfg(feature = "models")]
pub mod guard;
pub mod layout;
pub mod parse;
#[cfg(feature = "models")]
pub mod read;
