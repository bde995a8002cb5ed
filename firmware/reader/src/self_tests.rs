//! The maintenance page's self-tests, run inside the running reader: each device is checked by
//! whoever owns it. The card thread answers for the card reader (it holds the reader
//! exclusively), the cameras are opened through the same openers their threads use (they open
//! a camera for one check at a time, and maintenance runs no check), the link answers for the
//! terminal, the desk for the database. Results come back to the main loop one line at a time
//! ([`crate::Input::SelfTested`]), so the page fills in as they arrive.
//!
//! Every value on a line is a measurement or a device's own name or error: no frame, no card
//! data. Frames taken for a test wipe themselves when dropped.

use crate::face_service::{FrameSource, OpenCamera};
use crate::surface_service::OpenCardCamera;
use kaoyomi_hal::camera::Frame;
use kaoyomi_maintenance::contract::{Part, TestLine, Verdict};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Frames a camera test takes.
const FRAMES: u32 = 12;
/// The longest a camera test waits for its frames.
const CAMERA_TIME: Duration = Duration::from_secs(4);
/// A picture darker than this on average is taken for a covered lens or a dead sensor.
const DARK_MEAN: f64 = 4.0;

/// A camera opener shared by the camera's thread and the self-tests.
pub type Shared<T> = Arc<Mutex<T>>;

/// The cameras' openers, shared by their threads and the self-tests (absent: not on this board).
#[derive(Clone, Default)]
pub struct Cameras {
    /// The face camera's.
    pub face: Option<Shared<OpenCamera>>,
    /// The card camera's.
    pub card: Option<Shared<OpenCardCamera>>,
}

impl Cameras {
    /// The face camera's opener for its thread (the shared one, locked while it opens).
    pub fn share_face(&mut self, open: OpenCamera) -> OpenCamera {
        let shared = Arc::new(Mutex::new(open));
        self.face = Some(shared.clone());
        Box::new(move || (shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner))())
    }

    /// The card camera's opener for its thread.
    pub fn share_card(&mut self, open: OpenCardCamera) -> OpenCardCamera {
        let shared = Arc::new(Mutex::new(open));
        self.card = Some(shared.clone());
        Box::new(move || (shared.lock().unwrap_or_else(std::sync::PoisonError::into_inner))())
    }
}

/// A line for a failed test.
pub fn failed(part: Part, note: &'static str, value: impl Into<String>) -> TestLine {
    TestLine { part, verdict: Verdict::Failed, value: value.into(), note }
}

/// A line for a passed test.
pub fn passed(part: Part, note: &'static str, value: impl Into<String>) -> TestLine {
    TestLine { part, verdict: Verdict::Passed, value: value.into(), note }
}

/// A line for a part this board does not have.
pub fn not_fitted(part: Part) -> TestLine {
    TestLine { part, verdict: Verdict::NotFitted, value: String::new(), note: "selftest.note.not-in-board" }
}

/// What a camera delivered.
struct Taken {
    frames: u32,
    size: (u32, u32),
    mean: f64,
    elapsed: Duration,
}

/// Takes up to [`FRAMES`] pictures through `next`, within [`CAMERA_TIME`].
fn take(mut next: impl FnMut() -> Result<Frame, String>) -> Result<Taken, String> {
    let started = Instant::now();
    let mut taken = Taken { frames: 0, size: (0, 0), mean: 0.0, elapsed: Duration::ZERO };
    let mut first = None;
    while taken.frames < FRAMES && started.elapsed() < CAMERA_TIME {
        let frame = next()?;
        taken.size = (frame.width(), frame.height());
        taken.mean = frame.mean();
        taken.frames += 1;
        // The rate is measured from the first frame (opening and the stream's start excluded).
        match first {
            None => first = Some(Instant::now()),
            Some(t) => taken.elapsed = Instant::now().duration_since(t),
        }
    }
    Ok(taken)
}

/// The line for a camera from what it delivered.
fn camera_line(part: Part, taken: Result<Taken, String>) -> TestLine {
    match taken {
        Err(e) => failed(part, "selftest.note.camera-no-frames", e),
        Ok(t) if t.frames < 2 => failed(part, "selftest.note.camera-no-frames", format!("{} frames", t.frames)),
        Ok(t) => {
            let fps = f64::from(t.frames - 1) / t.elapsed.as_secs_f64().max(1e-3);
            let value = format!("{}x{} {fps:.1} fps, mean level {:.0}", t.size.0, t.size.1, t.mean);
            if t.mean < DARK_MEAN {
                failed(part, "selftest.note.camera-dark", value)
            } else {
                passed(part, "selftest.note.camera-ok", value)
            }
        }
    }
}

