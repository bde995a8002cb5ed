//! One example of every screen state core produces, named for the screenshot files
//! (`cargo xtask demo --screenshots DIR` and the screenshot test).

use kaoyomi_core::{CardProblem, FaceHint, FaceProblem, MethodOffer, Notice, Screen, ScreenState, StaffReason};
use kaoyomi_maintenance::Role;
use kaoyomi_maintenance::contract::{DayLine, LogLine, Message, Page, Part, Storage, TestLine, Verdict, View};
use kaoyomi_maintenance::settings::{Current, Settings};
use kaoyomi_protocol::{AuthMethod, CancelReason, ConsentTopic, Outcome};
#[cfg(feature = "pictures")]
use slint::ComponentHandle;

fn plain(screen: Screen) -> ScreenState {
    ScreenState { screen, timeout_warning_s: None }
}

/// Every screen state worth a picture: `(file stem, state)`.
pub fn all() -> Vec<(&'static str, ScreenState)> {
    use MethodOffer::{Available, Hidden, Unavailable};
    vec![
        ("place-card", plain(Screen::PlaceCard)),
        ("wait-for-reception", plain(Screen::WaitForReception)),
        ("reading-card", plain(Screen::ReadingCard)),
        (
            "choose-method",
            plain(Screen::ChooseMethod { face: Available, pin: Available, visual: Hidden, notice: None }),
        ),
        (
            "choose-method-pinless",
            plain(Screen::ChooseMethod { face: Available, pin: Hidden, visual: Hidden, notice: None }),
        ),
        (
            // A reader without a face camera (the QEMU device image).
            "choose-method-pin-only",
            plain(Screen::ChooseMethod { face: Hidden, pin: Available, visual: Hidden, notice: None }),
        ),
        (
            "choose-method-face-failed",
            plain(Screen::ChooseMethod {
                face: Unavailable,
                pin: Available,
                visual: Available,
                notice: Some(Notice::FaceUnavailable(FaceProblem::CardNumbers)),
            }),
        ),
        ("confirm-last-try", plain(Screen::ConfirmLastTry)),
        ("pin-entry", plain(Screen::PinEntry { entered: 2, tries_left: 3, notice: None })),
        ("pin-entry-wrong", plain(Screen::PinEntry { entered: 0, tries_left: 2, notice: Some(Notice::PinWrong) })),
        ("verifying-pin", plain(Screen::VerifyingPin)),
        ("face-check", plain(Screen::FaceCheck { hint: None })),
        ("face-check-closer", plain(Screen::FaceCheck { hint: Some(FaceHint::MoveCloser) })),
        ("face-check-mask", plain(Screen::FaceCheck { hint: Some(FaceHint::RemoveMask) })),
        ("face-check-card-glare", plain(Screen::FaceCheck { hint: Some(FaceHint::CardGlare) })),
        ("call-staff", plain(Screen::CallStaff { reason: StaffReason::PinBlocked })),
        ("visual-check", plain(Screen::VisualCheck)),
        ("registration", plain(Screen::Registration)),
        ("consent-medical", plain(Screen::Consent { topic: ConsentTopic::Medical, index: 0, total: 3 })),
        ("consent-checkup", plain(Screen::Consent { topic: ConsentTopic::Checkup, index: 1, total: 3 })),
        ("consent-limit", plain(Screen::Consent { topic: ConsentTopic::Limit, index: 2, total: 3 })),
        ("card-error", plain(Screen::CardError { problem: CardProblem::NoAnswer })),
        ("unknown-card", plain(Screen::UnknownCard)),
        ("card-expired", plain(Screen::CardExpired)),
        ("maintenance", plain(Screen::Maintenance)),
        ("finished", plain(Screen::Finished { outcome: Outcome::Verified, method: Some(AuthMethod::Face) })),
        (
            "choose-method-no-match",
            plain(Screen::ChooseMethod {
                face: Unavailable,
                pin: Hidden,
                visual: Available,
                notice: Some(Notice::FaceFailed),
            }),
        ),
        ("finished-not-verified", plain(Screen::Finished { outcome: Outcome::NotVerified, method: None })),
        (
            "finished-cancelled",
            plain(Screen::Finished { outcome: Outcome::Cancelled(CancelReason::PatientTimeout), method: None }),
        ),
        ("timeout-warning", ScreenState { screen: Screen::Registration, timeout_warning_s: Some(15) }),
    ]
}

