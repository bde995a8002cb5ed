//! The card's portrait: a small greyscale JPEG 2000 image from the 券面事項確認AP, read over NFC.
//! It is untrusted input: its size is bounded before and after decoding, the decoder is
//! memory-safe (hayro-jpeg2000, no unsafe code in its decoding), and every failure is an error,
//! never a panic (fuzzed: `fuzz/fuzz_targets/portrait.rs`).

use crate::GreyImage;
use hayro_jpeg2000::{DecodeSettings, DecoderContext, Image};

/// The largest portrait file accepted (the card's is about 4 KB).
pub const MAX_BYTES: usize = 64 * 1024;
/// The largest side accepted, in pixels (the card's is a few hundred).
pub const MAX_SIDE: u32 = 1024;

/// Why the portrait could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortraitError {
    /// Larger than any card portrait.
    #[error("the card's photo is {0} bytes, more than a card holds")]
    TooLarge(usize),
    /// Not JPEG 2000 or broken.
    #[error("the card's photo cannot be decoded")]
    Corrupt,
    /// Decoded to an implausible size.
    #[error("the card's photo is {0}x{1} pixels, not a card portrait")]
    BadSize(u32, u32),
}

/// Decodes the portrait to greyscale (colour images are reduced to luma).
pub fn decode(bytes: &[u8]) -> Result<GreyImage, PortraitError> {
    if bytes.len() > MAX_BYTES {
        return Err(PortraitError::TooLarge(bytes.len()));
    }
    let settings = DecodeSettings { strict: false, ..DecodeSettings::default() };
    let image = Image::new(bytes, &settings).map_err(|_| PortraitError::Corrupt)?;
    let (w, h) = (image.width(), image.height());
    if w == 0 || h == 0 || w > MAX_SIDE || h > MAX_SIDE {
        return Err(PortraitError::BadSize(w, h));
    }
    let channels = usize::from(image.color_space().num_channels()) + usize::from(image.has_alpha());
    let mut context = DecoderContext::default();
    let decoded = image.decode(&mut context).map_err(|_| PortraitError::Corrupt)?;
    let mut data = decoded.data_u8();
    let pixels = (w * h) as usize;
    if channels == 0 || data.len() != pixels * channels {
        zeroize::Zeroize::zeroize(&mut data);
        return Err(PortraitError::Corrupt);
    }
    let grey: Vec<u8> = if channels < 3 {
        data.chunks_exact(channels).map(|p| p[0]).collect()
    } else {
        data.chunks_exact(channels)
            .map(|p| ((299 * u32::from(p[0]) + 587 * u32::from(p[1]) + 114 * u32::from(p[2])) / 1000) as u8)
            .collect()
    };
    zeroize::Zeroize::zeroize(&mut data);
    GreyImage::new(w, h, grey).ok_or(PortraitError::Corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CARD_PORTRAIT: &[u8] = include_bytes!("../../../hal/sim/assets/portrait.jp2");

    #[test]
    fn the_simulated_cards_portrait_decodes() {
        let image = decode(CARD_PORTRAIT).expect("decodes");
        assert!(image.width() > 50 && image.height() > 50, "{image:?}");
        let mean = image.pixels().iter().map(|&p| u64::from(p)).sum::<u64>() / image.pixels().len() as u64;
        assert!((20..235).contains(&mean), "a real picture, not a flat one: mean {mean}");
    }

    #[test]
    fn garbage_truncation_and_oversize_are_errors() {
        assert_eq!(decode(b"not a jpeg 2000 file").unwrap_err(), PortraitError::Corrupt);
        for cut in [12, 100, CARD_PORTRAIT.len() / 2, CARD_PORTRAIT.len() - 1] {
            // A truncated photo may decode partially or fail; it must not panic.
            let _ = decode(&CARD_PORTRAIT[..cut]);
        }
        assert_eq!(decode(&vec![0u8; MAX_BYTES + 1]).unwrap_err(), PortraitError::TooLarge(MAX_BYTES + 1));
    }
}
