//! The face check of one session: each camera frame goes through detection, the choice of the
//! patient's face, a quality gate (each refusal is a [`FaceHint`] for the screen and voice, and is
//! counted), alignment and embedding. The decision: up to `max_frames` frames, at least
//! `min_good` frames that pass the gate, and up to `max_compared` of them compared. From the
//! `min_good`-th compared frame on, the last `min_good` compared frames' embeddings are fused into
//! one template (weighted by each frame's [`quality`]) and compared with the card photo's: a
//! match when one such window reaches the threshold ([`session_score`]); no single frame decides
//! alone, and the window lets frames taken before the patient lowered a mask drop out. On
//! `eval-face`'s sessions (made from photographs) the rule is as good as the best single frame
//! and no better (`docs/face-accuracy.md`): what it gains on a real camera's frames is still to
//! be measured. The threshold comes from [`crate::calibration`], measured for this rule as a
//! whole (`cargo xtask eval-face`).
//!
//! A mask: when `mask_hint_after` compared frames have not matched, the screen asks the patient
//! to lower the mask, and from then on each compared frame is also aligned with its landmarks
//! corrected for a mask ([`crate::mask`]) and embedded a second time; windows of those
//! embeddings are compared too, and the best window of either kind counts. A patient who cannot
//! or does not lower the mask can still match, at the cost of one more embedding per frame
//! after the hint; the calibration covers both kinds of window.
//!
//! With a 2.5D camera ([`FaceCheck::with_liveness`], [`FaceCheck::frame_25d`]) every good frame
//! is also scored by [`crate::pad`]; when the check decides, the median score of its good frames
//! must reach the liveness threshold, and the face must have kept its size in millimetres over
//! the frames ([`pad::steadiness`]), or the decision is [`Decision::NotLive`] whatever the
//! comparison said.

use crate::calibration::Accuracy;
use crate::pad::{self, DepthView, PadSettings};
use crate::{Detection, GreyImage, GreyView, align, mask, pick};
use kaoyomi_core::FaceHint;
use kaoyomi_models::{Embedding, FaceDetector, FaceEmbedder, ModelError};
use zeroize::Zeroizing;

/// The two networks of the face check.
pub struct Models {
    /// Finds faces and their landmarks.
    pub detector: Box<dyn FaceDetector + Send>,
    /// Embeds aligned faces.
    pub embedder: Box<dyn FaceEmbedder + Send>,
}

/// Limits of the quality gate and of the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Frames looked at before giving up.
    pub max_frames: u32,
    /// Frames that must pass the gate before a decision.
    pub min_good: u32,
    /// Frames compared with the card photo at most (the threshold is calibrated for this many,
    /// [`crate::calibration::RULE`]).
    pub max_compared: u32,
    /// Cosine similarity at which a window of fused frames matches (calibrated for `min_good`
    /// and `max_compared` as [`crate::calibration::RULE`] has them: other values need a new
    /// table).
    pub threshold: f32,
    /// Frames are shrunk by a whole factor until their longer side is at most this before
    /// detection (the patient's face is large; the landmarks are used at full resolution).
    pub detect_side: u32,
    /// Minimum detector score.
    pub min_score: f32,
    /// Minimum distance between the eyes, pixels of the frame.
    pub min_eye_px: f32,
    /// Largest share of the frame's width the face box may take.
    pub max_face_share: f32,
    /// Largest head tilt, degrees.
    pub max_roll_deg: f32,
    /// Largest sideways turn: the nose's offset from the eyes' midpoint over the eye distance.
    pub max_yaw: f32,
    /// Allowed nose height between the eye line (0) and the mouth line (1).
    pub pitch_range: (f32, f32),
    /// Minimum sharpness (variance of the Laplacian of the aligned face). 35 is about the 1st
    /// percentile of LFW's faces through this pipeline (35-36 in `cargo xtask eval-face`'s runs):
    /// soft news photographs pass, a shaken or defocused camera does not.
    pub min_sharpness: f32,
    /// Allowed mean brightness of the aligned face.
    pub exposure_range: (f32, f32),
    /// Minimum contrast (standard deviation) around each eye of the aligned face.
    pub min_eye_contrast: f32,
    /// Compared frames without a match after which a good frame asks the patient to lower a mask
    /// (the product's rule for masks: try with it, and say so when it does not work); the frames
    /// compared after it are also compared as masked faces ([`embed_masked`]).
    pub mask_hint_after: u32,
}

impl Settings {
    /// The settings for an accuracy level.
    pub fn for_accuracy(accuracy: Accuracy) -> Settings {
        let (min_good, max_compared) = crate::calibration::RULE;
        Settings {
            max_frames: 50,
            min_good,
            max_compared,
            threshold: accuracy.threshold(),
            detect_side: 320,
            min_score: 0.6,
            min_eye_px: 40.0,
            max_face_share: 0.8,
            max_roll_deg: 10.0,
            max_yaw: 0.3,
            pitch_range: (0.25, 0.75),
            min_sharpness: 35.0,
            exposure_range: (55.0, 205.0),
            min_eye_contrast: 6.0,
            mask_hint_after: min_good,
        }
    }
}

/// A face that passed the gate, aligned to 112x112.
pub struct GoodFace {
    /// The detection.
    pub detection: Detection,
    /// The aligned face (wiped on drop).
    pub aligned: GreyImage,
    /// Its sharpness ([`sharpness`]).
    pub sharpness: f32,
}

