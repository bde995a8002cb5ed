//! `kaoyomi-eval-ocr` (`cargo xtask eval-ocr`): renders a fresh set of invented cards from a seed
//! the pipeline was not tuned on, films each as a patient's placement gives it (the card lying
//! in the slot, frame after frame with the camera's noise and small movements), runs the reader's
//! OCR and guard on the frames (as the reader does: an attempt of up to 8 frames, and after a
//! refusal one more with the card placed again), and reports: how many cards the guard accepted with the right
//! 照合番号B, how many it refused, and how many wrong 照合番号B it would have sent to the card
//! (must be 0); per-field error rates per frame; time per frame on one thread.

use anyhow::Result;
use clap::Parser;
use kaoyomi_cardgen::{Fonts, Style, person, render};
use kaoyomi_hal_sim::capture::{self, Conditions, Difficulty};
use kaoyomi_models::ppocr::PpOcrRec;
use kaoyomi_vision::ocr::date::Date;
use kaoyomi_vision::ocr::guard::{Guard, Refusal, Settings, Verdict};
use kaoyomi_vision::ocr::layout::{CARD_HEIGHT_MM, CARD_WIDTH_MM};
use kaoyomi_vision::ocr::read::{FieldProblem, frame_lines, read_frame};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "kaoyomi-eval-ocr", about = "Measures the card-surface OCR and its guard on rendered cards")]
struct Cli {
    /// Directory with the model files (`cargo xtask models`).
    #[arg(long)]
    models: PathBuf,
    /// Cards to render.
    #[arg(long, default_value_t = 2000)]
    cards: usize,
    /// Seed of the set (the pipeline was tuned on seeds 1-99).
    #[arg(long, default_value_t = 20261127)]
    seed: u64,
    /// Capture conditions: placed (a patient's normal placement) or hard.
    #[arg(long, default_value = "placed")]
    conditions: String,
    /// Worker threads (time per frame is measured per thread).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write the frames of refused and wrong cards here.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Print what was read on each frame of refused and wrong cards (invented people only).
    #[arg(long)]
    explain: bool,
}

#[derive(Default)]
struct Tally {
    cards: usize,
    right: usize,
    wrong: usize,
    refused: BTreeMap<String, usize>,
    frames: usize,
    frame_secs: f64,
    /// Per field: (frames parsed, parsed wrong, not parsed).
    fields: [(usize, usize, usize); 3],
    frames_to_accept: Vec<usize>,
    /// Accepted (right or wrong) in the first attempt.
    first_attempt: usize,
}

/// Attempts per card, as the reader makes them.
const ATTEMPTS: usize = 2;

