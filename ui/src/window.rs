//! The reader with its windows: Slint's event loop owns the main thread, the reader's work runs
//! on another thread, and screen states cross over with `invoke_from_event_loop`. Nothing the
//! card, the cameras or the models do can block the screen: the event loop only ever receives
//! finished screen states.

use crate::view::Ui;
use kaoyomi_core::{Event, ScreenState};
use slint::ComponentHandle;
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use zeroize::Zeroizing;

thread_local! {
    static UI: RefCell<Option<Ui>> = const { RefCell::new(None) };
}

/// Whether the platform drives a single output: Slint's DRM/KMS backend (feature `linuxkms`
/// without `window`) keeps one full-screen window per process, and a second window would take
/// the panel from the first. There the staff display is not shown (see ARCHITECTURE.md).
/// With our own platform (feature `kms`) both are shown.
const ONE_OUTPUT: bool = cfg!(all(feature = "linuxkms", not(feature = "window"), not(feature = "kms")));

/// Shows a screen state on the windows; callable from any thread.
pub type View = Box<dyn Fn(&ScreenState) + Send>;

/// Shows a face-camera frame (greyscale, row-major, width, height) in the face-capture preview;
/// callable from any thread (the face thread). Only the newest frame waits for the screen: a
/// frame that the screen had no time to draw is wiped and replaced, so a slow screen never
/// holds up the check and frames never pile up.
pub type Preview = std::sync::Arc<dyn Fn(u32, u32, &[u8]) + Send + Sync>;

/// The newest frame waiting for the event loop, wiped when replaced or taken.
type Waiting = std::sync::Mutex<Option<(u32, u32, Zeroizing<Vec<u8>>)>>;

fn preview_sender() -> Preview {
    let waiting: Arc<Waiting> = Arc::default();
    let posted = Arc::new(AtomicBool::new(false));
    Arc::new(move |width, height, grey: &[u8]| {
        let frame = (width, height, Zeroizing::new(grey.to_vec()));
        // A poisoned lock only means a panic elsewhere; the frame slot itself is still sound.
        *waiting.lock().unwrap_or_else(|p| p.into_inner()) = Some(frame);
        if posted.swap(true, Ordering::AcqRel) {
            return;
        }
        let (waiting, posted) = (waiting.clone(), posted.clone());
        let _ = slint::invoke_from_event_loop(move || {
            posted.store(false, Ordering::Release);
            let Some((w, h, pixels)) = waiting.lock().unwrap_or_else(|p| p.into_inner()).take() else { return };
            UI.with(|u| {
                if let Some(ui) = u.borrow().as_ref() {
                    ui.preview(w, h, &pixels);
                }
            });
        });
    })
}

/// Shows the maintenance pages' state on the staff display; callable from any thread.
pub type MaintenanceView = Box<dyn Fn(&kaoyomi_maintenance::contract::View) + Send>;

/// What `work` gets to show things with.
pub struct Views {
    /// The screen states.
    pub screen: View,
    /// The face camera's preview.
    pub preview: Preview,
    /// The maintenance pages.
    pub maintenance: MaintenanceView,
    /// The facility's settings for the patient's screens.
    pub settings: SettingsView,
}

/// Gives the patient's screens the facility's settings; callable from any thread.
pub type SettingsView = Box<dyn Fn(&kaoyomi_maintenance::Settings) + Send>;

/// Opens the patient's window and the staff display on the platform Slint chose (a desktop
/// window with the `window` feature, DRM/KMS with `linuxkms`), runs `work` on its own thread
/// with [`Views`] of them, sends the windows' taps to `taps` and the maintenance pages' actions
/// to `actions`, and returns `work`'s result once it has finished (the windows close then).
/// `wording` is the staff display's catalogue (with the facility's changes). Closing the
/// patient's window ends the event loop early; `work` still runs to its end (it should stop when
/// its input ends).
pub fn run<R: Send + 'static>(
    taps: mpsc::Sender<Event>,
    actions: mpsc::Sender<kaoyomi_maintenance::contract::Action>,
    wording: crate::wording::Wording,
    work: impl FnOnce(Views) -> R + Send + 'static,
) -> anyhow::Result<R> {
    let ui = Ui::new(std::rc::Rc::new(move |e| {
        let _ = taps.send(e);
    }))?;
    ui.set_wording(wording);
    ui.connect_maintenance(std::rc::Rc::new(move |a| {
        let _ = actions.send(a);
    }));
    ui.patient.show().map_err(|e| anyhow::anyhow!("showing the patient's window: {e}"))?;
    if ONE_OUTPUT {
        log::warn!(
            "staff display not shown: Slint's DRM/KMS backend drives one output per process (the patient's panel)"
        );
    } else {
        ui.staff.show().map_err(|e| anyhow::anyhow!("showing the staff display: {e}"))?;
    }
    UI.with(|u| *u.borrow_mut() = Some(ui));
    let view: View = Box::new(|state: &ScreenState| {
        let state = *state;
        let _ = slint::invoke_from_event_loop(move || {
            UI.with(|u| {
                if let Some(ui) = u.borrow().as_ref() {
                    ui.show(&state);
                }
            })
        });
    });
    let maintenance: MaintenanceView = Box::new(|v: &kaoyomi_maintenance::contract::View| {
        let v = v.clone();
        let _ = slint::invoke_from_event_loop(move || {
            UI.with(|u| {
                if let Some(ui) = u.borrow().as_ref() {
                    ui.show_maintenance(&v);
                }
            })
        });
    });
    let settings: SettingsView = Box::new(|s: &kaoyomi_maintenance::Settings| {
        let s = s.clone();
        let _ = slint::invoke_from_event_loop(move || {
            UI.with(|u| {
                if let Some(ui) = u.borrow().as_ref() {
                    ui.apply_settings(&s);
                }
            })
        });
    });
    let views = Views { screen: view, preview: preview_sender(), maintenance, settings };
    let worker = std::thread::Builder::new().name("reader".into()).spawn(move || {
        let result = work(views);
        let _ = slint::quit_event_loop();
        result
    })?;
    slint::run_event_loop_until_quit().map_err(|e| anyhow::anyhow!("the screen's event loop failed: {e}"))?;
    UI.with(|u| {
        if let Some(ui) = u.borrow_mut().take() {
            let _ = ui.patient.hide();
            let _ = ui.staff.hide();
        }
    });
    worker.join().map_err(|_| anyhow::anyhow!("the reader thread panicked"))
}
