//! What the card-surface camera in the reader's slot does to a card: the card lies in the slot at
//! a slant (perspective, rotation, a little off-centre), the lens blurs, the room light is uneven
//! and may shine off the laminate (glare), the sensor adds noise, dust sits on the glass, the
//! camera's JPEG compression leaves artefacts, and a finger may cover part of the card.
//!
//! [`Conditions::sample`] draws one capture's conditions from a seeded generator, [`capture`]
//! turns a rectified card front (see `kaoyomi-cardgen`) into the camera's frame.

use image::{GrayImage, ImageEncoder};
use kaoyomi_vision::geometry::{Homography, bilinear};
use rand_core::RngCore;

/// Frame width of the card camera.
pub const FRAME_WIDTH: u32 = 1280;
/// Frame height of the card camera.
pub const FRAME_HEIGHT: u32 = 720;

/// A bright reflection of the room light on the card's laminate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Glare {
    /// Centre, in card millimetres from the top-left corner.
    pub x_mm: f32,
    /// Centre.
    pub y_mm: f32,
    /// Radius in millimetres.
    pub radius_mm: f32,
    /// 0-1: how far toward white the centre goes.
    pub strength: f32,
}

/// Something over the card (a thumb): a dark-grey ellipse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cover {
    /// Centre, in card millimetres.
    pub x_mm: f32,
    /// Centre.
    pub y_mm: f32,
    /// Half-width in millimetres.
    pub rx_mm: f32,
    /// Half-height in millimetres.
    pub ry_mm: f32,
}

/// One capture's conditions.
#[derive(Debug, Clone, PartialEq)]
pub struct Conditions {
    /// The card's corners in the frame (top-left, top-right, bottom-right, bottom-left of the
    /// card as printed).
    pub corners: [(f64, f64); 4],
    /// Gaussian blur sigma in frame pixels (0: none).
    pub blur: f32,
    /// Light: brightness factor at the frame's left and right edges (uneven light).
    pub light: (f32, f32),
    /// Glare, if any.
    pub glare: Option<Glare>,
    /// Sensor noise, standard deviation in grey levels.
    pub noise: f32,
    /// Dust specks: (x, y, radius) in frame pixels.
    pub dust: Vec<(f32, f32, f32)>,
    /// JPEG quality of the camera's compression, if it compresses.
    pub jpeg_quality: Option<u8>,
    /// A finger over the card, if any.
    pub cover: Option<Cover>,
    /// Grey level of the slot around the card.
    pub background: u8,
}

fn uniform(rng: &mut dyn RngCore, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * (rng.next_u32() as f32 / u32::MAX as f32)
}

fn chance(rng: &mut dyn RngCore, p: f32) -> bool {
    uniform(rng, 0.0, 1.0) < p
}

fn gaussian(rng: &mut dyn RngCore) -> f32 {
    let u1 = uniform(rng, 1e-7, 1.0);
    let u2 = uniform(rng, 0.0, 1.0);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
}

/// How hard the conditions are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Difficulty {
    /// A patient who laid the card in the slot: small slant, mild blur and noise.
    Placed,
    /// Everything a counter gives, including glare, dust, covers and strong compression.
    Hard,
}

impl Conditions {
    /// A still, square placement: the card centred, filling most of the frame, no degradation.
    pub fn ideal(card_width_mm: f32, card_height_mm: f32) -> Conditions {
        let scale = 1000.0 / f64::from(card_width_mm);
        let (w, h) = (f64::from(card_width_mm) * scale, f64::from(card_height_mm) * scale);
        let (x0, y0) = ((f64::from(FRAME_WIDTH) - w) / 2.0, (f64::from(FRAME_HEIGHT) - h) / 2.0);
        Conditions {
            corners: [(x0, y0), (x0 + w, y0), (x0 + w, y0 + h), (x0, y0 + h)],
            blur: 0.0,
            light: (1.0, 1.0),
            glare: None,
            noise: 0.0,
            dust: Vec::new(),
            jpeg_quality: None,
            cover: None,
            background: 30,
        }
    }

