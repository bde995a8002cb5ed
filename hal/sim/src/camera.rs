//! The simulated 2.5D face camera: 640x480 visible, infrared and depth frames at 30 frames per
//! second ([`kaoyomi_hal::camera::FaceFrames`]), drawn by [`crate::presentation`] from a
//! public-domain photograph of whoever stands at the counter ([`Scene`]), live or as a
//! presentation attack, with what a real counter gives: the patient walking up from afar, a face
//! at the edge, a tilted head, motion blur, a dark moment, then steady frames with small jitter
//! of place, distance, turn and light, blinks, and sensor noise.
//!
//! Each [`SimCamera`] starts its own timeline, as a real camera does when it starts streaming.
//! The scene is shared with a [`SimCameraControl`] so a script can change who stands there.

use crate::presentation::{self, Presentation, Species, Texture};
use kaoyomi_hal::camera::{DepthFrame, FaceCamera, FaceFrames, Frame};
use kaoyomi_hal::{Error, ErrorKind};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frame size.
pub const WIDTH: u32 = 640;
/// Frame size.
pub const HEIGHT: u32 = 480;
const FRAME_TIME: Duration = Duration::from_nanos(33_333_333);

/// The card holder of the simulated cards (the person on `assets/portrait.jp2`), another photograph.
const HOLDER: &[u8] = include_bytes!("../assets/camera-holder.jpg");
/// Somebody else.
const STRANGER: &[u8] = include_bytes!("../assets/camera-stranger.jpg");
/// The card's own photograph (what the card's printed front shows).
const CARD_PORTRAIT: &[u8] = include_bytes!("../assets/portrait.jp2");

/// The five landmarks (right eye, left eye, nose tip, right and left mouth corner) of each
/// picture, in its pixels, as the reader finds them (`check::find_faces`: YuNet, then again on the
/// face's crop; `tests/tests/pad.rs` checks they still agree).
pub const HOLDER_LANDMARKS: [(f32, f32); 5] =
    [(143.0, 215.1), (214.4, 220.7), (162.7, 260.9), (144.8, 297.4), (202.5, 300.6)];
/// See [`HOLDER_LANDMARKS`].
pub const STRANGER_LANDMARKS: [(f32, f32); 5] =
    [(129.3, 174.5), (192.5, 184.0), (163.1, 219.6), (124.0, 244.0), (175.9, 252.1)];
/// See [`HOLDER_LANDMARKS`].
pub const PORTRAIT_LANDMARKS: [(f32, f32); 5] =
    [(71.6, 111.8), (136.5, 112.3), (103.2, 145.4), (75.6, 173.8), (133.8, 174.3)];

/// Who (or what) the camera sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scene {
    /// The person on the simulated cards' photo.
    Holder,
    /// Somebody else holding the card.
    Stranger,
    /// Nobody in front of the camera.
    Nobody,
    /// The card holder in a room too dark for the camera.
    Dark,
    /// The camera delivers a few frames, then is unplugged.
    Unplugged,
    /// Somebody holds a printed photograph of the card holder to the camera.
    PhotoOfHolder,
    /// Somebody holds a phone showing the card holder's photograph.
    ScreenOfHolder,
    /// Somebody plays a video of the card holder on a tablet.
    ReplayOfHolder,
    /// Somebody holds the card's own printed front, its photograph close to the camera.
    CardFront,
    /// Somebody wears a paper mask printed with the card holder's face.
    MaskOfHolder,
}

impl Scene {
    /// Every scene with its name.
    pub const NAMES: [(&'static str, Scene); 10] = [
        ("holder", Scene::Holder),
        ("stranger", Scene::Stranger),
        ("nobody", Scene::Nobody),
        ("dark", Scene::Dark),
        ("unplugged", Scene::Unplugged),
        ("photo-of-holder", Scene::PhotoOfHolder),
        ("screen-of-holder", Scene::ScreenOfHolder),
        ("replay-of-holder", Scene::ReplayOfHolder),
        ("card-front", Scene::CardFront),
        ("mask-of-holder", Scene::MaskOfHolder),
    ];

    /// By name (see [`Scene::NAMES`]).
    pub fn parse(name: &str) -> Option<Scene> {
        Scene::NAMES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    /// What is presented.
    pub fn species(self) -> Species {
        match self {
            Scene::PhotoOfHolder => Species::PrintFlat,
            Scene::ScreenOfHolder => Species::Screen,
            Scene::ReplayOfHolder => Species::Replay,
            Scene::CardFront => Species::CardFront,
            Scene::MaskOfHolder => Species::PaperMask,
            _ => Species::Live,
        }
    }
}

/// A camera error.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SimCameraError {
    kind: ErrorKind,
    message: &'static str,
}

impl Error for SimCameraError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// Changes the scene of every camera made from it.
#[derive(Debug, Clone)]
pub struct SimCameraControl {
    scene: Arc<Mutex<Scene>>,
}

impl SimCameraControl {
    /// A control starting with `scene`.
    pub fn new(scene: Scene) -> SimCameraControl {
        SimCameraControl { scene: Arc::new(Mutex::new(scene)) }
    }

