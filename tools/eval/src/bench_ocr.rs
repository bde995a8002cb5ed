//! `kaoyomi-bench-ocr` (`cargo xtask bench-ocr`): the time of the reader's OCR step on card-camera
//! frames (find, rectify, three fields recognised and parsed; one thread), and of the recognition
//! model alone on the three field lines of one frame, whose input tensors it writes for
//! `python/bench_ort_ocr.py` to time the same model file in onnxruntime in the same run.

use anyhow::{Context, Result};
use clap::Parser;
use kaoyomi_cardgen::{Fonts, Style, person, render};
use kaoyomi_hal_sim::capture::{self, Conditions, Difficulty};
use kaoyomi_models::ppocr::PpOcrRec;
use kaoyomi_vision::ocr::card;
use kaoyomi_vision::ocr::layout::{BIRTH_WINDOW, CARD_HEIGHT_MM, CARD_WIDTH_MM, CODE_WINDOW, EXPIRY_WINDOW};
use kaoyomi_vision::ocr::read::{read_frame, text_line};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "kaoyomi-bench-ocr", about = "Times the card-surface OCR step and its recognition model")]
struct Cli {
    /// Directory with the model files.
    #[arg(long)]
    models: PathBuf,
    /// Where to write the recognition inputs for onnxruntime.
    #[arg(long)]
    tensors: PathBuf,
    /// Frames to time the OCR step on.
    #[arg(long, default_value_t = 40)]
    frames: usize,
    /// Rounds per model timing.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let fonts = Fonts::system()?;
    let mut rec = PpOcrRec::load(&cli.models)?;
    let mut rng = ChaCha8Rng::seed_from_u64(77);
    let mut frames = Vec::new();
    for _ in 0..cli.frames {
        let p = person(&mut rng);
        let style = Style::random(&mut rng, &fonts);
        let front = render::front(&fonts, &p, &style, &mut rng);
        let c = Conditions::sample(&mut rng, Difficulty::Placed, CARD_WIDTH_MM, CARD_HEIGHT_MM);
        frames.push(capture::capture(&front.pixels, front.width, front.height, CARD_WIDTH_MM, &c, &mut rng));
    }
    // Warm up (one plan per line width is built on first use).
    let mut read = 0;
    for f in &frames {
        read += usize::from(read_frame(&mut rec, f, capture::FRAME_WIDTH, capture::FRAME_HEIGHT)?.is_ok());
    }
    println!("frames {} with a card found {read}", frames.len());
    let mut step = Vec::new();
    for f in &frames {
        let t = Instant::now();
        let _ = read_frame(&mut rec, f, capture::FRAME_WIDTH, capture::FRAME_HEIGHT)?;
        step.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    println!("ocr_step_ms {:.2}", median(step));
    // The recognition model alone on the three lines of the first frame.
    let f = &frames[0];
    let quad = card::find(f, capture::FRAME_WIDTH, capture::FRAME_HEIGHT).ok().context("no card in the bench frame")?;
    let upright = card::rectify(f, capture::FRAME_WIDTH, capture::FRAME_HEIGHT, &quad, false).context("rectify")?;
    std::fs::create_dir_all(&cli.tensors)?;
    let mut list = std::fs::File::create(cli.tensors.join("lines.txt"))?;
    let mut total = 0.0;
    let mut probs_out = Vec::new();
    for (i, window) in [BIRTH_WINDOW, EXPIRY_WINDOW, CODE_WINDOW].into_iter().enumerate() {
        let line = text_line(&card::crop(&upright, window)).context("no text line in the bench frame")?;
        let (width, input) = PpOcrRec::input(line.view());
        let bytes: Vec<u8> = input.to_plain_array_view::<f32>()?.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(cli.tensors.join(format!("line{i}.f32")), bytes)?;
        writeln!(list, "line{i}.f32 {width}")?;
        let (steps, probs) = rec.run(width, input.clone())?;
        let mut times = Vec::new();
        for _ in 0..cli.rounds {
            let t = Instant::now();
            rec.run(width, input.clone())?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        let ms = median(times);
        println!("line{i}_width {width} steps {steps} tract_ms {ms:.2}");
        if i == 1 {
            // Where tract spends its time on the longest line (per operator kind).
            for t in rec.profile(line.view(), cli.rounds.min(10))?.iter().take(10) {
                println!("profile_rec {:<28} nodes {:>3} ms {:.2}", t.op, t.nodes, t.ms);
            }
        }
        total += ms;
        probs_out.extend(probs.iter().flat_map(|v| v.to_le_bytes()));
    }
    std::fs::write(cli.tensors.join("tract_probs.f32"), probs_out)?;
    println!("tract_rec_ms {total:.2}");
    Ok(())
}
