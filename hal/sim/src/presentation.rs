//! What the 2.5D face camera sees of a presentation: a live face or a presentation attack, drawn
//! into the three registered streams of [`kaoyomi_hal::camera::FaceFrames`] (visible, infrared,
//! depth in millimetres).
//!
//! A presentation is a surface in front of a pinhole camera ([`FOCAL_PX`], 640x480 at about 60°
//! across) with a picture on it (a [`Texture`]: a face photograph and its five landmarks). Each
//! pixel's ray is intersected with the surface; the visible stream samples the picture, the depth
//! stream gives the distance, the infrared stream what the reader's IR LEDs (beside the lens)
//! bring back: the surface's IR reflectance times the cosine of the incidence, falling with the
//! square of the distance ([`IR_GAIN`] at [`IR_REFERENCE_MM`]). See `docs/pad.md` for what each
//! [`Species`] looks like to each stream and where this model is simplified.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use zeroize::Zeroize;

/// Focal length of the simulated 2.5D camera, pixels (640x480 at about 60° across).
pub const FOCAL_PX: f32 = 554.0;
/// Infrared grey level of a surface of reflectance 1 facing the camera at [`IR_REFERENCE_MM`].
pub const IR_GAIN: f32 = 200.0;
/// The distance at which [`IR_GAIN`] holds, millimetres.
pub const IR_REFERENCE_MM: f32 = 500.0;
/// The depth sensor's working range, millimetres: nearer or farther gives no reading (`0`).
pub const DEPTH_RANGE_MM: (f32, f32) = (200.0, 1200.0);

/// What is held before the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Species {
    /// A live face (bona fide).
    Live,
    /// A photograph printed on flat paper.
    PrintFlat,
    /// A printed photograph bent around a vertical axis.
    PrintCurved,
    /// A flat print with the eyes cut out, the attacker's eyes behind the holes.
    PrintEyeHoles,
    /// A still photograph on a phone or tablet screen.
    Screen,
    /// A video of the person on a tablet screen (it blinks and moves).
    Replay,
    /// The My Number card's own printed front, its small photograph held to the camera.
    CardFront,
    /// A printed paper mask worn on a face, the eyes cut out.
    PaperMask,
}

impl Species {
    /// Every species, bona fide first.
    pub const ALL: [Species; 8] = [
        Species::Live,
        Species::PrintFlat,
        Species::PrintCurved,
        Species::PrintEyeHoles,
        Species::Screen,
        Species::Replay,
        Species::CardFront,
        Species::PaperMask,
    ];

    /// Its name in scripts and reports.
    pub fn name(self) -> &'static str {
        match self {
            Species::Live => "live",
            Species::PrintFlat => "print",
            Species::PrintCurved => "print-curved",
            Species::PrintEyeHoles => "print-eye-holes",
            Species::Screen => "screen",
            Species::Replay => "replay",
            Species::CardFront => "card-front",
            Species::PaperMask => "paper-mask",
        }
    }

    /// Whether this is an attack.
    pub fn is_attack(self) -> bool {
        self != Species::Live
    }

    /// Flat attack species (the ones the reader must refuse at APCER ≤ 1%).
    pub fn is_flat(self) -> bool {
        matches!(self, Species::PrintFlat | Species::Screen | Species::Replay | Species::CardFront)
    }
}

/// A face photograph and where its landmarks are (YuNet's order: right eye, left eye, nose tip,
/// right and left mouth corner; "right" is the person's, on the picture's left).
pub struct Texture {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
    landmarks: [(f32, f32); 5],
}

impl Texture {
    /// A texture; `None` when the sizes disagree or the eyes coincide.
    pub fn new(width: usize, height: usize, pixels: Vec<u8>, landmarks: [(f32, f32); 5]) -> Option<Texture> {
        let [r, l, ..] = landmarks;
        let eye = ((l.0 - r.0).powi(2) + (l.1 - r.1).powi(2)).sqrt();
        (pixels.len() == width * height && width > 1 && height > 1 && eye > 1.0).then_some(Texture {
            width,
            height,
            pixels,
            landmarks,
        })
    }

