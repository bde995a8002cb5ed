//! Verification of a session report: the reader's Ed25519 signature, the card's RSA signature over
//! the terminal's challenge, and the card certificate's chain to a trust anchor.

use der::{Decode, Encode};
use ed25519_dalek::{Signature as EdSignature, Verifier, VerifyingKey as EdKey};
use kaoyomi_protocol::{
    AuthMethod, Outcome, SessionReport, SessionRequest, SignedReport, card_challenge_message, report_signing_message,
};
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
    /// Signed by the expected key but naming another reader.
    #[error("the report names reader {0}, not the reader it came from")]
    Serial(String),
    /// Another session's report.
    #[error("the report is for session {0}, not the session started")]
    Session(u32),
    /// The report answers another request (other consents, registration or nonce).
    #[error("the report answers another request than the one sent")]
    Request,
    /// The report's times are not those of a session that just ended.
    #[error("the report's time is implausible: {0}")]
    Time(&'static str),
    /// Consent or registration answers that were not asked, or out of order.
    #[error("the report's answers do not match the questions asked: {0}")]
    Answers(&'static str),
}

/// How far the reader's clock may be from the terminal's.
pub const MAX_CLOCK_SKEW_MS: u64 = 5 * 60 * 1000;
/// How old a report may be when the terminal checks it (a session ends, its report follows).
pub const MAX_REPORT_AGE_MS: u64 = 10 * 60 * 1000;
/// How long a session may last, card placed to end.
pub const MAX_SESSION_MS: u64 = 60 * 60 * 1000;

/// What the terminal expects of the report it waits for.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The reader's Ed25519 device key (pinned at pairing).
    pub device_key: &'a [u8; 32],
    /// The reader's serial (pinned at pairing).
    pub serial: &'a str,
    /// The session the reader started for this request.
    pub session_id: u32,
    /// The request sent.
    pub request: &'a SessionRequest,
    /// The terminal's clock, Unix milliseconds.
    pub now_ms: u64,
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

/// Verifies a signed report: the reader's signature under the report context with the pinned
/// device key, the reader's serial, the session, the request it answers (its digest, which covers
/// the nonce, the consents asked and the registration question), plausible times, answers only to
/// questions asked; then the card's signature over the challenge and, when anchors are given, the
/// certificate chain.
pub fn verify_report(
    signed: &SignedReport,
    expected: &Expected<'_>,
    anchors: &[Vec<u8>],
) -> Result<Verified, VerifyError> {
    let key = EdKey::from_bytes(expected.device_key).map_err(|_| VerifyError::ReaderSignature)?;
    let signature = EdSignature::from_slice(&signed.signature).map_err(|_| VerifyError::ReaderSignature)?;
    key.verify(&report_signing_message(&signed.report), &signature).map_err(|_| VerifyError::ReaderSignature)?;
    let report = SessionReport::from_bytes(&signed.report).map_err(|_| VerifyError::Malformed)?;
    if report.reader_serial != expected.serial {
        return Err(VerifyError::Serial(report.reader_serial));
    }
    if report.session_id != expected.session_id {
        return Err(VerifyError::Session(report.session_id));
    }
    if report.nonce != expected.request.nonce {
        return Err(VerifyError::Nonce);
    }
    if report.request != expected.request.digest() {
        return Err(VerifyError::Request);
    }
    check_times(&report, expected.now_ms)?;
    check_answers(&report, expected.request)?;
    let nonce = &expected.request.nonce;
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
            if report.method == Some(AuthMethod::Pin) && report.outcome == Outcome::Verified {
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

fn check_times(report: &SessionReport, now_ms: u64) -> Result<(), VerifyError> {
    if report.finished_ms < report.started_ms && report.started_ms != 0 {
        return Err(VerifyError::Time("it ended before it started"));
    }
    if report.started_ms != 0 && report.finished_ms - report.started_ms > MAX_SESSION_MS {
        return Err(VerifyError::Time("the session lasted longer than any session can"));
    }
    if report.finished_ms > now_ms.saturating_add(MAX_CLOCK_SKEW_MS) {
        return Err(VerifyError::Time("it ended in the future (is the reader's clock right?)"));
    }
    if report.finished_ms.saturating_add(MAX_REPORT_AGE_MS + MAX_CLOCK_SKEW_MS) < now_ms {
        return Err(VerifyError::Time("it is too old to be the answer to this request"));
    }
    Ok(())
}

fn check_answers(report: &SessionReport, request: &SessionRequest) -> Result<(), VerifyError> {
    let verified = report.outcome == Outcome::Verified;
    let asked = request.consents.topics();
    let answered: Vec<_> = report.consents.iter().map(|a| a.topic).collect();
    if !verified && !answered.is_empty() {
        return Err(VerifyError::Answers("consents in a session that did not verify"));
    }
    if verified && answered != asked {
        return Err(VerifyError::Answers("the consents answered are not the ones asked, in order"));
    }
    if report.registration.is_some() && !(verified && request.registration_needed) {
        return Err(VerifyError::Answers("a registration answer that was not asked"));
    }
    if verified && request.registration_needed && report.registration.is_none() {
        return Err(VerifyError::Answers("the registration question asked has no answer"));
    }
    if verified && report.method.is_none() {
        return Err(VerifyError::Answers("verified without a method"));
    }
    if report.method == Some(AuthMethod::Visual) && report.card_signature.is_some() {
        return Err(VerifyError::Answers("a card signature on a visual check"));
    }
    Ok(())
}

/// Subject, serial and validity of a certificate, for display.
pub fn describe_certificate(der: &[u8]) -> Option<(String, String, String)> {
    let cert = Certificate::from_der(der).ok()?;
    let tbs = &cert.tbs_certificate;
    let serial: String = tbs.serial_number.as_bytes().iter().map(|b| format!("{b:02X}")).collect();
    Some((tbs.subject.to_string(), serial, format!("{} .. {}", tbs.validity.not_before, tbs.validity.not_after)))
}
