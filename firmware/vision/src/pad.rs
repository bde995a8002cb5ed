//! Presentation-attack detection on the 2.5D camera's infrared and depth pictures, at the face the
//! detector found on the visible picture (the three are registered: a landmark's pixel is the
//! same point in each).
//!
//! Three cues, each from physics a flat or worn attack cannot fake all at once:
//! - **relief**: a quadric (the head's curve) is fitted to the depth of forehead, cheeks and
//!   chin (leaving out what lies far behind: the room past the head's edge, hair, shoulders; and
//!   refitted twice without the points furthest off); a live nose stands in front of it (on the simulator's faces 4-29 mm, median 13, at the
//!   region's 90th percentile). A flat or bent print, a screen, the card have none (under 2.5 mm
//!   of sensor noise); eye holes are deep, but the nose is not there; a paper mask's fold is low.
//! - **size**: the eyes' distance in pixels at the measured distance gives millimetres; adults'
//!   lie within 54-74 mm, a phone's or the card's photograph is smaller. The band is wide (40-80
//!   accepted): over a surgical mask the detector's eye landmarks read up to a quarter short.
//! - **infrared reflectance**: the reader's own IR LEDs light the face; the grey level, corrected
//!   for the distance, is the surface's reflectance: skin at 850 nm lies within about 0.3-0.7,
//!   white paper above, a screen (which emits no IR and reflects little) far below.
//!
//! Each cue gives 0-1 (a ramp between a refusing and an accepting value); the frame's score is
//! their minimum; the session's is the median over its good frames ([`crate::check`]), so that
//! motion over the frames (a hand shaking a print, a blink) cannot lend one lucky frame.
//!
//! A fourth cue looks at the **motion over the frames** ([`steadiness`]): a live face moving
//! before the camera keeps its size in millimetres while its size in pixels follows the distance;
//! the face in a video (or a print moved across a screen's picture) grows and shrinks while the
//! glass it is shown on stays where it is, so its size in millimetres changes.

use crate::{GreyView, Point};

/// A borrowed depth map, millimetres, `0` where the sensor had no reading.
#[derive(Debug, Clone, Copy)]
pub struct DepthView<'a> {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// The values, row-major.
    pub mm: &'a [u16],
}

impl DepthView<'_> {
    fn at(&self, x: f32, y: f32) -> Option<f32> {
        let (xi, yi) = (x.round(), y.round());
        if xi < 0.0 || yi < 0.0 || xi >= self.width as f32 || yi >= self.height as f32 {
            return None;
        }
        let v = self.mm[yi as usize * self.width as usize + xi as usize];
        (v > 0).then_some(f32::from(v))
    }
}

/// The camera and the limits of each cue.
#[derive(Debug, Clone, PartialEq)]
pub struct PadSettings {
    /// Focal length of the camera, pixels of the registered pictures.
    pub focal_px: f32,
    /// Infrared grey level of a surface of reflectance 1 at `ir_reference_mm`, facing the camera.
    pub ir_gain: f32,
    /// The distance at which `ir_gain` holds.
    pub ir_reference_mm: f32,
    /// Nose relief, mm: refused at or below the first, fully accepted from the second.
    pub nose_mm: (f32, f32),
    /// Skin's infrared reflectance: accepted inside (the inner pair), refused outside (the outer).
    pub skin: [f32; 4],
    /// Eye distance, mm: accepted inside the inner pair, refused outside the outer.
    pub eye_mm: [f32; 4],
    /// Share of the face's points that must have a depth reading.
    pub min_coverage: f32,
    /// Spread of the face's size in mm over the frames, as a share of its median: accepted up to
    /// the first, refused from the second (the live faces of `eval-pad`'s sequences spread up
    /// to 12%: the landmarks come from the detector's 320-wide picture).
    pub size_spread: (f32, f32),
}

