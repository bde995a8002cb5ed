//! The reader's maintenance side, apart from its screens: the two accounts of the maintenance
//! menu ([`accounts`]: Device ID and password, Argon2id, the initial password changed at the
//! first login, lockout with back-off) and the settings ([`settings`]: validated, versioned in
//! the database, exported and imported as a file signed by the device).
//!
//! Everything persists through `kaoyomi-store`; nothing here reads a clock (times come in) or
//! prints a password.

pub mod accounts;
pub mod contract;
pub mod export;
pub mod password;
pub mod settings;

pub use accounts::{Accounts, ChangeError, Login, LoginError};
pub use kaoyomi_store::Role;
pub use password::{Password, PasswordRefusal};
pub use settings::{
    Current, FaceAccuracy, ImportError, KeyboardLayout, Language, OutputEncoding, Settings, SettingsError,
};

#[cfg(test)]
mod tests;