/// The weight of a good frame in the session's template: the detector's confidence, times its
/// sharpness against LFW's median face through this pipeline (about 137, `docs/face-accuracy.md`),
/// between a quarter and one. A blurred frame counts less; on `eval-face`'s sessions the weights
/// changed no figure (nearly every frame there weighs the same).
pub fn quality(face: &GoodFace) -> f32 {
    face.detection.score.clamp(0.0, 1.0) * (face.sharpness / 137.0).clamp(0.25, 1.0)
}

/// The score of a session: `frames` (embedding, weight) in the order they were compared; each
/// run of `window` consecutive frames is fused ([`Embedding::weighted_mean`]) and compared with
/// `reference`; the best window's similarity. `None` with fewer than `window` frames.
pub fn session_score(frames: &[(Embedding, f32)], reference: &Embedding, window: usize) -> Option<f32> {
    frames
        .windows(window.max(1))
        .filter_map(|w| Embedding::weighted_mean(w.iter().map(|(e, q)| (e, *q))))
        .map(|t| t.similarity(reference))
        .max_by(f32::total_cmp)
}

impl core::fmt::Debug for GoodFace {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "GoodFace(score {:.2}, pixels withheld)", self.detection.score)
    }
}

/// The faces in `image`, found on a shrunken copy, in full-resolution coordinates. The
/// patient's face (the one [`pick::patient`] chooses) is then found again on a crop around it,
/// resampled so that the face fills the detector's input ([`refine`]).
pub fn find_faces(
    detector: &mut dyn FaceDetector,
    image: GreyView<'_>,
    detect_side: u32,
    min_score: f32,
) -> Result<Vec<Detection>, ModelError> {
    let factor = image.width.max(image.height).div_ceil(detect_side.max(32)).max(1);
    let mut faces = if factor == 1 {
        detector.detect(image, min_score)?
    } else {
        let small = shrink(image, factor);
        let mut faces = detector.detect(small.view(), min_score)?;
        let f = factor as f32;
        for d in &mut faces {
            d.x *= f;
            d.y *= f;
            d.width *= f;
            d.height *= f;
            for p in &mut d.landmarks {
                p.x = p.x * f + (f - 1.0) / 2.0;
                p.y = p.y * f + (f - 1.0) / 2.0;
            }
        }
        faces
    };
    let chosen = pick::patient(&faces, image.width, image.height).and_then(|d| faces.iter().position(|x| x == d));
    if let Some(i) = chosen
        && let Some(better) = refine(detector, image, &faces[i], min_score)?
    {
        faces[i] = better;
    }
    Ok(faces)
}

/// The side of the square crop [`refine`] detects on: the face box then spans about half of it,
/// some 160 pixels, where the detector's landmarks are steadier than on a small face.
pub const REFINE_SIDE: u32 = 320;

/// Overlap of two boxes: intersection over union.
fn iou(a: &Detection, b: &Detection) -> f32 {
    let w = (a.x + a.width).min(b.x + b.width) - a.x.max(b.x);
    let h = (a.y + a.height).min(b.y + b.height) - a.y.max(b.y);
    let inter = w.max(0.0) * h.max(0.0);
    inter / (a.width * a.height + b.width * b.height - inter).max(1e-6)
}

/// `face` found again on a square crop twice its size around it, resampled (bilinear) to
/// [`REFINE_SIDE`]: the crop's detection (its box and score) with the landmarks the mean of
/// both detections'. On a shrunken frame one pixel of landmark error is several pixels of the
/// frame, which the alignment and the liveness check's sizes would inherit. The mean, not the
/// crop's alone: on LFW (`eval-face --every 12`, FNMR at FMR 1e-4) the crop's landmarks alone
/// took card-like from 2.28% to 2.35% and masked faces' from 33% to 53% (the mouth under a mask
/// is a guess, and a worse one on the large face), the mean gave 1.88% and 38%. `None` when the
/// crop shows no face that is clearly the same one.
fn refine(
    detector: &mut dyn FaceDetector,
    image: GreyView<'_>,
    face: &Detection,
    min_score: f32,
) -> Result<Option<Detection>, ModelError> {
    let side = face.width.max(face.height) * 2.0;
    if side < 16.0 {
        return Ok(None);
    }
    let (x0, y0) = (face.x + face.width / 2.0 - side / 2.0, face.y + face.height / 2.0 - side / 2.0);
    let k = REFINE_SIDE as f32 / side;
    let to_crop = align::Similarity { a: f64::from(k), b: 0.0, tx: f64::from(-x0 * k), ty: f64::from(-y0 * k) };
    let crop = align::warp(image, &to_crop, REFINE_SIDE);
    let found = detector.detect(crop.view(), min_score)?.into_iter().map(|mut d| {
        d.x = d.x / k + x0;
        d.y = d.y / k + y0;
        d.width /= k;
        d.height /= k;
        for p in &mut d.landmarks {
            p.x = p.x / k + x0;
            p.y = p.y / k + y0;
        }
        d
    });
    let best = found.filter(|d| iou(d, face) > 0.5).max_by(|a, b| iou(a, face).total_cmp(&iou(b, face)));
    Ok(best.map(|mut d| {
        for (p, q) in d.landmarks.iter_mut().zip(&face.landmarks) {
            p.x = (p.x + q.x) / 2.0;
            p.y = (p.y + q.y) / 2.0;
        }
        d
    }))
}

