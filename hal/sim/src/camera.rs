//! The simulated face camera: 640x480 greyscale frames at 30 frames per second, made from a
//! public-domain portrait of whoever stands at the counter ([`Scene`]), with what a real counter
//! gives: the patient walking up from afar, a face at the edge, a tilted head, motion blur, a dark
//! moment, then steady frames with small jitter of place, scale, angle and light, and sensor noise.
//!
//! Each [`SimCamera`] starts its own timeline, as a real camera does when it starts streaming.
//! The scene is shared with a [`SimCameraControl`] so a script can change who stands there.

use kaoyomi_hal::camera::{Camera, Frame};
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
}

impl Scene {
    /// By name (`holder`, `stranger`, `nobody`, `dark`, `unplugged`).
    pub fn parse(name: &str) -> Option<Scene> {
        Some(match name {
            "holder" => Scene::Holder,
            "stranger" => Scene::Stranger,
            "nobody" => Scene::Nobody,
            "dark" => Scene::Dark,
            "unplugged" => Scene::Unplugged,
            _ => return None,
        })
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
            source: None,
        }
    }
}

/// An 8-bit greyscale source picture.
struct Source {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Source {
    fn decode(jpeg: &[u8]) -> Result<Source, SimCameraError> {
        let img = image::load_from_memory_with_format(jpeg, image::ImageFormat::Jpeg)
            .map_err(|_| SimCameraError { kind: ErrorKind::Other, message: "the camera's scene picture is corrupt" })?
            .to_luma8();
        let (w, h) = img.dimensions();
        Ok(Source { width: w as usize, height: h as usize, pixels: img.into_raw() })
    }

    fn sample(&self, x: f32, y: f32) -> Option<f32> {
        if x < 0.0 || y < 0.0 || x >= (self.width - 1) as f32 || y >= (self.height - 1) as f32 {
            return None;
        }
        let (x0, y0) = (x as usize, y as usize);
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let p = |dx: usize, dy: usize| f32::from(self.pixels[(y0 + dy) * self.width + x0 + dx]);
        Some((p(0, 0) * (1.0 - fx) + p(1, 0) * fx) * (1.0 - fy) + (p(0, 1) * (1.0 - fx) + p(1, 1) * fx) * fy)
    }
}

/// How the person stands in one frame.
#[derive(Debug, Clone, Copy)]
struct Pose {
    /// Picture scale (1: head and shoulders fill the frame as at the counter).
    scale: f32,
    /// Shift of the picture's centre from the frame's, pixels.
    dx: f32,
    dy: f32,
    /// Rotation, degrees.
    angle: f32,
    /// Horizontal motion blur, pixels.
    blur: usize,
    /// Light level (1: normal).
    light: f32,
}

/// One simulated camera stream.
pub struct SimCamera {
    scene: Scene,
    index: u32,
    started: Instant,
    rng: ChaCha8Rng,
    source: Option<Source>,
}

impl SimCamera {
    fn jitter(&mut self, amount: f32) -> f32 {
        (self.rng.next_u32() as f32 / u32::MAX as f32 * 2.0 - 1.0) * amount
    }

    /// The pose of frame `i` of the approach: nobody, far, at the edge, tilted, blurred, dark,
    /// then steady.
    fn pose(&mut self, i: u32) -> Option<Pose> {
        let steady = Pose { scale: 1.0, dx: 0.0, dy: 0.0, angle: 0.0, blur: 0, light: 1.0 };
        let pose = match i {
            0..=3 => return None,
            4..=7 => Pose { scale: 0.25, ..steady },
            8..=10 => Pose { dx: 300.0, ..steady },
            11..=13 => Pose { angle: 30.0, ..steady },
            14..=16 => Pose { blur: 21, ..steady },
            17..=19 => Pose { light: 0.22, ..steady },
            _ => Pose {
                scale: 1.0 + self.jitter(0.04),
                dx: self.jitter(8.0),
                dy: self.jitter(6.0),
                angle: self.jitter(3.0),
                blur: 0,
                light: 1.0 + self.jitter(0.08),
            },
        };
        Some(pose)
    }