/// The face camera's test: opens it as the face thread does and takes pictures.
pub fn face_camera(open: Option<&Shared<OpenCamera>>) -> TestLine {
    let part = Part::FaceCamera;
    let Some(open) = open else { return not_fitted(part) };
    let mut open = open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut camera = match open() {
        Ok(c) => c,
        Err(e) => return failed(part, "selftest.note.camera-does-not-open", e),
    };
    camera_line(part, take(|| camera.next().map(|f| f.into_parts().0)))
}

/// The card camera's test.
pub fn card_camera(open: Option<&Shared<OpenCardCamera>>) -> TestLine {
    let part = Part::CardCamera;
    let Some(open) = open else { return not_fitted(part) };
    let mut open = open.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut camera: Box<dyn FrameSource> = match open() {
        Ok(c) => c,
        Err(e) => return failed(part, "selftest.note.camera-does-not-open", e),
    };
    camera_line(part, take(|| camera.next()))
}

/// The terminal link's test from the link's state now: `connected` is the link itself (on USB,
/// the cable in and the terminal's computer having configured the reader; on a socket, a client
/// connected), `serving` a paired terminal's channel open on it.
pub fn terminal(connected: bool, serving: bool, paired: usize) -> TestLine {
    let part = Part::Terminal;
    let value = format!("{paired} paired");
    if serving {
        passed(part, "selftest.note.terminal-ok", value)
    } else if paired == 0 {
        failed(part, "selftest.note.terminal-not-paired", value)
    } else if connected {
        // The terminal software connects when it needs the reader: a link up with nobody
        // talking on it is how a working reader usually looks between patients.
        passed(part, "selftest.note.terminal-idle", value)
    } else {
        failed(part, "selftest.note.terminal-not-connected", value)
    }
}

/// The lines known at once, without asking a device's thread: the terminal link (from the
/// link's state, see [`terminal`]), the touch panel, and the parts no board file has yet.
pub fn at_once(link: (bool, bool, usize), touch: Option<&Touch>) -> [TestLine; 4] {
    let (connected, serving, paired) = link;
    [terminal(connected, serving, paired), self::touch(touch), not_fitted(Part::Leds), not_fitted(Part::Speaker)]
}

/// The cameras' lines (each takes seconds: called off the main loop).
pub fn cameras(cameras: &Cameras) -> [TestLine; 2] {
    [face_camera(cameras.face.as_ref()), card_camera(cameras.card.as_ref())]
}

/// What the touch panel's thread knows (the device's displays keep it up to date).
#[derive(Debug, Default)]
pub struct TouchStatus {
    /// The panel's event node, once found.
    pub panel: Option<String>,
    /// Taps since the reader started.
    pub taps: u64,
    /// Why the panel stopped answering, if it did.
    pub error: Option<String>,
}

/// The touch panel's status, shared by its thread and the self-tests.
pub type Touch = Arc<Mutex<TouchStatus>>;

/// The touch panel's test from its thread's status (none: this reader draws no touch screen).
pub fn touch(status: Option<&Touch>) -> TestLine {
    let part = Part::Touch;
    let Some(status) = status else { return not_fitted(part) };
    let status = status.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match (&status.panel, &status.error) {
        (None, _) => failed(part, "selftest.note.touch-missing", ""),
        (Some(panel), Some(e)) => failed(part, "selftest.note.touch-stopped", format!("{panel}: {e}")),
        (Some(panel), None) => passed(part, "selftest.note.touch-ok", format!("{panel}, {} taps", status.taps)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(level: u8) -> Frame {
        Frame::new(4, 2, vec![level; 8], 0).unwrap()
    }

    #[test]
    fn a_camera_that_delivers_passes_with_its_size() {
        let line = camera_line(Part::CardCamera, take(|| Ok(frame(120))));
        assert_eq!(line.verdict, Verdict::Passed, "{line:?}");
        assert!(line.value.starts_with("4x2 "), "{line:?}");
    }

    #[test]
    fn a_dark_or_silent_camera_fails_with_advice() {
        let dark = camera_line(Part::FaceCamera, take(|| Ok(frame(0))));
        assert_eq!((dark.verdict, dark.note), (Verdict::Failed, "selftest.note.camera-dark"));
        let silent = camera_line(Part::FaceCamera, take(|| Err("VIDIOC_DQBUF: No such device".into())));
        assert_eq!((silent.verdict, silent.note), (Verdict::Failed, "selftest.note.camera-no-frames"));
        assert!(silent.value.contains("No such device"));
    }

    #[test]
    fn the_terminal_needs_a_paired_connection() {
        assert_eq!(terminal(true, true, 1).verdict, Verdict::Passed);
        assert_eq!(terminal(true, false, 0).note, "selftest.note.terminal-not-paired");
        assert_eq!(terminal(false, false, 0).verdict, Verdict::Failed);
        let idle = terminal(true, false, 1);
        assert_eq!((idle.verdict, idle.note), (Verdict::Passed, "selftest.note.terminal-idle"));
        assert_eq!(terminal(false, false, 1).note, "selftest.note.terminal-not-connected");
    }
}
