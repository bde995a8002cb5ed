//! `cargo xtask demo` (a scripted patient session on the simulated board, verified by the
//! terminal), `demo --screenshots DIR` (every screen state, headless) and `bench-ui`.

use anyhow::{Context, Result, bail};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::packages::{Need, ensure};
use crate::root;
use crate::sh::{cargo, own};

/// What the demo runs.
pub struct Demo {
    /// The staff's visual check instead of the PIN.
    pub visual: bool,
    /// The face path, twice: the holder, then somebody else.
    pub face: bool,
    /// The reader's windows, paced so that they can be followed.
    pub window: bool,
    /// The binaries are already built (by `test`'s workspace build): build nothing.
    pub prebuilt: bool,
}

/// Every screen state in every language as PNG files in `dir` (the software renderer, headless).
pub fn screenshots(dir: &Path) -> Result<()> {
    ensure(&[Need::Build, Need::Test])?;
    let dir = std::env::current_dir()?.join(dir);
    crate::image::build_screens()?;
    own(&root().join("target/debug/kaoyomi-screens")).arg(&dir).run("kaoyomi-screens")
}

/// The software renderer's frame time and the time to the first idle frame (release build).
pub fn bench_ui() -> Result<()> {
    ensure(&[Need::Build, Need::Test])?;
    cargo()
        .args(["build", "--release", "--quiet", "-p", "kaoyomi-ui", "--bin", "kaoyomi-bench-ui"])
        .run("building the UI benchmark")?;
    own(&root().join("target/release/kaoyomi-bench-ui")).run("kaoyomi-bench-ui")
}

/// Builds the reader and the terminal (unless `prebuilt`), runs a scripted patient session and
/// prints the verified result. `face`: the card holder accepted, then somebody else with the same
/// card refused.
pub fn demo(demo: Demo) -> Result<()> {
    // Under `test` the models step has prepared them already.
    if demo.face && !demo.prebuilt {
        crate::models::models()?;
    }
    if demo.window {
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            bail!("`cargo xtask demo --window` needs a desktop (DISPLAY or WAYLAND_DISPLAY is not set)");
        }
        ensure(&[Need::Build, Need::Test])?;
    } else {
        ensure(&[Need::Build])?;
    }
    if !demo.prebuilt {
        // The demo runs the simulated board: a simulator build of the reader.
        let mut build =
            cargo().args(["build", "--quiet", "-p", "kaoyomi-reader", "-p", "kaoyomi-terminal", "--features"]);
        build = build.arg(if demo.window { "kaoyomi-reader/sim,kaoyomi-reader/window" } else { "kaoyomi-reader/sim" });
        build.run("building the reader and the terminal client")?;
    }
    let state = root().join("target/demo-state");
    // Fresh simulated cards each run, so the demo's PIN always has all its tries; and a terminal
    // that pairs with the reader anew, as at an installation.
    let _ = std::fs::remove_dir_all(state.join("sim-cards"));
    let _ = std::fs::remove_dir_all(state.join("terminal"));
    let _ = std::fs::remove_file(state.join("paired-terminals"));
    std::fs::create_dir_all(&state)?;
    // Each session is judged by the terminal: `kaoyomi-term session --expect` exits 0 only when
    // the verified result and the session's progress are the ones expected.
    if demo.face {
        let code = session("sim-face", "board/scripts/demo-face.script", demo.window, &["verified:face", ""])?;
        if code != Some(0) {
            bail!("the card holder was not verified by face (kaoyomi-term exit {code:?})");
        }
        eprintln!("xtask: demo: the card holder was verified by face; now somebody else with the same card");
        let expect = ["not-verified:visual", "checking-face,choosing-method,checking-visual"];
        let code = session("sim-face", "board/scripts/demo-face-impostor.script", demo.window, &expect)?;
        if code != Some(0) {
            bail!("the impostor was not refused by the face check (kaoyomi-term exit {code:?})");
        }
        eprintln!("xtask: demo: now somebody holds a printed photograph of the card holder to the camera");
        let expect = ["not-verified:visual", "checking-face,staff-needed,checking-visual"];
        let code = session("sim-face", "board/scripts/demo-face-photo.script", demo.window, &expect)?;
        if code != Some(0) {
            bail!("the photograph was not refused (kaoyomi-term exit {code:?})");
        }
        eprintln!(
            "xtask: demo done: the face check accepted the card holder, refused somebody else and called staff for a photograph"
        );
        return Ok(());
    }
    let (script, expect) = if demo.visual {
        ("board/scripts/demo-visual.script", ["verified:visual", "staff-needed,checking-visual"])
    } else {
        ("board/scripts/demo-pin.script", ["verified:pin", "checking-pin,consents"])
    };
    let code = session("sim", script, demo.window, &expect)?;
    if code != Some(0) {
        bail!("kaoyomi-term did not verify a successful session (exit {code:?})");
    }
    eprintln!("xtask: demo done: the terminal verified the reader's and the card's signatures");
    Ok(())
}

