//! The Kaoyomi reader's neural networks, run with tract: the only crate that names tract.
//!
//! - [`FaceDetector`] ([`yunet::YuNet`]): faces with five landmarks in a greyscale image.
//! - [`FaceEmbedder`] ([`sface::SFace`]): a 128-d unit vector for an aligned 112x112 face.
//! - [`ppocr::TextRecognizer`] ([`ppocr::PpOcrRec`]): the characters of a text line, each with
//!   its confidence.
//!
//! Model files come from registry packages (see `manifest.toml`); each is checked against its
//! sha256 at load ([`manifest::load_verified`]). Better models can replace these behind the traits.

#[cfg(feature = "runtime")]
pub mod convert;
pub mod manifest;
#[cfg(feature = "runtime")]
pub mod ppocr;
#[cfg(feature = "runtime")]
pub mod profile;
#[cfg(feature = "runtime")]
pub mod sface;
#[cfg(feature = "runtime")]
pub mod yunet;

pub use manifest::{Manifest, ModelError};
use zeroize::Zeroize;

/// A borrowed 8-bit greyscale image, row-major, `width * height` bytes.
#[derive(Clone, Copy)]
pub struct GreyView<'a> {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The pixels.
    pub pixels: &'a [u8],
}

impl core::fmt::Debug for GreyView<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "GreyView({}x{}, pixels withheld)", self.width, self.height)
    }
}

impl GreyView<'_> {
    /// The pixel at (x, y), 0 outside the image.
    pub fn at(&self, x: i64, y: i64) -> u8 {
        if x < 0 || y < 0 || x >= i64::from(self.width) || y >= i64::from(self.height) {
            return 0;
        }
        self.pixels[(y as usize) * self.width as usize + x as usize]
    }
}

/// A point in image coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// X.
    pub x: f32,
    /// Y.
    pub y: f32,
}

/// A face found by a detector. Landmarks: right eye, left eye (as seen in the image: the
/// subject's right eye is on the image's left), nose tip, right and left mouth corner.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// Left edge.
    pub x: f32,
    /// Top edge.
    pub y: f32,
    /// Width.
    pub width: f32,
    /// Height.
    pub height: f32,
    /// Detector confidence, 0-1.
    pub score: f32,
    /// The five landmarks.
    pub landmarks: [Point; 5],
}

/// Finds faces.
pub trait FaceDetector {
    /// The faces in `image` with a score of at least `min_score`, best first, overlaps removed.
    fn detect(&mut self, image: GreyView<'_>, min_score: f32) -> Result<Vec<Detection>, ModelError>;
}

/// A face embedding: a unit vector; wiped on drop, never printed.
#[derive(Clone, PartialEq)]
pub struct Embedding(Vec<f32>);

impl Embedding {
    /// Normalises `v` to unit length.
    pub fn from_raw(mut v: Vec<f32>) -> Embedding {
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        v.iter_mut().for_each(|x| *x /= norm);
        Embedding(v)
    }

    /// Cosine similarity with `other`, -1 to 1.
    pub fn similarity(&self, other: &Embedding) -> f32 {
        self.0.iter().zip(&other.0).map(|(a, b)| a * b).sum()
    }

    /// The unit vector of the sum of two embeddings (a face and its mirror image, say).
    pub fn fused(&self, other: &Embedding) -> Embedding {
        Embedding::from_raw(self.0.iter().zip(&other.0).map(|(a, b)| a + b).collect())
    }

    /// The unit vector of the weighted sum of `items` (a session's frames, each weighted by its
    /// quality); `None` when there is nothing to fuse or every weight is zero.
    pub fn weighted_mean<'a>(items: impl IntoIterator<Item = (&'a Embedding, f32)>) -> Option<Embedding> {
        let mut sum: Vec<f32> = Vec::new();
        let mut total = 0.0;
        for (e, w) in items {
            if sum.is_empty() {
                sum = vec![0.0; e.0.len()];
            }
            sum.iter_mut().zip(&e.0).for_each(|(s, x)| *s += w * x);
            total += w;
        }
        let fused = (total > 0.0).then(|| Embedding::from_raw(core::mem::take(&mut sum)));
        sum.zeroize();
        fused
    }

    /// The unit vector's components: for measurement (the bench compares them with another
    /// runtime's); like the face itself, never to be logged or stored.
    pub fn as_slice(&self) -> &[f32] {
        &self.0
    }

    /// Dimensions.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it has no dimensions.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for Embedding {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl core::fmt::Debug for Embedding {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Embedding({} dims, withheld)", self.0.len())
    }
}

/// Embeds aligned faces.
pub trait FaceEmbedder {
    /// The embedding of a face aligned to the embedder's size (112x112 for SFace).
    fn embed(&mut self, aligned: GreyView<'_>) -> Result<Embedding, ModelError>;
}

#[cfg(feature = "runtime")]
pub(crate) fn tract_error(name: &str, e: impl core::fmt::Display) -> ModelError {
    ModelError::Tract { name: name.to_string(), message: e.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embeddings_are_unit_vectors_and_never_print() {
        let a = Embedding::from_raw(vec![3.0, 4.0]);
        assert!((a.similarity(&a) - 1.0).abs() < 1e-6);
        let b = Embedding::from_raw(vec![-4.0, 3.0]);
        assert!(a.similarity(&b).abs() < 1e-6);
        assert_eq!(format!("{a:?}"), "Embedding(2 dims, withheld)");
    }

    #[test]
    fn a_weighted_mean_leans_to_the_heavier_frame_and_needs_some_weight() {
        let (a, b) = (Embedding::from_raw(vec![1.0, 0.0]), Embedding::from_raw(vec![0.0, 1.0]));
        let m = Embedding::weighted_mean([(&a, 3.0), (&b, 1.0)]).expect("weights");
        assert!((m.similarity(&m) - 1.0).abs() < 1e-6);
        assert!(m.similarity(&a) > m.similarity(&b));
        assert!((m.as_slice()[0] / m.as_slice()[1] - 3.0).abs() < 1e-5);
        assert!(Embedding::weighted_mean([(&a, 0.0), (&b, 0.0)]).is_none());
        assert!(Embedding::weighted_mean(std::iter::empty()).is_none());
    }
}