/// `image` shrunk by a whole `factor` (mean of each block).
pub fn shrink(image: GreyView<'_>, factor: u32) -> GreyImage {
    let (w, h) = (image.width / factor, image.height / factor);
    let mut pixels = Vec::with_capacity((w * h) as usize);
    let n = factor * factor;
    for y in 0..h {
        for x in 0..w {
            let mut sum = 0u32;
            for dy in 0..factor {
                let row = ((y * factor + dy) * image.width + x * factor) as usize;
                sum += image.pixels[row..row + factor as usize].iter().map(|&p| u32::from(p)).sum::<u32>();
            }
            pixels.push(((sum + n / 2) / n) as u8);
        }
    }
    GreyImage::new(w, h, pixels).expect("w * h pixels")
}

fn mean(pixels: &[u8]) -> f32 {
    pixels.iter().map(|&p| p as f32).sum::<f32>() / pixels.len().max(1) as f32
}

/// Sharpness of an aligned face: the variance of its 4-neighbour Laplacian (inner part, where
/// the face is).
pub fn sharpness(face: &GreyImage) -> f32 {
    let (w, h) = (face.width() as usize, face.height() as usize);
    let p = face.pixels();
    let mut values = Vec::new();
    for y in h / 4..h * 7 / 8 {
        for x in w / 6..w * 5 / 6 {
            if x == 0 || y == 0 || x + 1 >= w || y + 1 >= h {
                continue;
            }
            let c = 4.0 * p[y * w + x] as f32;
            values.push(
                c - p[y * w + x - 1] as f32
                    - p[y * w + x + 1] as f32
                    - p[(y - 1) * w + x] as f32
                    - p[(y + 1) * w + x] as f32,
            );
        }
    }
    let m = values.iter().sum::<f32>() / values.len().max(1) as f32;
    values.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / values.len().max(1) as f32
}

/// Standard deviation of a `w` x `h` patch of an aligned face centred on (`cx`, `cy`).
fn patch_contrast(face: &GreyImage, cx: f32, cy: f32, w: i64, h: i64) -> f32 {
    let view = face.view();
    let mut v = Vec::new();
    for dy in -h / 2..h / 2 {
        for dx in -w / 2..w / 2 {
            v.push(f32::from(view.at(cx as i64 + dx, cy as i64 + dy)));
        }
    }
    let m = v.iter().sum::<f32>() / v.len().max(1) as f32;
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f32>() / v.len().max(1) as f32).sqrt()
}

/// The quality gate on one frame: the patient's face aligned, or what the patient should change.
pub fn gate(image: GreyView<'_>, faces: &[Detection], s: &Settings) -> Result<GoodFace, FaceHint> {
    let (fw, fh) = (image.width as f32, image.height as f32);
    let Some(face) = pick::patient(faces, image.width, image.height) else {
        let m = mean(image.pixels);
        return Err(if m < 25.0 {
            FaceHint::TooDark
        } else if m > 235.0 {
            FaceHint::TooBright
        } else {
            FaceHint::NoFace
        });
    };
    let area = face.width * face.height;
    if faces.iter().filter(|d| !core::ptr::eq(*d, face)).any(|d| d.width * d.height >= 0.6 * area) {
        return Err(FaceHint::OnePerson);
    }
    let [re, le, nose, rm, lm] = face.landmarks;
    let (ex, ey) = (le.x - re.x, le.y - re.y);
    let eye_dist = (ex * ex + ey * ey).sqrt();
    if face.width > s.max_face_share * fw || face.height > 0.98 * fh {
        return Err(FaceHint::MoveBack);
    }
    // The whole face must be in the picture: the detector's box shrinks with a face cut by the
    // edge, so the face's extent is estimated from the landmarks (cheeks, forehead, chin).
    let xs = [re.x, le.x, rm.x, lm.x];
    let (left, right) = (xs.iter().copied().fold(f32::MAX, f32::min), xs.iter().copied().fold(f32::MIN, f32::max));
    let (top, bottom) = (re.y.min(le.y) - 0.8 * eye_dist, rm.y.max(lm.y) + 0.6 * eye_dist);
    if left - 0.6 * eye_dist < 0.0 || right + 0.6 * eye_dist > fw || top < 0.0 || bottom > fh {
        return Err(FaceHint::CentreFace);
    }
    if eye_dist < s.min_eye_px {
        return Err(FaceHint::MoveCloser);
    }
    if ey.atan2(ex).to_degrees().abs() > s.max_roll_deg {
        return Err(FaceHint::StraightenHead);
    }
    // Pose in the face's own frame: along the eye line (yaw) and across it (pitch).
    let (ux, uy) = (ex / eye_dist, ey / eye_dist);
    let mid = ((re.x + le.x) / 2.0, (re.y + le.y) / 2.0);
    let mouth = ((rm.x + lm.x) / 2.0, (rm.y + lm.y) / 2.0);
    let yaw = ((nose.x - mid.0) * ux + (nose.y - mid.1) * uy) / eye_dist;
    let across = |p: (f32, f32)| -(p.0 - mid.0) * uy + (p.1 - mid.1) * ux;
    let mouth_down = across(mouth);
    let pitch = if mouth_down > 1.0 { across((nose.x, nose.y)) / mouth_down } else { -1.0 };
    if yaw.abs() > s.max_yaw || pitch < s.pitch_range.0 || pitch > s.pitch_range.1 {
        return Err(FaceHint::FaceCamera);
    }
    let aligned = align::align(image, &face.landmarks);
    let brightness = mean(aligned.pixels());
    if brightness < s.exposure_range.0 {
        return Err(FaceHint::TooDark);
    }
    if brightness > s.exposure_range.1 {
        return Err(FaceHint::TooBright);
    }
    let [r, l, ..] = align::REFERENCE;
    if patch_contrast(&aligned, r.x, r.y, 20, 12).min(patch_contrast(&aligned, l.x, l.y, 20, 12)) < s.min_eye_contrast {
        return Err(FaceHint::ShowEyes);
    }
    let sharp = sharpness(&aligned);
    if sharp < s.min_sharpness {
        return Err(FaceHint::HoldStill);
    }
    Ok(GoodFace { detection: face.clone(), aligned, sharpness: sharp })
}

