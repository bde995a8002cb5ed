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
use std::time::Instant;

/// The windows the platform has made, newest last.
#[derive(Clone, Default)]
pub struct Windows(Rc<RefCell<Vec<Rc<MinimalSoftwareWindow>>>>);

impl Windows {
    /// The newest window.
    pub fn last(&self) -> Option<Rc<MinimalSoftwareWindow>> {
        self.0.borrow().last().cloned()
    }
}

struct Headless {
    windows: Windows,
    start: Instant,
}

impl Platform for Headless {
    fn create_window_adapter(&self) -> Result<Rc<dyn WindowAdapter>, PlatformError> {
        let window = MinimalSoftwareWindow::new(RepaintBufferType::NewBuffer);
        window.set_size(PhysicalSize::new(1920, 1080));
        self.windows.0.borrow_mut().push(window.clone());
        Ok(window)
    }

    fn duration_since_start(&self) -> std::time::Duration {
        self.start.elapsed()
    }
}

/// Makes this thread's Slint draw into memory. Call once, before any window is created; fails if
/// Slint already has a platform.
pub fn install() -> anyhow::Result<Windows> {
    let windows = Windows::default();
    slint::platform::set_platform(Box::new(Headless { windows: windows.clone(), start: Instant::now() }))
        .map_err(|e| anyhow::anyhow!("the headless Slint platform cannot be installed: {e}"))?;
    Ok(windows)
}

/// Draws `window` as it is now and returns its pixels (RGBA).
pub fn snapshot(window: &slint::Window) -> anyhow::Result<image::RgbaImage> {
    slint::platform::update_timers_and_animations();
    let shot = window.take_snapshot().map_err(|e| anyhow::anyhow!("drawing the window: {e}"))?;
    image::RgbaImage::from_raw(shot.width(), shot.height(), shot.as_bytes().to_vec())
        .ok_or_else(|| anyhow::anyhow!("the renderer returned a buffer of the wrong size"))
}
