//! The My Number card (マイナンバーカード) as the reader needs it.
//!
//! Layers, bottom up:
//! - [`apdu`]: ISO 7816-4 command encoding, response decoding, every status word the card is known
//!   to answer (see `../shared/docs/card-protocol.md`).
//! - [`tlv`]: BER-TLV with multi-byte private tags and long lengths, and the card's simple-TLV.
//! - [`card`]: ISO operations over a [`kaoyomi_hal::card::Transmit`] (SELECT, READ BINARY of a whole
//!   TLV file, retry counters, VERIFY), with GET RESPONSE / wrong-Le handling.
//! - [`jpki`]: the 公的個人認証 application: token label, 利用者証明用 certificate, PIN, signature.
//! - [`surface`]: the 券面事項確認 application: 照合番号B, the card-face record (photo), and the
//!   proof that the chip is genuine (CV certificate, record signature, challenge).
//! - [`common`]: the common card application's record (the card's expiry, no credential).
//!
//! Rules that protect the patient are enforced here: a PIN is never sent to a card whose counter
//! is blocked, nor on the last try unless the caller says the patient confirmed it, and nothing is
//! ever retried by itself.

pub mod apdu;
pub mod card;
pub mod common;
pub mod jpki;
pub mod surface;
pub mod tlv;

pub use apdu::{Command, Response, Status, StatusWord};
pub use card::{Card, Error, PinStatus};
