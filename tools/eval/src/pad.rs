//! `kaoyomi-eval-pad` (`cargo xtask eval-pad`): the liveness check measured in the terms of
//! ISO/IEC 30107-3 on generated presentations: LFW identities rendered by the simulator's 2.5D
//! camera model (`kaoyomi_hal_sim::presentation`) live and as each attack species, each through
//! detection, the quality gate and the PAD score of `kaoyomi_vision::pad`.
//!
//! Two sets that share neither subjects nor generation seeds: the tuning set (identities of
//! LFW's `peopleDevTrain.txt`, seed 1) chooses the threshold suggested for BPCER ≤ 1%; the
//! held-out set (`peopleDevTest.txt`, seed 2) reports APCER per species, BPCER, the DET of the
//! score and the reader's operating point ([`Liveness::default`]). Writes `docs/pad.md` and
//! `docs/pad-det.png`.

use anyhow::{Context, Result, bail};
use clap::Parser;
use kaoyomi_hal_sim::presentation::{self, Presentation, Species, Texture};
use kaoyomi_models::sface::SFace;
use kaoyomi_models::yunet::YuNet;
use kaoyomi_models::{FaceDetector, FaceEmbedder};
use kaoyomi_vision::calibration::Accuracy;
use kaoyomi_vision::check::{self, Liveness, Models, Settings};
use kaoyomi_vision::pad::{self, Cues, DepthView};
use kaoyomi_vision::{GreyView, pick};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

#[allow(dead_code)] // the face evaluation's own plot is not used here
mod det;

#[derive(Parser)]
struct Cli {
    /// LFW (deep-funneled), `../shared/datasets/lfw`.
    #[arg(long)]
    lfw: PathBuf,
    /// The model directory.
    #[arg(long)]
    models: PathBuf,
    /// The report (Markdown).
    #[arg(long)]
    report: PathBuf,
    /// The DET plot (PNG).
    #[arg(long)]
    det: PathBuf,
    /// Presentations of each species (bona fide included) in the held-out set.
    #[arg(long, default_value_t = 1000)]
    per_species: usize,
    /// Presentations of each species in the tuning set.
    #[arg(long, default_value_t = 500)]
    tune_per_species: usize,
    /// Live and replay sequences (three frames each) for the motion cue.
    #[arg(long, default_value_t = 300)]
    sequences: usize,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Only this species (by name) and no report: the cues of each presentation printed, for
    /// looking into the tuning set.
    #[arg(long)]
    inspect: Option<String>,
}

/// Identities of an LFW people file (`name<TAB>count` lines), first image each.
fn people(lfw: &Path, file: &str) -> Result<Vec<(String, u32)>> {
    let text = std::fs::read_to_string(lfw.join(file)).with_context(|| format!("reading {file}"))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.parse().ok()?))
        })
        .collect())
}

/// A subject drawn at random from `subjects`, and one of their images.
fn draw_subject(subjects: &[(String, u32)], rng: &mut ChaCha8Rng) -> (String, u32) {
    let (subject, count) = &subjects[rng.gen_range(0..subjects.len())];
    (subject.clone(), rng.gen_range(1..=(*count).max(1)))
}

