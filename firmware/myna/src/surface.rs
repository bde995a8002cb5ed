//! 券面事項確認AP: the card face in the chip (photo, name and address images, birth date, expiry),
//! opened with 照合番号B, and the proofs that the chip is genuine.
//!
//! The reader never reads EF 0005 (the 個人番号 image, opened only by 照合番号A): it has no
//! business with the 個人番号, and nothing here can address that file.

use crate::card::{Card, Error, Guarded, PinStatus};
use crate::tlv::{self, TlvError};
use kaoyomi_hal::card::Transmit;
use rsa::{BigUint, Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// AID of the 券面事項確認AP.
pub const AID: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02];
/// The card-face record (FF20), opened by 照合番号B.
pub const EF_CARD_FACE: u16 = 0x0002;
/// The application's card-verifiable certificate (7F21), free.
pub const EF_CV_CERTIFICATE: u16 = 0x0004;
/// The 照合番号B key.
pub const EF_COLLATION_B: u16 = 0x0012;
/// Tries of 照合番号B on a card (secondary source, card-protocol.md §3.2).
pub const COLLATION_B_TRIES: u8 = 10;

/// 照合番号B: birth date YYMMDD (as printed, Japanese era for Japanese nationals), the expiry's
/// Gregorian year, the 4-digit security code: 14 ASCII digits. Wiped on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct CollationB(Zeroizing<[u8; 14]>);

impl CollationB {
    /// Parses 14 ASCII digits.
    pub fn new(digits: &str) -> Option<CollationB> {
        let bytes = digits.as_bytes();
        if bytes.len() != 14 || !bytes.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let mut out = Zeroizing::new([0u8; 14]);
        out.copy_from_slice(bytes);
        Some(CollationB(out))
    }

    /// The digits, for VERIFY only.
    pub fn expose(&self) -> &[u8] {
        &self.0[..]
    }
}

impl core::fmt::Debug for CollationB {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CollationB(**************)")
    }
}

/// Problems with the card-face record or the certificate that signs it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Not the FF20 record.
    #[error("the card-face record does not start with FF20")]
    NotCardFace,
    /// The record's TLV structure is broken.
    #[error("the card-face record is malformed: {0}")]
    Tlv(#[from] TlvError),
    /// A field is missing.
    #[error("the card-face record lacks field {0:04X}")]
    Missing(u32),
    /// The offset table does not match where the fields are.
    #[error("the card-face record's offset table disagrees with its fields")]
    Offsets,
    /// A date field is not a date.
    #[error("the card-face record holds a date that is not a date")]
    Date,
    /// The public key is not an RSA key in 90/91 form.
    #[error("the card-face record's public key is malformed")]
    PublicKey,
    /// The photo is not a JP2 file.
    #[error("the card photo is not JPEG 2000 (JP2)")]
    NotJp2,
    /// An image is not PNG.
    #[error("a card-face image is not PNG")]
    NotPng,
    /// The CV certificate is malformed.
    #[error("the card-verifiable certificate is malformed")]
    Certificate,
}

/// The signed parts of the record, in order: DF22..DF2A.
const FIELDS: [u32; 9] = [0xDF22, 0xDF23, 0xDF24, 0xDF25, 0xDF26, 0xDF27, 0xDF28, 0xDF29, 0xDF2A];
const JP2_SIGNATURE: [u8; 12] = [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20, 0x0D, 0x0A, 0x87, 0x0A];
const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// The parsed card-face record. Holds personal data: wiped on drop, `Debug` shows sizes only.
pub struct CardFace {
    raw: Zeroizing<Vec<u8>>,
    /// (whole TLV range, value range) of DF22..DF2A.
    fields: [(core::ops::Range<usize>, core::ops::Range<usize>); 9],
}

impl core::fmt::Debug for CardFace {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "CardFace({} bytes, photo {} bytes)", self.raw.len(), self.photo_jp2().len())
    }
}

