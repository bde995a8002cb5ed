//! Passwords: the secret type (wiped on drop, never printed), the initial passwords derived
//! from the device's own secret, Argon2id hashing, and the rules a new password must meet.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use kaoyomi_store::Role;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// A password as typed: wiped on drop; `Debug` shows only its length.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Takes the typed text (the caller's copy should be wiped too).
    pub fn new(text: impl Into<String>) -> Password {
        Password(Zeroizing::new(text.into()))
    }

    /// The text, to hash or compare.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Password({} characters)", self.0.chars().count())
    }
}

/// The shortest password accepted.
pub const MIN_LENGTH: usize = 10;
/// The longest password accepted.
pub const MAX_LENGTH: usize = 64;

/// The letters of an initial password: capitals and digits without 0/O and 1/I, so that it is
/// read off a sheet without doubt (32 letters: five bits each).
const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// The initial password of `role` on the device whose secret is `device_secret`: twelve letters
/// in groups of four (`7KQM-3WXA-PT9R`), derived so that only the device (and whoever reads its
/// state partition, i.e. the factory printing the sheet) knows it, and each device has its own.
pub fn initial_password(device_secret: &[u8; 32], role: Role) -> Password {
    let mut h = Sha256::new();
    h.update(b"kaoyomi initial maintenance password v1\0");
    h.update(device_secret);
    h.update(role.code().as_bytes());
    let mut digest = h.finalize();
    let mut text = String::with_capacity(14);
    // 12 letters x 5 bits = 60 bits, from the digest's first 8 bytes.
    let mut bits = u64::from_be_bytes(digest[..8].try_into().unwrap_or([0; 8]));
    for i in 0..12 {
        if i > 0 && i % 4 == 0 {
            text.push('-');
        }
        text.push(char::from(ALPHABET[(bits >> 59) as usize]));
        bits <<= 5;
    }
    digest.as_mut_slice().zeroize();
    Password::new(text)
}

/// Argon2id with OWASP's first recommended setting (19 MiB, two passes, one lane): about 0.1 s
/// on a Cortex-A72 core, a few seconds under QEMU's emulation.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The PHC string of `password` with a fresh random salt.
pub fn hash(password: &Password) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    Ok(argon2().hash_password(password.expose().as_bytes(), &salt)?.to_string())
}

/// Whether `password` matches the PHC string `phc` (an unreadable hash matches nothing).
pub fn verify(password: &Password, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2().verify_password(password.expose().as_bytes(), &parsed).is_ok(),
        Err(e) => {
            log::error!("a stored maintenance password hash cannot be read ({e}); it matches nothing");
            false
        }
    }
}

/// Why a new password is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordRefusal {
    /// Fewer than [`MIN_LENGTH`] characters.
    TooShort,
    /// More than [`MAX_LENGTH`] characters.
    TooLong,
    /// A character a USB keyboard without an input method cannot type the same way everywhere
    /// (only printable ASCII is accepted).
    NotPrintableAscii,
    /// It is the initial password (which must not be kept).
    IsInitial,
    /// It is the password in use now.
    Unchanged,
    /// It contains the Device ID (printed on the device).
    ContainsDeviceId,
    /// Too few different characters (`aaaaaaaaaa`, `1212121212`).
    TooSimple,
    /// The two entries differ.
    Mismatch,
}

impl PasswordRefusal {
    /// The catalogue key of the reason shown on the maintenance page.
    pub fn key(self) -> &'static str {
        match self {
            PasswordRefusal::TooShort => "password-too-short",
            PasswordRefusal::TooLong => "password-too-long",
            PasswordRefusal::NotPrintableAscii => "password-not-ascii",
            PasswordRefusal::IsInitial => "password-is-initial",
            PasswordRefusal::Unchanged => "password-unchanged",
            PasswordRefusal::ContainsDeviceId => "password-contains-device-id",
            PasswordRefusal::TooSimple => "password-too-simple",
            PasswordRefusal::Mismatch => "password-mismatch",
        }
    }
}

/// Checks a new password's form (not yet against the initial or current one).
pub fn check_form(new: &Password, repeated: &Password, device_id: &str) -> Result<(), PasswordRefusal> {
    let text = new.expose();
    if text != repeated.expose() {
        return Err(PasswordRefusal::Mismatch);
    }
    let n = text.chars().count();
    if n < MIN_LENGTH {
        return Err(PasswordRefusal::TooShort);
    }
    if n > MAX_LENGTH {
        return Err(PasswordRefusal::TooLong);
    }
    if !text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(PasswordRefusal::NotPrintableAscii);
    }
    if !device_id.is_empty() && text.to_ascii_uppercase().contains(&device_id.to_ascii_uppercase()) {
        return Err(PasswordRefusal::ContainsDeviceId);
    }
    let mut distinct: Vec<u8> = text.bytes().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let simple = distinct.len() < 5;
    distinct.zeroize();
    if simple {
        return Err(PasswordRefusal::TooSimple);
    }
    Ok(())
}
