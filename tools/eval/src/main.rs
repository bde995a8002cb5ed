//! `kaoyomi-eval-face` (run by `cargo xtask eval-face`): the face pipeline measured on LFW
//! (`../shared/datasets/lfw`, evaluation data only: read, never copied, never shipped).
//!
//! - **View 2**: the ten folds of `pairs.txt`; each fold's threshold is the best on the other nine.
//! - **All-vs-all** on `people.txt`'s identity-disjoint folds, at most 10 images per identity, the
//!   data set's known label errors left out: thresholds set on folds 0-4 are measured on folds 5-9
//!   and the other way round; FNMR at FMR 1e-3 and 1e-4 with the numbers of comparisons, for three
//!   protocols: **plain** (both sides as in LFW, greyscale), **card-like** (the reference side cut to
//!   the card portrait's shape, 210x270, JPEG 2000 at about 4 KB with OpenJPEG's `opj_compress`,
//!   decoded by the reader's own decoder, embedded as the reader embeds the card photo: fused
//!   with its mirror image) and **masked** (a synthetic mask over the live side's
//!   lower face, against the card-like reference).
//! - **Sessions** (the reader's decision): each image of the all-vs-all set made into a session
//!   of reader frames ([`session`]) put through the reader's detection, gate and embedding, and
//!   scored against the card-like references by the reader's rule (windows of fused frames,
//!   `kaoyomi_vision::check::session_score`) and by the rules it replaces, one row each; the
//!   calibration table of `kaoyomi-vision` comes from these sessions' impostor scores, with 95%
//!   confidence intervals for the FNMR and FMR at each level.
//! - Failures to acquire (no face found) are reported separately and left out of the comparisons.
//! - `--attribution`: where the pipeline loses against the reference pipeline
//!   (`../shared/docs/face-reference.md`), one difference per row on the same identities: colour on
//!   the live side (SFace fed the picture's own red, green and blue), every image of each identity
//!   rather than at most 10, and the live face in a reader's 640x480 frame found on the 320-wide
//!   copy the reader detects on, against the same frame found at full size.
//! - `--masks`: masked faces' alternatives, one row each (the unmasked picture's landmarks as a
//!   bound, the masked picture's landmarks moved by the mask's mean effect learned first on
//!   other identities, alignment by the eyes, the upper face alone); `--no-sessions` skips the
//!   sessions for quicker runs of the still-picture protocols.
//! - Writes the calibration table for `kaoyomi-vision` (the reader's sessions' impostors), a
//!   report in Markdown and a DET plot (PNG).

use anyhow::{Context, Result, bail};
use clap::Parser;
use kaoyomi_models::sface::SFace;
use kaoyomi_models::yunet::YuNet;
use kaoyomi_models::{Detection, Embedding, FaceDetector, FaceEmbedder};
use kaoyomi_vision::calibration::{Accuracy, RULE};
use kaoyomi_vision::check::{self, Models};
use kaoyomi_vision::{GreyImage, align, mask, pick, portrait};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

mod det;
mod session;

#[derive(Parser)]
#[command(name = "kaoyomi-eval-face", about = "Face pipeline accuracy on LFW")]
struct Cli {
    /// The LFW directory (with pairs.txt, people.txt and lfw-deepfunneled/).
    #[arg(long)]
    lfw: PathBuf,
    /// The model directory (`cargo xtask models`).
    #[arg(long)]
    models: PathBuf,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Only View 2 (skip the all-vs-all protocols).
    #[arg(long)]
    view2_only: bool,
    /// At most this many images per identity in the all-vs-all protocols.
    #[arg(long, default_value_t = 10)]
    per_identity: usize,
    /// Every Nth identity only in the all-vs-all protocols and sessions (the default keeps the
    /// run under 30 minutes on 2 cores; `--full` takes every identity).
    #[arg(long, default_value_t = 3)]
    every: usize,
    /// Every identity (`--every 1`): about three times as long as the default.
    #[arg(long)]
    full: bool,
    /// Every Nth View 2 pair only (quick runs only: the View 2 figure needs all pairs).
    #[arg(long, default_value_t = 1)]
    pairs_every: usize,
    /// Also measure what each difference from the reference pipeline costs
    /// (`../shared/docs/face-reference.md`): colour on the live side, every image of each
    /// identity, and the live face in a reader's 640x480 frame found on the 320-wide copy the
    /// reader detects on. Slower: each image is embedded more ways.
    #[arg(long)]
    attribution: bool,
    /// Also measure masked faces' alternatives: the mask's own landmarks against the unmasked
    /// picture's, corrected by the mask's mean effect (learned first on other identities),
    /// alignment by the eyes alone, and the upper face compared with the card's upper face (each
    /// image embedded eight more ways).
    #[arg(long)]
    masks: bool,
    /// Make one image in this many (of those the sessions use) a session of masked frames too.
    #[arg(long, default_value_t = 12)]
    masked_sessions_every: usize,
    /// Skip the sessions of reader frames (quicker runs of the still-picture protocols; no
    /// calibration table).
    #[arg(long)]
    no_sessions: bool,
    /// `--masks`: the mask's mean effect on the landmarks, learned before the run.
    #[arg(skip)]
    mask_bias: Option<Correction>,
    /// Write the report (Markdown) here.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Write the DET plot (PNG) here.
    #[arg(long)]
    det: Option<PathBuf>,
}

/// The top of the written report.
const HEADER: &str = "# Face check accuracy on LFW\n\n\
Written by `cargo xtask eval-face` (`tools/eval`): the reader's pipeline (YuNet on tract, the patient's face \
and its landmarks found again on a crop around it, alignment, SFace) on `../shared/datasets/lfw`, evaluation data only. All-vs-all: `people.txt`'s \
identity-disjoint folds, thresholds set on one half (folds 0-4 or 5-9) and measured on the other. \
Card-like: the reference side cut to the card portrait's shape, 210x270, JPEG 2000 at about 4 KB (OpenJPEG), \
decoded by the reader's decoder and embedded as the reader embeds the card photo (fused with its mirror image). Masked: a synthetic mask over the live side's lower face, against the card-like \
reference. The DET plot is `face-det.png`; where the pipeline lost against the reference pipeline, and the \
landmark variants tried, are in `face-attribution.md` (written by hand from `--attribution` runs).\n\n";

/// Images the data set's errata list as mislabelled or duplicated.
const ERRATA: &[&str] = &[
    "Recep_Tayyip_Erdogan_0004",
    "Anja_Paerson_0001",
    "Janica_Kostelic_0001",
    "Michael_Schumacher_0008",
    "Mahmoud_Abbas_0012",
    "Debra_Messing_0002",
    "Jim_OBrien_0001",
    "Ricky_Ray_0001",
    "Raul_Ibanez_0001",
    "Eva_Amurri_0001",
];

/// One pair of View 2: two image keys and whether they show the same person.
struct Pair {
    a: String,
    b: String,
    same: bool,
    fold: usize,
}

fn key(name: &str, index: u32) -> String {
    format!("{name}/{name}_{index:04}")
}

fn number(s: &str) -> Result<u32> {
    s.parse().with_context(|| format!("bad number {s:?}"))
}

