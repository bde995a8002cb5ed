//! The face-capture preview: a camera frame appears mirrored on the face-capture screen and
//! reaches the drawn picture; frames that arrive on any other screen are dropped; when the
//! capture ends the picture leaves the window and its pixels are wiped in place, and the view
//! tells when something else still held them.

use kaoyomi_core::{FaceHint, Screen, ScreenState};
use kaoyomi_ui::{headless, view::Ui};
use slint::ComponentHandle;
use std::rc::Rc;

fn plain(screen: Screen) -> ScreenState {
    ScreenState { screen, timeout_warning_s: None }
}

/// A 64x48 frame, dark on the left half, bright on the right.
fn frame() -> Vec<u8> {
    (0..48).flat_map(|_| (0..64).map(|x| if x < 32 { 10 } else { 240 })).collect()
}

#[test]
fn the_preview_shows_only_during_the_capture_and_is_wiped_after() {
    let _windows = headless::install().unwrap();
    let ui = Ui::new(Rc::new(|_| {})).unwrap();
    ui.patient.show().unwrap();

    // Not on the face-capture screen: the frame is dropped.
    ui.show(&plain(Screen::PlaceCard));
    ui.preview(64, 48, &frame());
    assert_eq!(ui.patient.get_preview().size().width, 0);

    ui.show(&plain(Screen::FaceCheck { hint: None }));
    let dark = headless::snapshot(ui.patient.window()).unwrap();
    ui.preview(64, 48, &frame());
    let shown = ui.patient.get_preview().to_rgb8().expect("an RGB picture");
    assert_eq!((shown.width(), shown.height()), (64, 48));
    // Mirrored like a looking-glass: the bright half is on the left.
    let px = shown.as_slice();
    assert_eq!((px[0].r, px[63].r), (240, 10));
    drop(shown);
    // It is drawn: the window's picture changed where the preview is.
    let with = headless::snapshot(ui.patient.window()).unwrap();
    assert_ne!(dark, with, "the preview did not reach the drawn screen");
    // A frame of the wrong size is refused, the picture stays.
    ui.preview(64, 47, &frame());
    assert_eq!(ui.patient.get_preview().size().width, 64);

    // A hint does not clear the picture; the next screen does.
    ui.show(&plain(Screen::FaceCheck { hint: Some(FaceHint::HoldStill) }));
    assert_eq!(ui.patient.get_preview().size().width, 64);
    ui.show(&plain(Screen::ReadingCard));
    assert_eq!(ui.patient.get_preview().size().width, 0);
    let after = headless::snapshot(ui.patient.window()).unwrap();
    assert_ne!(after, with);

    // Wiping in place: frames replace each other while the screen draws them; each old one was
    // held only by the view (the drawn image element shares the window's picture, it keeps no
    // copy of its own).
    ui.show(&plain(Screen::FaceCheck { hint: None }));
    ui.preview(64, 48, &frame());
    headless::snapshot(ui.patient.window()).unwrap();
    ui.preview(64, 48, &frame());
    headless::snapshot(ui.patient.window()).unwrap();
    assert!(ui.set_preview(None), "the replaced picture was not wiped in place");
    // When someone else still holds the picture, the view says so.
    ui.preview(64, 48, &frame());
    let held = ui.patient.get_preview();
    assert!(!ui.set_preview(None), "a picture held elsewhere was reported as wiped");
    // And what it holds is the picture, not zeros: the view could not reach it.
    assert_eq!(held.to_rgb8().unwrap().as_slice()[0].r, 240);
}
