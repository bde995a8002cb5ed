//! A Slint platform without a display: windows are drawn by the software renderer into memory.
//!
//! Used where no screen exists: the tests, `cargo xtask demo --screenshots DIR` and the UI
//! benchmark. It is the same renderer the device falls back to, so what it draws is what a patient
//! would see.

use slint::platform::software_renderer::{MinimalSoftwareWindow, RepaintBufferType};
use slint::platform::{Platform, WindowAdapter};
use slint::{PhysicalSize, PlatformError};
use std::cell::RefCell;
use std::rc::Rc;

/// The windows the platform has made, newest last, and its clock.
#[derive(Clone, Default)]
pub struct Windows(Rc<RefCell<Vec<Rc<MinimalSoftwareWindow>>>>, Clock);

impl Windows {
    /// The newest window.
    pub fn last(&self) -> Option<Rc<MinimalSoftwareWindow>> {
        self.0.borrow().last().cloned()
    }
}

impl Windows {
    /// The platform's clock.
    pub fn clock(&self) -> &Clock {
        &self.1
    }

    /// The `i`th window made (0 first).
    pub fn get(&self, i: usize) -> Option<Rc<MinimalSoftwareWindow>> {
        self.0.borrow().get(i).cloned()
    }
}

struct Headless {
    windows: Windows,
    clock: Clock,
    repaint: RepaintBufferType,
}

/// The platform's time: it stands still unless advanced, so that animations are drawn at the
/// same moment in every picture (reference screenshots compare equal from run to run).
#[derive(Clone, Default)]
pub struct Clock(Rc<std::cell::Cell<std::time::Duration>>);

impl Clock {
    /// Moves time on by `by` (animations and timers follow on the next draw).
    pub fn advance(&self, by: std::time::Duration) {
        self.0.set(self.0.get() + by);
    }
}

impl Platform for Headless {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        let window = MinimalSoftwareWindow::new(self.repaint);
        window.set_size(PhysicalSize::new(1920, 1080));
        self.windows.0.borrow_mut().push(window.clone());
        Ok(window)
    }

    fn duration_since_start(&self) -> std::time::Duration {
        self.clock.0.get()
    }
}

/// Makes this thread's Slint draw into memory. Call once, before any window is created; fails if
/// Slint already has a platform.
pub fn install() -> anyhow::Result<Windows> {
    install_with(RepaintBufferType::NewBuffer)
}

/// [`install`] with the given buffer reuse: `NewBuffer` draws every pixel of every frame,
/// `ReusedBuffer` only what changed since the last frame (what a device's framebuffer allows).
pub fn install_with(repaint: RepaintBufferType) -> anyhow::Result<Windows> {
    let windows = Windows::default();
    let clock = windows.1.clone();
    slint::platform::set_platform(Box::new(Headless { windows: windows.clone(), clock, repaint }))
        .map_err(|e| anyhow::anyhow!("the headless Slint platform cannot be installed: {e}"))?;
    Ok(windows)
}

#[cfg(feature = "pictures")]
/// Draws `window` as it is now and returns its pixels (RGBA).
pub fn snapshot(window: &slint::Window) -> anyhow::Result<image::RgbaImage> {
    slint::platform::update_timers_and_animations();
    let shot = window.take_snapshot().map_err(|e| anyhow::anyhow!("drawing the window: {e}"))?;
    image::RgbaImage::from_raw(shot.width(), shot.height(), shot.as_bytes().to_vec())
        .ok_or_else(|| anyhow::anyhow!("the renderer returned a buffer of the wrong size"))
}