/// A random presentation of `species` (the ranges are what the note in `docs/pad.md` lists).
fn draw(species: Species, rng: &mut ChaCha8Rng) -> Presentation {
    let mut p = Presentation::typical(species);
    p.seed = rng.r#gen();
    p.offset_px = (rng.gen_range(-40.0..40.0), rng.gen_range(-50.0..10.0));
    p.roll_deg = rng.gen_range(-6.0..6.0);
    p.light = rng.gen_range(0.7..1.2);
    match species {
        Species::Live => {
            p.distance_mm = rng.gen_range(380.0..650.0);
            p.yaw_deg = rng.gen_range(-12.0..12.0);
            p.pitch_deg = rng.gen_range(-8.0..8.0);
            p.eye_mm = rng.gen_range(56.0..71.0);
            p.relief = rng.gen_range(0.75..1.25);
            p.reflectance = rng.gen_range(0.40..0.68);
            p.glasses = rng.gen_bool(0.25);
            p.mask = rng.gen_bool(0.3);
            if rng.gen_bool(0.1) {
                p.blink = rng.gen_range(0.3..1.0);
            }
        }
        Species::PrintFlat | Species::PrintCurved | Species::PrintEyeHoles => {
            p.distance_mm = rng.gen_range(300.0..600.0);
            p.yaw_deg = rng.gen_range(-20.0..20.0);
            p.pitch_deg = rng.gen_range(-15.0..15.0);
            p.eye_mm = rng.gen_range(48.0..75.0);
            p.reflectance = rng.gen_range(0.72..0.92);
            p.ink_ir = rng.gen_range(0.05..0.9);
            p.bend_mm = rng.gen_range(60.0..200.0);
            p.behind_mm = rng.gen_range(10.0..40.0);
        }
        Species::Screen => {
            p.distance_mm = rng.gen_range(200.0..420.0);
            p.yaw_deg = rng.gen_range(-15.0..15.0);
            p.pitch_deg = rng.gen_range(-15.0..15.0);
            p.eye_mm = rng.gen_range(25.0..50.0);
            p.reflectance = rng.gen_range(0.02..0.08);
        }
        Species::Replay => {
            p.distance_mm = rng.gen_range(300.0..560.0);
            p.yaw_deg = rng.gen_range(-15.0..15.0);
            p.pitch_deg = rng.gen_range(-15.0..15.0);
            p.eye_mm = rng.gen_range(45.0..70.0);
            p.reflectance = rng.gen_range(0.02..0.08);
            if rng.gen_bool(0.3) {
                p.blink = rng.gen_range(0.3..1.0);
            }
        }
        Species::CardFront => {
            p.distance_mm = rng.gen_range(90.0..220.0);
            p.yaw_deg = rng.gen_range(-15.0..15.0);
            p.pitch_deg = rng.gen_range(-15.0..15.0);
            p.eye_mm = rng.gen_range(7.5..10.5);
            p.reflectance = rng.gen_range(0.55..0.85);
        }
        Species::PaperMask => {
            p.distance_mm = rng.gen_range(380.0..650.0);
            p.yaw_deg = rng.gen_range(-12.0..12.0);
            p.pitch_deg = rng.gen_range(-8.0..8.0);
            p.eye_mm = rng.gen_range(56.0..71.0);
            p.reflectance = rng.gen_range(0.72..0.92);
            p.behind_mm = rng.gen_range(8.0..24.0);
        }
    }
    p
}

/// One presentation's result: `None` when the detector and gate never let it reach the PAD
/// (a failure to acquire), else the cues (if any) and the score.
type Outcome = Option<(Option<Cues>, f32)>;

struct Job {
    species: Species,
    subject: String,
    image: u32,
    presentation: Presentation,
}

fn texture(models: &mut Models, lfw: &Path, name: &str, image: u32) -> Result<Option<Texture>> {
    let path = lfw.join("lfw-deepfunneled").join(name).join(format!("{name}_{image:04}.jpg"));
    let img = image::open(&path).with_context(|| format!("reading {}", path.display()))?.to_luma8();
    let (w, h) = img.dimensions();
    let view = GreyView { width: w, height: h, pixels: img.as_raw() };
    let faces = check::find_faces(models.detector.as_mut(), view, 640, 0.5)?;
    let Some(face) = pick::patient(&faces, w, h) else { return Ok(None) };
    let lm = face.landmarks.map(|p| (p.x, p.y));
    Ok(Texture::new(w as usize, h as usize, img.into_raw(), lm))
}