    /// The landmarks, texture pixels.
    pub fn landmarks(&self) -> [(f32, f32); 5] {
        self.landmarks
    }

    fn sample(&self, x: f32, y: f32) -> Option<f32> {
        if !(x >= 0.0 && y >= 0.0 && x < (self.width - 1) as f32 && y < (self.height - 1) as f32) {
            return None;
        }
        let (x0, y0) = (x as usize, y as usize);
        let (fx, fy) = (x - x0 as f32, y - y0 as f32);
        let p = |dx: usize, dy: usize| f32::from(self.pixels[(y0 + dy) * self.width + x0 + dx]);
        Some((p(0, 0) * (1.0 - fx) + p(1, 0) * fx) * (1.0 - fy) + (p(0, 1) * (1.0 - fx) + p(1, 1) * fx) * fy)
    }
}

impl Drop for Texture {
    fn drop(&mut self) {
        self.pixels.zeroize();
    }
}

impl core::fmt::Debug for Texture {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Texture({}x{}, pixels withheld)", self.width, self.height)
    }
}

/// One presentation at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct Presentation {
    /// What is held up.
    pub species: Species,
    /// Camera to the eyes' midpoint, millimetres.
    pub distance_mm: f32,
    /// Turn left/right, degrees.
    pub yaw_deg: f32,
    /// Nod up/down, degrees.
    pub pitch_deg: f32,
    /// Head tilt, degrees.
    pub roll_deg: f32,
    /// Where the eyes' midpoint appears, pixels from the frame's centre.
    pub offset_px: (f32, f32),
    /// Distance between the eyes as presented, millimetres: the person's own (about 54-74) for a
    /// live face or a mask, the picture's for a print or screen (life-size 63, a phone 30-45,
    /// the card's photograph about 9).
    pub eye_mm: f32,
    /// Scale of the face's relief (nose, eye sockets; 1 for an average adult face).
    pub relief: f32,
    /// Infrared reflectance of the skin, or of the paper, screen or card.
    pub reflectance: f32,
    /// How much a print's ink absorbs infrared (0: dye ink, invisible in IR; 0.9: carbon toner).
    pub ink_ir: f32,
    /// Radius of a curved print or of a mask, millimetres.
    pub bend_mm: f32,
    /// How far behind the print the attacker's eyes are (eye holes, mask), millimetres.
    pub behind_mm: f32,
    /// Glasses (live).
    pub glasses: bool,
    /// A surgical mask over nose and mouth (live).
    pub mask: bool,
    /// Eyelids: 0 open, 1 closed.
    pub blink: f32,
    /// Visible light level (1: the counter's usual light).
    pub light: f32,
    /// Seed of the sensors' noise.
    pub seed: u64,
}

impl Presentation {
    /// A live, frontal face at 500 mm with average features.
    pub fn live() -> Presentation {
        Presentation {
            species: Species::Live,
            distance_mm: 500.0,
            yaw_deg: 0.0,
            pitch_deg: 0.0,
            roll_deg: 0.0,
            offset_px: (0.0, -20.0),
            eye_mm: 63.0,
            relief: 1.0,
            reflectance: 0.55,
            ink_ir: 0.3,
            bend_mm: 100.0,
            behind_mm: 25.0,
            glasses: false,
            mask: false,
            blink: 0.0,
            light: 1.0,
            seed: 1,
        }
    }

    /// A typical presentation of `species` (frontal, at a distance where the face fills the
    /// detector's view as a live face at 500 mm does).
    pub fn typical(species: Species) -> Presentation {
        let live = Presentation::live();
        let (eye_mm, reflectance, distance_mm) = match species {
            Species::Live => (63.0, 0.55, 500.0),
            Species::PrintFlat | Species::PrintCurved | Species::PrintEyeHoles => (63.0, 0.85, 500.0),
            Species::Screen => (40.0, 0.04, 320.0),
            Species::Replay => (58.0, 0.04, 460.0),
            Species::CardFront => (9.0, 0.7, 120.0),
            Species::PaperMask => (63.0, 0.85, 500.0),
        };
        Presentation { species, eye_mm, reflectance, distance_mm, ..live }
    }
}