impl Default for PadSettings {
    /// The reference 2.5D camera (and the simulator's): 640x480 at about 60° across, its IR LEDs
    /// giving grey 200 from reflectance 1 at 500 mm. Limits from `cargo xtask eval-pad`'s tuning
    /// set (`--inspect SPECIES`, `docs/pad.md`): flat prints' nose relief stayed below 2.5 mm, the
    /// live faces' 1st percentile was 4.1 mm; skin reflectance 0.3-0.7, paper above, screens 0.05;
    /// masked live faces' eye distance read as low as 41 mm (true 56-60).
    fn default() -> PadSettings {
        PadSettings {
            focal_px: 554.0,
            ir_gain: 200.0,
            ir_reference_mm: 500.0,
            nose_mm: (3.0, 5.0),
            skin: [0.18, 0.26, 0.74, 0.82],
            eye_mm: [34.0, 40.0, 80.0, 88.0],
            min_coverage: 0.6,
            size_spread: (0.14, 0.22),
        }
    }
}

/// What the streams say about one face.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cues {
    /// Median distance of the face, mm.
    pub distance_mm: f32,
    /// Share of the face's points with a depth reading.
    pub coverage: f32,
    /// How far the nose tip stands in front of the head's fitted curve, mm.
    pub nose_mm: f32,
    /// How far the eyes lie behind it, mm.
    pub sockets_mm: f32,
    /// Distance between the eyes, mm.
    pub eye_mm: f32,
    /// The face's size, mm: the five landmarks' root-mean-square distance from their centre
    /// (steadier from frame to frame than any one distance, for the motion cue).
    pub size_mm: f32,
    /// Infrared reflectance of the forehead and cheeks (the more skin-like of the two).
    pub reflectance: f32,
}

/// How far behind the face's median distance a point may lie and still be taken for the head:
/// a head's sides at the eyes' width curve some 40 mm away; the room, hair and shoulders lie
/// further.
const BEHIND_MM: f32 = 45.0;

/// Least squares of `z = c0 + c1 a + c2 b + c3 a² + c4 b² + c5 ab` by the normal equations.
fn fit_quadric(points: &[(f32, f32, f32)]) -> Option<[f64; 6]> {
    let mut m = [[0f64; 7]; 6];
    for &(a, b, z) in points {
        let f = [1.0, a, b, a * a, b * b, a * b].map(f64::from);
        for i in 0..6 {
            for j in 0..6 {
                m[i][j] += f[i] * f[j];
            }
            m[i][6] += f[i] * f64::from(z);
        }
    }
    // Gauss-Jordan with partial pivoting.
    for c in 0..6 {
        let p = (c..6).max_by(|&x, &y| m[x][c].abs().total_cmp(&m[y][c].abs()))?;
        if m[p][c].abs() < 1e-9 {
            return None;
        }
        m.swap(c, p);
        let pivot = m[c];
        for (r, row) in m.iter_mut().enumerate() {
            if r != c {
                let k = row[c] / pivot[c];
                for (v, p) in row.iter_mut().zip(pivot).skip(c) {
                    *v -= k * p;
                }
            }
        }
    }
    Some([0, 1, 2, 3, 4, 5].map(|i| m[i][6] / m[i][i]))
}

fn eval(c: &[f64; 6], a: f32, b: f32) -> f32 {
    let (a, b) = (f64::from(a), f64::from(b));
    (c[0] + c[1] * a + c[2] * b + c[3] * a * a + c[4] * b * b + c[5] * a * b) as f32
}

fn median(v: &mut [f32]) -> Option<f32> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f32::total_cmp);
    Some(v[v.len() / 2])
}