/// The embedding of a good frame's face aligned as a masked face: its landmarks corrected for a
/// mask ([`mask::corrected`]), the face aligned with them and embedded.
pub fn embed_masked(models: &mut Models, image: GreyView<'_>, good: &GoodFace) -> Result<Embedding, ModelError> {
    let aligned = align::align(image, &mask::corrected(&good.detection));
    models.embedder.embed(aligned.view())
}

/// The embedding of the one face in a still picture (the card photo, an evaluation image): the
/// patient's face, aligned, embedded; `None` when no face is found.
pub fn embed_still(models: &mut Models, image: GreyView<'_>) -> Result<Option<Embedding>, ModelError> {
    embed_still_at(models, image, 640)
}

/// [`embed_still`] with the face found on a copy at most `detect_side` pixels wide (as a
/// session's frames are: [`Settings::detect_side`]).
pub fn embed_still_at(
    models: &mut Models,
    image: GreyView<'_>,
    detect_side: u32,
) -> Result<Option<Embedding>, ModelError> {
    let Some(aligned) = aligned_still(models, image, detect_side)? else { return Ok(None) };
    Ok(Some(models.embedder.embed(aligned.view())?))
}

/// The patient's face in a still picture, aligned; `None` when no face is found.
fn aligned_still(models: &mut Models, image: GreyView<'_>, detect_side: u32) -> Result<Option<GreyImage>, ModelError> {
    let faces = find_faces(models.detector.as_mut(), image, detect_side, 0.5)?;
    Ok(pick::patient(&faces, image.width, image.height).map(|face| align::align(image, &face.landmarks)))
}

/// The reference embedding of the card photo: the face as [`embed_still`] finds it, fused with
/// the embedding of its mirror image. Once per session (one more embedding), it evens out the
/// single photograph's pose; on LFW View 2 it raised the accuracy from 98.95% to 99.07% with
/// the live side left plain (`docs/face-accuracy.md`). `None` when no face is found.
pub fn embed_reference(models: &mut Models, image: GreyView<'_>) -> Result<Option<Embedding>, ModelError> {
    let Some(aligned) = aligned_still(models, image, 640)? else { return Ok(None) };
    let plain = models.embedder.embed(aligned.view())?;
    let mirrored = models.embedder.embed(mirror(&aligned).view())?;
    Ok(Some(plain.fused(&mirrored)))
}

/// `image` flipped left to right.
pub fn mirror(image: &GreyImage) -> GreyImage {
    let w = image.width().max(1) as usize;
    let pixels: Vec<u8> = image.pixels().chunks(w).flat_map(|row| row.iter().rev().copied()).collect();
    GreyImage::new(image.width(), image.height(), pixels).expect("same size")
}

/// How a face check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// A window of fused frames reached the threshold (after at least `min_good` good frames).
    Match,
    /// `min_good` or more good frames, no window matched.
    NoMatch,
    /// Too few good frames in `max_frames`.
    NotCaptured,
    /// The good frames' median liveness score is below the threshold: a photograph, a screen,
    /// the card's picture or a mask, not a live face.
    NotLive,
}

/// The liveness check of a 2.5D camera.
#[derive(Debug, Clone, PartialEq)]
pub struct Liveness {
    /// The camera and the cues' limits.
    pub settings: PadSettings,
    /// The median score of the good frames at which the face is taken as live (chosen with
    /// `cargo xtask eval-pad`; `docs/pad.md` gives the rates it has).
    pub threshold: f32,
}

impl Default for Liveness {
    fn default() -> Liveness {
        Liveness { settings: PadSettings::default(), threshold: 0.5 }
    }
}

/// The infrared picture and depth map registered to a visible frame.
#[derive(Debug, Clone, Copy)]
pub struct Depth25<'a> {
    /// Infrared.
    pub infrared: GreyView<'a>,
    /// Depth, millimetres.
    pub depth: DepthView<'a>,
}

/// What one frame did to the check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    /// Keep capturing; the hint for the patient (`None`: the frame was good;
    /// [`FaceHint::RemoveMask`]: good, but no window has matched after `mask_hint_after` compared).
    Continue(Option<FaceHint>),
    /// Decided.
    Decided(Decision),
}

/// Every hint, in the order of [`Report::refused`].
pub const HINTS: [FaceHint; 11] = [
    FaceHint::NoFace,
    FaceHint::MoveCloser,
    FaceHint::MoveBack,
    FaceHint::CentreFace,
    FaceHint::OnePerson,
    FaceHint::FaceCamera,
    FaceHint::StraightenHead,
    FaceHint::HoldStill,
    FaceHint::TooDark,
    FaceHint::TooBright,
    FaceHint::ShowEyes,
];