/// The three registered pictures of one moment; wiped on drop.
pub struct Pictures {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Visible grey levels.
    pub visible: Vec<u8>,
    /// Infrared grey levels.
    pub infrared: Vec<u8>,
    /// Depth, millimetres (`0`: no reading).
    pub depth: Vec<u16>,
}

impl Drop for Pictures {
    fn drop(&mut self) {
        self.visible.zeroize();
        self.infrared.zeroize();
        self.depth.zeroize();
    }
}

impl core::fmt::Debug for Pictures {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Pictures({}x{}, withheld)", self.width, self.height)
    }
}

/// The face's own coordinates: millimetres, origin between the eyes, x toward the picture's
/// right, y down; `h` is how far a point stands toward the camera.
struct Layout {
    /// Texture pixel -> face mm: x = a*(u - u0) - b*(v - v0), y = b*(u - u0) + a*(v - v0).
    a: f32,
    b: f32,
    origin: (f32, f32),
    /// Landmarks in face mm.
    eyes: [(f32, f32); 2],
    nose: (f32, f32),
    mouth: f32,
    /// The texture's corners' extent in face mm (x0, x1, y0, y1).
    extent: (f32, f32, f32, f32),
}

impl Layout {
    fn new(t: &Texture, eye_mm: f32) -> Layout {
        let [r, l, n, rm, lm] = t.landmarks;
        let origin = ((r.0 + l.0) / 2.0, (r.1 + l.1) / 2.0);
        let (dx, dy) = (l.0 - r.0, l.1 - r.1);
        let d2 = dx * dx + dy * dy;
        // Rotate and scale so the eyes land on (-eye/2, 0) and (eye/2, 0).
        let (a, b) = (eye_mm * dx / d2, -eye_mm * dy / d2);
        let to = |p: (f32, f32)| {
            let (u, v) = (p.0 - origin.0, p.1 - origin.1);
            (a * u - b * v, b * u + a * v)
        };
        let corners =
            [(0.0, 0.0), (t.width as f32, 0.0), (0.0, t.height as f32), (t.width as f32, t.height as f32)].map(to);
        let extent = (
            corners.iter().map(|c| c.0).fold(f32::MAX, f32::min),
            corners.iter().map(|c| c.0).fold(f32::MIN, f32::max),
            corners.iter().map(|c| c.1).fold(f32::MAX, f32::min),
            corners.iter().map(|c| c.1).fold(f32::MIN, f32::max),
        );
        let (rm, lm) = (to(rm), to(lm));
        Layout { a, b, origin, eyes: [to(r), to(l)], nose: to(n), mouth: (rm.1 + lm.1) / 2.0, extent }
    }

    /// Face mm -> texture pixel.
    fn texture_at(&self, x: f32, y: f32) -> (f32, f32) {
        let k = self.a * self.a + self.b * self.b;
        ((self.a * x + self.b * y) / k + self.origin.0, (-self.b * x + self.a * y) / k + self.origin.1)
    }

    fn inside(&self, x: f32, y: f32) -> bool {
        x >= self.extent.0 && x <= self.extent.1 && y >= self.extent.2 && y <= self.extent.3
    }
}

/// What a surface point is made of.
#[derive(Clone, Copy, PartialEq)]
enum Material {
    Skin,
    Paper,
    Glass,
    Card,
    Fabric,
    /// Behind a print or mask: the attacker's own eye region.
    Behind,
    None,
}

/// The surface of a presentation.
struct Surface<'a> {
    p: &'a Presentation,
    l: Layout,
    /// Head ellipsoid half-axes (x, y, z) and centre height (y), mm, for live faces and masks.
    head: (f32, f32, f32, f32),
    /// Card or screen rectangle in face mm (x0, x1, y0, y1), with the picture inside.
    body: (f32, f32, f32, f32),
}

fn gauss(d2: f32, sigma: f32) -> f32 {
    (-d2 / (2.0 * sigma * sigma)).exp()
}