fn main() -> Result<()> {
    let cli = Cli::parse();
    let fonts = Fonts::system()?;
    let difficulty = if cli.conditions == "hard" { Difficulty::Hard } else { Difficulty::Placed };
    let tally = Mutex::new(Tally::default());
    let next = Mutex::new(0usize);
    let today = Date::new(2026, 11, 27).expect("a date");
    if let Some(d) = &cli.dump {
        std::fs::create_dir_all(d)?;
    }
    std::thread::scope(|s| -> Result<()> {
        let mut workers = Vec::new();
        for _ in 0..cli.threads.max(1) {
            workers.push(s.spawn(|| -> Result<()> {
                let mut rec = PpOcrRec::load(&cli.models)?;
                loop {
                    let i = {
                        let mut n = next.lock().expect("lock");
                        if *n >= cli.cards {
                            return Ok(());
                        }
                        *n += 1;
                        *n - 1
                    };
                    let mut rng = ChaCha8Rng::seed_from_u64(cli.seed.wrapping_mul(1_000_003).wrapping_add(i as u64));
                    let p = person(&mut rng);
                    let style = Style::random(&mut rng, &fonts);
                    let card = render::front(&fonts, &p, &style, &mut rng);
                    let truth = p.collation_b();
                    let mut local = Tally::default();
                    let mut frames = Vec::new();
                    // As the reader does: an attempt of up to 8 frames; after a refusal the patient
                    // is asked to place the card again (a new placement) and one more attempt runs.
                    let mut verdict = Verdict::Pending(None);
                    let mut used = 0;
                    for attempt in 0..ATTEMPTS {
                        let base = Conditions::sample(&mut rng, difficulty, CARD_WIDTH_MM, CARD_HEIGHT_MM);
                        // The chip's expiry is known to the reader (共通AP, no credential).
                        let mut guard = Guard::new(Settings::new(today, Some(p.expiry)));
                        verdict = loop {
                            // The card lies still; the camera's noise, compression and a pixel or two
                            // of movement change from frame to frame.
                            let mut c = base.clone();
                            for corner in &mut c.corners {
                                corner.0 += rng.gen_range(-1.5..1.5);
                                corner.1 += rng.gen_range(-1.5..1.5);
                            }
                            let frame =
                                capture::capture(&card.pixels, card.width, card.height, CARD_WIDTH_MM, &c, &mut rng);
                            let start = Instant::now();
                            let read = read_frame(&mut rec, &frame, capture::FRAME_WIDTH, capture::FRAME_HEIGHT)?;
                            local.frame_secs += start.elapsed().as_secs_f64();
                            local.frames += 1;
                            if let Ok(r) = &read {
                                let t = &truth;
                                let checks = [
                                    r.birth.as_ref().map(|f| f.value.digits() == t[..6]),
                                    r.expiry.as_ref().map(|f| format!("{:04}", f.value.year) == t[6..10]),
                                    r.code.as_ref().map(|f| {
                                        f.value.0.iter().map(|d| char::from(b'0' + d)).collect::<String>() == t[10..]
                                    }),
                                ];
                                for (k, c) in checks.iter().enumerate() {
                                    match c {
                                        Ok(true) => local.fields[k].0 += 1,
                                        Ok(false) => {
                                            local.fields[k].0 += 1;
                                            local.fields[k].1 += 1;
                                        }
                                        Err(
                                            FieldProblem::Nothing | FieldProblem::Glare | FieldProblem::Unreadable(_),
                                        ) => local.fields[k].2 += 1,
                                    }
                                }
                            }
                            if cli.dump.is_some() || cli.explain {
                                frames.push(frame);
                            }
                            match guard.add(read) {
                                Verdict::Pending(_) => continue,
                                v => break v,
                            }
                        };
                        used += guard.frames();
                        if attempt == 0 && matches!(verdict, Verdict::Accept(_)) {
                            local.first_attempt = 1;
                        }
                        if !matches!(verdict, Verdict::Refuse(_)) {
                            break;
                        }
                    }
                    local.cards = 1;
                    let mut bad = None;
                    match verdict {
                        Verdict::Accept(c) if c.digits() == truth => {
                            local.right = 1;
                            local.frames_to_accept.push(used);
                        }
                        Verdict::Accept(_) => {
                            local.wrong = 1;
                            bad = Some("wrong");
                        }
                        Verdict::Refuse(r) => {
                            local.refused.insert(format!("{r:?}"), 1);
                            bad = Some(if matches!(r, Refusal::Unreadable) { "refused" } else { "refused-other" });
                        }
                        Verdict::Pending(_) => {}
                    }
                    if let (true, Some(kind)) = (cli.explain, bad) {
                        for f in &frames {
                            let lines = frame_lines(&mut rec, f, capture::FRAME_WIDTH, capture::FRAME_HEIGHT)?;
                            let shown: Vec<String> = lines
                                .unwrap_or_default()
                                .iter()
                                .map(|l| match l {
                                    Ok(t) => t
                                        .chars
                                        .iter()
                                        .map(|c| format!("{}{:.2}", c.ch, c.confidence))
                                        .collect::<Vec<_>>()
                                        .join(" "),
                                    Err(p) => format!("{p:?}"),
                                })
                                .collect();
                            eprintln!("{kind} card {i} truth {truth}: {}", shown.join(" | "));
                        }
                    }
                    if let (Some(dir), Some(kind)) = (&cli.dump, bad) {
                        for (k, f) in frames.iter().enumerate() {
                            image::GrayImage::from_raw(capture::FRAME_WIDTH, capture::FRAME_HEIGHT, f.clone())
                                .map(|im| im.save(dir.join(format!("{kind}-{i:05}-{k}.png"))));
                        }
                    }
                    let mut t = tally.lock().expect("lock");
                    t.cards += local.cards;
                    t.right += local.right;
                    t.wrong += local.wrong;
                    for (k, v) in local.refused {
                        *t.refused.entry(k).or_default() += v;
                    }
                    t.frames += local.frames;
                    t.frame_secs += local.frame_secs;
                    for k in 0..3 {
                        t.fields[k].0 += local.fields[k].0;
                        t.fields[k].1 += local.fields[k].1;
                        t.fields[k].2 += local.fields[k].2;
                    }
                    t.frames_to_accept.extend(local.frames_to_accept);
                    t.first_attempt += local.first_attempt;
                    if t.cards % 100 == 0 {
                        eprintln!("eval-ocr: {} cards, {} right, {} wrong", t.cards, t.right, t.wrong);
                    }
                }
            }));
        }
        for w in workers {
            w.join().expect("worker")?;
        }
        Ok(())
    })?;
    let t = tally.into_inner().expect("lock");
    let pct = |n: usize, d: usize| 100.0 * n as f64 / d.max(1) as f64;
    let refused: usize = t.refused.values().sum();
    println!("cards {} (seed {}, conditions {})", t.cards, cli.seed, cli.conditions);
    println!("accepted and right: {} ({:.2}%)", t.right, pct(t.right, t.cards));
    println!(
        "accepted in the first attempt (up to 8 frames): {} ({:.2}%); the rest needed the card placed again",
        t.first_attempt,
        pct(t.first_attempt, t.cards)
    );
    println!("wrong 照合番号B that would reach the card: {} ({:.3}%)", t.wrong, pct(t.wrong, t.cards));
    println!("refused: {} ({:.2}%) {:?}", refused, pct(refused, t.cards), t.refused);
    let accepted = t.right + t.wrong;
    println!("exact among accepted: {:.3}%", pct(t.right, accepted));
    for (k, name) in ["birth", "expiry", "code"].iter().enumerate() {
        let (parsed, wrong, missing) = t.fields[k];
        println!(
            "field {name}: per frame parsed {:.2}%, wrong among parsed {:.3}%, not parsed {:.2}%",
            pct(parsed, parsed + missing),
            pct(wrong, parsed),
            pct(missing, parsed + missing)
        );
    }
    let mut f = t.frames_to_accept.clone();
    f.sort_unstable();
    if !f.is_empty() {
        println!(
            "frames to accept: median {}, 95th percentile {}, max {}",
            f[f.len() / 2],
            f[f.len() * 95 / 100],
            f[f.len() - 1]
        );
    }
    println!(
        "frames {}; time per frame {:.1} ms (one thread)",
        t.frames,
        1000.0 * t.frame_secs / t.frames.max(1) as f64
    );
    Ok(())
}
