//! Fuzz target: the card-face record (FF20) and the card-verifiable certificate (7F21) come from an
//! NFC chip and are untrusted; parsing them returns a value or an error, never panics.
#![no_main]

use kaoyomi_myna::surface::{CardFace, CvCertificate};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(face) = CardFace::parse(data.to_vec()) {
        let _ = face.signed_digest_info();
        let _ = face.chip_key();
        let _ = (face.birth_date(), face.expiry(), face.photo_jp2().len());
    }
    if let Ok(cvc) = CvCertificate::parse(data) {
        let _ = cvc.is_signed_by(&cvc.key);
    }
});