    /// Sets who stands at the counter.
    pub fn set(&self, scene: Scene) {
        *self.scene.lock().unwrap_or_else(|e| e.into_inner()) = scene;
    }

    /// The scene.
    pub fn scene(&self) -> Scene {
        *self.scene.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A camera that starts streaming now.
    pub fn open(&self) -> SimCamera {
        SimCamera {
            scene: self.scene(),
            index: 0,
            started: Instant::now(),
            rng: ChaCha8Rng::seed_from_u64(0x4b41_4f59),
            texture: None,
        }
    }
}

/// The photograph shown for `scene`, greyscale: width, height, pixels (the caller wipes them or
/// wraps them in a [`Texture`], which does).
pub fn picture(scene: Scene) -> Result<(u32, u32, Vec<u8>), SimCameraError> {
    let corrupt = SimCameraError { kind: ErrorKind::Other, message: "the camera's scene picture is corrupt" };
    let jpeg = |bytes: &[u8]| {
        image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg).map(|img| {
            let img = img.to_luma8();
            let (w, h) = img.dimensions();
            (w, h, img.into_raw())
        })
    };
    match scene {
        Scene::CardFront => {
            let img = kaoyomi_vision::portrait::decode(CARD_PORTRAIT).map_err(|_| corrupt)?;
            Ok((img.width(), img.height(), img.pixels().to_vec()))
        }
        Scene::Stranger => jpeg(STRANGER).map_err(|_| corrupt),
        _ => jpeg(HOLDER).map_err(|_| corrupt),
    }
}

/// The photograph of `scene` with its landmarks.
pub fn texture(scene: Scene) -> Result<Texture, SimCameraError> {
    let (width, height, pixels) = picture(scene)?;
    let landmarks = match scene {
        Scene::CardFront => PORTRAIT_LANDMARKS,
        Scene::Stranger => STRANGER_LANDMARKS,
        _ => HOLDER_LANDMARKS,
    };
    Texture::new(width as usize, height as usize, pixels, landmarks)
        .ok_or(SimCameraError { kind: ErrorKind::Other, message: "the camera's scene picture has the wrong size" })
}

/// One simulated camera stream.
pub struct SimCamera {
    scene: Scene,
    index: u32,
    started: Instant,
    rng: ChaCha8Rng,
    texture: Option<Texture>,
}

impl SimCamera {
    fn jitter(&mut self, amount: f32) -> f32 {
        (self.rng.next_u32() as f32 / u32::MAX as f32 * 2.0 - 1.0) * amount
    }

    /// The presentation at frame `i` of the approach: nobody, far, at the edge, tilted, blurred
    /// (the blur in pixels), dark, then steady with jitter and a blink now and then.
    fn pose(&mut self, i: u32) -> Option<(Presentation, usize)> {
        let species = self.scene.species();
        let mut p = Presentation::typical(species);
        p.seed = u64::from(i) ^ 0x2d35;
        let near = p.distance_mm;
        let blur = match i {
            0..=3 => return None,
            4..=7 => {
                p.distance_mm = near * 4.0;
                0
            }
            8..=10 => {
                p.offset_px.0 = 300.0;
                0
            }
            11..=13 => {
                p.roll_deg = 30.0;
                0
            }
            14..=16 => 21,
            17..=19 => {
                p.light = 0.22;
                0
            }
            _ => {
                p.distance_mm = near * (1.0 + self.jitter(0.04));
                p.offset_px = (self.jitter(8.0), p.offset_px.1 + self.jitter(6.0));
                p.roll_deg = self.jitter(3.0);
                p.yaw_deg = self.jitter(4.0);
                p.pitch_deg = self.jitter(3.0);
                p.light = 1.0 + self.jitter(0.08);
                // A blink every three seconds or so, four frames long (also in a replayed video).
                if matches!(species, Species::Live | Species::Replay) && i % 90 >= 86 {
                    p.blink = 1.0;
                }
                // The person in a replayed video leans in and out; the tablet stays where it is.
                if species == Species::Replay {
                    p.eye_mm *= 1.0 + 0.12 * (i as f32 * 0.7).sin();
                }
                0
            }
        };
        Some((p, blur))
    }
}

/// Shake and defocus: a box blur of `n` pixels along both axes.
fn blur(px: &mut [u8], w: usize, h: usize, n: usize) {
    let mut tmp = vec![0f32; px.len()];
    for y in 0..h {
        for x in 0..w {
            let end = (x + n).min(w);
            tmp[y * w + x] = px[y * w + x..y * w + end].iter().map(|&v| f32::from(v)).sum::<f32>() / (end - x) as f32;
        }
    }
    for y in 0..h {
        let end = (y + n).min(h);
        for x in 0..w {
            px[y * w + x] = ((y..end).map(|yy| tmp[yy * w + x]).sum::<f32>() / (end - y) as f32) as u8;
        }
    }
    zeroize::Zeroize::zeroize(&mut tmp);
}

impl FaceCamera for SimCamera {
    type Error = SimCameraError;

