//! The whole face check on the simulated 2.5D camera (the models on single pictures are tested in
//! `firmware/vision/tests/networks.rs`, on the host and under qemu-aarch64): the card holder
//! is accepted after the guidance of the approach, a stranger is refused, nobody and a dark room
//! end as not captured with their hints, a print, a phone and the card's own front held up end
//! as not live although their faces match. Needs the model files (`cargo xtask models`, which `cargo xtask
//! test` runs first); without them this test fails and says so.

use kaoyomi_core::FaceHint;
use kaoyomi_hal::camera::FaceCamera;
use kaoyomi_hal_sim::{Scene, SimCameraControl};
use kaoyomi_models::sface::SFace;
use kaoyomi_models::yunet::YuNet;
use kaoyomi_vision::calibration::Accuracy;
use kaoyomi_vision::check::{self, Decision, Depth25, FaceCheck, HINTS, Liveness, Models, Settings, Step};
use kaoyomi_vision::pad::DepthView;
use kaoyomi_vision::{GreyImage, GreyView, align, portrait};
use std::path::PathBuf;

const CARD_PORTRAIT: &[u8] = include_bytes!("../../hal/sim/assets/portrait.jp2");

fn models() -> PathBuf {
    std::env::var_os("KAOYOMI_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/models"))
}

fn load_models() -> Models {
    let dir = models();
    Models {
        detector: Box::new(YuNet::load(&dir).unwrap_or_else(|e| panic!("{e}"))),
        embedder: Box::new(SFace::load(&dir).unwrap_or_else(|e| panic!("{e}"))),
    }
}

/// Runs a face check on the simulated camera showing `scene`: the decision, the hints in order
/// (repeats collapsed) and the report.
fn session(models: &mut Models, scene: Scene, max_frames: u32) -> (Decision, Vec<FaceHint>, check::Report) {
    let card = portrait::decode(CARD_PORTRAIT).expect("portrait");
    let reference = check::embed_reference(models, card.view()).expect("runs").expect("a face on the card");
    let settings = Settings { max_frames, ..Settings::for_accuracy(Accuracy::Standard) };
    let mut check = FaceCheck::new(reference, settings).with_liveness(Liveness::default());
    let mut camera = SimCameraControl::new(scene).open();
    let mut hints = Vec::new();
    loop {
        let frames = camera.next_frames().expect("the sim camera delivers");
        let frame = frames.visible();
        let view = GreyView { width: frame.width(), height: frame.height(), pixels: frame.pixels() };
        let (ir, depth) = (frames.infrared(), frames.depth());
        let streams = Depth25 {
            infrared: GreyView { width: ir.width(), height: ir.height(), pixels: ir.pixels() },
            depth: DepthView { width: depth.width(), height: depth.height(), mm: depth.millimetres() },
        };
        let step = check.frame_25d(models, view, streams).expect("models run");
        if std::env::var_os("KAOYOMI_DEBUG_FACE").is_some() {
            let faces = check::find_faces(models.detector.as_mut(), view, 320, 0.6).unwrap();
            let extra = faces.first().map(|f| {
                let img = GreyImage::new(view.width, view.height, view.pixels.to_vec()).unwrap();
                let a = align::align(img.view(), &f.landmarks);
                (
                    f.x as i32,
                    f.y as i32,
                    f.width as i32,
                    f.landmarks.map(|p| (p.x as i32, p.y as i32)),
                    check::sharpness(&a) as i32,
                )
            });
            eprintln!("frame {}: {step:?} {extra:?}", frame.sequence());
        }
        match step {
            Step::Continue(Some(h)) if hints.last() != Some(&h) => hints.push(h),
            Step::Continue(_) => {}
            Step::Decided(d) => return (d, hints, check.report().clone()),
        }
    }
}

#[test]
fn the_card_holder_is_guided_then_accepted_and_a_stranger_refused() {
    if kaoyomi_tests::skipped_under_emulation("the_card_holder_is_guided_then_accepted") {
        return;
    }
    let mut models = load_models();
    let (decision, hints, report) = session(&mut models, Scene::Holder, 50);
    eprintln!("holder: {decision:?} {hints:?} {report:?}");
    assert_eq!(decision, Decision::Match, "{report:?}");
    // The approach (nobody, far, at the edge, shaken, dark) was seen as such. (The tilted head
    // of the approach is not asserted: YuNet's landmarks under-read a strong roll, so the gate
    // sees a turned face or a good one; the roll check itself is tested in kaoyomi-vision.)
    for h in [FaceHint::NoFace, FaceHint::MoveCloser, FaceHint::CentreFace, FaceHint::HoldStill, FaceHint::TooDark] {
        assert!(hints.contains(&h), "no {h:?} in {hints:?}");
    }
    assert!(report.good >= 3 && report.frames <= 50, "{report:?}");

    let (decision, _, report) = session(&mut models, Scene::Stranger, 50);
    eprintln!("stranger: {decision:?} {report:?}");
    assert_eq!(decision, Decision::NoMatch, "{report:?}");
    assert_eq!(report.compared, Settings::for_accuracy(Accuracy::Standard).max_compared);
}

#[test]
fn a_print_a_phone_and_the_card_front_are_not_live() {
    if kaoyomi_tests::skipped_under_emulation("a_print_a_phone_and_the_card_front_are_not_live") {
        return;
    }
    let mut models = load_models();
    for scene in [Scene::PhotoOfHolder, Scene::ScreenOfHolder, Scene::CardFront] {
        let (decision, _, report) = session(&mut models, scene, 50);
        eprintln!("{scene:?}: {decision:?} {report:?}");
        // Each was a good enough picture to be compared, and none was taken for a live face.
        assert!(report.good >= 3, "{scene:?}: {report:?}");
        assert_eq!(decision, Decision::NotLive, "{scene:?}: {report:?}");
    }
}

#[test]
fn nobody_and_a_dark_room_end_as_not_captured() {
    if kaoyomi_tests::skipped_under_emulation("nobody_and_a_dark_room_end_as_not_captured") {
        return;
    }
    let mut models = load_models();
    // Twelve frames rather than fifty keep the test short (under qemu-aarch64 too); the limit
    // is a setting, and the decision logic is the same.
    let (decision, hints, report) = session(&mut models, Scene::Nobody, 12);
    assert_eq!((decision, hints), (Decision::NotCaptured, vec![FaceHint::NoFace]));
    assert_eq!((report.frames, report.refused[0]), (12, 12));
    let (decision, hints, _) = session(&mut models, Scene::Dark, 12);
    assert_eq!(decision, Decision::NotCaptured);
    assert_eq!(hints, vec![FaceHint::TooDark]);
    assert_eq!(HINTS.len(), 11);
}