/// The self-test page's example: each verdict, a fault with its advice.
fn self_tests() -> Vec<TestLine> {
    let line = |part, verdict, value: &str, note| TestLine { part, verdict, value: value.into(), note };
    vec![
        line(Part::CardReader, Verdict::Passed, "Virtual PCD 00 00 JPKI AP 41 ms", "selftest.note.card-answered"),
        line(Part::FaceCamera, Verdict::Passed, "640x480 29.9 fps, mean level 112", "selftest.note.camera-ok"),
        line(Part::CardCamera, Verdict::Failed, "VIDIOC_DQBUF: No such device", "selftest.note.camera-no-frames"),
        line(Part::Terminal, Verdict::Passed, "1 paired", "selftest.note.terminal-ok"),
        line(Part::Storage, Verdict::Running, "", ""),
        line(Part::Leds, Verdict::NotFitted, "", "selftest.note.not-in-board"),
        line(Part::Speaker, Verdict::NotFitted, "", "selftest.note.not-in-board"),
        line(Part::Touch, Verdict::Passed, "/dev/input/event2, 12 taps", "selftest.note.touch-ok"),
    ]
}

/// One example of every maintenance page (and of the database's problem banner), with the
/// language its picture is drawn in.
pub fn maintenance() -> Vec<(&'static str, &'static str, View)> {
    let base = View {
        role: Some(Role::Engineer),
        device_id: "KY-0123456789".into(),
        terminals: 1,
        settings: Some(Current { version: 3, settings: Settings::default() }),
        ..View::default()
    };
    let device = vec![
        ("device-serial", "KY-0123456789".to_string()),
        ("device-firmware", "0.1.0".to_string()),
        ("device-board", "rk3399".to_string()),
        ("device-uptime", "26 h 05 min".to_string()),
        ("device-database", "0.4 MB".to_string()),
        ("device-sessions", "1234".to_string()),
        ("device-settings-version", "3".to_string()),
    ];
    let log = |time: &str, code: &str, value: &str, error: bool| LogLine {
        time: time.into(),
        code: code.into(),
        value: value.into(),
        error,
    };
    let days = (0..14u32)
        .map(|i| DayLine {
            day: if i < 7 { format!("11-{}", 24 + i) } else { format!("12-{:02}", i - 6) },
            face: 20 + (i * 7) % 13,
            pin: 5 + (i * 3) % 7,
            visual: i % 3,
            none: (i * 5) % 4,
            face_rate: format!("{}%", 90 + i % 9),
            mean_s: format!("{}.{}", 9 + i % 4, i % 10),
            p95_s: format!("{}.{}", 20 + i % 6, i % 10),
            not_verified: i % 2,
            cancelled: (i * 5) % 4,
        })
        .collect();
    vec![
        (
            "login",
            "ja",
            View {
                page: Page::Login,
                role: None,
                message: Message::bad("login-wrong-password", "4"),
                settings: None,
                ..base.clone()
            },
        ),
        (
            "change-password",
            "ja",
            View { page: Page::ChangePassword, message: Message::ok("password-must-change", ""), ..base.clone() },
        ),
        ("device", "ja", View { page: Page::Device, device: device.clone(), ..base.clone() }),
        (
            "device-storage",
            "ja",
            View {
                page: Page::Device,
                device,
                storage: Storage::Unavailable,
                storage_problem: "the log database could not be opened: unable to open database file".into(),
                ..base.clone()
            },
        ),
        ("settings", "ja", View { page: Page::Settings, message: Message::ok("settings-saved", "3"), ..base.clone() }),
        (
            "logs",
            "ja",
            View {
                page: Page::Logs,
                logs: vec![
                    log("2026-12-07 09:31:05", "session-ended", "", false),
                    log("2026-12-07 09:30:52", "pin-wrong", "2", false),
                    log("2026-12-07 09:30:40", "card-accepted", "", false),
                    log("2026-12-07 08:02:11", "E101", "", true),
                    log("2026-12-07 08:00:00", "reader-started", "", false),
                ],
                ..base.clone()
            },
        ),
        ("statistics", "ja", View { page: Page::Statistics, days, ..base.clone() }),
        ("pairing", "ja", View { page: Page::Pairing, ..base.clone() }),
        // No message: the QEMU test clicks where this layout puts the run button.
        ("self-test", "ja", View { page: Page::SelfTest, tests: self_tests(), ..base.clone() }),
        ("login-en", "en", View { page: Page::Login, role: None, settings: None, ..base }),
    ]
}