/// One scripted session of the reader on `board` with the terminal, which expects the outcome and
/// progress `expect` (`kaoyomi-term session --expect`): the terminal's exit code. The reader's
/// screens are printed as they come.
fn session(board: &str, script: &str, window: bool, expect: &[&str; 2]) -> Result<Option<i32>> {
    let root = root();
    let bin = root.join("target/debug");
    let state = root.join("target/demo-state");
    let ca = state.join("test-ca.der");
    own(&bin.join("kaoyomi-reader"))
        .args(["sim", "export-ca", "--out"])
        .arg(&ca)
        .run("exporting the simulated cards' test CA (the terminal's trust anchor for this demo)")?;
    let script = root.join(script);
    let mut reader = own(&bin.join("kaoyomi-reader"))
        .dir(&root)
        .args(["run", "--board", board, "--state"])
        .arg(&state)
        .arg("--script")
        .arg(&script)
        .args(if window { &["--window", "--pace-ms", "1500"][..] } else { &[][..] })
        // Where the reader puts a pairing code for the maintenance console (on a device, the
        // unit's runtime directory); the demo's terminal reads it there.
        .env("RUNTIME_DIRECTORY", &state)
        .env("RUST_LOG", "warn,tract_onnx=error,kaoyomi_reader::face_service=info,kaoyomi_reader::surface_service=info")
        .spawn_piped(&format!("starting the reader on the {board} board with {}", script.display()))?;
    // Print the screens as they come, and keep them (with the terminal's output) where
    // `cargo xtask test` scans the suite's outputs for personal data.
    let out = reader.stdout.take().context("reader stdout")?;
    let kept = crate::test::output_file("demo");
    let mut keep = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&kept)
        .with_context(|| format!("opening {}", kept.display()))?;
    let screens = std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            println!("{line}");
            let _ = writeln!(keep, "{line}");
        }
    });
    // The first session of a run pairs the terminal: the reader shows the code (printed with its
    // screens), the terminal's side types it.
    if !state.join("paired-terminals").exists() {
        let _ = std::fs::remove_file(state.join("pairing-code"));
        own(&bin.join("kaoyomi-term"))
            .arg("--socket")
            .arg(state.join("reader.sock"))
            .arg("--store")
            .arg(state.join("terminal"))
            .args(["--name", "demo terminal", "pair", "--code-from"])
            .arg(state.join("pairing-code"))
            .run("pairing the demo's terminal with the reader")?;
    }
    let term = own(&bin.join("kaoyomi-term"))
        .arg("--socket")
        .arg(state.join("reader.sock"))
        .arg("--store")
        .arg(state.join("terminal"))
        .args(["session", "--expect", expect[0], "--expect-progress", expect[1], "--trust-anchor"])
        .arg(&ca)
        .tee(&kept)
        .status("the terminal's side of the session");
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
    screens.join().map_err(|_| anyhow::anyhow!("reading the reader's screens"))?;
    let term = term?;
    if !reader_status.success() {
        bail!("the reader failed ({reader_status})");
    }
    Ok(term.code())
}
