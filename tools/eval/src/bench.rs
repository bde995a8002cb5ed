//! `kaoyomi-bench-face` (run by `cargo xtask bench-face`): the face check's speed on this machine,
//! one thread. Frames come from the simulated camera (640x480, the card holder's steady frames);
//! the card photo is the simulated cards' portrait.
//!
//! Prints, as `key value` lines that `cargo xtask bench-face` reads: per-frame detection, the
//! gate and alignment, embedding, and the whole finding of the face (shrink, detection, the
//! second detection on the face's crop); a whole 50-frame-capable session (the stranger: every
//! frame the rule compares, then the decision), the work on the frame that decided; peak RSS. Writes the exact
//! tensors the two models received (`--tensors DIR`) so onnxruntime can run the same inputs.

use anyhow::{Context, Result};
use clap::Parser;
use kaoyomi_hal::camera::{FaceCamera, Frame};
use kaoyomi_hal_sim::{Scene, SimCameraControl};
use kaoyomi_models::sface::SFace;
use kaoyomi_models::yunet::YuNet;
use kaoyomi_vision::calibration::Accuracy;
use kaoyomi_vision::check::{self, FaceCheck, Models, Settings, Step};
use kaoyomi_vision::{GreyView, portrait};
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
#[command(name = "kaoyomi-bench-face", about = "Face check speed, one thread")]
struct Cli {
    /// The model directory (`cargo xtask models`).
    #[arg(long)]
    models: PathBuf,
    /// Where to write the models' input tensors (raw little-endian f32, NCHW).
    #[arg(long)]
    tensors: PathBuf,
    /// Repetitions of each measurement.
    #[arg(long, default_value_t = 30)]
    rounds: usize,
}

fn frames(scene: Scene, n: usize) -> Result<Vec<Frame>> {
    let mut cam = SimCameraControl::new(scene).open();
    (0..n).map(|_| cam.next_frames().map(|f| f.into_parts().0).map_err(|e| anyhow::anyhow!("{e}"))).collect()
}

fn view(f: &Frame) -> GreyView<'_> {
    GreyView { width: f.width(), height: f.height(), pixels: f.pixels() }
}

/// Milliseconds per call of `f`, the median of `rounds` calls after one warm-up.
fn time(rounds: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?;
    let mut v = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        f()?;
        v.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    v.sort_by(f64::total_cmp);
    Ok(v[v.len() / 2])
}

fn write_tensor(path: &std::path::Path, image: GreyView<'_>, width: u32, height: u32) -> Result<()> {
    let mut out = Vec::with_capacity((3 * width * height * 4) as usize);
    for _ in 0..3 {
        for y in 0..height {
            for x in 0..width {
                out.extend_from_slice(&f32::from(image.at(i64::from(x), i64::from(y))).to_le_bytes());
            }
        }
    }
    std::fs::File::create(path)?.write_all(&out).with_context(|| format!("writing {}", path.display()))
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let t = Instant::now();
    let mut models =
        Models { detector: Box::new(YuNet::load(&cli.models)?), embedder: Box::new(SFace::load(&cli.models)?) };
    println!("load_ms {:.1}", t.elapsed().as_secs_f64() * 1000.0);
    let settings = Settings::for_accuracy(Accuracy::Standard);
    let holder = frames(Scene::Holder, 40)?;
    let steady = &holder[30];
    let card = portrait::decode(include_bytes!("../../../hal/sim/assets/portrait.jp2"))
        .map_err(|e| anyhow::anyhow!("portrait: {e}"))?;

    // The models' inputs, as the pipeline makes them.
    let factor = steady.width().max(steady.height()).div_ceil(settings.detect_side);
    let small = check::shrink(view(steady), factor);
    let (dw, dh) = (small.width().div_ceil(32) * 32, small.height().div_ceil(32) * 32);
    let faces = check::find_faces(models.detector.as_mut(), view(steady), settings.detect_side, settings.min_score)?;
    let good =
        check::gate(view(steady), &faces, &settings).map_err(|h| anyhow::anyhow!("steady frame refused: {h:?}"))?;
    std::fs::create_dir_all(&cli.tensors)?;
    write_tensor(&cli.tensors.join("yunet.f32"), small.view(), dw, dh)?;
    write_tensor(&cli.tensors.join("sface.f32"), good.aligned.view(), 112, 112)?;
    println!("yunet_input 1x3x{dh}x{dw}");
    // tract's embedding of the same face, for the onnxruntime side to compare with its own.
    let tract_embedding = models.embedder.embed(good.aligned.view())?;
    let bytes: Vec<u8> = tract_embedding.as_slice().iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(cli.tensors.join("sface_tract.f32"), bytes)?;

    let n = cli.rounds;
    let detect = time(n, || {
        models.detector.detect(small.view(), settings.min_score)?;
        Ok(())
    })?;
    let shrink = time(n, || {
        check::shrink(view(steady), factor);
        Ok(())
    })?;
    let gate = time(n, || {
        check::gate(view(steady), &faces, &settings).map_err(|h| anyhow::anyhow!("{h:?}"))?;
        Ok(())
    })?;
    let embed = time(n, || {
        models.embedder.embed(good.aligned.view())?;
        Ok(())
    })?;
    let find = time(n, || {
        check::find_faces(models.detector.as_mut(), view(steady), settings.detect_side, settings.min_score)?;
        Ok(())
    })?;
    println!("detect_ms {detect:.2}");
    println!("shrink_ms {shrink:.2}");
    println!("gate_align_ms {gate:.2}");
    println!("embed_ms {embed:.2}");
    println!("find_faces_ms {find:.2}");
    println!("frame_ms {:.2}", find + gate + embed);

    // A whole session: the stranger (every frame the rule compares, then "no match") and the
    // holder.
    let reference = check::embed_reference(&mut models, card.view())?.context("a face on the card")?;
    for (name, scene) in [("stranger", Scene::Stranger), ("holder", Scene::Holder)] {
        let captured = frames(scene, 50)?;
        let mut check = FaceCheck::new(reference.clone(), settings.clone());
        let started = Instant::now();
        let mut last = 0.0;
        let mut decision = None;
        for f in &captured {
            let t = Instant::now();
            let step = check.frame(&mut models, view(f))?;
            last = t.elapsed().as_secs_f64() * 1000.0;
            if let Step::Decided(d) = step {
                decision = Some(d);
                break;
            }
        }
        let r = check.report();
        println!(
            "session_{name} {:?} frames {} compared {} total_ms {:.1} decision_after_last_frame_ms {last:.1}",
            decision,
            r.frames,
            r.compared,
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    println!("peak_rss_mb {:.0}", peak_rss_mb());

    // Where tract spends the time, per operator kind of the optimised plans (slowest first);
    // after the peak RSS, since it loads a second copy of each model.
    let mut yunet = YuNet::load(&cli.models)?;
    for t in yunet.profile(small.view(), n)?.iter().take(8) {
        println!("profile_detect {:<24} nodes {:>3} ms {:.2}", t.op, t.nodes, t.ms);
    }
    let sface = SFace::load(&cli.models)?;
    for t in sface.profile(good.aligned.view(), n)?.iter().take(8) {
        println!("profile_embed {:<24} nodes {:>3} ms {:.2}", t.op, t.nodes, t.ms);
    }
    Ok(())
}