    fn render(&mut self, pose: Option<Pose>, light: f32) -> Vec<u8> {
        let (w, h) = (WIDTH as usize, HEIGHT as usize);
        let mut px = vec![0f32; w * h];
        // The wall behind: a soft vertical gradient.
        for (y, row) in px.chunks_mut(w).enumerate() {
            row.fill(150.0 - 40.0 * y as f32 / h as f32);
        }
        if let (Some(p), Some(src)) = (pose, self.source.as_ref()) {
            // Frame -> source: the face (about 0.5 across and 0.42 down the picture) sits a little
            // above the frame's centre plus the shift; the picture is scaled so its width is 0.75
            // of the frame's at scale 1.
            let k = p.scale * 0.75 * w as f32 / src.width as f32;
            let (sin, cos) = p.angle.to_radians().sin_cos();
            let (cx, cy) = (w as f32 / 2.0 + p.dx, 0.45 * h as f32 + p.dy);
            let (ax, ay) = (0.5 * src.width as f32, 0.42 * src.height as f32);
            for y in 0..h {
                for x in 0..w {
                    let (u, v) = (x as f32 - cx, y as f32 - cy);
                    let (su, sv) = ((cos * u + sin * v) / k, (-sin * u + cos * v) / k);
                    if let Some(s) = src.sample(su + ax, sv + ay) {
                        px[y * w + x] = s;
                    }
                }
            }
            if p.blur > 1 {
                // Shake and defocus: a box blur along both axes.
                for row in px.chunks_mut(w) {
                    let copy = row.to_vec();
                    for (x, out) in row.iter_mut().enumerate() {
                        let end = (x + p.blur).min(w);
                        *out = copy[x..end].iter().sum::<f32>() / (end - x) as f32;
                    }
                }
                let copy = px.clone();
                for y in 0..h {
                    let end = (y + p.blur).min(h);
                    for x in 0..w {
                        px[y * w + x] = (y..end).map(|yy| copy[yy * w + x]).sum::<f32>() / (end - y) as f32;
                    }
                }
            }
        }
        let light = light * pose.map_or(1.0, |p| p.light);
        px.iter()
            .map(|&v| {
                let noise = (self.rng.next_u32() % 3) as f32 - 1.0;
                (v * light + noise).round().clamp(0.0, 255.0) as u8
            })
            .collect()
    }
}

impl Camera for SimCamera {
    type Error = SimCameraError;

    fn next_frame(&mut self) -> Result<Frame, SimCameraError> {
        let i = self.index;
        if self.scene == Scene::Unplugged && i >= 8 {
            return Err(SimCameraError { kind: ErrorKind::DeviceGone, message: "the face camera was unplugged" });
        }
        // Pace like a real camera.
        let due = self.started + FRAME_TIME * i;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if self.source.is_none() {
            let jpeg = match self.scene {
                Scene::Stranger => STRANGER,
                _ => HOLDER,
            };
            self.source = Some(Source::decode(jpeg)?);
        }
        let (pose, light) = match self.scene {
            Scene::Nobody => (None, 1.0),
            Scene::Dark => (self.pose(i.max(20)), 0.15),
            _ => (self.pose(i), 1.0),
        };
        let pixels = self.render(pose, light);
        self.index += 1;
        Ok(Frame::new(WIDTH, HEIGHT, pixels, i).expect("frame size"))
    }
}

impl Drop for SimCamera {
    fn drop(&mut self) {
        if let Some(s) = self.source.as_mut() {
            zeroize::Zeroize::zeroize(&mut s.pixels);
        }
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
            let f = cam.next_frame().expect("a frame");
            assert_eq!((f.width(), f.height(), f.sequence()), (WIDTH, HEIGHT, i));
        }
        let e = cam.next_frame().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::DeviceGone);
    }

    #[test]
    fn the_dark_scene_is_dark_and_nobody_is_the_wall() {
        let control = SimCameraControl::new(Scene::Dark);
        let dark = control.open().next_frame().expect("frame").mean();
        control.set(Scene::Nobody);
        let wall = control.open().next_frame().expect("frame").mean();
        assert!(dark < 30.0 && (110.0..150.0).contains(&wall), "dark {dark}, wall {wall}");
    }
}
