//! `cargo xtask tidy`: the dependency rules of `../shared/docs/architecture.md` (`cargo tree -i`)
//! and a `//!` doc on every Rust file. Also a test of xtask, so `cargo test --workspace` runs it.

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
];

/// Crates that only the named workspace members may depend on directly.
const ONLY_NAMED_BY: &[(&str, &[&str])] = &[
    ("tract-onnx", &["kaoyomi-models"]),
    ("tract-core", &["kaoyomi-models"]),
    ("slint", &["kaoyomi-ui", "kaoyomi-reader"]),
];

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
    fn the_workspace_is_tidy() {
        let (problems, files) = super::problems().unwrap();
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        assert!(files > 50, "tidy looked at only {files} files");
    }
}
