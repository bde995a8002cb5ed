//! The reader with its windows: Slint's event loop owns the main thread, the reader's work runs
//! on another thread, and screen states cross over with `invoke_from_event_loop`. Nothing the
//! card, the cameras or the models do can block the screen: the event loop only ever receives
//! finished screen states.

use crate::view::Ui;
use kaoyomi_core::{Event, ScreenState};
use slint::ComponentHandle;
use std::cell::RefCell;
use std::sync::mpsc;

thread_local! {
    static UI: RefCell<Option<Ui>> = const { RefCell::new(None) };
}

/// Shows a screen state on the windows; callable from any thread.
pub type View = Box<dyn Fn(&ScreenState) + Send>;

/// Opens the patient's window and the staff display on the platform Slint chose (a desktop
/// window with the `window` feature, DRM/KMS with `linuxkms`), runs `work` on its own thread
/// with a [`View`] of them, sends the windows' taps to `taps`, and returns `work`'s result once
/// it has finished (the windows close then). Closing the patient's window ends the event loop
/// early; `work` still runs to its end (it should stop when its input ends).
pub fn run<R: Send + 'static>(
    taps: mpsc::Sender<Event>,
    work: impl FnOnce(View) -> R + Send + 'static,
) -> anyhow::Result<R> {
    let ui = Ui::new(std::rc::Rc::new(move |e| {
        let _ = taps.send(e);
    }))?;
    ui.patient.show().map_err(|e| anyhow::anyhow!("showing the patient's window: {e}"))?;
    ui.staff.show().map_err(|e| anyhow::anyhow!("showing the staff display: {e}"))?;
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
    let worker = std::thread::Builder::new().name("reader".into()).spawn(move || {
        let result = work(view);
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
