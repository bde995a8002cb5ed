//! The test PKI of the simulated cards: a test CA and, per persona, RSA-2048 keys and X.509
//! certificates, made with RustCrypto's `rsa` and `x509-cert`.
//!
//! Keys are derived deterministically from the persona's id (ChaCha20 seeded by SHA-256), so the
//! test CA is the same on every run and a terminal can pin it as a trust anchor; they are cached
//! per process because RSA key generation is slow. Nothing here is trusted in production: the
//! real trust anchors are J-LIS's CA certificates, given by configuration.

use der::Encode;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoOwned;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

/// Subject (and issuer) of the test CA.
pub const TEST_CA_NAME: &str = "CN=Kaoyomi Test JPKI CA,OU=Simulated cards,O=Kaoyomi,C=JP";

/// Errors of the test PKI (they mean a bug, not bad input).
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// Key generation failed.
    #[error("RSA: {0}")]
    Rsa(#[from] rsa::Error),
    /// Certificate building failed.
    #[error("X.509: {0}")]
    Builder(#[from] x509_cert::builder::Error),
    /// DER encoding failed.
    #[error("DER: {0}")]
    Der(#[from] der::Error),
    /// SPKI encoding failed.
    #[error("SPKI: {0}")]
    Spki(#[from] spki::Error),
}

fn rng_for(label: &str) -> ChaCha20Rng {
    let seed: [u8; 32] = Sha256::digest(format!("kaoyomi-sim-key:{label}").as_bytes()).into();
    ChaCha20Rng::from_seed(seed)
}

/// The RSA-2048 key named `label`, generated once per process.
pub fn key(label: &str) -> Result<Arc<RsaPrivateKey>, PkiError> {
    static KEYS: OnceLock<Mutex<HashMap<String, Arc<RsaPrivateKey>>>> = OnceLock::new();
    // Generation happens under the lock: threads that want the same key wait for it instead of
    // each spending seconds (minutes under emulation) making it again.
    let mut keys = KEYS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = keys.get(label) {
        return Ok(k.clone());
    }
    let generated = Arc::new(RsaPrivateKey::new(&mut rng_for(label), 2048)?);
    keys.insert(label.to_string(), generated.clone());
    Ok(generated)
}

fn time(unix_s: u64) -> Result<Time, PkiError> {
    Ok(Time::UtcTime(der::asn1::UtcTime::from_unix_duration(Duration::from_secs(unix_s))?))
}

fn spki(key: &RsaPublicKey) -> Result<SubjectPublicKeyInfoOwned, PkiError> {
    let der = key.to_public_key_der().map_err(PkiError::Spki)?;
    Ok(SubjectPublicKeyInfoOwned::try_from(der.as_bytes())?)
}

/// 2025-01-01T00:00:00Z.
const NOT_BEFORE: u64 = 1_735_689_600;
/// 2035-01-01T00:00:00Z (test CA).
const CA_NOT_AFTER: u64 = 2_051_222_400;
/// 2030-01-01T00:00:00Z (cards' certificates).
const EE_NOT_AFTER: u64 = 1_893_456_000;

/// The test CA's certificate (DER), self-signed.
pub fn ca_certificate() -> Result<Vec<u8>, PkiError> {
    static CA: OnceLock<Vec<u8>> = OnceLock::new();
    if let Some(der) = CA.get() {
        return Ok(der.clone());
    }
    let ca_key = key("test-ca")?;
    let signer = SigningKey::<Sha256>::new((*ca_key).clone());
    let validity = Validity { not_before: time(NOT_BEFORE)?, not_after: time(CA_NOT_AFTER)? };
    let subject = Name::from_str(TEST_CA_NAME)?;
    let builder = CertificateBuilder::new(
        Profile::Root,
        SerialNumber::from(1u32),
        validity,
        subject,
        spki(&ca_key.to_public_key())?,
        &signer,
    )?;
    let der = builder.build::<rsa::pkcs1v15::Signature>()?.to_der()?;
    Ok(CA.get_or_init(|| der).clone())
}

/// An end-entity certificate for `key`, issued by the test CA.
pub fn issue(subject: &str, serial: u32, key: &RsaPublicKey) -> Result<Vec<u8>, PkiError> {
    let ca_key = self::key("test-ca")?;
    let signer = SigningKey::<Sha256>::new((*ca_key).clone());
    let validity = Validity { not_before: time(NOT_BEFORE)?, not_after: time(EE_NOT_AFTER)? };
    let profile = Profile::Leaf {
        issuer: Name::from_str(TEST_CA_NAME)?,
        enable_key_agreement: false,
        enable_key_encipherment: false,
    };
    let builder = CertificateBuilder::new(
        profile,
        SerialNumber::from(serial),
        validity,
        Name::from_str(subject)?,
        spki(key)?,
        &signer,
    )?;
    Ok(builder.build::<rsa::pkcs1v15::Signature>()?.to_der()?)
}

/// Key ID of the simulated cards' issuer in their CV certificates (production IDs are J-LIS's).
pub const TEST_ISSUER_KEY_ID: [u8; 16] = *b"KAOYOMI-TEST-ISS";
/// Key ID of the key that signs the simulated cards' card-face records.
pub const TEST_FACE_SIGNER_KEY_ID: [u8; 16] = *b"KAOYOMI-FACE-SIG";

/// The simulated issuer's public key: the trust anchor for the simulated cards' CV certificates.
pub fn test_issuer_public() -> Result<RsaPublicKey, PkiError> {
    Ok(key("sim-card-issuer")?.to_public_key())
}

/// `90 <e> 91 <n>` TLVs of an RSA key, as the card writes keys.
pub fn rsa_tlvs(key: &RsaPublicKey) -> Vec<u8> {
    use rsa::traits::PublicKeyParts;
    let mut n = key.n().to_bytes_be();
    while n.len() < 256 {
        n.insert(0, 0);
    }
    [kaoyomi_myna::tlv::encode(0x90, &key.e().to_bytes_be()), kaoyomi_myna::tlv::encode(0x91, &n)].concat()
}

/// The card-verifiable certificate of the record-signing key, signed by the simulated issuer.
pub fn face_signer_cv_certificate() -> Result<Vec<u8>, PkiError> {
    use rsa::Pkcs1v15Sign;
    let signer = key("sim-face-signer")?;
    let mut body = TEST_ISSUER_KEY_ID.to_vec();
    body.extend_from_slice(&TEST_FACE_SIGNER_KEY_ID);
    body.extend(rsa_tlvs(&signer.to_public_key()));
    let signature = key("sim-card-issuer")?.sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&body))?;
    let inner = [kaoyomi_myna::tlv::encode(0x5F4E, &body), kaoyomi_myna::tlv::encode(0x5F37, &signature)].concat();
    Ok(kaoyomi_myna::tlv::encode(0x7F21, &inner))
}