/// Reads an RSA key given as `90 <e> 91 <n>` TLVs.
pub fn rsa_key_from_tlvs(bytes: &[u8]) -> Result<RsaPublicKey, RecordError> {
    let e = tlv::find(bytes, 0x90)?.ok_or(RecordError::PublicKey)?.value;
    let n = tlv::find(bytes, 0x91)?.ok_or(RecordError::PublicKey)?.value;
    if n.len() != 256 || e.is_empty() || e.len() > 4 {
        return Err(RecordError::PublicKey);
    }
    RsaPublicKey::new(BigUint::from_bytes_be(n), BigUint::from_bytes_be(e)).map_err(|_| RecordError::PublicKey)
}

/// `DigestInfo(sha256, data)` for any digest length (the record's is 96 bytes: three SHA-256).
fn digest_info(data: &[u8]) -> Vec<u8> {
    let mut inner = vec![0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00];
    inner.extend(tlv::encode(0x04, data));
    tlv::encode(0x30, &inner)
}

impl CardFace {
    /// Parses and checks the structure of an FF20 record (signatures are checked by
    /// [`check_authenticity`]).
    pub fn parse(raw: Vec<u8>) -> Result<CardFace, RecordError> {
        let raw = Zeroizing::new(raw);
        let outer = tlv::parse(&raw)?;
        if outer.tag != 0xFF20 {
            return Err(RecordError::NotCardFace);
        }
        let start = outer.total_len - outer.value.len();
        let table = tlv::find(outer.value, 0xDF21)?.ok_or(RecordError::Missing(0xDF21))?;
        if table.value.len() != 18 {
            return Err(RecordError::Offsets);
        }
        let mut fields: [(core::ops::Range<usize>, core::ops::Range<usize>); 9] = Default::default();
        let mut pos = start;
        let mut index = 0;
        for child in tlv::children(outer.value) {
            let child = child?;
            let here = pos;
            pos += child.total_len;
            if child.tag == 0xDF21 {
                continue;
            }
            let Some(i) = FIELDS.iter().position(|&t| t == child.tag) else { continue };
            if i != index {
                return Err(RecordError::Missing(FIELDS[index]));
            }
            let offset = u16::from_be_bytes([table.value[2 * i], table.value[2 * i + 1]]) as usize;
            if offset != here {
                return Err(RecordError::Offsets);
            }
            let value_start = here + child.total_len - child.value.len();
            fields[i] = (here..here + child.total_len, value_start..here + child.total_len);
            index += 1;
        }
        if index < FIELDS.len() {
            return Err(RecordError::Missing(FIELDS[index]));
        }
        let face = CardFace { raw, fields };
        for field in [face.birth_date_raw(), face.expiry_raw()] {
            crate::common::Date::parse_yyyymmdd(field).ok_or(RecordError::Date)?;
        }
        rsa_key_from_tlvs(face.value(2))?;
        if !face.photo_jp2().starts_with(&JP2_SIGNATURE) {
            return Err(RecordError::NotJp2);
        }
        for png in [face.name_png(), face.address_png(), face.security_code_png()] {
            if !png.starts_with(&PNG_SIGNATURE) {
                return Err(RecordError::NotPng);
            }
        }
        if face.signature().len() != 256 {
            return Err(RecordError::Missing(0xDF28));
        }
        Ok(face)
    }

    fn value(&self, i: usize) -> &[u8] {
        &self.raw[self.fields[i].1.clone()]
    }

    fn tlvs(&self, range: core::ops::Range<usize>) -> &[u8] {
        &self.raw[self.fields[range.start].0.start..self.fields[range.end - 1].0.end]
    }

    fn birth_date_raw(&self) -> &[u8] {
        self.value(0)
    }

    fn expiry_raw(&self) -> &[u8] {
        self.value(7)
    }

    /// Birth date (Gregorian).
    pub fn birth_date(&self) -> crate::common::Date {
        crate::common::Date::parse_yyyymmdd(self.birth_date_raw()).unwrap_or(crate::common::Date {
            year: 0,
            month: 0,
            day: 0,
        })
    }

    /// Card expiry (Gregorian); not covered by the record's signature.
    pub fn expiry(&self) -> crate::common::Date {
        crate::common::Date::parse_yyyymmdd(self.expiry_raw()).unwrap_or(crate::common::Date {
            year: 0,
            month: 0,
            day: 0,
        })
    }

    /// Sex code (ASCII digit, ISO 5218).
    pub fn sex(&self) -> &[u8] {
        self.value(1)
    }