fn run_one(models: &mut Models, lfw: &Path, job: &Job, liveness: &Liveness) -> Result<Outcome> {
    let Some(texture) = texture(models, lfw, &job.subject, job.image)? else { return Ok(None) };
    let pic = presentation::render(&texture, &job.presentation, 640, 480);
    let visible = GreyView { width: 640, height: 480, pixels: &pic.visible };
    let settings = Settings::for_accuracy(Accuracy::Standard);
    let faces = check::find_faces(models.detector.as_mut(), visible, settings.detect_side, settings.min_score)?;
    let Ok(good) = check::gate(visible, &faces, &settings) else { return Ok(None) };
    let cues = pad::cues(
        &good.detection.landmarks,
        GreyView { width: 640, height: 480, pixels: &pic.infrared },
        DepthView { width: 640, height: 480, mm: &pic.depth },
        &liveness.settings,
    );
    let score = pad::score(cues.as_ref(), &liveness.settings);
    Ok(Some((cues, score)))
}

/// Every presentation of one set, run on `threads` workers.
fn run_set(cli: &Cli, file: &str, seed: u64, per_species: usize) -> Result<Vec<(Species, Outcome)>> {
    let subjects = people(&cli.lfw, file)?;
    if subjects.is_empty() {
        bail!("{file} lists nobody");
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut jobs = Vec::new();
    for species in Species::ALL {
        for _ in 0..per_species {
            let (subject, image) = draw_subject(&subjects, &mut rng);
            jobs.push(Job { species, subject, image, presentation: draw(species, &mut rng) });
        }
    }
    if let Some(name) = &cli.inspect {
        jobs.retain(|j| j.species.name() == name);
    }
    let results = run_jobs(cli, file, &jobs)?;
    if cli.inspect.is_some() {
        for (j, r) in jobs.iter().zip(&results) {
            let p = &j.presentation;
            println!(
                "mask {} glasses {} relief {:.2} eye {:.1} skin {:.2} yaw {:.0} pitch {:.0} d {:.0}: {:?}",
                p.mask, p.glasses, p.relief, p.eye_mm, p.reflectance, p.yaw_deg, p.pitch_deg, p.distance_mm, r
            );
        }
    }
    Ok(jobs.iter().zip(results).map(|(j, r)| (j.species, r)).collect())
}

/// Runs `jobs` on `threads` workers, each with its own networks.
fn run_jobs(cli: &Cli, label: &str, jobs: &[Job]) -> Result<Vec<Outcome>> {
    let liveness = Liveness::default();
    let next = Mutex::new(0usize);
    let results = Mutex::new(vec![None; jobs.len()]);
    let started = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let mut workers = Vec::new();
        for _ in 0..cli.threads.max(1) {
            let (next, results, liveness) = (&next, &results, &liveness);
            workers.push(s.spawn(move || -> Result<()> {
                let mut models = Models {
                    detector: Box::new(YuNet::load(&cli.models)?) as Box<dyn FaceDetector + Send>,
                    embedder: Box::new(SFace::load(&cli.models)?) as Box<dyn FaceEmbedder + Send>,
                };
                loop {
                    let i = {
                        let mut n = next.lock().unwrap_or_else(|e| e.into_inner());
                        let i = *n;
                        *n += 1;
                        i
                    };
                    let Some(job) = jobs.get(i) else { return Ok(()) };
                    let outcome = run_one(&mut models, &cli.lfw, job, liveness)?;
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(outcome);
                    if i % 500 == 499 {
                        eprintln!(
                            "eval-pad: {label}: {} of {} in {:.0} s",
                            i + 1,
                            jobs.len(),
                            started.elapsed().as_secs_f64()
                        );
                    }
                }
            }));
        }
        for w in workers {
            w.join().map_err(|_| anyhow::anyhow!("a worker panicked"))??;
        }
        Ok(())
    })?;
    Ok(results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().map(Option::flatten).collect())
}

