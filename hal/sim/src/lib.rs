//! Simulated devices of the Kaoyomi reader.
//!
//! The centre piece is the virtual My Number card ([`card::VirtualCard`]): the real applications and
//! file IDs, access rules, retry counters that persist per persona across sessions
//! ([`store::CounterStore`]), the status words of the real card, and RSA-2048 keys with X.509
//! certificates issued by a test CA ([`pki`]). It sits in a simulated reader slot
//! ([`slot::SimCardSlot`]) that implements the same [`kaoyomi_hal::card::CardReader`] trait as the
//! PC/SC reader, with insert/remove on command and fault injection for tests.
//!
//! The simulated face camera ([`camera::SimCamera`]) shows public-domain portraits at the counter,
//! as a 2.5D camera does (visible, infrared, depth), live or as a presentation attack
//! ([`presentation`]).
//!
//! All card data is invented ([`persona`]); nothing here describes a real person.

pub mod camera;
pub mod capture;
pub mod card;
pub mod card_camera;
pub mod persona;
pub mod pki;
pub mod presentation;
pub mod slot;
pub mod store;

pub use camera::{Scene, SimCamera, SimCameraControl};
pub use card::VirtualCard;
pub use persona::Persona;
pub use slot::{Fault, SimCardControl, SimCardReader, SimCardSlot};
pub use store::CounterStore;