    /// The chip's own public key (DF24), which answers the challenge.
    pub fn chip_key(&self) -> RsaPublicKey {
        // Checked in `parse`.
        rsa_key_from_tlvs(self.value(2)).expect("checked at parse")
    }

    /// Name, rendered as PNG.
    pub fn name_png(&self) -> &[u8] {
        self.value(3)
    }

    /// Address, rendered as PNG.
    pub fn address_png(&self) -> &[u8] {
        self.value(4)
    }

    /// The face photo, greyscale JPEG 2000 in a JP2 container.
    pub fn photo_jp2(&self) -> &[u8] {
        self.value(5)
    }

    /// The issuer's signature over the record.
    pub fn signature(&self) -> &[u8] {
        self.value(6)
    }

    /// Security code, rendered as PNG (not covered by the signature).
    pub fn security_code_png(&self) -> &[u8] {
        self.value(8)
    }

    /// What the issuer signed: `DigestInfo(sha256, H(DF22‖DF23‖DF24) ‖ H(DF25‖DF26) ‖ H(DF27))`.
    pub fn signed_digest_info(&self) -> Vec<u8> {
        let mut digests = Vec::with_capacity(96);
        digests.extend_from_slice(&Sha256::digest(self.tlvs(0..3)));
        digests.extend_from_slice(&Sha256::digest(self.tlvs(3..5)));
        digests.extend_from_slice(&Sha256::digest(self.tlvs(5..6)));
        digest_info(&digests)
    }
}

/// The application's card-verifiable certificate (EF 0004):
/// `7F21 { 5F4E { issuer key ID (16), subject key ID (16), 90 e, 91 n }, 5F37 signature }`.
#[derive(Debug, Clone)]
pub struct CvCertificate {
    /// Which issuer key signed it.
    pub issuer_key_id: [u8; 16],
    /// The certified key's ID.
    pub subject_key_id: [u8; 16],
    /// The certified key: it signs the card-face records.
    pub key: RsaPublicKey,
    body: Vec<u8>,
    signature: Vec<u8>,
}

impl CvCertificate {
    /// Parses EF 0004.
    pub fn parse(bytes: &[u8]) -> Result<CvCertificate, RecordError> {
        let outer = tlv::parse(bytes)?;
        if outer.tag != 0x7F21 {
            return Err(RecordError::Certificate);
        }
        let body = tlv::find(outer.value, 0x5F4E)?.ok_or(RecordError::Certificate)?.value;
        let signature = tlv::find(outer.value, 0x5F37)?.ok_or(RecordError::Certificate)?.value;
        if body.len() < 32 || signature.len() != 256 {
            return Err(RecordError::Certificate);
        }
        let mut issuer_key_id = [0u8; 16];
        let mut subject_key_id = [0u8; 16];
        issuer_key_id.copy_from_slice(&body[..16]);
        subject_key_id.copy_from_slice(&body[16..32]);
        let key = rsa_key_from_tlvs(&body[32..]).map_err(|_| RecordError::Certificate)?;
        Ok(CvCertificate { issuer_key_id, subject_key_id, key, body: body.to_vec(), signature: signature.to_vec() })
    }

    /// Whether `issuer` signed it (PKCS#1 v1.5, SHA-256 over the 5F4E body).
    pub fn is_signed_by(&self, issuer: &RsaPublicKey) -> bool {
        issuer.verify(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&self.body), &self.signature).is_ok()
    }
}

/// The issuers whose keys may certify card-face applications (J-LIS in production, given by
/// configuration; the simulated cards' test issuer in tests and on the sim board).
#[derive(Debug, Clone, Default)]
pub struct IssuerKeys(Vec<([u8; 16], RsaPublicKey)>);

impl IssuerKeys {
    /// Adds an issuer key.
    pub fn with(mut self, key_id: [u8; 16], key: RsaPublicKey) -> Self {
        self.0.push((key_id, key));
        self
    }

    fn find(&self, key_id: &[u8; 16]) -> Option<&RsaPublicKey> {
        self.0.iter().find(|(id, _)| id == key_id).map(|(_, k)| k)
    }