/// One sequence's result: the median of its frames' scores and the steadiness of the face's
/// size over them; `None` when not every frame reached the PAD.
type Sequence = Option<(f32, f32)>;

/// Frames of one sequence: the reader decides at its third good frame.
const SEQUENCE: usize = 3;

/// The frames of one presentation as the check takes them one after another: a live person
/// leaning in or out (the distance changes by up to 15%), or a replayed video whose subject
/// does (its picture's size changes by up to 30%; the tablet stays), with the small turns and
/// shifts of a person or a hand between frames.
fn sequence(species: Species, rng: &mut ChaCha8Rng) -> Vec<Presentation> {
    let base = draw(species, rng);
    let amp = if species == Species::Replay { rng.gen_range(0.0..0.3f32) } else { rng.gen_range(0.0..0.15f32) };
    let phase = rng.gen_range(0.0..std::f32::consts::TAU);
    (0..SEQUENCE)
        .map(|k| {
            let mut p = base.clone();
            let w = 1.0 + amp * (phase + k as f32 * 0.7).sin();
            if species == Species::Replay {
                p.eye_mm *= w;
            } else {
                p.distance_mm *= w;
            }
            p.yaw_deg += rng.gen_range(-2.0..2.0);
            p.pitch_deg += rng.gen_range(-1.5..1.5);
            p.roll_deg += rng.gen_range(-1.5..1.5);
            p.offset_px = (p.offset_px.0 + rng.gen_range(-5.0..5.0), p.offset_px.1 + rng.gen_range(-5.0..5.0));
            p.seed = rng.r#gen();
            p
        })
        .collect()
}

/// The motion cue on `n` live and `n` replay sequences of the held-out subjects (seed 3): per
/// sequence, the frame scores' median and the steadiness of the size over the frames that
/// reached the PAD (`None` when fewer than all did).
fn run_sequences(cli: &Cli, n: usize) -> Result<Vec<(Species, Sequence)>> {
    let subjects = people(&cli.lfw, "peopleDevTest.txt")?;
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut jobs = Vec::new();
    for species in [Species::Live, Species::Replay] {
        for _ in 0..n {
            let (subject, image) = draw_subject(&subjects, &mut rng);
            for presentation in sequence(species, &mut rng) {
                jobs.push(Job { species, subject: subject.clone(), image, presentation });
            }
        }
    }
    let results = run_jobs(cli, "sequences", &jobs)?;
    let settings = Liveness::default().settings;
    Ok(jobs
        .chunks(SEQUENCE)
        .zip(results.chunks(SEQUENCE))
        .map(|(j, r)| {
            let cues: Option<Vec<(Cues, f32)>> = r.iter().map(|o| o.and_then(|(c, s)| c.map(|c| (c, s)))).collect();
            let scored = cues.map(|c| {
                let sizes: Vec<f32> = c.iter().map(|(c, _)| c.size_mm).collect();
                let st = pad::steadiness(&sizes, &settings);
                (median(c.iter().map(|(_, s)| *s).collect()), st)
            });
            (j[0].species, scored)
        })
        .collect())
}

/// Scores of the presentations of `species` that reached the PAD.
fn scores(set: &[(Species, Outcome)], species: Species) -> Vec<f32> {
    set.iter().filter(|(s, _)| *s == species).filter_map(|(_, o)| o.map(|(_, score)| score)).collect()
}

fn count(set: &[(Species, Outcome)], species: Species) -> usize {
    set.iter().filter(|(s, _)| *s == species).count()
}

/// APCER of `species` at `threshold`: attacks of that species classified bona fide, over all
/// presented (an attack the detector or gate never let through was not accepted).
fn apcer(set: &[(Species, Outcome)], species: Species, threshold: f32) -> f64 {
    let accepted = scores(set, species).iter().filter(|&&s| s >= threshold).count();
    accepted as f64 / count(set, species).max(1) as f64
}