fn read_pairs(lfw: &Path) -> Result<Vec<Pair>> {
    let text = std::fs::read_to_string(lfw.join("pairs.txt")).context("reading pairs.txt")?;
    let mut lines = text.lines();
    let header: Vec<usize> =
        lines.next().unwrap_or_default().split_whitespace().filter_map(|w| w.parse().ok()).collect();
    let per_fold = header.get(1).copied().unwrap_or(300) * 2;
    let mut pairs = Vec::new();
    for (i, line) in lines.enumerate() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let fold = i / per_fold;
        match w.as_slice() {
            [n, i, j] => pairs.push(Pair { a: key(n, number(i)?), b: key(n, number(j)?), same: true, fold }),
            [n1, i, n2, j] => pairs.push(Pair { a: key(n1, number(i)?), b: key(n2, number(j)?), same: false, fold }),
            _ => {}
        }
    }
    if pairs.len() != 6000 {
        bail!("pairs.txt gave {} pairs, View 2 has 6000", pairs.len());
    }
    Ok(pairs)
}

/// `people.txt`: (fold, person, images), at most `cap` images each, errata left out.
fn read_people(lfw: &Path, cap: usize) -> Result<Vec<(usize, String, Vec<String>)>> {
    let text = std::fs::read_to_string(lfw.join("people.txt")).context("reading people.txt")?;
    let mut out = Vec::new();
    let mut fold = 0usize;
    let mut seen_count = false;
    for line in text.lines().skip(1) {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            [_count] => {
                if seen_count {
                    fold += 1;
                }
                seen_count = true;
            }
            [name, n] => {
                let images: Vec<String> = (1..=number(n)?)
                    .map(|i| key(name, i))
                    .filter(|k| !ERRATA.iter().any(|e| k.ends_with(e)))
                    .take(cap)
                    .collect();
                out.push((fold, name.to_string(), images));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// What the pipeline made of one LFW image.
#[derive(Default)]
struct Embedded {
    plain: Option<Embedding>,
    /// The plain face and its mirror image, embeddings added.
    plain_flip: Option<Embedding>,
    card: Option<Embedding>,
    masked: Option<Embedding>,
    card_bytes: usize,
    sharpness: Option<f32>,
    /// Attribution: the plain face in colour.
    colour: Option<Embedding>,
    /// Attribution: the face in a reader's frame, found on its 320-wide copy / at full size.
    frame_320: Option<Embedding>,
    frame_640: Option<Embedding>,
    /// `--masks`: the masked face aligned with the unmasked picture's landmarks, with its own
    /// landmarks corrected by the mask's mean effect ([`learn_bias`]), by its eyes alone, and its
    /// upper face (aligned by all five landmarks / the eyes); the unmasked face's upper face
    /// (eyes); the card-like reference's upper face (five / eyes), with its mirror.
    masked_oracle: Option<Embedding>,
    masked_corrected: Option<Embedding>,
    masked_linear: Option<Embedding>,
    masked_eyes: Option<Embedding>,
    masked_upper5: Option<Embedding>,
    masked_upper: Option<Embedding>,
    plain_upper: Option<Embedding>,
    card_upper5: Option<Embedding>,
    card_upper: Option<Embedding>,
    /// The image as a session of reader frames: its templates under each rule compared.
    session: Option<Templates>,
    /// The masked image as a session of reader frames (one image in `--masked-sessions-every`).
    masked_session: Option<Templates>,
    /// Frames the session took and how many passed the gate.
    session_frames: (usize, usize),
}

/// A session's templates, one per decision rule the report compares (each compared with the
/// reference; a rule's score is its best template's similarity).
struct Templates {
    /// The first good frame alone.
    first: Vec<Embedding>,
    /// Every good frame alone (the best counts: the reader's rule until fusion).
    singles: Vec<Embedding>,
    /// Every good frame fused, equal weights.
    all: Vec<Embedding>,
    /// Each window of `min_good` consecutive good frames fused, equal weights.
    windows_equal: Vec<Embedding>,
    /// The same windows weighted by each frame's quality (the reader's rule without a mask).
    windows: Vec<Embedding>,
    /// Those windows and the windows of the frames compared as masked faces after the hint
    /// (the reader's rule).
    reader: Vec<Embedding>,
}

impl Templates {
    /// The templates of `s` (`None` with fewer than `window` good frames: no decision).
    fn of(s: &session::Session, window: usize) -> Option<Templates> {
        if s.frames.len() < window {
            return None;
        }
        let fuse = |w: &[(Embedding, f32)], equal: bool| {
            Embedding::weighted_mean(w.iter().map(|(e, q)| (e, if equal { 1.0 } else { *q })))
        };
        Some(Templates {
            first: vec![s.frames[0].0.clone()],
            singles: s.frames.iter().map(|(e, _)| e.clone()).collect(),
            all: fuse(&s.frames, true).into_iter().collect(),
            windows_equal: s.frames.windows(window).filter_map(|w| fuse(w, true)).collect(),
            windows: s.frames.windows(window).filter_map(|w| fuse(w, false)).collect(),
            reader: s.frames.windows(window).chain(s.masked.windows(window)).filter_map(|w| fuse(w, false)).collect(),
        })
    }
}

fn grey(img: image::GrayImage) -> Result<GreyImage> {
    let (w, h) = img.dimensions();
    GreyImage::new(w, h, img.into_raw()).context("image size")
}

fn detect(models: &mut Models, image: &GreyImage) -> Result<Option<Detection>> {
    let faces = check::find_faces(models.detector.as_mut(), image.view(), 640, 0.5)?;
    Ok(pick::patient(&faces, image.width(), image.height()).cloned())
}

/// The card-like reference: cut to the portrait's 7:9 shape around the centre, 210x270,
/// JPEG 2000 at about 4 KB (OpenJPEG), decoded by the reader's decoder.
fn card_like(img: &image::GrayImage, scratch: &Path) -> Result<(GreyImage, usize)> {
    let (w, h) = img.dimensions();
    let cw = (h * 7 / 9).min(w);
    let cropped = image::imageops::crop_imm(img, (w - cw) / 2, 0, cw, h).to_image();
    let small = image::imageops::resize(&cropped, 210, 270, image::imageops::FilterType::CatmullRom);
    let pgm = scratch.with_extension("pgm");
    let jp2 = scratch.with_extension("jp2");
    let mut bytes = b"P5\n210 270\n255\n".to_vec();
    bytes.extend_from_slice(small.as_raw());
    std::fs::write(&pgm, bytes)?;
    let status = std::process::Command::new("opj_compress")
        .arg("-i")
        .arg(&pgm)
        .arg("-o")
        .arg(&jp2)
        .args(["-r", "14"])
        .stdout(std::process::Stdio::null())
        .status()
        .context("running opj_compress (Debian libopenjp2-tools)")?;
    if !status.success() {
        bail!("opj_compress failed");
    }
    let data = std::fs::read(&jp2)?;
    let decoded = portrait::decode(&data).map_err(|e| anyhow::anyhow!("card-like portrait: {e}"))?;
    Ok((decoded, data.len()))
}

/// A surgical-style mask drawn over the lower face found at `face`: from just below the eyes'
/// line to under the chin, light grey with a fold every few rows.
fn masked(image: &GreyImage, face: &Detection) -> Result<GreyImage> {
    let [re, le, nose, rm, lm] = face.landmarks;
    let eye_y = (re.y + le.y) / 2.0;
    let top = nose.y - 0.35 * (nose.y - eye_y);
    let bottom = (rm.y + lm.y) / 2.0 + 0.9 * (nose.y - eye_y) + 0.1 * face.height;
    let (cx, half) = (face.x + face.width / 2.0, face.width * 0.47);
    let (w, h) = (image.width() as usize, image.height() as usize);
    let mut px = image.pixels().to_vec();
    for y in 0..h {
        let yf = y as f32;
        if yf < top || yf > bottom {
            continue;
        }
        // Narrower towards the chin (an ellipse's lower half).
        let t = ((yf - top) / (bottom - top)).clamp(0.0, 1.0);
        let reach = half * (1.0 - (t * t * 0.6)).sqrt();
        for x in 0..w {
            if ((x as f32) - cx).abs() <= reach {
                px[y * w + x] = if ((yf - top) as u32 / 6).is_multiple_of(3) { 205 } else { 225 };
            }
        }
    }
    GreyImage::new(image.width(), image.height(), px).context("mask size")
}

/// The LFW picture as the reader's camera would frame it: enlarged so the eyes lie about 65 px
/// apart (a patient at 500 mm), on a plain 640x480 frame.
fn reader_frame(img: &image::GrayImage) -> Result<GreyImage> {
    let big = image::imageops::resize(img, 400, 400, image::imageops::FilterType::Triangle);
    let mut frame = image::GrayImage::from_pixel(640, 480, image::Luma([128]));
    image::imageops::overlay(&mut frame, &big, 120, 40);
    grey(frame)
}

/// The attribution's extra embeddings of one image (see `Cli::attribution`).
fn attribute(
    models: &mut Models,
    colour: &mut SFace,
    rgb: &image::RgbImage,
    img: &image::GrayImage,
    face: &Detection,
    out: &mut Embedded,
) -> Result<()> {
    let (w, h) = rgb.dimensions();
    let planes: Vec<GreyImage> = (0..3)
        .map(|c| grey(image::GrayImage::from_fn(w, h, |x, y| image::Luma([rgb.get_pixel(x, y)[c]]))))
        .collect::<Result<_>>()?;
    let aligned: Vec<GreyImage> = planes.iter().map(|p| align::align(p.view(), &face.landmarks)).collect();
    out.colour = Some(colour.embed_colour([aligned[0].view(), aligned[1].view(), aligned[2].view()])?);
    let frame = reader_frame(img)?;
    out.frame_320 = check::embed_still_at(models, frame.view(), 320)?;
    out.frame_640 = check::embed_still(models, frame.view())?;
    Ok(())
}

/// The `--masks` embeddings of one image (see [`Embedded::masked_oracle`]); `bias`: the mask's
/// mean effect on the landmarks ([`learn_bias`]).
fn mask_variants(
    models: &mut Models,
    plain: &GreyImage,
    masked: &GreyImage,
    card: &GreyImage,
    face: &Detection,
    bias: Option<&Correction>,
    out: &mut Embedded,
) -> Result<()> {
    let found = detect(models, masked)?;
    let mut embed = |g: &GreyImage| models.embedder.embed(g.view());
    out.masked_oracle = Some(embed(&align::align(masked.view(), &face.landmarks))?);
    out.plain_upper = Some(embed(&upper_face(&align_eyes(plain.view(), &face.landmarks)))?);
    if let Some(d) = found {
        if let Some(bias) = bias {
            out.masked_corrected = Some(embed(&align::align(masked.view(), &bias.by_mean(&d)))?);
            out.masked_linear = Some(embed(&align::align(masked.view(), &bias.by_linear(&d)))?);
        }
        let eyes = align_eyes(masked.view(), &d.landmarks);
        out.masked_eyes = Some(embed(&eyes)?);
        out.masked_upper = Some(embed(&upper_face(&eyes))?);
        out.masked_upper5 = Some(embed(&upper_face(&align::align(masked.view(), &d.landmarks)))?);
    }
    if let Some(d) = detect(models, card)? {
        let mut both = |aligned: GreyImage| -> Result<Embedding> {
            let upper = upper_face(&aligned);
            let a = models.embedder.embed(upper.view())?;
            Ok(a.fused(&models.embedder.embed(check::mirror(&upper).view())?))
        };
        out.card_upper = Some(both(align_eyes(card.view(), &d.landmarks))?);
        out.card_upper5 = Some(both(align::align(card.view(), &d.landmarks))?);
    }
    Ok(())
}

/// The face in `src` aligned by its eyes alone (`landmarks[0]` and `[1]` onto the reference's
/// eyes): for a face whose nose and mouth a mask hides.
fn align_eyes(src: kaoyomi_vision::GreyView<'_>, landmarks: &[kaoyomi_vision::Point; 5]) -> GreyImage {
    align::warp(src, &align::Similarity::estimate(&landmarks[..2], &align::REFERENCE[..2]), 112)
}

/// The first row of the aligned 112x112 face that [`upper_face`] hides: some 10 rows above the
/// reference nose tip, where a mask worn over the nose begins.
const UPPER_FACE_ROWS: usize = 62;

/// The aligned face with everything from [`UPPER_FACE_ROWS`] down replaced by mid-grey: eyes,
/// brows and forehead, compared with the card photo's upper face hidden the same way.
fn upper_face(aligned: &GreyImage) -> GreyImage {
    let w = aligned.width() as usize;
    let mut pixels = aligned.pixels().to_vec();
    pixels.iter_mut().skip(UPPER_FACE_ROWS * w).for_each(|p| *p = 128);
    GreyImage::new(aligned.width(), aligned.height(), pixels).expect("same size")
}

/// What a mask does to the detector's landmarks, learned on other identities: the mean offset
/// of each landmark, and a linear map (ridge least squares) from [`mask::features`] to the
/// offsets (the reader's kind of correction, [`mask::CORRECTION`]).
#[derive(Clone)]
struct Correction {
    mean: [(f32, f32); 5],
    linear: mask::Coefficients,
}

impl Correction {
    /// `d`'s landmarks moved by the mean offset.
    fn by_mean(&self, d: &Detection) -> [kaoyomi_vision::Point; 5] {
        mask::moved(d, &align::Similarity::estimate(&d.landmarks, &align::REFERENCE), &self.mean)
    }

    /// `d`'s landmarks moved by the linear map's offsets.
    fn by_linear(&self, d: &Detection) -> [kaoyomi_vision::Point; 5] {
        mask::corrected_by(d, &self.linear)
    }
}

/// What a mask does to the detector's landmarks, learned on `keys` ([`Correction`]: from the
/// masked picture's detection to the unmasked picture's landmarks, in the masked face's aligned
/// frame, 112x112 pixels); and report lines with each landmark's RMS error before and after
/// each correction (in the unmasked face's aligned frame).
fn learn_bias(models: &mut Models, lfw: &Path, keys: &[String]) -> Result<(Correction, Vec<String>)> {
    let mut pairs = Vec::new();
    for k in keys {
        let path = lfw.join("lfw-deepfunneled").join(format!("{k}.jpg"));
        let img = grey(image::open(&path)?.to_luma8())?;
        let Some(face) = detect(models, &img)? else { continue };
        let m = masked(&img, &face)?;
        let Some(d) = detect(models, &m)? else { continue };
        pairs.push((d, face.landmarks));
    }
    let n = pairs.len().max(1);
    let mut mean = [(0.0f64, 0.0f64); 5];
    let mut x = nalgebra::DMatrix::<f64>::zeros(n, mask::FEATURES);
    let mut y = nalgebra::DMatrix::<f64>::zeros(n, 10);
    for (row, (d, o)) in pairs.iter().enumerate() {
        let (s, f) = mask::features(d);
        for (j, v) in f.iter().enumerate() {
            x[(row, j)] = f64::from(*v);
        }
        for i in 0..5 {
            let (a, b) = (s.apply(d.landmarks[i]), s.apply(o[i]));
            let (dx, dy) = (f64::from(b.x - a.x), f64::from(b.y - a.y));
            mean[i].0 += dx / n as f64;
            mean[i].1 += dy / n as f64;
            y[(row, 2 * i)] = dx;
            y[(row, 2 * i + 1)] = dy;
        }
    }
    // Ridge: a little weight on every coefficient but the constant's, so that the landmarks'
    // redundant coordinates (a similarity fit leaves six of ten free) stay bounded.
    let mut gram = x.transpose() * &x;
    for j in 1..mask::FEATURES {
        gram[(j, j)] += 0.01 * n as f64;
    }
    let w = gram.lu().solve(&(x.transpose() * &y)).context("mask correction: singular system")?;
    let linear: mask::Coefficients = core::array::from_fn(|r| core::array::from_fn(|j| w[(j, r)] as f32));
    let correction = Correction { mean: mean.map(|(x, y)| (x as f32, y as f32)), linear };
    let rms = |f: &dyn Fn(&Detection) -> [kaoyomi_vision::Point; 5]| -> Vec<f64> {
        (0..5)
            .map(|i| {
                let e: f64 = pairs
                    .iter()
                    .map(|(m, o)| {
                        let s = align::Similarity::estimate(o, &align::REFERENCE);
                        let (a, b) = (s.apply(f(m)[i]), s.apply(o[i]));
                        f64::from((a.x - b.x).powi(2) + (a.y - b.y).powi(2))
                    })
                    .sum::<f64>()
                    / n as f64;
                e.sqrt()
            })
            .collect()
    };
    let fmt = |v: &[f64]| v.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(" / ");
    let offsets = correction.mean.iter().map(|(x, y)| format!("({x:+.1}, {y:+.1})")).collect::<Vec<_>>().join(" ");
    let lines = vec![
        format!(
            "The mask's effect on the landmarks, learned on {} images of other identities (one in three of people.txt from the second, at most 2 each; disjoint from the default run's, not from `--full`'s): mean offset (x, y) in the aligned face's pixels, eyes, nose, mouth corners: {offsets}.",
            pairs.len()
        ),
        format!(
            "RMS error against the unmasked picture's landmarks, before: {}; after the mean offset: {}; after the linear map (landmarks and box, ridge): {}.",
            fmt(&rms(&|m| m.landmarks)),
            fmt(&rms(&|m| correction.by_mean(m))),
            fmt(&rms(&|m| correction.by_linear(m)))
        ),
        String::new(),
        "The linear map, for `firmware/vision/src/mask.rs`:".into(),
        String::new(),
        "```rust".into(),
        "pub const CORRECTION: Coefficients = [".into(),
    ];
    let mut lines = lines;
    for row in &linear {
        lines.push(format!("    [{}],", row.iter().map(|v| format!("{v:.5}")).collect::<Vec<_>>().join(", ")));
    }
    lines.extend(["];".into(), "```".into()]);
    Ok((correction, lines))
}

/// The `--masks` table's rows: masked faces (and, through the upper-face comparison, unmasked
/// ones) against the card-like reference, each with its own thresholds.
fn mask_rows(groups: &[Vec<(String, Vec<String>)>; 2], emb: &BTreeMap<String, Embedded>) -> Vec<String> {
    let cases: [(&str, Side, Side); 9] = [
        (
            "masked, its own five landmarks (the masked protocol) / card-like",
            |e| e.masked.as_ref(),
            |e| e.card.as_ref(),
        ),
        (
            "masked, the unmasked picture's landmarks (a bound) / card-like",
            |e| e.masked_oracle.as_ref(),
            |e| e.card.as_ref(),
        ),
        (
            "masked, landmarks corrected by the mean offset / card-like",
            |e| e.masked_corrected.as_ref(),
            |e| e.card.as_ref(),
        ),
        (
            "masked, landmarks corrected by the linear map / card-like",
            |e| e.masked_linear.as_ref(),
            |e| e.card.as_ref(),
        ),
        ("masked, aligned by its eyes / card-like", |e| e.masked_eyes.as_ref(), |e| e.card.as_ref()),
        (
            "masked, upper face, five landmarks / card-like upper face, five",
            |e| e.masked_upper5.as_ref(),
            |e| e.card_upper5.as_ref(),
        ),
        (
            "masked, upper face, eyes / card-like upper face, eyes",
            |e| e.masked_upper.as_ref(),
            |e| e.card_upper.as_ref(),
        ),
        (
            "unmasked, upper face, eyes / card-like upper face, eyes",
            |e| e.plain_upper.as_ref(),
            |e| e.card_upper.as_ref(),
        ),
        ("unmasked (the card-like protocol) / card-like", |e| e.plain.as_ref(), |e| e.card.as_ref()),
    ];
    cases
        .iter()
        .map(|(name, live, reference)| format!("| {name} | {}", rates_cells(groups, emb, *live, *reference)))
        .collect()
}

/// A one-difference row's cells: genuine / impostor comparisons, FNMR at FMR 1e-3 and 1e-4 (the
/// latter with the measured FMR), thresholds set on one half and measured on the other.
fn rates_cells(
    groups: &[Vec<(String, Vec<String>)>; 2],
    emb: &BTreeMap<String, Embedded>,
    live: Side,
    reference: Side,
) -> String {
    let s = [scores(&groups[0], emb, live, reference), scores(&groups[1], emb, live, reference)];
    let (f3, _) = cross_halves(&s, 1e-3);
    let (f4, m4) = cross_halves(&s, 1e-4);
    format!(
        "{} / {} | {:.2}% | {:.2}% ({m4:.1e}) |",
        s[0].genuine.len() + s[1].genuine.len(),
        s[0].impostor.len() + s[1].impostor.len(),
        f3 * 100.0,
        f4 * 100.0
    )
}

fn embed_one(
    models: &mut Models,
    settings: &check::Settings,
    colour: Option<&mut SFace>,
    cli: &Cli,
    key: &str,
    (all, masked_session): (bool, bool),
    scratch: &Path,
) -> Result<Embedded> {
    let path = cli.lfw.join("lfw-deepfunneled").join(format!("{key}.jpg"));
    let decoded = image::open(&path).with_context(|| format!("reading {}", path.display()))?;
    let img = decoded.to_luma8();
    let plain_img = grey(img.clone())?;
    let mut out = Embedded::default();
    let Some(face) = detect(models, &plain_img)? else { return Ok(out) };
    let aligned = align::align(plain_img.view(), &face.landmarks);
    out.sharpness = Some(check::sharpness(&aligned));
    out.plain = Some(models.embedder.embed(aligned.view())?);
    let m = models.embedder.embed(check::mirror(&aligned).view())?;
    out.plain_flip = out.plain.as_ref().map(|p| p.fused(&m));
    if all {
        let (card, bytes) = card_like(&img, scratch)?;
        out.card_bytes = bytes;
        out.card = check::embed_reference(models, card.view())?;
        let m = masked(&plain_img, &face)?;
        out.masked = check::embed_still(models, m.view())?;
        if cli.masks {
            mask_variants(models, &plain_img, &m, &card, &face, cli.mask_bias.as_ref(), &mut out)?;
        }
        let s = if cli.no_sessions { session::Session::default() } else { session::run(models, &img, key, settings)? };
        out.session_frames = (s.taken, s.frames.len());
        out.session = Templates::of(&s, settings.min_good as usize);
        if masked_session && !cli.no_sessions {
            let frames = image::GrayImage::from_raw(m.width(), m.height(), m.pixels().to_vec()).context("mask size")?;
            let s = session::run(models, &frames, &format!("{key}/masked"), settings)?;
            out.masked_session = Templates::of(&s, settings.min_good as usize);
        }
        if let Some(colour) = colour {
            attribute(models, colour, &decoded.to_rgb8(), &img, &face, &mut out)?;
        }
    }
    Ok(out)
}

/// Scores of one protocol within one fold group.
struct Scores {
    genuine: Vec<f32>,
    impostor: Vec<f32>,
}

fn scores(group: &[(String, Vec<String>)], emb: &BTreeMap<String, Embedded>, live: Side, reference: Side) -> Scores {
    scores_by(group, emb, &|a, b| Some(live(a)?.similarity(reference(b)?)))
}

/// The scores of `score(live image, reference image)` over the group's pairs of images (each
/// unordered pair once, the earlier image on the live side); `None` leaves a pair out.
fn scores_by(
    group: &[(String, Vec<String>)],
    emb: &BTreeMap<String, Embedded>,
    score: &(dyn Fn(&Embedded, &Embedded) -> Option<f32> + Sync),
) -> Scores {
    let items: Vec<(usize, &Embedded)> = group
        .iter()
        .enumerate()
        .flat_map(|(p, (_, keys))| keys.iter().filter_map(move |k| emb.get(k).map(|e| (p, e))))
        .collect();
    let mut s = Scores { genuine: Vec::new(), impostor: Vec::new() };
    for (i, (pi, a)) in items.iter().enumerate() {
        for (pj, b) in &items[i + 1..] {
            let Some(score) = score(a, b) else { continue };
            if pi == pj { s.genuine.push(score) } else { s.impostor.push(score) }
        }
    }
    s
}

/// The masked sessions' rows: each rule's thresholds set on one half's unmasked impostor
/// sessions (as the reader is calibrated), the masked sessions' errors counted on the other.
fn masked_session_rows(
    groups: &[Vec<(String, Vec<String>)>; 2],
    keys: &BTreeSet<String>,
    emb: &BTreeMap<String, Embedded>,
    rules: &[(&str, Rule, [Scores; 2])],
    every: usize,
) -> Vec<String> {
    let made = keys.iter().filter(|k| emb[*k].masked_session.is_some()).count();
    let mut out = vec![
        String::new(),
        format!(
            "Masked sessions: {made} images (one in {every} of the sessions') with the synthetic mask, made into sessions of reader frames the same way, against the card-like reference; each rule at the thresholds of its unmasked sessions (the calibration), set on one half and counted on the other. In brackets: the false match rate of masked impostor sessions at those thresholds."
        ),
        String::new(),
        "| rule, masked sessions | genuine / impostor comparisons | FNMR @ FMR 1e-3 | FNMR @ FMR 1e-4 | FNMR @ FMR 1e-5 |".into(),
        "|---|---|---|---|---|".into(),
    ];
    for (name, rule, calibration) in rules {
        let masked = [0, 1].map(|g| {
            scores_by(&groups[g], emb, &|a, b| {
                let reference = b.card.as_ref()?;
                rule(a.masked_session.as_ref()?).iter().map(|t| t.similarity(reference)).max_by(f32::total_cmp)
            })
        });
        let cells: Vec<String> = [1e-3, 1e-4, 1e-5]
            .iter()
            .map(|&target| {
                let (mut fnm, mut g, mut fm, mut i) = (0, 0, 0, 0);
                for (set, test) in [(0, 1), (1, 0)] {
                    let t = threshold_at(&calibration[set].impostor, target);
                    fnm += masked[test].genuine.iter().filter(|&&x| x < t).count();
                    g += masked[test].genuine.len();
                    fm += masked[test].impostor.iter().filter(|&&x| x >= t).count();
                    i += masked[test].impostor.len();
                }
                format!("{:.2}% ({:.1e})", fnm as f64 / g.max(1) as f64 * 100.0, fm as f64 / i.max(1) as f64)
            })
            .collect();
        out.push(format!(
            "| {} | {} / {} | {} |",
            name.replace("{w}", &RULE.0.to_string()),
            masked[0].genuine.len() + masked[1].genuine.len(),
            masked[0].impostor.len() + masked[1].impostor.len(),
            cells.join(" | ")
        ));
    }
    out
}

/// A rule's session score: its best template against the card-like reference.
fn session_rule(a: &Embedded, b: &Embedded, rule: Rule) -> Option<f32> {
    let reference = b.card.as_ref()?;
    rule(a.session.as_ref()?).iter().map(|t| t.similarity(reference)).max_by(f32::total_cmp)
}

/// A session rule: the templates it compares (the best one counts).
type Rule = fn(&Templates) -> &[Embedding];

/// The session rules compared, the reader's last (`{w}`: the window, `RULE.0`).
const RULES: [(&str, Rule); 6] = [
    ("one frame (the first good frame)", |t| &t.first),
    ("best single frame (the reader's rule before fusion)", |t| &t.singles),
    ("all good frames fused, equal weights", |t| &t.all),
    ("windows of {w} fused, equal weights, best window", |t| &t.windows_equal),
    ("windows of {w} fused, weighted by quality, best window (the reader before the masked comparison)", |t| {
        &t.windows
    }),
    ("the same, and after the mask hint windows of frames aligned as masked faces (the reader)", |t| &t.reader),
];

/// A Wilson score interval (95%) for `k` successes in `n` trials.
fn wilson(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (k, n, z) = (k as f64, n as f64, 1.96f64);
    let p = k / n;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / (1.0 + z * z / n);
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Errors counted with the threshold set on one half and measured on the other, both
/// directions pooled: (false non-matches, genuine, false matches, impostor).
fn cross_counts(s: &[Scores; 2], target: f64) -> (usize, usize, usize, usize) {
    let mut c = (0, 0, 0, 0);
    for (set, test) in [(0, 1), (1, 0)] {
        let t = threshold_at(&s[set].impostor, target);
        c.0 += s[test].genuine.iter().filter(|&&x| x < t).count();
        c.1 += s[test].genuine.len();
        c.2 += s[test].impostor.iter().filter(|&&x| x >= t).count();
        c.3 += s[test].impostor.len();
    }
    c
}

/// The lowest threshold whose false match rate on `impostor` is at most `fmr`.
fn threshold_at(impostor: &[f32], fmr: f64) -> f32 {
    let mut sorted = impostor.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let k = (fmr * sorted.len() as f64).floor() as usize;
    sorted.get(k).map_or(1.0, |t| t.next_up())
}

fn rate(v: &[f32], pred: impl Fn(f32) -> bool) -> f64 {
    v.iter().filter(|&&s| pred(s)).count() as f64 / v.len().max(1) as f64
}

/// What the attribution table's rows mean (printed under it).
const ATTRIBUTION_NOTE: &str = "Each row changes one thing against the first of its group. \"all\" compares every image of the chosen identities, as the reference did: the few identities with many images (one has 530) then make most of the genuine comparisons. The reference pipeline's figures at FMR 1e-4 (`../shared/docs/face-reference.md`): plain 1.41%, card-like 2.33%. The reader's frame: the LFW picture enlarged to 400x400 on a 640x480 frame (eyes about 65 px apart, a patient at 500 mm), found on the frame's 320-wide copy as the reader does, or at full size.";

/// FNMR and FMR at `target` with the threshold set on one half and measured on the other,
/// averaged over both directions.
fn cross_halves(s: &[Scores; 2], target: f64) -> (f64, f64) {
    let (mut fnmr, mut fmr) = (0.0, 0.0);
    for (set, test) in [(0, 1), (1, 0)] {
        let t = threshold_at(&s[set].impostor, target);
        fnmr += rate(&s[test].genuine, |x| x < t) / 2.0;
        fmr += rate(&s[test].impostor, |x| x >= t) / 2.0;
    }
    (fnmr, fmr)
}

/// The attribution table's rows: the pipeline as it is, then one difference at a time.
fn attribution_rows(
    capped: &[Vec<(String, Vec<String>)>; 2],
    all: &[Vec<(String, Vec<String>)>; 2],
    emb: &BTreeMap<String, Embedded>,
) -> Vec<String> {
    let plain: Side = |e| e.plain.as_ref();
    let card: Side = |e| e.card.as_ref();
    let colour: Side = |e| e.colour.as_ref();
    let f320: Side = |e| e.frame_320.as_ref();
    let f640: Side = |e| e.frame_640.as_ref();
    let cases: [(&str, Side, Side, bool); 9] = [
        ("grey / grey (plain, as measured above)", plain, plain, false),
        ("colour / colour", colour, colour, false),
        ("grey / grey", plain, plain, true),
        ("colour / colour (the reference's plain)", colour, colour, true),
        ("grey / card-like (as measured above)", plain, card, false),
        ("colour / card-like", colour, card, false),
        ("colour / card-like (the reference's card-like)", colour, card, true),
        ("grey in a reader's frame, found at 640 / card-like", f640, card, false),
        ("grey in a reader's frame, found at 320 (the reader) / card-like", f320, card, false),
    ];
    cases
        .iter()
        .map(|(name, live, reference, every)| {
            let groups = if *every { all } else { capped };
            let cells = rates_cells(groups, emb, *live, *reference);
            format!("| {name} | {} | {cells}", if *every { "all" } else { "≤ 10" })
        })
        .collect()
}

/// What the session rows' words mean (printed under the table).
fn session_note() -> String {
    let (window, compared) = RULE;
    format!(
        "Each image of the all-vs-all set becomes one session of reader frames (`tools/eval/src/session.rs`: \
the picture in a 640x480 frame, moved, turned, scaled, lit, smeared and noised a little from frame to frame), put through \
the reader's detection on the 320-wide copy with the landmarks found again on the face's crop, its quality gate, alignment and \
embedding, up to {compared} good frames in at most {}; compared with the card-like references of the other images. A session with fewer \
than {window} good frames reaches no decision (in the reader the screen asks the patient to change what the gate refused) and is left out \
of every row, so each row scores the same sessions (the FNMR of the sessions is therefore not comparable with the card-like \
protocol's, which keeps every image). The frames of one session vary less than a real session's (no turn in depth, \
no blink, no change of expression): on a real camera the rules may differ more, and a real impostor's windows are less alike.",
        2 * compared
    )
}

/// The sessions' section of the report: each rule's row, the reader rule's confidence
/// intervals, and the calibration table (added to `curves` as the DET plot's reader curve).
fn session_section(
    groups: &[Vec<(String, Vec<String>)>; 2],
    keys: &BTreeSet<String>,
    emb: &BTreeMap<String, Embedded>,
    curves: &mut Vec<(&'static str, Vec<(f64, f64)>)>,
    masked_every: usize,
) -> Vec<String> {
    let mut out =
        vec![String::new(), "## Sessions: the reader's decision against the card-like reference".into(), String::new()];
    let taken: usize = keys.iter().map(|k| emb[k].session_frames.0).sum();
    let good: usize = keys.iter().map(|k| emb[k].session_frames.1).sum();
    let decided = keys.iter().filter(|k| emb[*k].session.is_some()).count();
    out.push(format!(
        "{decided} of {} images made a session that reached a decision ({} did not: fewer than {} good frames); {good} of {taken} frames passed the gate.",
        keys.len(),
        keys.len() - decided,
        RULE.0
    ));
    out.push(String::new());
    out.push("| rule | genuine / impostor comparisons | FNMR @ FMR 1e-3 | FNMR @ FMR 1e-4 | FNMR @ FMR 1e-5 |".into());
    out.push("|---|---|---|---|---|".into());
    let mut reader = None;
    let mut by_rule = Vec::new();
    for (name, rule) in RULES {
        let s = [0, 1].map(|g| scores_by(&groups[g], emb, &|a, b| session_rule(a, b, rule)));
        by_rule.push((name, rule, [0, 1].map(|g| Scores { genuine: Vec::new(), impostor: s[g].impostor.clone() })));
        let cells: Vec<String> = [1e-3, 1e-4, 1e-5]
            .iter()
            .map(|&t| {
                let (fnmr, fmr) = cross_halves(&s, t);
                format!("{:.2}% ({fmr:.1e})", fnmr * 100.0)
            })
            .collect();
        out.push(format!(
            "| {} | {} / {} | {} |",
            name.replace("{w}", &RULE.0.to_string()),
            s[0].genuine.len() + s[1].genuine.len(),
            s[0].impostor.len() + s[1].impostor.len(),
            cells.join(" | ")
        ));
        reader = Some(s);
    }
    out.push(String::new());
    out.push(session_note());
    out.extend(masked_session_rows(groups, keys, emb, &by_rule[by_rule.len() - 2..], masked_every));
    let Some(s) = reader else { return out };
    out.push(String::new());
    out.push("### The reader's rule at each accuracy level (95% confidence intervals, Wilson)".into());
    out.push(String::new());
    out.push("| level: session FMR | FNMR (95% CI) | false non-matches / genuine comparisons | measured FMR (95% CI) | false matches / impostor comparisons |".into());
    out.push("|---|---|---|---|---|".into());
    for level in [Accuracy::Relaxed, Accuracy::Standard, Accuracy::Strict] {
        let target = level.session_fmr();
        let (fnm, g, fm, i) = cross_counts(&s, target);
        let ((fl, fh), (ml, mh)) = (wilson(fnm, g), wilson(fm, i));
        out.push(format!(
            "| {level:?}: {target:.0e} | {:.2}% ({:.2}-{:.2}%) | {fnm} / {g} | {:.2e} ({ml:.2e} to {mh:.2e}) | {fm} / {i} |",
            fnm as f64 / g.max(1) as f64 * 100.0,
            fl * 100.0,
            fh * 100.0,
            fm as f64 / i.max(1) as f64,
        ));
    }
    out.push(String::new());
    out.push(
        "Thresholds set on one half's impostor comparisons (a session against another identity's card reference), errors counted on the other half, both directions pooled."
            .into(),
    );
    let genuine: Vec<f32> = s.iter().flat_map(|x| x.genuine.iter().copied()).collect();
    let impostor: Vec<f32> = s.iter().flat_map(|x| x.impostor.iter().copied()).collect();
    curves.push(("session (the reader)", det::curve(&genuine, &impostor)));
    out.push(String::new());
    out.push(format!(
        "Calibration table (the reader's rule, both halves' {} impostor comparisons; `firmware/vision/src/calibration.rs`):",
        impostor.len()
    ));
    out.push(String::new());
    out.push("```rust".into());
    for f in [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5] {
        out.push(format!("    ({f:.0e}, {:.4}),", threshold_at(&impostor, f)));
    }
    out.push("```".into());
    out
}

/// Which embedding of an image a protocol compares.
type Side = fn(&Embedded) -> Option<&Embedding>;

const PROTOCOLS: [(&str, Side, Side); 3] = [
    ("plain", |e| e.plain.as_ref(), |e| e.plain.as_ref()),
    ("card-like", |e| e.plain.as_ref(), |e| e.card.as_ref()),
    ("masked", |e| e.masked.as_ref(), |e| e.card.as_ref()),
];

fn main() -> Result<()> {
    let mut cli = Cli::parse();
    if cli.full {
        cli.every = 1;
    }
    let pairs: Vec<Pair> = read_pairs(&cli.lfw)?.into_iter().step_by(cli.pairs_every.max(1)).collect();
    // The attribution also needs every image of the chosen identities; the standard rows keep
    // at most `per_identity`.
    let cap = if cli.attribution { usize::MAX } else { cli.per_identity };
    let people_all: Vec<_> = if cli.view2_only { Vec::new() } else { read_people(&cli.lfw, cap)? }
        .into_iter()
        .step_by(cli.every.max(1))
        .collect();
    let people: Vec<_> = people_all
        .iter()
        .map(|(f, n, k)| (*f, n.clone(), k.iter().take(cli.per_identity).cloned().collect::<Vec<_>>()))
        .collect();
    let pair_keys: BTreeSet<String> = pairs.iter().flat_map(|p| [p.a.clone(), p.b.clone()]).collect();
    let people_keys: BTreeSet<String> = people.iter().flat_map(|(_, _, k)| k.iter().cloned()).collect();
    let all_keys: BTreeSet<String> = people_all.iter().flat_map(|(_, _, k)| k.iter().cloned()).collect();
    let keys: Vec<(String, bool)> = pair_keys.union(&all_keys).map(|k| (k.clone(), all_keys.contains(k))).collect();
    eprintln!(
        "eval-face: {} View 2 pairs, {} identities, {} images, {} threads",
        pairs.len(),
        people.len(),
        keys.len(),
        cli.threads
    );
    let mut mask_lines = Vec::new();
    if cli.masks {
        let train: Vec<String> =
            read_people(&cli.lfw, 2)?.into_iter().skip(1).step_by(3).flat_map(|(_, _, k)| k).collect();
        let mut models = Models {
            detector: Box::new(YuNet::load(&cli.models)?) as Box<dyn FaceDetector + Send>,
            embedder: Box::new(SFace::load(&cli.models)?) as Box<dyn FaceEmbedder + Send>,
        };
        let (bias, lines) = learn_bias(&mut models, &cli.lfw, &train[..train.len().min(1500)])?;
        cli.mask_bias = Some(bias);
        for line in &lines {
            eprintln!("{line}");
        }
        mask_lines = lines;
    }
    let scratch = tempfile::tempdir()?;
    let started = Instant::now();
    let next = Mutex::new(0usize);
    let results: Mutex<BTreeMap<String, Embedded>> = Mutex::new(BTreeMap::new());
    std::thread::scope(|s| -> Result<()> {
        let mut workers = Vec::new();
        for t in 0..cli.threads.max(1) {
            let (next, results, keys, cli, scratch) = (&next, &results, &keys, &cli, scratch.path());
            workers.push(s.spawn(move || -> Result<()> {
                let mut models = Models {
                    detector: Box::new(YuNet::load(&cli.models)?) as Box<dyn FaceDetector + Send>,
                    embedder: Box::new(SFace::load(&cli.models)?) as Box<dyn FaceEmbedder + Send>,
                };
                let settings = check::Settings::for_accuracy(Accuracy::Standard);
                let mut colour = if cli.attribution { Some(SFace::load(&cli.models)?) } else { None };
                let scratch = scratch.join(format!("w{t}"));
                loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        *n += 1;
                        *n - 1
                    };
                    let Some((k, all)) = keys.get(i) else { return Ok(()) };
                    let masked_session = i.is_multiple_of(cli.masked_sessions_every.max(1));
                    let e =
                        embed_one(&mut models, &settings, colour.as_mut(), cli, k, (*all, masked_session), &scratch)?;
                    let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
                    r.insert(k.clone(), e);
                    if r.len().is_multiple_of(1000) {
                        eprintln!("eval-face: {} images in {:.0} s", r.len(), started.elapsed().as_secs_f64());
                    }
                }
            }));
        }
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a worker panicked"))??;
        }
        Ok(())
    })?;
    let emb = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let secs = started.elapsed().as_secs_f64();
    let mut report = String::from(HEADER);
    let mut say = |line: String| {
        println!("{line}");
        report.push_str(&line);
        report.push('\n');
    };

    // View 2: plain; the mirror image fused on both sides; fused on the first image of each pair
    // only (as the reader could do with the card photo, embedded once per session).
    let plain: Side = |e| e.plain.as_ref();
    let fused: Side = |e| e.plain_flip.as_ref();
    for (name, first, second) in [
        ("greyscale", plain, plain),
        ("greyscale, with the mirror image", fused, fused),
        ("greyscale, with the mirror image of the first image only", fused, plain),
    ] {
        let scored: Vec<(f32, bool, usize)> = pairs
            .iter()
            .map(|p| {
                let s = match (first(&emb[&p.a]), second(&emb[&p.b])) {
                    (Some(a), Some(b)) => a.similarity(b),
                    _ => -1.0,
                };
                (s, p.same, p.fold)
            })
            .collect();
        let accuracy = |t: f32, keep: &dyn Fn(usize) -> bool| {
            let sel: Vec<_> = scored.iter().filter(|x| keep(x.2)).collect();
            sel.iter().filter(|(s, same, _)| (*s >= t) == *same).count() as f64 / sel.len().max(1) as f64
        };
        let mut accs = Vec::new();
        let mut thresholds = Vec::new();
        for fold in 0..10 {
            let best = (0..=1000)
                .map(|i| -0.2 + i as f32 / 1000.0)
                .max_by(|a, b| accuracy(*a, &|f| f != fold).total_cmp(&accuracy(*b, &|f| f != fold)))
                .unwrap_or(0.3);
            thresholds.push(best);
            accs.push(accuracy(best, &|f| f == fold));
        }
        let mean = accs.iter().sum::<f64>() / 10.0;
        let sd = (accs.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / 10.0).sqrt();
        let pair_fta = pair_keys.iter().filter(|k| emb[*k].plain.is_none()).count();
        say(format!(
            "## LFW View 2 (10 folds, {} pairs{}, {name})",
            pairs.len(),
            if cli.pairs_every > 1 {
                format!(": one pair in {}, not the full View 2", cli.pairs_every)
            } else {
                String::new()
            }
        ));
        say(String::new());
        say(format!("- accuracy {:.2}% ± {:.2}%", mean * 100.0, sd * 100.0));
        say(format!(
            "- threshold (cosine) chosen on the other folds: mean {:.3}",
            thresholds.iter().sum::<f32>() / 10.0
        ));
        say(format!(
            "- failure to acquire: {pair_fta} of {} images (their pairs count as non-matches)",
            pair_keys.len()
        ));
        say(String::new());
    }

    let mut sharp: Vec<f32> = emb.values().filter_map(|e| e.sharpness).collect();
    sharp.sort_by(f32::total_cmp);
    let pct = |p: f64| sharp.get(((sharp.len() as f64 - 1.0) * p) as usize).copied().unwrap_or(0.0);
    say(format!(
        "- sharpness of the aligned faces (variance of the Laplacian): 1st percentile {:.0}, 5th {:.0}, median {:.0}",
        pct(0.01),
        pct(0.05),
        pct(0.5)
    ));

    if !people.is_empty() {
        let groups: [Vec<(String, Vec<String>)>; 2] = [0, 1].map(|g| {
            people.iter().filter(|(f, _, _)| (*f >= 5) == (g == 1)).map(|(_, n, k)| (n.clone(), k.clone())).collect()
        });
        let n_imgs = people_keys.len();
        say(String::new());
        say(format!(
            "## All-vs-all ({}{} identities, {n_imgs} images, at most {} per identity, identity-disjoint halves: folds 0-4 and 5-9)",
            if cli.every > 1 { format!("one identity in {} of people.txt: ", cli.every) } else { String::new() },
            people.len(),
            cli.per_identity
        ));
        say(String::new());
        let fta = |f: Side| people_keys.iter().filter(|k| f(&emb[*k]).is_none()).count();
        say(format!(
            "Failure to acquire: plain {} / card-like {} / masked {} of {n_imgs} images (left out of the comparisons).",
            fta(PROTOCOLS[0].1),
            fta(PROTOCOLS[1].2),
            fta(PROTOCOLS[2].1)
        ));
        let bytes: Vec<usize> = people_keys.iter().map(|k| emb[k].card_bytes).filter(|&b| b > 0).collect();
        say(format!(
            "Card-like portraits: mean {:.0} bytes of JPEG 2000.",
            bytes.iter().sum::<usize>() as f64 / bytes.len().max(1) as f64
        ));
        say(String::new());
        say("| protocol | genuine / impostor comparisons | FNMR @ FMR 1e-3 (measured FMR) | FNMR @ FMR 1e-4 (measured FMR) |".into());
        say("|---|---|---|---|".into());
        let mut curves = Vec::new();
        for (name, live, reference) in PROTOCOLS {
            let s = [scores(&groups[0], &emb, live, reference), scores(&groups[1], &emb, live, reference)];
            let mut cells = Vec::new();
            for target in [1e-3, 1e-4] {
                let (fnmr, fmr) = cross_halves(&s, target);
                cells.push(format!("{:.2}% ({fmr:.1e})", fnmr * 100.0));
            }
            let (g, i) = (s[0].genuine.len() + s[1].genuine.len(), s[0].impostor.len() + s[1].impostor.len());
            say(format!("| {name} | {g} / {i} | {} | {} |", cells[0], cells[1]));
            let genuine: Vec<f32> = s.iter().flat_map(|x| x.genuine.iter().copied()).collect();
            let impostor: Vec<f32> = s.iter().flat_map(|x| x.impostor.iter().copied()).collect();
            curves.push((name, det::curve(&genuine, &impostor)));
        }
        say(String::new());
        say("Thresholds set on one half, FNMR and FMR measured on the other, averaged over both directions.".into());
        for line in if cli.no_sessions {
            Vec::new()
        } else {
            session_section(&groups, &people_keys, &emb, &mut curves, cli.masked_sessions_every.max(1))
        } {
            say(line);
        }
        if cli.masks {
            say(String::new());
            say("### Masked faces: alignment and the upper face (the same identities; each row its own thresholds)"
                .into());
            say(String::new());
            say("| live side / reference side | genuine / impostor | FNMR @ FMR 1e-3 | FNMR @ FMR 1e-4 |".into());
            say("|---|---|---|---|".into());
            for row in mask_rows(&groups, &emb) {
                say(row);
            }
            say(String::new());
            for line in &mask_lines {
                say(line.clone());
            }
        }
        if cli.attribution {
            let groups_all: [Vec<(String, Vec<String>)>; 2] = [0, 1].map(|g| {
                people_all
                    .iter()
                    .filter(|(f, _, _)| (*f >= 5) == (g == 1))
                    .map(|(_, n, k)| (n.clone(), k.clone()))
                    .collect()
            });
            let rows = attribution_rows(&groups, &groups_all, &emb);
            say(String::new());
            say("### Where the pipeline loses (the same identities; each row one difference)".into());
            say(String::new());
            say("| live side / reference side | images per identity | genuine / impostor | FNMR @ FMR 1e-3 | FNMR @ FMR 1e-4 |".into());
            say("|---|---|---|---|---|".into());
            for row in rows {
                say(row);
            }
            say(String::new());
            say(ATTRIBUTION_NOTE.into());
        }
        if let Some(path) = &cli.det {
            det::plot(path, &curves)?;
            eprintln!("eval-face: DET plot written to {}", path.display());
        }
    }
    say(String::new());
    say(format!(
        "{} images in {secs:.0} s with {} threads ({:.1} ms per image per thread, all protocols)",
        emb.len(),
        cli.threads,
        1000.0 * secs * cli.threads as f64 / emb.len().max(1) as f64
    ));
    if let Some(path) = &cli.report {
        std::fs::write(path, report).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