/// The cues at a face whose landmarks (right eye, left eye, nose, mouth corners) are in the
/// registered pictures' pixels; `None` when the face has too few depth readings to say anything
/// (then the face is refused: see [`score`]).
pub fn cues(landmarks: &[Point; 5], infrared: GreyView<'_>, depth: DepthView<'_>, s: &PadSettings) -> Option<Cues> {
    let [re, le, nose, rm, lm] = *landmarks;
    let (ex, ey) = (le.x - re.x, le.y - re.y);
    let eye_px = (ex * ex + ey * ey).sqrt();
    if eye_px < 4.0 {
        return None;
    }
    // The face's own axes, in eye distances: a along the eyes, b down; origin between the eyes.
    let (ux, uy) = (ex / eye_px, ey / eye_px);
    let mid = ((re.x + le.x) / 2.0, (re.y + le.y) / 2.0);
    let to_px = |a: f32, b: f32| (mid.0 + eye_px * (a * ux - b * uy), mid.1 + eye_px * (a * uy + b * ux));
    let to_face = |p: Point| {
        let (dx, dy) = (p.x - mid.0, p.y - mid.1);
        ((dx * ux + dy * uy) / eye_px, (-dx * uy + dy * ux) / eye_px)
    };
    let n = to_face(nose);
    let mouth_b = (to_face(rm).1 + to_face(lm).1) / 2.0;
    let (mut frame, mut total, mut got) = (Vec::new(), 0u32, 0u32);
    let step = 0.06;
    let mut b: f32 = -0.75;
    while b <= mouth_b + 0.55 {
        let mut a: f32 = -1.05;
        while a <= 1.05 {
            // Inside the face's oval.
            let oval = (a / 1.1).powi(2) + ((b - 0.45) / 1.25).powi(2) <= 1.0;
            let near_nose = (a - n.0).abs() < 0.42 && b > 0.05 && b < n.1 + 0.3;
            let near_eye = ((a.abs() - 0.5).powi(2) + b * b).sqrt() < 0.3;
            let near_mouth = a.abs() < 0.55 && (b - mouth_b).abs() < 0.2;
            if oval {
                total += 1;
                let (x, y) = to_px(a, b);
                if let Some(z) = depth.at(x, y) {
                    got += 1;
                    if !(near_nose || near_eye || near_mouth) {
                        frame.push((a, b, z));
                    }
                }
            }
            a += step;
        }
        b += step;
    }
    let coverage = got as f32 / total.max(1) as f32;
    if frame.len() < 30 {
        return None;
    }
    let mut zs: Vec<f32> = frame.iter().map(|p| p.2).collect();
    let distance_mm = median(&mut zs)?;
    // Whatever lies far behind the face is not the head: the room past its edge, hair, a
    // shoulder (a wide face or a detector's generous landmarks put the outer points there).
    frame.retain(|p| p.2 <= distance_mm + BEHIND_MM);
    if frame.len() < 30 {
        return None;
    }
    // Fit, then fit again without the points furthest off (an edge, a hand), twice.
    let mut fit = fit_quadric(&frame)?;
    for _ in 0..2 {
        let residuals: Vec<f32> = frame.iter().map(|&(a, b, z)| (z - eval(&fit, a, b)).abs()).collect();
        let cut = median(&mut residuals.clone())? * 3.0 + 2.0;
        let kept: Vec<_> = frame.iter().zip(&residuals).filter(|(_, r)| **r <= cut).map(|(p, _)| *p).collect();
        if kept.len() < 30 {
            break;
        }
        fit = fit_quadric(&kept)?;
    }
    // The nose: how far the nose region stands in front of the fitted curve, at its most
    // prominent (a high percentile over the whole region rather than the landmark's pixel, which
    // a few pixels of landmark error would move off the tip).
    let mut tip = Vec::new();
    let mut b = 0.1f32;
    while b <= n.1 + 0.2 {
        let mut a = n.0 - 0.3;
        while a <= n.0 + 0.3 {
            let (x, y) = to_px(a, b);
            if let Some(z) = depth.at(x, y) {
                tip.push(eval(&fit, a, b) - z);
            }
            a += 0.04;
        }
        b += 0.04;
    }
    tip.sort_by(f32::total_cmp);
    let nose_mm = *tip.get(tip.len() * 9 / 10)?;
    let mut sockets = Vec::new();
    for e in [-0.5f32, 0.5] {
        for i in -1..=1 {
            for j in -1..=1 {
                let (a, b) = (e + i as f32 * 0.05, j as f32 * 0.05);
                let (x, y) = to_px(a, b);
                if let Some(z) = depth.at(x, y) {
                    sockets.push(z - eval(&fit, a, b));
                }
            }
        }
    }
    let sockets_mm = median(&mut sockets).unwrap_or(0.0);
    let eye_mm = eye_px * distance_mm / s.focal_px;
    let (cx, cy) = landmarks.iter().fold((0.0, 0.0), |(x, y), p| (x + p.x / 5.0, y + p.y / 5.0));
    let spread_px = (landmarks.iter().map(|p| (p.x - cx).powi(2) + (p.y - cy).powi(2)).sum::<f32>() / 5.0).sqrt();
    let size_mm = spread_px * distance_mm / s.focal_px;
    // Reflectance of forehead and cheeks, corrected for the distance.
    let region = |a0: f32, a1: f32, b0: f32, b1: f32| {
        let mut v = Vec::new();
        let mut b = b0;
        while b <= b1 {
            let mut a = a0;
            while a <= a1 {
                let (x, y) = to_px(a, b);
                let (xi, yi) = (x.round() as i64, y.round() as i64);
                if xi >= 0 && yi >= 0 && (xi as u32) < infrared.width && (yi as u32) < infrared.height {
                    let g = f32::from(infrared.pixels[yi as usize * infrared.width as usize + xi as usize]);
                    let z = depth.at(x, y).unwrap_or(distance_mm);
                    v.push(g / s.ir_gain * (z / s.ir_reference_mm).powi(2));
                }
                a += 0.08;
            }
            b += 0.08;
        }
        median(&mut v)
    };
    let forehead = region(-0.4, 0.4, -0.55, -0.3);
    let cheeks = region(-0.75, -0.45, 0.55, 0.8)
        .into_iter()
        .chain(region(0.45, 0.75, 0.55, 0.8))
        .fold(None, |m, v| Some(m.map_or(v, |m: f32| (m + v) / 2.0)));
    let centre = (s.skin[1] + s.skin[2]) / 2.0;
    let reflectance =
        [forehead, cheeks].into_iter().flatten().min_by(|x, y| (x - centre).abs().total_cmp(&(y - centre).abs()))?;
    Some(Cues { distance_mm, coverage, nose_mm, sockets_mm, eye_mm, size_mm, reflectance })
}