impl Surface<'_> {
    /// Height of the live face's relief above its head ellipsoid at (x, y): nose, eye sockets.
    fn relief(&self, x: f32, y: f32) -> f32 {
        let l = &self.l;
        let s = self.p.eye_mm / 63.0;
        let nose_y = l.nose.1.max(10.0);
        // The nose: a ridge from the bridge (8 mm) to the tip (22 mm), then falling under it.
        let t = y / nose_y;
        let along = if t < 0.0 {
            0.0
        } else if t <= 1.0 {
            8.0 + 14.0 * t
        } else if t < 1.25 {
            22.0 * (1.0 - (t - 1.0) / 0.25)
        } else {
            0.0
        };
        let nx = l.nose.0 * t.clamp(0.0, 1.0);
        let nose = along * gauss((x - nx).powi(2), (5.0 + 6.0 * t.clamp(0.0, 1.0)) * s);
        let sockets: f32 =
            l.eyes.iter().map(|e| -9.0 * gauss((x - e.0).powi(2) + (1.6 * (y - e.1)).powi(2), 11.0 * s)).sum();
        let lips = 3.0 * gauss((x - l.nose.0).powi(2) / 4.0 + (y - l.mouth).powi(2), 6.0 * s);
        self.p.relief * (nose + sockets + lips)
    }

    /// The head ellipsoid's height at (x, y), `None` outside it.
    fn ellipsoid(&self, x: f32, y: f32) -> Option<f32> {
        let (ax, ay, az, cy) = self.head;
        let q = 1.0 - (x / ax).powi(2) - ((y - cy) / ay).powi(2);
        (q > 0.0).then(|| az * q.sqrt() - az + 6.0)
    }

    /// Height and material at face coordinates (x, y).
    fn at(&self, x: f32, y: f32) -> (f32, Material) {
        let p = self.p;
        let l = &self.l;
        let near_eye = |r: f32| l.eyes.iter().any(|e| (x - e.0).powi(2) + (y - e.1).powi(2) < r * r);
        match p.species {
            Species::Live => match self.ellipsoid(x, y) {
                Some(h) => {
                    let h = h + self.relief(x, y);
                    if p.mask && y > l.nose.1 * 0.55 && y < l.mouth + 45.0 && x.abs() < 70.0 {
                        // A surgical mask rests on the nose and spans from it to the cheeks and
                        // the chin as a tent: the nose's height falling off at a slope of one half
                        // sideways and downwards from the tip, 1.5 mm of fabric over the skin.
                        let base = self.ellipsoid(x, y).unwrap_or(h);
                        let tip = 22.0 * p.relief;
                        let below = (y - l.nose.1).max(0.0);
                        let ridge = if y <= l.nose.1 { (8.0 + 14.0 * y / l.nose.1.max(10.0)) * p.relief } else { tip };
                        let tent = ridge - 0.5 * (x - l.nose.0).abs() - 0.5 * below;
                        return (base + (h - base).max(tent) + 1.5, Material::Fabric);
                    }
                    (h, Material::Skin)
                }
                None if l.inside(x, y) => (-90.0, Material::Skin),
                None => (0.0, Material::None),
            },
            Species::PrintFlat | Species::PrintEyeHoles => {
                if !l.inside(x, y) {
                    return (0.0, Material::None);
                }
                if p.species == Species::PrintEyeHoles && near_eye(9.0) {
                    return (-p.behind_mm, Material::Behind);
                }
                (0.0, Material::Paper)
            }
            Species::PrintCurved => {
                if !l.inside(x, y) {
                    return (0.0, Material::None);
                }
                let r = p.bend_mm.max(30.0);
                let xx = x.clamp(-0.95 * r, 0.95 * r);
                (-(r - (r * r - xx * xx).sqrt()), Material::Paper)
            }
            Species::Screen | Species::Replay => {
                let (x0, x1, y0, y1) = self.body;
                if x < x0 || x > x1 || y < y0 || y > y1 {
                    return (0.0, Material::None);
                }
                (0.0, Material::Glass)
            }
            Species::CardFront => {
                let (x0, x1, y0, y1) = self.body;
                if x < x0 || x > x1 || y < y0 || y > y1 {
                    return (0.0, Material::None);
                }
                (0.0, Material::Card)
            }
            Species::PaperMask => match self.ellipsoid(x, y) {
                Some(h) => {
                    if near_eye(9.0) {
                        return (h - p.behind_mm * 0.5, Material::Behind);
                    }
                    // Paper bends around the head but not into the eye sockets; over the nose it
                    // stands as a low fold.
                    let fold = 6.0 * gauss((x - l.nose.0).powi(2), 10.0) * gauss((y - l.nose.1 * 0.7).powi(2), 18.0);
                    (h + fold, Material::Paper)
                }
                None => (0.0, Material::None),
            },
        }
    }
}