    /// One capture's conditions drawn from `rng`.
    pub fn sample(
        rng: &mut dyn RngCore,
        difficulty: Difficulty,
        card_width_mm: f32,
        card_height_mm: f32,
    ) -> Conditions {
        let hard = difficulty == Difficulty::Hard;
        let mut c = Conditions::ideal(card_width_mm, card_height_mm);
        // Placement: scale, rotation, shift, then each corner nudged (perspective).
        // The slot holds the card where the camera sees all of it, give or take.
        let scale = if hard { uniform(rng, 0.74, 1.0) } else { uniform(rng, 0.8, 0.94) } as f64;
        let angle = uniform(rng, -1.0, 1.0) as f64 * if hard { 8.0f64 } else { 4.0 }.to_radians();
        let (cx, cy) = (
            f64::from(FRAME_WIDTH) / 2.0 + f64::from(uniform(rng, -40.0, 40.0)),
            f64::from(FRAME_HEIGHT) / 2.0 + f64::from(uniform(rng, -25.0, 25.0)),
        );
        let slant = if hard { 22.0 } else { 12.0 };
        let (sin, cos) = angle.sin_cos();
        for corner in &mut c.corners {
            let (x, y) = ((corner.0 - 640.0) * scale, (corner.1 - 360.0) * scale);
            *corner = (
                cx + x * cos - y * sin + f64::from(uniform(rng, -slant, slant)),
                cy + x * sin + y * cos + f64::from(uniform(rng, -slant, slant)),
            );
        }
        c.blur = if hard { uniform(rng, 0.0, 2.2) } else { uniform(rng, 0.0, 1.2) };
        let base = uniform(rng, 0.75, 1.05);
        let tilt = if hard { 0.35 } else { 0.15 };
        c.light = (base + uniform(rng, -tilt, tilt), base + uniform(rng, -tilt, tilt));
        if chance(rng, if hard { 0.5 } else { 0.15 }) {
            c.glare = Some(Glare {
                x_mm: uniform(rng, 0.0, card_width_mm),
                y_mm: uniform(rng, 0.0, card_height_mm),
                radius_mm: uniform(rng, 4.0, if hard { 16.0 } else { 9.0 }),
                strength: uniform(rng, 0.3, if hard { 0.95 } else { 0.6 }),
            });
        }
        c.noise = if hard { uniform(rng, 1.0, 10.0) } else { uniform(rng, 0.5, 4.0) };
        let specks = if hard { rng.next_u32() % 12 } else { rng.next_u32() % 4 };
        c.dust = (0..specks)
            .map(|_| {
                (uniform(rng, 0.0, FRAME_WIDTH as f32), uniform(rng, 0.0, FRAME_HEIGHT as f32), uniform(rng, 0.8, 3.0))
            })
            .collect();
        if chance(rng, if hard { 0.8 } else { 0.5 }) {
            c.jpeg_quality = Some((if hard { uniform(rng, 30.0, 90.0) } else { uniform(rng, 60.0, 95.0) }) as u8);
        }
        if hard && chance(rng, 0.25) {
            // A thumb from one of the card's edges.
            let left = chance(rng, 0.5);
            c.cover = Some(Cover {
                x_mm: if left { uniform(rng, -6.0, 10.0) } else { card_width_mm - uniform(rng, -6.0, 10.0) },
                y_mm: uniform(rng, 0.0, card_height_mm),
                rx_mm: uniform(rng, 7.0, 11.0),
                ry_mm: uniform(rng, 9.0, 14.0),
            });
        }
        c.background = uniform(rng, 10.0, 60.0) as u8;
        c
    }
}

