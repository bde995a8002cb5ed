//! `kaoyomi-bench-ui` (`cargo xtask bench-ui`): the software renderer's frame time on the
//! face-capture screen at 1920x1080 while the camera preview changes every frame, drawing every
//! pixel and drawing only what changed; and the time from process start to the first idle frame
//! (this program started again as a child, timed from spawn to its exit after the first frame).
//! Each measurement runs in its own process because Slint's platform is set once per process.

use kaoyomi_core::{FaceHint, Screen, ScreenState};
use kaoyomi_ui::{headless, view::Ui};
use slint::platform::software_renderer::{PremultipliedRgbaColor, RepaintBufferType};
use std::process::Command;
use std::time::{Duration, Instant};

const W: usize = 1920;
const H: usize = 1080;
const BUDGET_MS: f64 = 1000.0 / 30.0;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A camera frame that differs from the last one everywhere (a moving pattern).
fn camera_frame(i: usize, out: &mut [u8]) {
    for (y, row) in out.chunks_exact_mut(640).enumerate() {
        for (x, p) in row.iter_mut().enumerate() {
            *p = ((x + 3 * i) ^ (y + 2 * i)) as u8;
        }
    }
}

/// Child: draws the idle screen once, then exits.
fn first_frame() -> anyhow::Result<()> {
    let windows = headless::install()?;
    let ui = Ui::new(std::rc::Rc::new(|_| {}))?;
    ui.show(&ScreenState { screen: Screen::PlaceCard, timeout_warning_s: None });
    let window = windows.get(0).ok_or_else(|| anyhow::anyhow!("no window"))?;
    let mut buffer = vec![PremultipliedRgbaColor::default(); W * H];
    slint::platform::update_timers_and_animations();
    let drawn = window.draw_if_needed(|r| {
        r.render(&mut buffer, W);
    });
    anyhow::ensure!(drawn, "nothing was drawn");
    Ok(())
}

/// Child: frame times of the face-capture screen, one line of milliseconds.
fn frames(repaint: RepaintBufferType, count: usize) -> anyhow::Result<()> {
    let windows = headless::install_with(repaint)?;
    let ui = Ui::new(std::rc::Rc::new(|_| {}))?;
    ui.show(&ScreenState { screen: Screen::FaceCheck { hint: Some(FaceHint::MoveCloser) }, timeout_warning_s: None });
    let window = windows.get(0).ok_or_else(|| anyhow::anyhow!("no window"))?;
    let mut buffer = vec![PremultipliedRgbaColor::default(); W * H];
    let mut grey = vec![0u8; 640 * 480];
    let mut times = Vec::with_capacity(count);
    for i in 0..count + 5 {
        camera_frame(i, &mut grey);
        let start = Instant::now();
        ui.preview(640, 480, &grey);
        slint::platform::update_timers_and_animations();
        let drawn = window.draw_if_needed(|r| {
            r.render(&mut buffer, W);
        });
        let t = ms(start.elapsed());
        anyhow::ensure!(drawn, "frame {i} was not drawn");
        // The first frames draw the whole screen in both modes.
        if i >= 5 {
            times.push(t);
        }
    }
    println!("{}", times.iter().map(|t| format!("{t:.3}")).collect::<Vec<_>>().join(" "));
    Ok(())
}

fn child(args: &[&str]) -> anyhow::Result<(Duration, String)> {
    let exe = std::env::current_exe()?;
    let start = Instant::now();
    let out = Command::new(exe).args(args).output()?;
    let took = start.elapsed();
    anyhow::ensure!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    Ok((took, String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--first-frame") => return first_frame(),
        Some("--frames-full") => return frames(RepaintBufferType::NewBuffer, 60),
        Some("--frames-partial") => return frames(RepaintBufferType::ReusedBuffer, 60),
        _ => {}
    }
    let mut starts: Vec<f64> =
        (0..7).map(|_| child(&["--first-frame"]).map(|(d, _)| ms(d))).collect::<Result<_, _>>()?;
    let parse = |s: String| -> Vec<f64> { s.split_whitespace().filter_map(|t| t.parse().ok()).collect() };
    let mut full = parse(child(&["--frames-full"])?.1);
    let mut partial = parse(child(&["--frames-partial"])?.1);
    let (start_ms, full_ms, partial_ms) = (median(&mut starts), median(&mut full), median(&mut partial));
    println!("kaoyomi-bench-ui (software renderer, 1920x1080, one thread)");
    println!(
        "  process start to first idle frame: median {start_ms:.0} ms of 7 starts (target <= 1000 ms; ratio {:.2})",
        start_ms / 1000.0
    );
    println!(
        "  face-capture frame, preview changing, every pixel drawn: median {full_ms:.1} ms, 95th percentile {:.1} ms (budget {BUDGET_MS:.1} ms at 30 fps; ratio {:.2})",
        percentile(&mut full, 0.95),
        full_ms / BUDGET_MS
    );
    println!(
        "  face-capture frame, preview changing, only what changed drawn: median {partial_ms:.1} ms, 95th percentile {:.1} ms (ratio {:.2} to the budget, {:.2} to every-pixel drawing)",
        percentile(&mut partial, 0.95),
        partial_ms / BUDGET_MS,
        partial_ms / full_ms
    );
    Ok(())
}