/// Rotation from face axes to camera axes (yaw about y, pitch about x, roll about z).
fn rotation(p: &Presentation) -> [[f32; 3]; 3] {
    let (sy, cy) = p.yaw_deg.to_radians().sin_cos();
    let (sp, cp) = p.pitch_deg.to_radians().sin_cos();
    let (sr, cr) = p.roll_deg.to_radians().sin_cos();
    let ry = [[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]];
    let rx = [[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]];
    let rz = [[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]];
    mul(&rz, &mul(&ry, &rx))
}

fn mul(a: &[[f32; 3]; 3], b: &[[f32; 3]; 3]) -> [[f32; 3]; 3] {
    let mut m = [[0.0; 3]; 3];
    for (i, row) in m.iter_mut().enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = (0..3).map(|k| a[i][k] * b[k][j]).sum();
        }
    }
    m
}

fn apply(m: &[[f32; 3]; 3], v: [f32; 3]) -> [f32; 3] {
    [0, 1, 2].map(|i| m[i][0] * v[0] + m[i][1] * v[1] + m[i][2] * v[2])
}

/// Uniform in [-1, 1).
fn unit(rng: &mut ChaCha8Rng) -> f32 {
    rng.next_u32() as f32 / u32::MAX as f32 * 2.0 - 1.0
}