/// The statistics of one check: counts only, nothing about the person.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Frames looked at.
    pub frames: u32,
    /// Frames that passed the gate.
    pub good: u32,
    /// Frames compared with the card photo.
    pub compared: u32,
    /// Of those, frames also compared as masked faces (after the mask hint).
    pub compared_masked: u32,
    /// Frames refused, per hint (order of [`HINTS`]).
    pub refused: [u32; HINTS.len()],
    /// Best similarity of a fused window seen (a number about the match, not about the person).
    pub best: Option<f32>,
    /// The liveness score of each good frame (with a 2.5D camera).
    pub liveness: Vec<f32>,
    /// The motion cue over the frames ([`pad::steadiness`]), once decided with a 2.5D camera.
    pub steadiness: Option<f32>,
}

impl Report {
    /// The median liveness score of the good frames, if any was scored.
    pub fn liveness_median(&self) -> Option<f32> {
        let mut v = self.liveness.clone();
        v.sort_by(f32::total_cmp);
        v.get(v.len() / 2).copied()
    }
}

/// One session's face check against the card photo's embedding.
pub struct FaceCheck {
    reference: Embedding,
    settings: Settings,
    liveness: Option<Liveness>,
    report: Report,
    decided: Option<Decision>,
    /// The compared frames' embeddings and weights (wiped on drop, never printed).
    compared: Vec<(Embedding, f32)>,
    /// The same for the frames also compared as masked faces ([`embed_masked`]).
    compared_masked: Vec<(Embedding, f32)>,
    /// The face's size in mm of each scored frame ([`pad::Cues::size_mm`]), for the motion cue
    /// (a measure of the person: wiped on drop, never printed).
    sizes: Zeroizing<Vec<f32>>,
}

impl FaceCheck {
    /// A check against `reference` (the card photo's embedding).
    pub fn new(reference: Embedding, settings: Settings) -> FaceCheck {
        FaceCheck {
            reference,
            settings,
            liveness: None,
            report: Report::default(),
            decided: None,
            compared: Vec::new(),
            compared_masked: Vec::new(),
            sizes: Zeroizing::new(Vec::new()),
        }
    }

    /// The same check, also requiring a live face ([`FaceCheck::frame_25d`] brings the pictures).
    pub fn with_liveness(mut self, liveness: Liveness) -> FaceCheck {
        self.liveness = Some(liveness);
        self
    }

    /// Takes one moment of a 2.5D camera: the visible frame as [`FaceCheck::frame`], and its
    /// infrared and depth pictures for the liveness check.
    pub fn frame_25d(
        &mut self,
        models: &mut Models,
        visible: GreyView<'_>,
        streams: Depth25<'_>,
    ) -> Result<Step, ModelError> {
        self.step(models, visible, Some(streams))
    }

    /// The statistics so far.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// Takes one camera frame (a check with liveness scores a frame without 2.5D pictures 0).
    pub fn frame(&mut self, models: &mut Models, image: GreyView<'_>) -> Result<Step, ModelError> {
        self.step(models, image, None)
    }

    fn step(
        &mut self,
        models: &mut Models,
        image: GreyView<'_>,
        streams: Option<Depth25<'_>>,
    ) -> Result<Step, ModelError> {
        if let Some(d) = self.decided {
            return Ok(Step::Decided(d));
        }
        let s = &self.settings;
        self.report.frames += 1;
        let faces = find_faces(models.detector.as_mut(), image, s.detect_side, s.min_score)?;
        let hint = match gate(image, &faces, s) {
            Err(hint) => {
                if let Some(i) = HINTS.iter().position(|h| *h == hint) {
                    self.report.refused[i] += 1;
                }
                Some(hint)
            }
            Ok(good) => {
                self.report.good += 1;
                if let Some(l) = &self.liveness {
                    let cues =
                        streams.and_then(|st| pad::cues(&good.detection.landmarks, st.infrared, st.depth, &l.settings));
                    if let Some(c) = &cues {
                        self.sizes.push(c.size_mm);
                    }
                    self.report.liveness.push(pad::score(cues.as_ref(), &l.settings));
                }
                if self.report.compared < s.max_compared {
                    // Not matched yet (a match decides): past the hint, also as a masked face.
                    let as_masked = self.report.compared >= s.mask_hint_after;
                    let weight = quality(&good);
                    let live = models.embedder.embed(good.aligned.view())?;
                    self.compared.push((live, weight));
                    self.report.compared += 1;
                    if as_masked {
                        self.compared_masked.push((embed_masked(models, image, &good)?, weight));
                        self.report.compared_masked += 1;
                    }
                    let window = s.min_good as usize;
                    for frames in [&self.compared, &self.compared_masked] {
                        let last = &frames[frames.len().saturating_sub(window)..];
                        if let Some(score) = session_score(last, &self.reference, window) {
                            self.report.best = Some(self.report.best.map_or(score, |b| b.max(score)));
                        }
                    }
                }
                None
            }
        };
        let matched = self.report.best.is_some_and(|b| b >= s.threshold);
        let hint = match hint {
            None if !matched && self.report.compared >= s.mask_hint_after => Some(FaceHint::RemoveMask),
            other => other,
        };
        let decision = if self.report.good >= s.min_good && matched {
            Some(Decision::Match)
        } else if self.report.compared >= s.max_compared && self.report.good >= s.min_good {
            Some(Decision::NoMatch)
        } else if self.report.frames >= s.max_frames {
            Some(if self.report.good >= s.min_good { Decision::NoMatch } else { Decision::NotCaptured })
        } else {
            None
        };
        let decision = match (decision, &self.liveness) {
            (Some(d @ (Decision::Match | Decision::NoMatch)), Some(l)) => {
                let steady = pad::steadiness(&self.sizes, &l.settings);
                self.report.steadiness = Some(steady);
                let live = self.report.liveness_median().is_some_and(|m| m >= l.threshold) && steady >= 0.5;
                Some(if live { d } else { Decision::NotLive })
            }
            (d, _) => d,
        };
        self.decided = decision;
        Ok(decision.map_or(Step::Continue(hint), Step::Decided))
    }
}

