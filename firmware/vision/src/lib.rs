//! The Kaoyomi reader's face pipeline, on the models of `kaoyomi-models`:
//! - [`portrait`]: the card's JPEG 2000 portrait (untrusted input from an NFC chip) to greyscale.
//! - [`align`]: the similarity transform from five landmarks to the embedder's reference face,
//!   and the warp to 112x112.
//! - [`pick`]: which detected face is the patient's.
//! - [`check`]: one session's face check: quality gate, guidance, comparison, decision.
//! - [`mask`]: the landmarks of a face behind a mask, corrected for a second comparison.
//! - [`calibration`]: the threshold for a target false match rate.
//! - [`pad`]: presentation-attack detection on the 2.5D camera's infrared and depth pictures.
//!
//! Images here are faces: [`GreyImage`] wipes its pixels on drop and never prints them.

#[cfg(feature = "models")]
pub mod align;
pub mod calibration;
#[cfg(feature = "models")]
pub mod check;
pub mod geometry;
#[cfg(feature = "models")]
pub mod mask;
pub mod ocr;
#[cfg(feature = "models")]
pub mod pad;
#[cfg(feature = "models")]
pub mod pick;
pub mod portrait;

#[cfg(feature = "models")]
pub use kaoyomi_models::{Detection, GreyView, Point};
use zeroize::Zeroize;

/// An owned 8-bit greyscale image.
#[derive(Clone)]
pub struct GreyImage {
    width: u32,
    height: u32,
    pixels: Vec<u8>,
}

impl GreyImage {
    /// An image from its pixels; `None` if the sizes do not match.
    pub fn new(width: u32, height: u32, pixels: Vec<u8>) -> Option<GreyImage> {
        (pixels.len() as u64 == u64::from(width) * u64::from(height)).then_some(GreyImage { width, height, pixels })
    }

    /// Width.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The pixels, row-major.
    pub fn pixels(&self) -> &[u8] {
        &self.pixels
    }

    /// A borrowed view for the models.
    #[cfg(feature = "models")]
    pub fn view(&self) -> GreyView<'_> {
        GreyView { width: self.width, height: self.height, pixels: &self.pixels }
    }
}

impl Drop for GreyImage {
    fn drop(&mut self) {
        self.pixels.zeroize();
    }
}

impl core::fmt::Debug for GreyImage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "GreyImage({}x{}, pixels withheld)", self.width, self.height)
    }
}