/// Draws `p` with `texture` into `width` x `height` pictures.
pub fn render(texture: &Texture, p: &Presentation, width: u32, height: u32) -> Pictures {
    let (w, h) = (width as usize, height as usize);
    let l = Layout::new(texture, p.eye_mm);
    let s = p.eye_mm / 63.0;
    let head = (74.0 * s, 98.0 * s, 85.0 * s, 18.0 * s);
    let body = match p.species {
        // A phone's or tablet's screen: the picture, in a black bezel of 4 mm.
        Species::Screen | Species::Replay => (l.extent.0 - 4.0, l.extent.1 + 4.0, l.extent.2 - 4.0, l.extent.3 + 4.0),
        // The card (85.6 x 54 mm), its photograph on the right of the front.
        Species::CardFront => {
            let right = l.extent.1 + 4.0;
            let top = l.extent.2 - 3.0;
            (right - 85.6, right, top, (top + 54.0).max(l.extent.3 + 3.0))
        }
        _ => (0.0, 0.0, 0.0, 0.0),
    };
    let surface = Surface { p, l, head, body };
    let rot = rotation(p);
    let rt = [0, 1, 2].map(|i| [rot[0][i], rot[1][i], rot[2][i]]);
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    let d = p.distance_mm;
    let t = [p.offset_px.0 * d / FOCAL_PX, p.offset_px.1 * d / FOCAL_PX, d];
    // Camera origin in face coordinates (the face's z points away from the camera: z = -h).
    let origin = apply(&rt, [-t[0], -t[1], -t[2]]);
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let mut visible = vec![0u8; w * h];
    let mut infrared = vec![0u8; w * h];
    let mut depth = vec![0u16; w * h];
    // The screen's moiré: beats of the panel's pixel grid with the sensor's, a few pixels apart.
    let moire = (0.9 + 0.2 * unit(&mut rng).abs(), 0.15 + 0.1 * unit(&mut rng));
    let light = p.light;
    for v in 0..h {
        for u in 0..w {
            let i = v * w + u;
            let ray = apply(&rt, [(u as f32 - cx) / FOCAL_PX, (v as f32 - cy) / FOCAL_PX, 1.0]);
            // Wall behind: a soft gradient, out of the depth sensor's range, dim in IR.
            let wall = 150.0 - 40.0 * v as f32 / h as f32;
            let mut hit = None;
            if ray[2].abs() > 1e-3 {
                let mut s_ray = -origin[2] / ray[2];
                let mut last = (0.0, Material::None);
                for _ in 0..3 {
                    let (x, y) = (origin[0] + s_ray * ray[0], origin[1] + s_ray * ray[1]);
                    last = surface.at(x, y);
                    if last.1 == Material::None {
                        break;
                    }
                    s_ray = (-last.0 - origin[2]) / ray[2];
                }
                if last.1 != Material::None && s_ray > 0.0 {
                    hit = Some((s_ray, last.1));
                }
            }
            let Some((s_ray, material)) = hit else {
                visible[i] = (wall * light + unit(&mut rng)).clamp(0.0, 255.0) as u8;
                infrared[i] = (6.0 + 2.0 * unit(&mut rng)).max(0.0) as u8;
                continue;
            };
            let (x, y) = (origin[0] + s_ray * ray[0], origin[1] + s_ray * ray[1]);
            // The distance along the optical axis: the ray was (u, v, 1) in camera axes.
            let z = s_ray;
            // Surface normal in face axes from the height's slope (forward differences from the
            // height found); the light is at the camera.
            let e = 0.8;
            let h0 = surface.at(x, y).0;
            let n = [(surface.at(x + e, y).0 - h0) / e, (surface.at(x, y + e).0 - h0) / e, 1.0];
            let nn = (n[0] * n[0] + n[1] * n[1] + 1.0).sqrt();
            let rn = (ray[0] * ray[0] + ray[1] * ray[1] + ray[2] * ray[2]).sqrt();
            let cosine = ((n[0] * ray[0] + n[1] * ray[1] - n[2] * ray[2]).abs() / (nn * rn)).clamp(0.05, 1.0);
            let (tu, tv) = surface.l.texture_at(x, y);
            let tex = texture.sample(tu, tv).unwrap_or(128.0);
            let near_eye =
                surface.l.eyes.iter().map(|e| (x - e.0).powi(2) + (y - e.1).powi(2)).fold(f32::MAX, f32::min);
            let eyelid = if p.blink > 0.0 && near_eye < 100.0 * s * s {
                // Closed lids: the skin just under the eyes.
                let (su, sv) = surface.l.texture_at(x, y + 14.0 * s);
                Some(texture.sample(su, sv).unwrap_or(tex))
            } else {
                None
            };
            let fall = (IR_REFERENCE_MM / z).powi(2);
            let (vis, ir_reflectance) = match material {
                Material::Skin => {
                    let t = eyelid.map_or(tex, |lid| tex + (lid - tex) * p.blink);
                    (t, p.reflectance * (0.6 + 0.4 * t / 255.0))
                }
                Material::Fabric => (205.0 + 10.0 * unit(&mut rng), 0.7),
                Material::Behind => (tex * 0.7, 0.5 * (0.6 + 0.4 * tex / 255.0)),
                Material::Paper => {
                    let printed = 25.0 + 0.82 * tex;
                    (printed, p.reflectance * (1.0 - p.ink_ir * (1.0 - tex / 255.0)))
                }
                Material::Glass => {
                    let (x0, x1, y0, y1) = surface.body;
                    let bezel = x < x0 + 4.0 || x > x1 - 4.0 || y < y0 + 4.0 || y > y1 - 4.0;
                    let shown = eyelid.map_or(tex, |lid| tex + (lid - tex) * p.blink);
                    let glow = if bezel { 12.0 } else { 28.0 + 0.78 * shown };
                    let beat = 1.0 + 0.1 * (u as f32 * moire.0 + v as f32 * moire.1).sin();
                    // A screen lights itself: the room's light does not change it.
                    (glow * beat / light.max(0.05), p.reflectance)
                }
                Material::Card => {
                    let (tu0, tv0) = surface.l.texture_at(x, y);
                    let photo = texture.sample(tu0, tv0).filter(|_| surface.l.inside(x, y));
                    match photo {
                        Some(t) => (25.0 + 0.8 * t, p.reflectance * (1.0 - 0.5 * (1.0 - t / 255.0))),
                        None => {
                            // The card's printed lines of text on its pale ground.
                            let (x0, _, y0, _) = surface.body;
                            let line = ((y - y0) / 6.0).fract() < 0.35 && (x - x0) > 6.0 && (x - x0) < 50.0;
                            if line { (70.0, p.reflectance * 0.5) } else { (215.0, p.reflectance) }
                        }
                    }
                }
                Material::None => (wall, 0.02),
            };
            let mut vis = vis;
            let mut ir = IR_GAIN * ir_reflectance * cosine * fall;
            if p.glasses && material == Material::Skin {
                // Rims around both eyes; the lenses throw the IR LEDs' light back as a glint.
                let r = near_eye.sqrt();
                if (17.0 * s..19.5 * s).contains(&r) {
                    vis *= 0.25;
                    ir *= 0.4;
                } else if r < 4.0 * s {
                    ir = ir.max(240.0);
                }
            }
            if material == Material::Glass {
                // The glass throws back the LEDs only where it faces the camera squarely.
                if cosine > 0.9995 {
                    ir += 60.0;
                }
            }
            visible[i] = (vis * if material == Material::Glass { light } else { light * (0.85 + 0.15 * cosine) }
                + 1.5 * unit(&mut rng))
            .round()
            .clamp(0.0, 255.0) as u8;
            infrared[i] = (ir + 2.0 * unit(&mut rng)).round().clamp(0.0, 255.0) as u8;
            let in_range = z >= DEPTH_RANGE_MM.0 && z <= DEPTH_RANGE_MM.1;
            // Glass gives the depth sensor a few holes; elsewhere noise grows with distance.
            let dropout = material == Material::Glass && rng.next_u32() % 100 < 12;
            if in_range && !dropout {
                let sigma = 0.6 + 2.5e-6 * z * z;
                // Sum of three uniforms: close enough to a Gaussian for sensor noise.
                let noise = (unit(&mut rng) + unit(&mut rng) + unit(&mut rng)) * sigma;
                depth[i] = (z + noise).round().clamp(1.0, 65535.0) as u16;
            }
        }
    }
    Pictures { width, height, visible, infrared, depth }
}