/// 0 at or below `lo`, 1 at or above `hi`.
fn ramp(x: f32, lo: f32, hi: f32) -> f32 {
    ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
}

/// 1 inside the inner pair of `band`, 0 outside the outer pair.
fn band(x: f32, band: [f32; 4]) -> f32 {
    ramp(x, band[0], band[1]).min(1.0 - ramp(x, band[2], band[3]))
}

/// The liveness score of one face, 0 (an attack) to 1 (live): the weakest of the cues. `None`
/// cues (too few depth readings) score 0.
pub fn score(cues: Option<&Cues>, s: &PadSettings) -> f32 {
    let Some(c) = cues else { return 0.0 };
    ramp(c.coverage, s.min_coverage - 0.1, s.min_coverage)
        .min(ramp(c.nose_mm, s.nose_mm.0, s.nose_mm.1))
        .min(band(c.eye_mm, s.eye_mm))
        .min(band(c.reflectance, s.skin))
}

/// The motion cue over a check's frames: 1 when the face kept its size in millimetres (of each
/// scored frame, [`Cues::size_mm`]) within `size_spread.0` of its median,
/// 0 when it spread by `size_spread.1` or more. The spread is taken between the second smallest
/// and the second largest from five frames on (one frame's landmark slip does not count), and
/// fewer than three frames say nothing (1).
pub fn steadiness(eye_mm: &[f32], s: &PadSettings) -> f32 {
    if eye_mm.len() < 3 {
        return 1.0;
    }
    let mut v = eye_mm.to_vec();
    v.sort_by(f32::total_cmp);
    let trim = usize::from(v.len() >= 5);
    let (lo, hi, mid) = (v[trim], v[v.len() - 1 - trim], v[v.len() / 2]);
    if mid <= 0.0 {
        return 0.0;
    }
    1.0 - ramp((hi - lo) / mid, s.size_spread.0, s.size_spread.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(x: f32, y: f32) -> Point {
        Point { x, y }
    }

    /// Pictures of a face at 500 mm, eyes 70 px apart at (285, 200) and (355, 200): a head
    /// curve, and a nose of `nose` mm; infrared grey `ir` everywhere.
    fn scene(nose: f32, ir: u8) -> (Vec<u8>, Vec<u16>, [Point; 5]) {
        let (w, h) = (640usize, 480usize);
        let mut depth = vec![0u16; w * h];
        for y in 0..h {
            for x in 0..w {
                let (a, b) = ((x as f32 - 320.0) / 70.0, (y as f32 - 200.0) / 70.0);
                let head = 30.0 * (a * a + (b - 0.5).powi(2) * 0.5);
                let tip = nose * (-((a * a) / 0.04 + (b - 0.55).powi(2) / 0.08)).exp();
                depth[y * w + x] = (500.0 + head - tip).round() as u16;
            }
        }
        let lm =
            [point(285.0, 200.0), point(355.0, 200.0), point(320.0, 238.0), point(292.0, 270.0), point(348.0, 270.0)];
        (vec![ir; w * h], depth, lm)
    }

    fn run(nose: f32, ir: u8) -> (Cues, f32) {
        let s = PadSettings::default();
        let (ir, depth, lm) = scene(nose, ir);
        let c = cues(
            &lm,
            GreyView { width: 640, height: 480, pixels: &ir },
            DepthView { width: 640, height: 480, mm: &depth },
            &s,
        )
        .expect("cues");
        (c, score(Some(&c), &s))
    }

    #[test]
    fn a_nose_skin_and_an_adult_size_pass_and_each_missing_cue_refuses() {
        let (c, live) = run(20.0, 110);
        // A 20 mm nose tip: the region's 90th percentile lies a little below the very tip.
        assert!((12.0..=21.0).contains(&c.nose_mm), "{c:?}");
        // The face's median distance lies a little behind the eyes (the head curves away).
        assert!((500.0..530.0).contains(&c.distance_mm), "{c:?}");
        assert!((c.eye_mm - 70.0 * c.distance_mm / 554.0).abs() < 0.5, "{c:?}");
        assert!((c.reflectance - 0.55 * (c.distance_mm / 500.0).powi(2)).abs() < 0.03, "{c:?}");
        assert_eq!(live, 1.0);
        // The head's curve without a nose: a bent print.
        assert_eq!(run(0.0, 110).1, 0.0);
        // Dark in infrared: a screen; too bright: white paper.
        assert_eq!(run(20.0, 15).1, 0.0);
        assert_eq!(run(20.0, 200).1, 0.0);
        // No depth readings at all: refused, not an error.
        assert_eq!(score(None, &PadSettings::default()), 0.0);
    }

    #[test]
    fn a_face_keeps_its_size_and_a_zooming_video_does_not() {
        let s = PadSettings::default();
        // A live face: landmark noise of a few per cent.
        assert_eq!(steadiness(&[62.0, 63.5, 61.8, 64.0, 62.9], &s), 1.0);
        // One frame's landmarks slipped: trimmed.
        assert_eq!(steadiness(&[62.0, 63.5, 48.0, 64.0, 62.9], &s), 1.0);
        // The face in a video leaning in and out while the screen stays put.
        assert_eq!(steadiness(&[45.0, 58.0, 70.0, 57.0, 44.0, 66.0], &s), 0.0);
        // Two frames say nothing.
        assert_eq!(steadiness(&[40.0, 60.0], &s), 1.0);
    }

    #[test]
    fn the_quadric_fit_recovers_a_curve() {
        let pts: Vec<_> = (0..100)
            .map(|i| {
                let (a, b) = ((i % 10) as f32 / 5.0 - 1.0, (i / 10) as f32 / 5.0 - 1.0);
                (a, b, 3.0 + a - 2.0 * b + 0.5 * a * a + b * b - a * b)
            })
            .collect();
        let c = fit_quadric(&pts).expect("fit");
        for (got, want) in c.iter().zip([3.0, 1.0, -2.0, 0.5, 1.0, -1.0]) {
            assert!((got - want).abs() < 1e-3, "{c:?}");
        }
    }
}