/// The camera frame (`FRAME_WIDTH x FRAME_HEIGHT`, greyscale) of `front` (a rectified card of
/// `width x height` pixels showing `card_width_mm` millimetres) under `c`; `rng` draws the noise.
pub fn capture(
    front: &[u8],
    width: u32,
    height: u32,
    card_width_mm: f32,
    c: &Conditions,
    rng: &mut dyn RngCore,
) -> Vec<u8> {
    let px_per_mm = width as f32 / card_width_mm;
    let card = [(0.0, 0.0), (f64::from(width), 0.0), (f64::from(width), f64::from(height)), (0.0, f64::from(height))];
    let Some(to_card) = Homography::from_points(c.corners, card) else {
        return vec![c.background; (FRAME_WIDTH * FRAME_HEIGHT) as usize];
    };
    let mut frame = GrayImage::new(FRAME_WIDTH, FRAME_HEIGHT);
    for y in 0..FRAME_HEIGHT {
        for x in 0..FRAME_WIDTH {
            // The slot's interior, with a faint texture.
            let mut v = f32::from(c.background) + ((x / 7 + y / 5) % 3) as f32;
            if let Some((u, w)) = to_card.apply(f64::from(x) + 0.5, f64::from(y) + 0.5)
                && let Some(p) = bilinear(front, width, height, u - 0.5, w - 0.5)
            {
                v = p;
                let (mx, my) = (u as f32 / px_per_mm, w as f32 / px_per_mm);
                if let Some(g) = c.glare {
                    // A reflection adds light: its core saturates the sensor, print and paper alike.
                    let d2 = ((mx - g.x_mm).powi(2) + (my - g.y_mm).powi(2)) / g.radius_mm.powi(2);
                    v += g.strength * 320.0 * (-d2 * 1.5).exp();
                }
                if let Some(k) = c.cover
                    && ((mx - k.x_mm) / k.rx_mm).powi(2) + ((my - k.y_mm) / k.ry_mm).powi(2) < 1.0
                {
                    v = 95.0 + 10.0 * ((mx * 0.7).sin() * (my * 0.5).cos());
                }
            }
            let t = x as f32 / FRAME_WIDTH as f32;
            v *= c.light.0 * (1.0 - t) + c.light.1 * t;
            frame.put_pixel(x, y, image::Luma([v.round().clamp(0.0, 255.0) as u8]));
        }
    }
    for &(dx, dy, r) in &c.dust {
        let (x0, x1) = ((dx - r).max(0.0) as u32, ((dx + r) as u32).min(FRAME_WIDTH - 1));
        let (y0, y1) = ((dy - r).max(0.0) as u32, ((dy + r) as u32).min(FRAME_HEIGHT - 1));
        for y in y0..=y1 {
            for x in x0..=x1 {
                if (x as f32 - dx).powi(2) + (y as f32 - dy).powi(2) <= r * r {
                    let p = frame.get_pixel_mut(x, y);
                    p.0[0] = (f32::from(p.0[0]) * 0.45) as u8;
                }
            }
        }
    }
    if c.blur > 0.05 {
        frame = image::imageops::blur(&frame, c.blur);
    }
    let mut pixels = frame.into_raw();
    if c.noise > 0.0 {
        for p in &mut pixels {
            *p = (f32::from(*p) + gaussian(rng) * c.noise).round().clamp(0.0, 255.0) as u8;
        }
    }
    if let Some(q) = c.jpeg_quality {
        let mut encoded = Vec::new();
        let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut encoded, q);
        if encoder.write_image(&pixels, FRAME_WIDTH, FRAME_HEIGHT, image::ExtendedColorType::L8).is_ok()
            && let Ok(decoded) = image::load_from_memory_with_format(&encoded, image::ImageFormat::Jpeg)
        {
            pixels = decoded.into_luma8().into_raw();
        }
    }
    pixels
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;

    #[test]
    fn an_ideal_capture_puts_the_card_in_the_middle_of_a_dark_slot() {
        let front = vec![220u8; 856 * 540];
        let c = Conditions::ideal(85.6, 54.0);
        let frame = capture(&front, 856, 540, 85.6, &c, &mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(frame.len(), (FRAME_WIDTH * FRAME_HEIGHT) as usize);
        assert!(frame[(360 * FRAME_WIDTH + 640) as usize] > 200);
        assert!(frame[(5 * FRAME_WIDTH + 5) as usize] < 60);
    }

    #[test]
    fn sampled_conditions_are_repeatable_from_a_seed_and_vary_between_seeds() {
        let a = Conditions::sample(&mut ChaCha8Rng::seed_from_u64(7), Difficulty::Hard, 85.6, 54.0);
        let b = Conditions::sample(&mut ChaCha8Rng::seed_from_u64(7), Difficulty::Hard, 85.6, 54.0);
        let c = Conditions::sample(&mut ChaCha8Rng::seed_from_u64(8), Difficulty::Hard, 85.6, 54.0);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