/// Nobody before the camera: the wall, dim in infrared, beyond the depth sensor's range.
pub fn empty(width: u32, height: u32, seed: u64) -> Pictures {
    let (w, h) = (width as usize, height as usize);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut visible = vec![0u8; w * h];
    let mut infrared = vec![0u8; w * h];
    for (i, (v, ir)) in visible.iter_mut().zip(infrared.iter_mut()).enumerate() {
        let wall = 150.0 - 40.0 * (i / w) as f32 / h as f32;
        *v = (wall + unit(&mut rng)).clamp(0.0, 255.0) as u8;
        *ir = (6.0 + 2.0 * unit(&mut rng)).max(0.0) as u8;
    }
    Pictures { width, height, visible, infrared, depth: vec![0; w * h] }
}

/// Where the texture's landmarks appear in the rendered frame (visible pixels), to check a
/// detector against, or for tests; exact for flat species, close for the others.
pub fn projected_landmarks(texture: &Texture, p: &Presentation, width: u32, height: u32) -> [(f32, f32); 5] {
    let l = Layout::new(texture, p.eye_mm);
    let rot = rotation(p);
    let d = p.distance_mm;
    let t = [p.offset_px.0 * d / FOCAL_PX, p.offset_px.1 * d / FOCAL_PX, d];
    let (cx, cy) = (width as f32 / 2.0, height as f32 / 2.0);
    texture.landmarks.map(|(u, v)| {
        let (uu, vv) = (u - l.origin.0, v - l.origin.1);
        let (x, y) = (l.a * uu - l.b * vv, l.b * uu + l.a * vv);
        let c = apply(&rot, [x, y, 0.0]);
        let (cam_x, cam_y, cam_z) = (c[0] + t[0], c[1] + t[1], c[2] + t[2]);
        (cx + FOCAL_PX * cam_x / cam_z, cy + FOCAL_PX * cam_y / cam_z)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 200x240 synthetic face picture: mid-grey skin, dark eyes, mouth and hair.
    fn texture() -> Texture {
        let (w, h) = (200usize, 240usize);
        let lm = [(70.0, 100.0), (130.0, 100.0), (100.0, 135.0), (78.0, 165.0), (122.0, 165.0)];
        let mut px = vec![150u8; w * h];
        for y in 0..h {
            for x in 0..w {
                let near = |p: (f32, f32), r: f32| (x as f32 - p.0).powi(2) + (y as f32 - p.1).powi(2) < r * r;
                if near(lm[0], 8.0) || near(lm[1], 8.0) {
                    px[y * w + x] = 40;
                } else if y < 50 || (y as f32 > 162.0 && (y as f32) < 168.0 && x > 78 && x < 122) {
                    px[y * w + x] = 60;
                }
            }
        }
        Texture::new(w, h, px, lm).expect("texture")
    }

    fn depth_at(p: &Pictures, x: f32, y: f32) -> u16 {
        p.depth[y.round() as usize * p.width as usize + x.round() as usize]
    }

    #[test]
    fn a_live_face_has_a_nose_and_a_print_is_flat() {
        let t = texture();
        for (species, nose_min, nose_max) in [(Species::Live, 12, 30), (Species::PrintFlat, 0, 3)] {
            let p = Presentation::typical(species);
            let pic = render(&t, &p, 640, 480);
            let [r, l, n, ..] = projected_landmarks(&t, &p, 640, 480);
            let cheek = depth_at(&pic, (r.0 + n.0) / 2.0 - 10.0, n.1);
            let _ = l;
            let tip = depth_at(&pic, n.0, n.1);
            assert!(tip > 0 && cheek > 0, "{species:?}: {tip} {cheek}");
            let relief = i32::from(cheek) - i32::from(tip);
            assert!((nose_min..=nose_max).contains(&relief), "{species:?}: nose stands {relief} mm");
        }
    }

    #[test]
    fn screens_are_dark_in_infrared_and_the_card_photo_is_small() {
        let t = texture();
        let ir_mean = |species| {
            let p = Presentation::typical(species);
            let pic = render(&t, &p, 640, 480);
            let [r, l, ..] = projected_landmarks(&t, &p, 640, 480);
            let (x, y) = (r.0, r.1 + 0.6 * (l.0 - r.0));
            f32::from(pic.infrared[y as usize * 640 + x as usize])
        };
        let (screen, live) = (ir_mean(Species::Screen), ir_mean(Species::Live));
        assert!(screen < 30.0 && live > 60.0, "screen {screen}, live {live}");
        let card = Presentation::typical(Species::CardFront);
        let [r, l, ..] = projected_landmarks(&t, &card, 640, 480);
        assert!((l.0 - r.0) > 30.0 && (l.0 - r.0) < 60.0, "the card's photo held close: {}", l.0 - r.0);
        // Held that close, the depth sensor has no reading of it.
        let pic = render(&t, &card, 640, 480);
        assert_eq!(depth_at(&pic, (r.0 + l.0) / 2.0, r.1), 0);
    }

    #[test]
    fn rendering_is_repeatable_and_never_prints_pixels() {
        let t = texture();
        let p = Presentation::typical(Species::Live);
        let (a, b) = (render(&t, &p, 64, 48), render(&t, &p, 64, 48));
        assert_eq!((a.visible == b.visible, a.depth == b.depth), (true, true));
        assert_eq!(format!("{a:?}"), "Pictures(64x48, withheld)");
        assert_eq!(format!("{t:?}"), "Texture(200x240, pixels withheld)");
    }
}
