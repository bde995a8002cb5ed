//! `cargo xtask tidy`: the dependency rules of `../shared/docs/architecture.md` (`cargo tree -i`),
//! the device build without the simulator (its dependency tree here; its binary's bytes in
//! [`device_binary_problems`], which `cargo xtask dist` runs), and a `//!` doc on every Rust file.
//! Also a test of xtask, so `cargo test --workspace` runs it.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

use crate::root;
use crate::sh::cargo;

/// Crates that must not appear anywhere below `crate_name`.
const FORBIDDEN_BELOW: &[(&str, &[&str])] = &[
    (
        "kaoyomi-core",
        &["tokio", "slint", "tract-onnx", "tract-core", "pcsc", "v4l", "usb-gadget", "nusb", "kaoyomi-hal"],
    ),
    (
        "kaoyomi-protocol",
        &["tokio", "slint", "tract-core", "pcsc", "v4l", "usb-gadget", "nusb", "kaoyomi-hal", "kaoyomi-core"],
    ),
    (
        "kaoyomi-terminal",
        &[
            "kaoyomi-core",
            "kaoyomi-myna",
            "kaoyomi-reader",
            "kaoyomi-hal",
            "kaoyomi-hal-sim",
            "kaoyomi-hal-linux",
            "kaoyomi-board",
        ],
    ),
    ("kaoyomi-hal", &["kaoyomi-hal-sim", "kaoyomi-hal-linux"]),
    ("kaoyomi-myna", &["kaoyomi-hal-sim", "kaoyomi-hal-linux", "pcsc"]),
    (
        "kaoyomi-store",
        &["slint", "tract-core", "pcsc", "v4l", "usb-gadget", "nusb", "kaoyomi-hal", "kaoyomi-hal-sim", "kaoyomi-myna"],
    ),
    (
        "kaoyomi-maintenance",
        &["slint", "tract-core", "pcsc", "v4l", "usb-gadget", "nusb", "kaoyomi-hal", "kaoyomi-hal-sim", "kaoyomi-myna"],
    ),
];

/// Crates that only the named workspace members may depend on directly.
const ONLY_NAMED_BY: &[(&str, &[&str])] = &[
    ("tract-onnx", &["kaoyomi-models"]),
    ("tract-core", &["kaoyomi-models"]),
    ("slint", &["kaoyomi-ui", "kaoyomi-reader"]),
    ("rusqlite", &["kaoyomi-store"]),
    ("argon2", &["kaoyomi-maintenance"]),
];

/// Crates a device build of the reader must not contain: the simulator and the test rig.
const SIMULATOR_CRATES: &[&str] = &["kaoyomi-hal-sim", "kaoyomi-cardsim", "kaoyomi-tests"];

/// Byte strings of the simulator's test keys and personas that no device binary may hold: the
/// seed label the test keys are derived from, the test issuer's and face signer's key ids, the
/// test CA's name (`dist` checks that the rig's simulator build still holds some of them).
const SIMULATOR_MARKERS: &[&[u8]] =
    &[b"kaoyomi-sim-key:", b"KAOYOMI-TEST-ISS", b"KAOYOMI-FACE-SIG", b"Kaoyomi Test JPKI CA", b"Simulated cards"];

/// Why the device binary `bytes` is not a device build: each simulator marker it holds, and each
/// asset of the simulator (portraits, printed card fronts) found in it (a 64-byte run from the
/// middle of each file of `hal/sim/assets`).
pub fn device_binary_problems(bytes: &[u8]) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for marker in SIMULATOR_MARKERS {
        if memchr::memmem::find(bytes, marker).is_some() {
            problems.push(format!("holds the simulator's {:?}", String::from_utf8_lossy(marker)));
        }
    }
    let mut assets: Vec<PathBuf> = std::fs::read_dir(root().join("hal/sim/assets"))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    assets.sort();
    for path in assets {
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        let asset = std::fs::read(&path)?;
        if asset.len() < 256 {
            continue;
        }
        let middle = &asset[asset.len() / 2..asset.len() / 2 + 64];
        if memchr::memmem::find(bytes, middle).is_some() {
            problems.push(format!("holds the simulator's asset {}", path.display()));
        }
    }
    Ok(problems)
}

