//! 公的個人認証AP (JPKI-AP): the 利用者証明用 certificate, PIN and key.

use crate::card::{Card, Error, Guarded, PinStatus};
use kaoyomi_hal::card::Transmit;
use sha2::{Digest, Sha256};

/// AID of the JPKI application.
pub const AID: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// 署名用電子証明書 (needs the signing password).
pub const EF_SIGN_CERT: u16 = 0x0001;
/// 署名用CA証明書.
pub const EF_SIGN_CA: u16 = 0x0002;
/// Token information (label in the first 32 bytes).
pub const EF_TOKEN_INFO: u16 = 0x0006;
/// Certificate availability (byte 0: signing, byte 1: authentication).
pub const EF_CERT_AVAILABILITY: u16 = 0x0008;
/// 利用者証明用電子証明書 (free to read).
pub const EF_AUTH_CERT: u16 = 0x000A;
/// 利用者証明用CA証明書.
pub const EF_AUTH_CA: u16 = 0x000B;
/// 利用者証明用秘密鍵.
pub const EF_AUTH_KEY: u16 = 0x0017;
/// 利用者証明用暗証番号 (4 digits, 3 tries).
pub const EF_AUTH_PIN: u16 = 0x0018;
/// 署名用秘密鍵.
pub const EF_SIGN_KEY: u16 = 0x001A;
/// 署名用パスワード (6-16 characters, 5 tries).
pub const EF_SIGN_PIN: u16 = 0x001B;
/// Tries of the 利用者証明用 PIN on a new card.
pub const AUTH_PIN_TRIES: u8 = 3;

/// DER prefix of `DigestInfo { sha256, NULL }, OCTET STRING(32)`.
const SHA256_DIGEST_INFO_PREFIX: [u8; 19] =
    [0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20];

/// `DigestInfo(SHA-256(message))`, what the card signs with PKCS#1 v1.5 padding.
pub fn sha256_digest_info(message: &[u8]) -> Vec<u8> {
    let mut out = SHA256_DIGEST_INFO_PREFIX.to_vec();
    out.extend_from_slice(&Sha256::digest(message));
    out
}

/// What holds the JPKI keys, from the token label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A physical card (`JPKIAPICCTOKEN…`).
    Card,
    /// Android smartphone (`JPKIAPGPSETOKEN`).
    Android,
    /// iPhone (`JPKIAPIOSTOKEN`).
    Iphone,
    /// A label no source describes (kept for the engineer's log; it is not personal).
    Other(String),
}

impl Token {
    /// Classifies a token label.
    pub fn from_label(label: &str) -> Token {
        if label.starts_with("JPKIAPICCTOKEN") {
            Token::Card
        } else if label.starts_with("JPKIAPGPSETOKEN") {
            Token::Android
        } else if label.starts_with("JPKIAPIOSTOKEN") {
            Token::Iphone
        } else {
            Token::Other(label.chars().filter(|c| c.is_ascii_graphic()).take(32).collect())
        }
    }
}

/// Outcome of a PIN verification followed by a signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignOutcome {
    /// PIN accepted; the signature (256 bytes).
    Signed(Vec<u8>),
    /// PIN wrong; tries left.
    Wrong(u8),
    /// PIN blocked; no VERIFY was sent.
    Blocked,
    /// One try left and the caller did not allow it; no VERIFY was sent.
    NeedsConfirmation,
    /// The card has no PIN; no VERIFY was sent.
    NotSet,
}

/// The JPKI application on a card.
pub struct JpkiAp<'c, T> {
    card: &'c mut Card<T>,
}

impl<'c, T: Transmit> JpkiAp<'c, T> {
    /// Selects the application.
    pub fn select(card: &'c mut Card<T>) -> Result<Self, Error> {
        card.select_df(&AID)?;
        Ok(JpkiAp { card })
    }

    /// Reads the token label and tells card from smartphone.
    pub fn token(&mut self) -> Result<Token, Error> {
        self.card.select_ef(EF_TOKEN_INFO)?;
        let label = self.card.read_exact(32)?;
        let text: String = label.iter().map(|&b| b as char).collect();
        Ok(Token::from_label(text.trim_end_matches([' ', '\0'])))
    }

    /// Reads the 利用者証明用 certificate (DER, no PIN needed).
    pub fn auth_certificate(&mut self) -> Result<Vec<u8>, Error> {
        self.card.select_ef(EF_AUTH_CERT)?;
        self.card.read_tlv_file()
    }

    /// Reads the 利用者証明用 CA certificate.
    pub fn auth_ca_certificate(&mut self) -> Result<Vec<u8>, Error> {
        self.card.select_ef(EF_AUTH_CA)?;
        self.card.read_tlv_file()
    }

    /// Reads the 利用者証明用 PIN's retry counter without using a try.
    pub fn auth_pin_status(&mut self) -> Result<PinStatus, Error> {
        match self.card.select_ef(EF_AUTH_PIN) {
            Err(Error::Refused { sw, .. }) if sw.0 == 0x6A82 => return Ok(PinStatus::NotSet),
            other => other?,
        }
        self.card.pin_status()
    }

    /// Verifies the 利用者証明用 PIN, then signs `digest_info` with the 利用者証明用 key.
    ///
    /// Reads the counter first and sends nothing when the PIN is blocked, not set, or on its last
    /// try without `allow_last_try`. Never retries.
    pub fn verify_and_sign(
        &mut self,
        pin: &[u8],
        digest_info: &[u8],
        allow_last_try: bool,
    ) -> Result<SignOutcome, Error> {
        match self.card.select_ef(EF_AUTH_PIN) {
            Err(Error::Refused { sw, .. }) if sw.0 == 0x6A82 => return Ok(SignOutcome::NotSet),
            other => other?,
        }
        match self.card.verify_guarded(pin, allow_last_try)? {
            Guarded::Verified => {}
            Guarded::Wrong(n) => return Ok(SignOutcome::Wrong(n)),
            Guarded::Blocked => return Ok(SignOutcome::Blocked),
            Guarded::NeedsConfirmation => return Ok(SignOutcome::NeedsConfirmation),
            Guarded::NotSet => return Ok(SignOutcome::NotSet),
        }
        self.card.select_ef(EF_AUTH_KEY)?;
        Ok(SignOutcome::Signed(self.card.sign(digest_info)?))
    }
}