#[cfg(feature = "pictures")]
/// Draws every sample state in every language, and the staff display of each state, handing
/// each picture to `each` as `(<state>.<language>.png | staff-<state>.png, pixels)`, then every
/// maintenance page (`staff-maintenance-<page>.png`); returns the names. Installs the headless platform, so call it once per process, before any other window
/// exists.
pub fn render_all(mut each: impl FnMut(&str, image::RgbaImage) -> anyhow::Result<()>) -> anyhow::Result<Vec<String>> {
    crate::headless::install()?;
    let ui = crate::view::Ui::new(std::rc::Rc::new(|_| {}))?;
    let mut names = Vec::new();
    for (code, _) in crate::LANGUAGES {
        for (name, state) in all() {
            ui.show(&state);
            // The idle screen puts the reader back to Japanese: choose the picture's language
            // after it, as a patient would.
            if ui.patient.global::<crate::Prefs>().get_language() != *code {
                ui.set_language(code);
            }
            if matches!(state.screen, Screen::PinEntry { .. }) {
                // The pictures show the pad in counting order, so that they compare equal from
                // run to run; the reader shuffles it at every entry.
                let counting: Vec<i32> = (1..10).chain([0]).collect();
                ui.patient.set_pad(slint::ModelRc::new(slint::VecModel::from(counting)));
            }
            let file = format!("{name}.{code}.png");
            each(&file, crate::headless::snapshot(ui.patient.window())?)?;
            names.push(file);
        }
    }
    ui.set_language(crate::view::DEFAULT_LANGUAGE);
    for (name, state) in all() {
        ui.show(&state);
        let file = format!("staff-{name}.png");
        each(&file, crate::headless::snapshot(ui.staff.window())?)?;
        names.push(file);
    }
    ui.show(&ScreenState { screen: Screen::Maintenance, timeout_warning_s: None });
    for (name, lang, view) in maintenance() {
        ui.staff.global::<crate::Words>().set_lang(lang.into());
        ui.show_maintenance(&view);
        let file = format!("staff-maintenance-{name}.png");
        each(&file, crate::headless::snapshot(ui.staff.window())?)?;
        names.push(file);
    }
    ui.show_maintenance(&View::default());
    Ok(names)
}

#[cfg(feature = "pictures")]
/// The sample `name` in language `code` on the patient's window at `count` moments spread over
/// its animation's `period` (`{name}.{code}.pNN.png`), and on the staff display
/// (`staff-{name}.png`), written to `dir`: what the device's screens must look like at some moment
/// (the QEMU test compares the guest's display heads with them).
pub fn write_phases(
    dir: &std::path::Path,
    name: &str,
    code: &str,
    period: std::time::Duration,
    count: u32,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let (_, state) =
        all().into_iter().find(|(n, _)| *n == name).with_context(|| format!("no sample screen {name:?}"))?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let windows = crate::headless::install()?;
    let ui = crate::view::Ui::new(std::rc::Rc::new(|_| {}))?;
    ui.show(&state);
    if ui.patient.global::<crate::Prefs>().get_language() != code {
        ui.set_language(code);
    }
    for i in 0..count {
        let file = dir.join(format!("{name}.{code}.p{i:02}.png"));
        crate::headless::snapshot(ui.patient.window())?
            .save(&file)
            .with_context(|| format!("writing {}", file.display()))?;
        windows.clock().advance(period / count);
    }
    let file = dir.join(format!("staff-{name}.png"));
    crate::headless::snapshot(ui.staff.window())?.save(&file).with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

#[cfg(feature = "pictures")]
/// [`render_all`] into PNG files in `dir` (`cargo xtask demo --screenshots DIR`).
pub fn write_all(dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    render_all(|file, picture| picture.save(dir.join(file)).with_context(|| format!("writing {file}")))
}

#[cfg(feature = "pictures")]
/// A picture at a quarter of its width and height, each pixel the mean of a 4x4 block (the size
/// the reference screenshots are kept at).
pub fn quarter(picture: &image::RgbaImage) -> image::RgbaImage {
    let (w, h) = (picture.width() / 4, picture.height() / 4);
    let stride = picture.width() as usize * 4;
    let raw = picture.as_raw();
    let mut out = vec![0u8; (w * h * 4) as usize];
    for y in 0..h as usize {
        for x in 0..w as usize {
            let mut sum = [0u32; 4];
            for dy in 0..4 {
                let row = &raw[(4 * y + dy) * stride + 16 * x..][..16];
                for px in row.chunks_exact(4) {
                    for c in 0..4 {
                        sum[c] += u32::from(px[c]);
                    }
                }
            }
            let o = (y * w as usize + x) * 4;
            for c in 0..4 {
                out[o + c] = (sum[c] / 16) as u8;
            }
        }
    }
    image::RgbaImage::from_raw(w, h, out).expect("the buffer has the picture's size")
}