/// BPCER at `threshold`: bona fide presentations that reached the PAD and were refused by it,
/// over those that reached it.
fn bpcer(set: &[(Species, Outcome)], threshold: f32) -> f64 {
    let live = scores(set, Species::Live);
    live.iter().filter(|&&s| s < threshold).count() as f64 / live.len().max(1) as f64
}

fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
}

/// The DET of the score: for each attack species, (APCER, BPCER) over thresholds.
fn plot(path: &Path, set: &[(Species, Outcome)]) -> Result<()> {
    let curves: Vec<(&str, Vec<(f64, f64)>)> = Species::ALL
        .into_iter()
        .filter(|s| s.is_attack())
        .map(|species| {
            let points = (0..=200)
                .map(|k| k as f32 / 200.0)
                .map(|t| (apcer(set, species, t).max(1e-4), bpcer(set, t).max(1e-4)))
                .collect();
            (species.name(), points)
        })
        .collect();
    let axes = det::Axes {
        caption: "Kaoyomi liveness (held-out set): DET per attack species",
        x: ("APCER", 1e-4),
        y: ("BPCER", 1e-4),
    };
    det::plot_with(path, &axes, &curves)
}

/// The report's section on the motion cue.
fn motion(md: &mut String, seqs: &[(Species, Sequence)], t: f32) -> Result<()> {
    writeln!(md, "## Motion over the frames")?;
    writeln!(md)?;
    writeln!(
        md,
        "The reader decides over its good frames: the median of their scores must reach {t:.2} and the \
         face must keep its size in millimetres from frame to frame (`pad::steadiness`). Measured on \
         sequences of {SEQUENCE} frames (the reader decides at the third good frame) of held-out \
         subjects (seed 3): a live person leaning in or out by up to 15% of the distance with small \
         turns between frames; a tablet replaying a video whose subject leans in or out (the face's \
         picture grows and shrinks by up to 30%) while the tablet stays. \"the size cue alone\" is what it would catch if the screen reflected \
         infrared as skin does (an attack the single-frame cues would miss)."
    )?;
    writeln!(md)?;
    writeln!(
        md,
        "| species | sequences | all frames reached the PAD | the size cue alone refuses | the whole check refuses |"
    )?;
    writeln!(md, "|---|---|---|---|---|")?;
    for species in [Species::Live, Species::Replay] {
        let all: Vec<_> = seqs.iter().filter(|(s, _)| *s == species).collect();
        let scored: Vec<(f32, f32)> = all.iter().filter_map(|(_, r)| *r).collect();
        let share = |f: &dyn Fn(&(f32, f32)) -> bool| {
            percent(scored.iter().filter(|x| f(x)).count() as f64 / scored.len().max(1) as f64)
        };
        writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            species.name(),
            all.len(),
            scored.len(),
            share(&|x| x.1 < 0.5),
            share(&|x| x.0 < t || x.1 < 0.5),
        )?;
    }
    writeln!(md)?;
    writeln!(
        md,
        "For live sequences the last column is the reader's BPCER as it decides (median over three \
         frames and the size cue); for replays it is 100% minus the APCER with every cue."
    )?;
    writeln!(md)?;
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let started = Instant::now();
    let tune = run_set(&cli, "peopleDevTrain.txt", 1, cli.tune_per_species)?;
    if cli.inspect.is_some() {
        return Ok(());
    }
    // The threshold for BPCER ≤ 1% on the tuning set: the 1st percentile of the bona fide scores.
    let mut live = scores(&tune, Species::Live);
    live.sort_by(f32::total_cmp);
    let suggested = live.get(live.len() / 100).copied().unwrap_or(0.0);
    let test = run_set(&cli, "peopleDevTest.txt", 2, cli.per_species)?;
    let seqs = run_sequences(&cli, cli.sequences)?;
    let reader = Liveness::default();
    let t = reader.threshold;
    let mut md = String::new();
    writeln!(md, "# Liveness (presentation-attack detection), measured")?;
    writeln!(md)?;
    writeln!(
        md,
        "Written by `cargo xtask eval-pad` ({:.0} s on this machine). The terms are ISO/IEC 30107-3's: \
         **APCER** (attack presentations classified bona fide, per species, over all presented of that \
         species), **BPCER** (bona fide presentations classified as attacks, over those that reached the \
         PAD). What the sets are, how they were made and what they cannot show: below the tables.",
        started.elapsed().as_secs_f64()
    )?;
    writeln!(md)?;
    writeln!(md, "## Held-out set at the reader's operating point (threshold {t:.2})")?;
    writeln!(md)?;
    writeln!(
        md,
        "| species | presented | reached the PAD | APCER | median score | median nose relief | median eye distance | median IR reflectance |"
    )?;
    writeln!(md, "|---|---|---|---|---|---|---|---|")?;
    for species in Species::ALL {
        let reached: Vec<Cues> =
            test.iter().filter(|(s, _)| *s == species).filter_map(|(_, o)| o.and_then(|(c, _)| c)).collect();
        let rate = if species.is_attack() {
            percent(apcer(&test, species, t))
        } else {
            format!("BPCER {}", percent(bpcer(&test, t)))
        };
        writeln!(
            md,
            "| {} | {} | {} | {} | {:.2} | {:.1} mm | {:.1} mm | {:.2} |",
            species.name(),
            count(&test, species),
            scores(&test, species).len(),
            rate,
            median(scores(&test, species)),
            median(reached.iter().map(|c| c.nose_mm).collect()),
            median(reached.iter().map(|c| c.eye_mm).collect()),
            median(reached.iter().map(|c| c.reflectance).collect()),
        )?;
    }
    let flat_worst = Species::ALL.into_iter().filter(|s| s.is_flat()).map(|s| apcer(&test, s, t)).fold(0.0, f64::max);
    writeln!(md)?;
    writeln!(
        md,
        "Worst flat species (print, screen, replay, card front): APCER {}; BPCER {}.",
        percent(flat_worst),
        percent(bpcer(&test, t))
    )?;
    writeln!(md)?;
    motion(&mut md, &seqs, t)?;
    writeln!(md, "## Tuning set")?;
    writeln!(md)?;
    writeln!(
        md,
        "Bona fide scores' 1st percentile (the threshold for BPCER ≤ 1%): {suggested:.2}; at the reader's \
         {t:.2}: BPCER {}, worst flat APCER {}.",
        percent(bpcer(&tune, t)),
        percent(Species::ALL.into_iter().filter(|s| s.is_flat()).map(|s| apcer(&tune, s, t)).fold(0.0, f64::max))
    )?;
    writeln!(md)?;
    writeln!(md, "## DET")?;
    writeln!(md)?;
    writeln!(md, "![DET of the liveness score per attack species](pad-det.png)")?;
    writeln!(md)?;
    writeln!(
        md,
        "| threshold | BPCER | {} |",
        Species::ALL.iter().filter(|s| s.is_attack()).map(|s| s.name()).collect::<Vec<_>>().join(" | ")
    )?;
    writeln!(md, "|---|---|{}", "---|".repeat(Species::ALL.len() - 1))?;
    for k in [0.05f32, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95] {
        let row: Vec<String> =
            Species::ALL.into_iter().filter(|s| s.is_attack()).map(|s| percent(apcer(&test, s, k))).collect();
        writeln!(md, "| {k:.2} | {} | {} |", percent(bpcer(&test, k)), row.join(" | "))?;
    }
    writeln!(md)?;
    md.push_str(include_str!("pad_method.md"));
    std::fs::write(&cli.report, md).with_context(|| format!("writing {}", cli.report.display()))?;
    plot(&cli.det, &test)?;
    eprintln!("eval-pad: wrote {} and {}", cli.report.display(), cli.det.display());
    Ok(())
}
