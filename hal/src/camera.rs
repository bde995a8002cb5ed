//! Cameras: the infrared face camera and the card-surface (OCR) camera deliver greyscale frames.
//!
//! A frame shows a patient's face or card, so it is personal data: [`Frame`] wipes its pixels on
//! drop and its `Debug` output gives the size only.

use crate::Error;
use zeroize::Zeroize;

/// One 8-bit greyscale frame, row-major, `width * height` bytes.
pub struct Frame {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
    sequence: u32,
}

impl Frame {
    /// A frame from its pixels; `None` when the buffer does not hold `width * height` bytes.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>, sequence: u32) -> Option<Frame> {
        (pixels.len() as u64 == u64::from(width) * u64::from(height)).then_some(Frame {
            width,
            height,
            pixels,
            sequence,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The driver's frame counter (gaps mean dropped frames).
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// The pixels, row-major.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// Mean brightness (0-255), for exposure checks and self-tests.
    pub fn mean(&self) -> f64 {
        if self.pixels.is_empty() {
            return 0.0;
        }
        self.pixels.iter().map(|&p| u64::from(p)).sum::<u64>() as f64 / self.pixels.len() as f64
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.pixels.zeroize();
    }
}

impl core::fmt::Debug for Frame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Frame({}x{}, #{}, pixels withheld)", self.width, self.height, self.sequence)
    }
}

/// A streaming camera.
pub trait Camera {
    /// The implementation's error.
    type Error: Error;
    /// Waits for the next frame.
    fn next_frame(&mut self) -> Result<Frame, Self::Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_pixels() {
        let frame = Frame::new(2, 1, vec![0x41, 0x42], 7).expect("size matches");
        assert_eq!(format!("{frame:?}"), "Frame(2x1, #7, pixels withheld)");
        assert_eq!(frame.mean(), 65.5);
    }

    #[test]
    fn size_must_match() {
        assert!(Frame::new(2, 2, vec![0; 3], 0).is_none());
    }
}