impl core::fmt::Debug for FaceCheck {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "FaceCheck({:?}, {:?})", self.report, self.decided)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Point;

    fn settings() -> Settings {
        Settings { threshold: 0.5, ..Settings::for_accuracy(Accuracy::Standard) }
    }

    /// A detection whose landmarks are the reference face scaled by `k` and moved to (`x`, `y`).
    fn face_at(x: f32, y: f32, k: f32) -> Detection {
        let landmarks = align::REFERENCE.map(|p| Point { x: x + p.x * k, y: y + p.y * k });
        Detection { x, y, width: 112.0 * k, height: 112.0 * k, score: 0.9, landmarks }
    }

    /// A textured frame (a face-like pattern) so the exposure, eye and sharpness checks pass.
    fn frame(w: u32, h: u32, level: u8) -> GreyImage {
        let pixels = (0..w * h).map(|i| level.saturating_add((((i % w) / 3 + (i / w) / 3) % 2 * 40) as u8)).collect();
        GreyImage::new(w, h, pixels).unwrap()
    }

    #[test]
    fn each_problem_gets_its_hint() {
        let s = settings();
        let img = frame(640, 480, 90);
        let good = face_at(200.0, 100.0, 2.0);
        assert!(gate(img.view(), std::slice::from_ref(&good), &s).is_ok());
        assert_eq!(gate(img.view(), &[], &s).unwrap_err(), FaceHint::NoFace);
        assert_eq!(gate(frame(640, 480, 3).view(), &[], &s).unwrap_err(), FaceHint::TooDark);
        assert_eq!(gate(frame(640, 480, 250).view(), &[], &s).unwrap_err(), FaceHint::TooBright);
        assert_eq!(gate(img.view(), &[face_at(280.0, 200.0, 0.5)], &s).unwrap_err(), FaceHint::MoveCloser);
        assert_eq!(gate(img.view(), &[face_at(40.0, 10.0, 4.5)], &s).unwrap_err(), FaceHint::MoveBack);
        assert_eq!(gate(img.view(), &[face_at(560.0, 100.0, 2.0)], &s).unwrap_err(), FaceHint::CentreFace);
        let other = face_at(420.0, 120.0, 1.8);
        assert_eq!(gate(img.view(), &[good.clone(), other], &s).unwrap_err(), FaceHint::OnePerson);
        let mut turned = good.clone();
        turned.landmarks[2].x += 30.0;
        assert_eq!(gate(img.view(), &[turned], &s).unwrap_err(), FaceHint::FaceCamera);
        let mut tilted = good.clone();
        tilted.landmarks[1].y += 40.0;
        assert_eq!(gate(img.view(), &[tilted], &s).unwrap_err(), FaceHint::StraightenHead);
        assert_eq!(gate(frame(640, 480, 20).view(), std::slice::from_ref(&good), &s).unwrap_err(), FaceHint::TooDark);
        let flat = GreyImage::new(640, 480, vec![120; 640 * 480]).unwrap();
        assert_eq!(gate(flat.view(), std::slice::from_ref(&good), &s).unwrap_err(), FaceHint::ShowEyes);
    }

    #[test]
    fn sharpness_falls_with_blur() {
        let sharp = frame(112, 112, 90);
        let blurred = {
            let p = sharp.pixels();
            let v: Vec<u8> = (0..112 * 112)
                .map(|i| {
                    let (x, y) = (i % 112, i / 112);
                    let mut s = 0u32;
                    for d in 0..7 {
                        s += u32::from(p[y * 112 + (x + d).min(111)]);
                    }
                    (s / 7) as u8
                })
                .collect();
            GreyImage::new(112, 112, v).unwrap()
        };
        assert!(sharpness(&sharp) > 4.0 * sharpness(&blurred), "{} vs {}", sharpness(&sharp), sharpness(&blurred));
    }

    /// A detector that finds `face` (or nothing) and an embedder that returns the next of `scores`
    /// as the similarity with the reference `[1, 0]`.
    struct Fake {
        face: Option<Detection>,
    }
    impl FaceDetector for Fake {
        fn detect(&mut self, _: GreyView<'_>, _: f32) -> Result<Vec<Detection>, ModelError> {
            Ok(self
                .face
                .iter()
                .map(|f| {
                    let mut f = f.clone();
                    // The pipeline detects on a frame shrunk by 2: hand back shrunk coordinates.
                    f.x /= 2.0;
                    f.y /= 2.0;
                    f.width /= 2.0;
                    f.height /= 2.0;
                    f.landmarks = f.landmarks.map(|p| Point { x: (p.x - 0.5) / 2.0, y: (p.y - 0.5) / 2.0 });
                    f
                })
                .collect())
        }
    }
    struct Scores(Vec<f32>);
    impl FaceEmbedder for Scores {
        fn embed(&mut self, _: GreyView<'_>) -> Result<Embedding, ModelError> {
            let s = self.0.remove(0);
            Ok(Embedding::from_raw(vec![s, (1.0 - s * s).max(0.0).sqrt()]))
        }
    }

    fn run(face: Option<Detection>, scores: Vec<f32>) -> (Decision, Report) {
        let mut models = Models { detector: Box::new(Fake { face }), embedder: Box::new(Scores(scores)) };
        let mut check = FaceCheck::new(Embedding::from_raw(vec![1.0, 0.0]), settings());
        let img = frame(640, 480, 90);
        loop {
            if let Step::Decided(d) = check.frame(&mut models, img.view()).unwrap() {
                return (d, check.report().clone());
            }
        }
    }

    #[test]
    fn the_decision_fuses_three_good_frames_and_stops_at_six_compared() {
        let good = Some(face_at(200.0, 100.0, 2.0));
        // A match on the first frame still waits for the third good frame.
        let (d, r) = run(good.clone(), vec![0.9, 0.8, 0.7]);
        assert_eq!((d, r.frames, r.compared), (Decision::Match, 3, 3));
        // From the fourth compared frame on each is embedded twice, as it is and as a masked
        // face: the scores below come in that order.
        // One frame that happens to score high is not a match on its own: its window's other
        // frames hold it back.
        let (d, r) = run(good.clone(), vec![0.1, 0.1, 0.95, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]);
        assert_eq!((d, r.compared, r.compared_masked), (Decision::NoMatch, 6, 3), "{r:?}");
        // A late match counts: the last three frames fused reach the threshold.
        let (d, r) = run(good.clone(), vec![0.2, 0.2, 0.2, 0.2, 0.2, 0.9, 0.2, 0.9, 0.2]);
        assert_eq!((d, r.compared), (Decision::Match, 6), "{r:?}");
        // A face that matches only as a masked face matches once three such frames are fused.
        let (d, r) = run(good.clone(), vec![0.2, 0.2, 0.2, 0.2, 0.9, 0.2, 0.9, 0.2, 0.9]);
        assert_eq!((d, r.compared, r.compared_masked), (Decision::Match, 6, 3), "{r:?}");
        // One such frame is not enough.
        let (d, r) = run(good.clone(), vec![0.2, 0.2, 0.2, 0.2, 0.1, 0.2, 0.1, 0.2, 0.95]);
        assert_eq!((d, r.compared), (Decision::NoMatch, 6), "{r:?}");
        // Six below the threshold: no match, at once.
        let (d, r) = run(good, vec![0.49; 9]);
        assert_eq!((d, r.frames, r.compared), (Decision::NoMatch, 6, 6));
        assert!(r.best.is_some_and(|b| (b - 0.49).abs() < 1e-4));
        // Nobody: fifty frames, then "not captured", every refusal counted.
        let (d, r) = run(None, vec![]);
        assert_eq!((d, r.frames, r.good, r.refused[0]), (Decision::NotCaptured, 50, 0, 50));
    }

    #[test]
    fn good_frames_that_do_not_match_ask_for_the_mask_to_come_down() {
        let mut models = Models {
            detector: Box::new(Fake { face: Some(face_at(200.0, 100.0, 2.0)) }),
            // Three compared, then (as it is, as a masked face) for each frame.
            embedder: Box::new(Scores(vec![0.1, 0.1, 0.1, 0.95, 0.1, 0.95, 0.1])),
        };
        let mut check = FaceCheck::new(Embedding::from_raw(vec![1.0, 0.0]), settings());
        let img = frame(640, 480, 90);
        let steps: Vec<Step> = (0..3).map(|_| check.frame(&mut models, img.view()).unwrap()).collect();
        // Two compared: nothing to say yet; the third without a match: the mask.
        assert_eq!(steps[..2], [Step::Continue(None); 2]);
        assert_eq!(steps[2], Step::Continue(Some(FaceHint::RemoveMask)));
        // A gate refusal keeps its own hint, whatever was compared before.
        let good = std::mem::replace(&mut models.detector, Box::new(Fake { face: None }));
        assert_eq!(check.frame(&mut models, img.view()).unwrap(), Step::Continue(Some(FaceHint::NoFace)));
        // The patient lowered the mask: the masked frames leave the window, and once it holds
        // mostly unmasked ones, it matches.
        models.detector = good;
        assert_eq!(check.frame(&mut models, img.view()).unwrap(), Step::Continue(Some(FaceHint::RemoveMask)));
        assert_eq!(check.frame(&mut models, img.view()).unwrap(), Step::Decided(Decision::Match));
    }

    /// Infrared and depth pictures of `face` (640x480): a head's curve at 500 mm with a nose of
    /// `nose` mm at the nose landmark, skin-like infrared.
    fn streams(face: &Detection, nose: f32) -> (Vec<u8>, Vec<u16>) {
        streams_at(face, nose, 500.0)
    }

    /// Infrared and depth of a face with a `nose` mm nose at `mm` from the camera.
    fn streams_at(face: &Detection, nose: f32, mm: f32) -> (Vec<u8>, Vec<u16>) {
        let [re, le, n, ..] = face.landmarks;
        let e = le.x - re.x;
        let mid = ((re.x + le.x) / 2.0, (re.y + le.y) / 2.0);
        let depth = (0..640 * 480)
            .map(|i| {
                let (a, b) = (((i % 640) as f32 - mid.0) / e, ((i / 640) as f32 - mid.1) / e);
                let (na, nb) = ((n.x - mid.0) / e, (n.y - mid.1) / e);
                let tip = nose * (-((a - na).powi(2) / 0.04 + (b - nb).powi(2) / 0.08)).exp();
                (mm + 30.0 * (a * a + 0.5 * (b - 0.5).powi(2)) - tip).round() as u16
            })
            .collect();
        (vec![110; 640 * 480], depth)
    }

    #[test]
    fn a_flat_face_is_not_live_even_when_it_matches() {
        let face = face_at(200.0, 100.0, 2.0);
        let run = |nose: Option<f32>| {
            let mut models = Models {
                detector: Box::new(Fake { face: Some(face.clone()) }),
                embedder: Box::new(Scores(vec![0.9; 3])),
            };
            let mut check =
                FaceCheck::new(Embedding::from_raw(vec![1.0, 0.0]), settings()).with_liveness(Liveness::default());
            let img = frame(640, 480, 90);
            loop {
                let step = match nose {
                    Some(nose) => {
                        let (ir, depth) = streams(&face, nose);
                        let st = Depth25 {
                            infrared: GreyView { width: 640, height: 480, pixels: &ir },
                            depth: DepthView { width: 640, height: 480, mm: &depth },
                        };
                        check.frame_25d(&mut models, img.view(), st).unwrap()
                    }
                    None => check.frame(&mut models, img.view()).unwrap(),
                };
                if let Step::Decided(d) = step {
                    return (d, check.report().liveness.clone());
                }
            }
        };
        let (d, scores) = run(Some(20.0));
        assert_eq!((d, scores.len()), (Decision::Match, 3), "{scores:?}");
        assert_eq!(run(Some(0.0)).0, Decision::NotLive);
        // Without the infrared and depth pictures a check that needs liveness never matches.
        assert_eq!(run(None), (Decision::NotLive, vec![0.0; 3]));
    }

    #[test]
    fn a_session_score_weighs_each_frame_by_its_quality() {
        let e = |s: f32| Embedding::from_raw(vec![s, (1.0 - s * s).sqrt()]);
        let reference = Embedding::from_raw(vec![1.0, 0.0]);
        let equal = [(e(0.9), 1.0), (e(0.1), 1.0), (e(0.1), 1.0)];
        let weighted = [(e(0.9), 1.0), (e(0.1), 0.25), (e(0.1), 0.25)];
        let (a, b) = (session_score(&equal, &reference, 3).unwrap(), session_score(&weighted, &reference, 3).unwrap());
        assert!(a < 0.45 && b > 0.7, "{a} {b}");
        // The best window counts; too few frames: no score.
        let frames = [(e(0.1), 1.0), (e(0.1), 1.0), (e(0.9), 1.0), (e(0.9), 1.0)];
        let two = session_score(&frames, &reference, 2).unwrap();
        assert!((two - 0.9).abs() < 1e-4, "{two}");
        assert_eq!(session_score(&frames[..1], &reference, 2), None);
    }

    #[test]
    fn the_landmarks_are_found_again_on_the_faces_crop() {
        // A dark frame with one bright point at (250, 180). On the shrunken frame the detector
        // puts every landmark at (240, 170) of the frame; on the crop it puts them where it sees
        // the bright point, so a wrong crop or a wrong way back would move them.
        struct Bright;
        impl FaceDetector for Bright {
            fn detect(&mut self, view: GreyView<'_>, _: f32) -> Result<Vec<Detection>, ModelError> {
                if view.height != REFINE_SIDE {
                    let p = Point { x: (240.0 - 0.5) / 2.0, y: (170.0 - 0.5) / 2.0 };
                    return Ok(vec![Detection {
                        x: 100.0,
                        y: 70.0,
                        width: 40.0,
                        height: 40.0,
                        score: 0.9,
                        landmarks: [p; 5],
                    }]);
                }
                let i = (0..view.pixels.len()).max_by_key(|&i| view.pixels[i]).unwrap();
                let w = view.width as usize;
                let p = Point { x: (i % w) as f32, y: (i / w) as f32 };
                // The face's box on the crop: the crop is twice the box, so the box is its middle.
                let s = REFINE_SIDE as f32;
                Ok(vec![Detection {
                    x: s / 4.0,
                    y: s / 4.0,
                    width: s / 2.0,
                    height: s / 2.0,
                    score: 0.9,
                    landmarks: [p; 5],
                }])
            }
        }
        let mut pixels = vec![10u8; 640 * 480];
        pixels[180 * 640 + 250] = 250;
        let img = GreyImage::new(640, 480, pixels).unwrap();
        let found = find_faces(&mut Bright, img.view(), 320, 0.5).unwrap();
        // The box (200, 140, 80, 80) gives a crop of 160 from (160, 100), scaled by 2: the point
        // lands on the crop's pixel (180, 160) and goes back to (250, 180). The mean with the
        // first detection's (240, 170) is (245, 175); the crop's box goes back to the same box.
        for p in found[0].landmarks {
            assert!((p.x - 245.0).abs() < 0.01 && (p.y - 175.0).abs() < 0.01, "{p:?}");
        }
        let b = &found[0];
        assert!([b.x - 200.0, b.y - 140.0, b.width - 80.0].iter().all(|d| d.abs() < 0.01), "{b:?}");
    }
}
