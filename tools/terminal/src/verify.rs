//! Verification of a session report: the reader's Ed25519 signature, the card's RSA signature over
//! the terminal's challenge, and the card certificate's chain to a trust anchor.

use der::{Decode, Encode};
use ed25519_dalek::{Signature as EdSignature, Verifier, VerifyingKey as EdKey};
use kaoyomi_protocol::{SessionReport, SignedReport, card_challenge_message};
use rsa::RsaPublicKey;
use rsa::pkcs1v15::{Signature as RsaSignature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use sha2::Sha256;
use x509_cert::Certificate;

/// OID of sha256WithRSAEncryption.
const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";

/// Why a report is not to be trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// The reader's signature does not verify with the device key.
    #[error("the reader's signature is invalid")]
    ReaderSignature,
    /// The report bytes are not a report.
    #[error("the report cannot be decoded")]
    Malformed,
    /// The report answers another challenge.
    #[error("the report answers another challenge (nonce mismatch)")]
    Nonce,
    /// The certificate cannot be parsed or its key is not RSA.
    #[error("the card certificate is unusable: {0}")]
    Certificate(String),
    /// The card's signature does not verify with the certificate's key.
    #[error("the card's signature is invalid")]
    CardSignature,
    /// The certificate does not chain to a trust anchor.
    #[error("the card certificate is not trusted: {0}")]
    Chain(String),
    /// A PIN-path result without the card's signature.
    #[error("the report claims a PIN check but carries no card signature")]
    MissingCardSignature,
}

/// The card signature's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardSignature {
    /// Present and valid.
    Valid,
    /// Not part of this report (face or visual path, or not verified).
    NotPresent,
}

/// The chain check's state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChainCheck {
    /// Issued by this anchor (its subject).
    Trusted(String),
    /// No trust anchor given.
    NotChecked,
    /// No certificate in the report.
    NoCertificate,
}

/// A verified report.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The report.
    pub report: SessionReport,
    /// Card signature state.
    pub card_signature: CardSignature,
    /// Chain state.
    pub chain: ChainCheck,
}

fn certificate(der: &[u8]) -> Result<Certificate, VerifyError> {
    Certificate::from_der(der).map_err(|e| VerifyError::Certificate(e.to_string()))
}

fn rsa_key(cert: &Certificate) -> Result<RsaPublicKey, VerifyError> {
    let spki =
        cert.tbs_certificate.subject_public_key_info.to_der().map_err(|e| VerifyError::Certificate(e.to_string()))?;
    RsaPublicKey::from_public_key_der(&spki).map_err(|e| VerifyError::Certificate(e.to_string()))
}

fn verify_rsa(key: &RsaPublicKey, message: &[u8], signature: &[u8]) -> bool {
    use rsa::signature::Verifier as _;
    let Ok(signature) = RsaSignature::try_from(signature) else { return false };
    VerifyingKey::<Sha256>::new(key.clone()).verify(message, &signature).is_ok()
}

/// Checks `cert` against the anchors: issuer name, RSA-SHA256 signature, validity at `at_unix_s`.
pub fn check_chain(cert: &Certificate, anchors: &[Vec<u8>], at_unix_s: u64) -> Result<String, VerifyError> {
    let tbs = cert.tbs_certificate.to_der().map_err(|e| VerifyError::Certificate(e.to_string()))?;
    if cert.signature_algorithm.oid.to_string() != SHA256_WITH_RSA {
        return Err(VerifyError::Chain(format!("unsupported signature algorithm {}", cert.signature_algorithm.oid)));
    }
    let validity = &cert.tbs_certificate.validity;
    let (from, to) =
        (validity.not_before.to_unix_duration().as_secs(), validity.not_after.to_unix_duration().as_secs());
    if at_unix_s < from || at_unix_s > to {
        return Err(VerifyError::Chain("the certificate is not valid at the session time".into()));
    }
    let signature = cert.signature.raw_bytes();
    for anchor in anchors {
        let anchor = certificate(anchor)?;
        if anchor.tbs_certificate.subject != cert.tbs_certificate.issuer {
            continue;
        }
        if verify_rsa(&rsa_key(&anchor)?, &tbs, signature) {
            return Ok(anchor.tbs_certificate.subject.to_string());
        }
        return Err(VerifyError::Chain("the issuer's signature on the certificate is invalid".into()));
    }
    Err(VerifyError::Chain(format!("no trust anchor named {}", cert.tbs_certificate.issuer)))
}

/// Verifies a signed report against the reader's device key and the terminal's nonce; checks the
/// card's signature and, when anchors are given, the certificate chain.
pub fn verify_report(
    signed: &SignedReport,
    device_key: &[u8; 32],
    nonce: &[u8; 32],
    anchors: &[Vec<u8>],
) -> Result<Verified, VerifyError> {
    let key = EdKey::from_bytes(device_key).map_err(|_| VerifyError::ReaderSignature)?;
    let signature = EdSignature::from_slice(&signed.signature).map_err(|_| VerifyError::ReaderSignature)?;
    key.verify(&signed.report, &signature).map_err(|_| VerifyError::ReaderSignature)?;
    let report = SessionReport::from_bytes(&signed.report).map_err(|_| VerifyError::Malformed)?;
    if &report.nonce != nonce {
        return Err(VerifyError::Nonce);
    }
    let cert = report.auth_certificate.as_deref().map(certificate).transpose()?;
    let card_signature = match (&report.card_signature, &cert) {
        (Some(sig), Some(cert)) => {
            if !verify_rsa(&rsa_key(cert)?, &card_challenge_message(nonce), sig) {
                return Err(VerifyError::CardSignature);
            }
            CardSignature::Valid
        }
        (Some(_), None) => return Err(VerifyError::Certificate("a card signature without a certificate".into())),
        (None, _) => {
            if report.method == Some(kaoyomi_protocol::AuthMethod::Pin)
                && report.outcome == kaoyomi_protocol::Outcome::Verified
            {
                return Err(VerifyError::MissingCardSignature);
            }
            CardSignature::NotPresent
        }
    };
    let chain = match (&cert, anchors.is_empty()) {
        (None, _) => ChainCheck::NoCertificate,
        (Some(_), true) => ChainCheck::NotChecked,
        (Some(cert), false) => ChainCheck::Trusted(check_chain(cert, anchors, report.finished_ms / 1000)?),
    };
    Ok(Verified { report, card_signature, chain })
}

/// Subject, serial and validity of a certificate, for display.
pub fn describe_certificate(der: &[u8]) -> Option<(String, String, String)> {
    let cert = Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let serial: String = tbs.serial_number.as_bytes().iter().map(|b| format!("{b:02X}")).collect();
    Some((tbs.subject.to_string(), serial, format!("{} .. {}", tbs.validity.not_before, tbs.validity.not_after)))
}
