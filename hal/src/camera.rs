//! Cameras: the face camera and the card-surface (OCR) camera deliver greyscale frames.
//!
//! The face camera is a 2.5D camera: besides the visible picture it gives an infrared picture lit
//! by the reader's own IR LEDs and a depth map in millimetres, registered to the visible one
//! (pixel (x, y) of each shows the same point). [`FaceCamera`] delivers the three as one
//! [`FaceFrames`]; a plain [`Camera`] (the card camera) delivers [`Frame`]s.
//!
//! A frame shows a patient's face or card, so it is personal data: [`Frame`] and [`DepthFrame`]
//! wipe their contents on drop and their `Debug` output gives the size only.

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

/// One depth map: distances from the camera in millimetres, row-major, `0` where the sensor had
/// no reading (as V4L2's `Z16`).
pub struct DepthFrame {
    width: u32,
    height: u32,
    mm: Vec<u16>,
    sequence: u32,
}

impl DepthFrame {
    /// A depth map from its values; `None` when the buffer does not hold `width * height` values.
    pub fn new(width: u32, height: u32, mm: Vec<u16>, sequence: u32) -> Option<DepthFrame> {
        (mm.len() as u64 == u64::from(width) * u64::from(height)).then_some(DepthFrame { width, height, mm, sequence })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// The driver's frame counter.
    pub fn sequence(&self) -> u32 {
        self.sequence
    }

    /// The distances, millimetres, row-major (`0`: no reading).
    pub fn millimetres(&self) -> &[u16] {
        &self.mm
    }
}

impl Drop for DepthFrame {
    fn drop(&mut self) {
        self.mm.zeroize();
    }
}

impl core::fmt::Debug for DepthFrame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DepthFrame({}x{}, #{}, values withheld)", self.width, self.height, self.sequence)
    }
}

/// What the 2.5D face camera saw at one moment: the visible picture, the infrared picture and
/// the depth map, all the same size and registered to each other.
#[derive(Debug)]
pub struct FaceFrames {
    visible: Frame,
    infrared: Frame,
    depth: DepthFrame,
}

impl FaceFrames {
    /// The three pictures of one moment; `None` unless all three have the same size.
    pub fn new(visible: Frame, infrared: Frame, depth: DepthFrame) -> Option<FaceFrames> {
        let size = (visible.width, visible.height);
        ((infrared.width, infrared.height) == size && (depth.width, depth.height) == size).then_some(FaceFrames {
            visible,
            infrared,
            depth,
        })
    }

    /// The visible picture (the face check and the preview use it).
    pub fn visible(&self) -> &Frame {
        &self.visible
    }

    /// The infrared picture, lit by the reader's IR LEDs.
    pub fn infrared(&self) -> &Frame {
        &self.infrared
    }

    /// The depth map.
    pub fn depth(&self) -> &DepthFrame {
        &self.depth
    }

    /// The three pictures, apart.
    pub fn into_parts(self) -> (Frame, Frame, DepthFrame) {
        (self.visible, self.infrared, self.depth)
    }
}

/// The 2.5D face camera: visible, infrared and depth streams, delivered together.
pub trait FaceCamera {
    /// The implementation's error.
    type Error: Error;
    /// Waits for the next moment seen by all three streams.
    fn next_frames(&mut self) -> Result<FaceFrames, Self::Error>;
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
        assert!(DepthFrame::new(2, 2, vec![0; 5], 0).is_none());
    }

    #[test]
    fn the_three_streams_must_agree_in_size_and_never_print_their_contents() {
        let frame = |w, h| Frame::new(w, h, vec![9; (w * h) as usize], 1).expect("size");
        let depth = DepthFrame::new(2, 1, vec![600, 0], 1).expect("size");
        assert_eq!(format!("{depth:?}"), "DepthFrame(2x1, #1, values withheld)");
        assert!(FaceFrames::new(frame(2, 1), frame(1, 2), DepthFrame::new(2, 1, vec![1, 2], 1).unwrap()).is_none());
        let set = FaceFrames::new(frame(2, 1), frame(2, 1), depth).expect("same size");
        assert_eq!(set.depth().millimetres(), &[600, 0]);
        let printed = format!("{set:?}");
        assert!(printed.contains("withheld") && !printed.contains("600"), "{printed}");
    }
}
