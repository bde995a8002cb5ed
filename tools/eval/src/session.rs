//! Sessions for the face evaluation: one LFW picture made into the frames a reader's camera
//! would take of a patient holding still in front of it, and those frames put through the
//! reader's own pipeline (detection on the 320-wide copy, the quality gate, alignment,
//! embedding).
//!
//! From frame to frame the face moves a few pixels, turns up to 2 degrees in the picture plane,
//! changes its size by up to 3%, the light by up to 5%; the sensor adds noise (sigma 2.5 grey
//! levels) and one frame in three is smeared by motion (3 pixels sideways). What a picture does
//! not have (the head turning in depth, an expression changing, the eyes blinking) no frame has:
//! the session's frames vary less than a real session's, so what fusing them gains (or costs)
//! on a real camera cannot show here, and a real impostor's windows are less alike than these.

use anyhow::{Context, Result};
use kaoyomi_models::Embedding;
use kaoyomi_vision::GreyImage;
use kaoyomi_vision::check::{self, Models, Settings};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The frame's size, as the reader's visible camera delivers it.
const FRAME: (u32, u32) = (640, 480);

/// An LFW picture's scale in the frame: its 250 pixels become 400 (eyes about 65 px apart, a
/// patient at 500 mm), as `reader_frame` in the evaluation.
const SCALE: f32 = 1.6;

/// The good frames of one session, in order: each frame's embedding and its weight
/// ([`check::quality`]).
#[derive(Default)]
pub struct Session {
    /// (embedding, quality weight) of each frame that passed the gate.
    pub frames: Vec<(Embedding, f32)>,
    /// The same for the frames the reader also compares as masked faces (those after
    /// `mask_hint_after` compared, [`check::embed_masked`]).
    pub masked: Vec<(Embedding, f32)>,
    /// Frames taken (good or not).
    pub taken: usize,
}

/// A seed from an image's key (the same frames on every run).
fn seed(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// One frame: `img` placed in the frame with this frame's motion, light, blur and noise.
fn frame(img: &image::GrayImage, rng: &mut ChaCha8Rng) -> Result<GreyImage> {
    let (w, h) = FRAME;
    let (sw, sh) = img.dimensions();
    let scale = SCALE * (1.0 + rng.gen_range(-0.03..0.03));
    let angle = rng.gen_range(-2.0f32..2.0).to_radians();
    let centre = (w as f32 / 2.0 + rng.gen_range(-8.0..8.0), h as f32 / 2.0 + rng.gen_range(-8.0..8.0));
    let gain = 1.0 + rng.gen_range(-0.05..0.05);
    let smear = rng.gen_range(0..3) == 0;
    // The frame's pixel (x, y) shows the picture's point (c, s) rotated and scaled back.
    let (cos, sin) = (angle.cos() / scale, angle.sin() / scale);
    let src = img.as_raw();
    let sample = |x: f32, y: f32| -> f32 {
        let (dx, dy) = (x - centre.0, y - centre.1);
        let u = cos * dx + sin * dy + sw as f32 / 2.0;
        let v = -sin * dx + cos * dy + sh as f32 / 2.0;
        if u < 0.0 || v < 0.0 || u > (sw - 1) as f32 || v > (sh - 1) as f32 {
            return 128.0;
        }
        let (x0, y0) = (u.floor() as usize, v.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(sw as usize - 1), (y0 + 1).min(sh as usize - 1));
        let (fx, fy) = (u - x0 as f32, v - y0 as f32);
        let p = |x: usize, y: usize| f32::from(src[y * sw as usize + x]);
        (p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx) * (1.0 - fy) + (p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx) * fy
    };
    let mut pixels = Vec::with_capacity((w * h) as usize);
    for y in 0..h {
        for x in 0..w {
            let (xf, yf) = (x as f32, y as f32);
            let v = if smear {
                (sample(xf - 1.0, yf) + sample(xf, yf) + sample(xf + 1.0, yf)) / 3.0
            } else {
                sample(xf, yf)
            };
            // Noise: the sum of three uniform draws (close to a normal law), sigma 2.5.
            let noise: f32 = (0..3).map(|_| rng.gen_range(-2.5f32..2.5)).sum();
            pixels.push((v * gain + noise).round().clamp(0.0, 255.0) as u8);
        }
    }
    GreyImage::new(w, h, pixels).context("frame size")
}

/// The session of `img` (keyed `key`): `settings.max_compared` good frames at most, taken as the
/// reader takes them (the frames after the mask hint also as masked faces), `2 * max_compared`
/// frames at most. Every session runs to the end: the rules compared decide on its frames later.
pub fn run(models: &mut Models, img: &image::GrayImage, key: &str, settings: &Settings) -> Result<Session> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed(key));
    let mut session = Session::default();
    let wanted = settings.max_compared as usize;
    while session.frames.len() < wanted && session.taken < 2 * wanted {
        let f = frame(img, &mut rng)?;
        session.taken += 1;
        let faces = check::find_faces(models.detector.as_mut(), f.view(), settings.detect_side, settings.min_score)?;
        if let Ok(good) = check::gate(f.view(), &faces, settings) {
            let e = models.embedder.embed(good.aligned.view())?;
            if session.frames.len() >= settings.mask_hint_after as usize {
                session.masked.push((check::embed_masked(models, f.view(), &good)?, check::quality(&good)));
            }
            session.frames.push((e, check::quality(&good)));
        }
    }
    Ok(session)
}
