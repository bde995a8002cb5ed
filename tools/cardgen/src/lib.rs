//! `kaoyomi-cardgen`: test data for the reader's card-surface OCR. [`people`] invents card
//! holders, [`render`] draws their cards' fronts (and cards that are not fronts), and
//! `kaoyomi_hal_sim::capture` puts a card into the card camera's frame under a capture's
//! conditions. Everything is drawn from a seed, so a set can be made again exactly.
//!
//! Invented people only: names are put together from common names, addresses are made up.

pub mod people;
pub mod render;

pub use people::{Person, person};
pub use render::{Canvas, Fonts, OtherCard, Style};