    fn next_frames(&mut self) -> Result<FaceFrames, SimCameraError> {
        let i = self.index;
        if self.scene == Scene::Unplugged && i >= 8 {
            return Err(SimCameraError { kind: ErrorKind::DeviceGone, message: "the face camera was unplugged" });
        }
        // Pace like a real camera.
        let due = self.started + FRAME_TIME * i;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if self.texture.is_none() {
            self.texture = Some(texture(self.scene)?);
        }
        let pose = match self.scene {
            Scene::Nobody => None,
            Scene::Dark => self.pose(i.max(20)).map(|(p, b)| (Presentation { light: 0.15, ..p }, b)),
            _ => self.pose(i),
        };
        let texture = self.texture.as_ref().expect("loaded above");
        let mut pictures = match &pose {
            Some((p, _)) => presentation::render(texture, p, WIDTH, HEIGHT),
            None => presentation::empty(WIDTH, HEIGHT, self.rng.next_u64()),
        };
        if let Some((_, n)) = pose
            && n > 1
        {
            blur(&mut pictures.visible, WIDTH as usize, HEIGHT as usize, n);
        }
        self.index += 1;
        let visible = Frame::new(WIDTH, HEIGHT, std::mem::take(&mut pictures.visible), i);
        let infrared = Frame::new(WIDTH, HEIGHT, std::mem::take(&mut pictures.infrared), i);
        let depth = DepthFrame::new(WIDTH, HEIGHT, std::mem::take(&mut pictures.depth), i);
        match (visible, infrared, depth) {
            (Some(v), Some(ir), Some(d)) => FaceFrames::new(v, ir, d),
            _ => None,
        }
        .ok_or(SimCameraError {
            kind: ErrorKind::Other,
            message: "the simulated camera drew a frame of the wrong size",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_in_order_and_an_unplugged_camera_says_so() {
        let control = SimCameraControl::new(Scene::Unplugged);
        let mut cam = control.open();
        for i in 0..8 {
            let f = cam.next_frames().expect("a frame");
            let (v, d) = (f.visible(), f.depth());
            assert_eq!((v.width(), v.height(), v.sequence(), d.sequence()), (WIDTH, HEIGHT, i, i));
        }
        let e = cam.next_frames().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DeviceGone);
    }

    #[test]
    fn the_dark_scene_is_dark_and_nobody_is_the_wall() {
        let control = SimCameraControl::new(Scene::Dark);
        let frames = control.open().next_frames().expect("frame");
        let dark = frames.visible().mean();
        // The reader's own infrared light does not care about the room's.
        let lit = frames.infrared().mean();
        control.set(Scene::Nobody);
        let nobody = control.open().next_frames().expect("frame");
        let wall = nobody.visible().mean();
        assert!(dark < 30.0 && (110.0..150.0).contains(&wall), "dark {dark}, wall {wall}");
        assert!(lit > nobody.infrared().mean() + 10.0, "infrared {lit}");
        assert!(nobody.depth().millimetres().iter().all(|&d| d == 0), "the wall is out of the depth sensor's range");
    }

    #[test]
    fn every_scene_has_a_name() {
        for (name, scene) in Scene::NAMES {
            assert_eq!(Scene::parse(name), Some(scene));
        }
        assert_eq!(Scene::parse("ghost"), None);
    }
}
