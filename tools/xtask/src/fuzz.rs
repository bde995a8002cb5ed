//! `cargo xtask fuzz [BUDGET]`: the cargo-fuzz targets in `fuzz/` (libFuzzer), built once, then
//! run two at a time (one per core) from the corpus kept in the tree, sharing a time budget.
//! cargo-fuzz needs a nightly toolchain; without one, fuzzing is skipped, loudly.

use anyhow::{Result, bail};
use std::process::Child;

use crate::packages::{Need, ensure};
use crate::root;
use crate::sh::{cargo, cmd, has_cargo_subcommand};

/// Every fuzz target: everything that parses outside input.
const TARGETS: &[&str] =
    &["protocol_frame", "card_answers", "card_face", "portrait", "card_frame", "channel_handshake"];

/// Seconds for all targets together: about 33 s of fuzzing per target at two targets at once
/// (cut from 50 s when the liveness tests came, to keep CI within its budget).
pub const DEFAULT_BUDGET: u64 = 100;

/// How many targets run at once.
const AT_ONCE: usize = 2;

/// The version of cargo-fuzz installed when it is missing.
const CARGO_FUZZ: &str = "cargo-fuzz@0.13.2";

/// Seconds each target gets from `budget`.
fn per_target(budget: u64) -> u64 {
    (budget * AT_ONCE as u64 / TARGETS.len() as u64).max(1)
}

fn nightly() -> Result<bool> {
    Ok(cmd("rustup").args(["run", "nightly", "rustc", "--version"]).output()?.status.success())
}

/// Runs each target for its share of `budget` seconds.
pub fn fuzz(budget: u64) -> Result<()> {
    if !nightly()? {
        eprintln!("xtask: WARNING: no nightly toolchain on this machine: fuzzing skipped");
        return Ok(());
    }
    ensure(&[Need::Build, Need::Fuzz])?;
    if !has_cargo_subcommand("fuzz") {
        cargo().args(["install", "--locked", CARGO_FUZZ]).run("installing cargo-fuzz")?;
    }
    let fuzz_dir = root().join("fuzz");
    cmd("cargo")
        .dir(&fuzz_dir)
        .env("RUSTUP_TOOLCHAIN", "nightly")
        .args(["fuzz", "build"])
        .run("building the fuzz targets (nightly, sanitizer coverage)")?;
    let seconds = per_target(budget);
    std::fs::create_dir_all(root().join("target"))?;
    let mut running: Vec<(&str, Child)> = Vec::new();
    let mut queue = TARGETS.iter();
    loop {
        while running.len() < AT_ONCE
            && let Some(target) = queue.next()
        {
            eprintln!("xtask: fuzzing {target} for {seconds} s");
            let log = std::fs::File::create(log_path(target))?;
            let child = cmd("cargo")
                .dir(&fuzz_dir)
                .env("RUSTUP_TOOLCHAIN", "nightly")
                .args(["fuzz", "run", target, "--", &format!("-max_total_time={seconds}"), "-print_final_stats=1"])
                .log_to(&log)?
                .spawn(&format!("fuzzing {target}"))?;
            running.push((target, child));
        }
        if running.is_empty() {
            return Ok(());
        }
        let (target, mut child) = running.remove(0);
        let status = child.wait()?;
        // libFuzzer's progress lines are many; show the verdict, and the log's end only on failure.
        let text = std::fs::read_to_string(log_path(target)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if !status.success() {
            for (_, mut other) in running {
                let _ = other.kill();
                let _ = other.wait();
            }
            eprintln!("{}", lines[lines.len().saturating_sub(60)..].join("\n"));
            bail!("fuzz target {target} failed (log: {})", log_path(target).display());
        }
        for line in lines.iter().filter(|l| l.starts_with("Done ") || l.starts_with("stat::number_of_executed_units")) {
            eprintln!("xtask:   {target}: {line}");
        }
    }
}

fn log_path(target: &str) -> std::path::PathBuf {
    root().join(format!("target/fuzz-{target}.log"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_budget_is_shared_and_never_zero() {
        assert_eq!(super::per_target(150), 50);
        assert_eq!(super::per_target(0), 1);
    }

    #[test]
    fn every_target_of_the_fuzz_crate_is_run() {
        let manifest = std::fs::read_to_string(crate::root().join("fuzz/Cargo.toml")).unwrap();
        let declared: Vec<&str> = manifest
            .lines()
            .filter_map(|l| l.strip_prefix("name = \""))
            .map(|n| n.trim_end_matches('"'))
            .filter(|n| *n != "kaoyomi-fuzz")
            .collect();
        assert_eq!(declared, super::TARGETS);
    }
}