    /// Whether no issuer is trusted (then no card can prove itself genuine).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Why a chip is not accepted as genuine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthenticityError {
    /// The card could not be read.
    #[error("card: {0}")]
    Card(#[from] Error),
    /// The record or certificate is malformed.
    #[error("{0}")]
    Record(#[from] RecordError),
    /// The certificate names an issuer key the reader does not trust.
    #[error("the card's certificate names an unknown issuer key")]
    UnknownIssuer,
    /// The certificate's signature is not the issuer's.
    #[error("the card's certificate is not signed by its issuer (forged certificate)")]
    CertificateForged,
    /// The record's signature does not match its contents.
    #[error("the card-face data does not match its signature (altered data)")]
    DataAltered,
    /// The chip could not prove it holds the key of its record.
    #[error("the chip does not hold the key of its signed record (cloned chip)")]
    ClonedChip,
}

/// The application on a card.
pub struct SurfaceAp<'c, T> {
    card: &'c mut Card<T>,
}

/// Outcome of presenting 照合番号B.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollationOutcome {
    /// Accepted: the record can be read.
    Opened,
    /// Wrong; tries left.
    Wrong(u8),
    /// Blocked: nothing was sent.
    Blocked,
}

impl<'c, T: Transmit> SurfaceAp<'c, T> {
    /// Selects the application.
    pub fn select(card: &'c mut Card<T>) -> Result<Self, Error> {
        card.select_df(&AID)?;
        Ok(SurfaceAp { card })
    }

    /// 照合番号B's retry counter, read without using a try.
    pub fn collation_b_status(&mut self) -> Result<PinStatus, Error> {
        self.card.select_ef(EF_COLLATION_B)?;
        self.card.pin_status()
    }

    /// Presents 照合番号B after reading the counter; sends nothing to a blocked key. Never retries.
    pub fn open(&mut self, b: &CollationB) -> Result<CollationOutcome, Error> {
        self.card.select_ef(EF_COLLATION_B)?;
        // 照合番号B comes from the card's face, not from the patient: no last-try confirmation
        // here; the OCR guard (confidence, never the same wrong value twice) decides before.
        match self.card.verify_guarded(b.expose(), true)? {
            Guarded::Verified => Ok(CollationOutcome::Opened),
            Guarded::Wrong(n) => Ok(CollationOutcome::Wrong(n)),
            Guarded::Blocked => Ok(CollationOutcome::Blocked),
            Guarded::NotSet | Guarded::NeedsConfirmation => Err(Error::Malformed("the card has no 照合番号B key")),
        }
    }

    /// Reads and parses the card-face record (after [`SurfaceAp::open`]).
    pub fn card_face(&mut self) -> Result<CardFace, AuthenticityError> {
        self.card.select_ef(EF_CARD_FACE)?;
        let raw = Zeroizing::new(self.card.read_tlv_file()?);
        Ok(CardFace::parse(raw.to_vec())?)
    }

    /// Reads the card-verifiable certificate.
    pub fn cv_certificate(&mut self) -> Result<CvCertificate, AuthenticityError> {
        self.card.select_ef(EF_CV_CERTIFICATE)?;
        Ok(CvCertificate::parse(&self.card.read_tlv_file()?)?)
    }

    /// Proves the chip genuine: the certificate is the issuer's, the record is the certified key's,
    /// and the chip signs a fresh `nonce` with the key its record names.
    pub fn check_authenticity(
        &mut self,
        face: &CardFace,
        issuers: &IssuerKeys,
        nonce: &[u8; 32],
    ) -> Result<(), AuthenticityError> {
        let cvc = self.cv_certificate()?;
        let issuer = issuers.find(&cvc.issuer_key_id).ok_or(AuthenticityError::UnknownIssuer)?;
        if !cvc.is_signed_by(issuer) {
            return Err(AuthenticityError::CertificateForged);
        }
        if cvc.key.verify(Pkcs1v15Sign::new_unprefixed(), &face.signed_digest_info(), face.signature()).is_err() {
            return Err(AuthenticityError::DataAltered);
        }
        let challenge = crate::jpki::sha256_digest_info(nonce);
        let answer = self.card.sign_with_application_key(&challenge)?;
        if face.chip_key().verify(Pkcs1v15Sign::new_unprefixed(), &challenge, &answer).is_err() {
            return Err(AuthenticityError::ClonedChip);
        }
        Ok(())
    }
}