/// Runs `cargo tree`; None when the package is not in the graph at all.
fn cargo_tree(args: &[&str]) -> Result<Option<String>> {
    let out = cargo().arg("tree").args(args).args(["-e", "normal,build", "--prefix", "none"]).output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if stderr.contains("did not match any packages") || stderr.contains("nothing to print") {
            return Ok(None);
        }
        bail!("cargo tree {args:?} failed: {stderr}");
    }
    Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// The problems tidy finds, each in words.
fn problems() -> Result<(Vec<String>, usize)> {
    let mut problems = Vec::new();
    for (krate, forbidden) in FORBIDDEN_BELOW {
        for dep in *forbidden {
            if let Some(tree) = cargo_tree(&["-p", krate, "-i", dep])?
                && !tree.trim().is_empty()
            {
                problems.push(format!("{krate} depends on {dep} (architecture.md forbids it):\n{tree}"));
            }
        }
    }
    for (dep, allowed) in ONLY_NAMED_BY {
        if let Some(tree) = cargo_tree(&["--workspace", "-i", dep, "--depth", "1"])? {
            for line in tree.lines().skip(1) {
                let name = line.split_whitespace().next().unwrap_or_default();
                if name.starts_with("kaoyomi") && !allowed.contains(&name) {
                    problems.push(format!("{name} names {dep}; only {allowed:?} may"));
                }
            }
        }
    }
    for (board, features) in crate::image::DEVICE_FEATURES {
        for krate in SIMULATOR_CRATES {
            let features = features.join(",");
            let mut args = vec!["-p", "kaoyomi-reader", "--no-default-features", "--target", crate::image::TARGET];
            if !features.is_empty() {
                args.extend(["--features", &features]);
            }
            args.extend(["-i", krate]);
            if let Some(tree) = cargo_tree(&args)?
                && !tree.trim().is_empty()
            {
                problems.push(format!("the device build for {board} contains {krate}:\n{tree}"));
            }
        }
    }
    let mut files = Vec::new();
    collect_rs(&root(), &mut files)?;
    for file in &files {
        let text = std::fs::read_to_string(file)?;
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or_default();
        if !first.starts_with("//!") {
            problems.push(format!("{} has no //! doc at the top", file.strip_prefix(root()).unwrap_or(file).display()));
        }
    }
    Ok((problems, files.len()))
}

/// `cargo xtask tidy`.
pub fn tidy() -> Result<()> {
    eprintln!("xtask: tidy");
    let (problems, files) = problems()?;
    if !problems.is_empty() {
        bail!("tidy found {} problem(s):\n{}", problems.len(), problems.join("\n"));
    }
    eprintln!("xtask: tidy ok ({files} Rust files, {} dependency rules)", FORBIDDEN_BELOW.len() + ONLY_NAMED_BY.len());
    Ok(())
}

/// Every `.rs` file under `dir`, outside build output and fuzz corpora.
pub fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if !matches!(name, "target" | ".git" | "corpus" | "artifacts") {
                collect_rs(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_binary_with_the_simulator_is_refused() {
        let mut binary = vec![0u8; 4096];
        assert!(super::device_binary_problems(&binary).unwrap().is_empty());
        binary.extend_from_slice(b"..KAOYOMI-TEST-ISS..");
        let portrait = std::fs::read(crate::root().join("hal/sim/assets/portrait.jp2")).unwrap();
        binary.extend_from_slice(&portrait);
        let problems = super::device_binary_problems(&binary).unwrap();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[1].contains("portrait.jp2"));
    }

    #[test]
    fn the_workspace_is_tidy() {
        let (problems, files) = super::problems().unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(files > 50, "tidy looked at only {files} files");
    }
}
