//! Core's screen states onto the two windows, and the windows' taps back to core's events.
//!
//! The windows get codes ("pin-entry", "move-closer"), never sentences: the words live in the
//! Slint files and their translations. The PIN pad's digit positions are shuffled from the
//! operating system's CSPRNG every time a PIN entry starts (a new entry, or again after a wrong
//! PIN); the pad never learns which digits were typed beyond their count.

use crate::wording::Wording;
use crate::{PatientWindow, Prefs, ScreenKind, StaffWindow, Words};
use kaoyomi_core::{CardProblem, Event, FaceHint, FaceProblem, MethodOffer, Notice, Screen, ScreenState, StaffReason};
use kaoyomi_protocol::{AuthMethod, ConsentTopic, Outcome};
use rand::seq::SliceRandom;
use slint::{ComponentHandle, Image, Model, ModelRc, Rgb8Pixel, SharedPixelBuffer, SharedString, VecModel};
use std::cell::RefCell;
use std::rc::Rc;
use zeroize::Zeroize;

/// The language every session starts in.
pub const DEFAULT_LANGUAGE: &str = "ja";

/// Where the windows' events go (the reader's input queue).
pub type Sink = Rc<dyn Fn(Event)>;

/// The patient's window and the staff display, kept in step with core.
pub struct Ui {
    /// The patient's touch screen.
    pub patient: PatientWindow,
    /// The staff display.
    pub staff: StaffWindow,
    last: RefCell<Option<Screen>>,
    /// The pixels of the picture in the preview, held so they can be wiped when it goes.
    shown: RefCell<Option<SharedPixelBuffer<Rgb8Pixel>>>,
    /// The staff display's words.
    wording: Rc<RefCell<Wording>>,
    /// The facility's notes on the consent screens (the settings).
    notes: Rc<RefCell<Vec<kaoyomi_maintenance::settings::Wording>>>,
}

/// The one adapter from core's screen to the screens' contract (`ui/contract.slint`).
pub fn kind(screen: &Screen) -> ScreenKind {
    match screen {
        Screen::PlaceCard => ScreenKind::PlaceCard,
        Screen::WaitForReception => ScreenKind::WaitForReception,
        Screen::ReadingCard => ScreenKind::ReadingCard,
        Screen::ChooseMethod { .. } => ScreenKind::ChooseMethod,
        Screen::ConfirmLastTry => ScreenKind::ConfirmLastTry,
        Screen::PinEntry { .. } => ScreenKind::PinEntry,
        Screen::VerifyingPin => ScreenKind::VerifyingPin,
        Screen::FaceCheck { .. } => ScreenKind::FaceCheck,
        Screen::CallStaff { .. } => ScreenKind::CallStaff,
        Screen::VisualCheck => ScreenKind::VisualCheck,
        Screen::Registration => ScreenKind::Registration,
        Screen::Consent { .. } => ScreenKind::Consent,
        Screen::CardError { .. } => ScreenKind::CardError,
        Screen::UnknownCard => ScreenKind::UnknownCard,
        Screen::CardExpired => ScreenKind::CardExpired,
        Screen::Maintenance => ScreenKind::Maintenance,
        Screen::Finished { .. } => ScreenKind::Finished,
    }
}

fn offer(o: MethodOffer) -> &'static str {
    match o {
        MethodOffer::Available => "available",
        MethodOffer::Unavailable => "unavailable",
        MethodOffer::Hidden => "hidden",
    }
}

fn face_problem(p: FaceProblem) -> &'static str {
    match p {
        FaceProblem::Camera => "face-camera",
        FaceProblem::Models => "face-models",
        FaceProblem::CardNumbers => "face-card-numbers",
        FaceProblem::CardRefused => "face-card-refused",
        FaceProblem::CardPhoto => "face-card-photo",
        FaceProblem::CardNotGenuine => "face-not-genuine",
        FaceProblem::NotCaptured => "face-not-captured",
        FaceProblem::TimedOut => "face-timed-out",
    }
}

fn notice(n: Option<Notice>) -> &'static str {
    match n {
        None => "",
        Some(Notice::PinWrong) => "pin-wrong",
        Some(Notice::PinNowBlocked) => "pin-now-blocked",
        Some(Notice::PinBlocked) => "pin-blocked",
        Some(Notice::FaceFailed) => "face-failed",
        Some(Notice::FaceLocked) => "face-locked",
        Some(Notice::FaceUnavailable(p)) => face_problem(p),
    }
}

/// The code of a face-capture hint, as the patient screen names it.
pub fn hint(h: Option<FaceHint>) -> &'static str {
    match h {
        None => "",
        Some(FaceHint::NoFace) => "no-face",
        Some(FaceHint::MoveCloser) => "move-closer",
        Some(FaceHint::MoveBack) => "move-back",
        Some(FaceHint::CentreFace) => "centre-face",
        Some(FaceHint::OnePerson) => "one-person",
        Some(FaceHint::FaceCamera) => "face-camera",
        Some(FaceHint::StraightenHead) => "straighten-head",
        Some(FaceHint::HoldStill) => "hold-still",
        Some(FaceHint::TooDark) => "too-dark",
        Some(FaceHint::TooBright) => "too-bright",
        Some(FaceHint::ShowEyes) => "show-eyes",
        Some(FaceHint::RemoveMask) => "remove-mask",
        Some(FaceHint::CardNotInView) => "card-not-in-view",
        Some(FaceHint::TurnCardRound) => "turn-card-round",
        Some(FaceHint::ShowCardFront) => "show-card-front",
        Some(FaceHint::CardGlare) => "card-glare",
        Some(FaceHint::RepositionCard) => "reposition-card",
    }
}

/// Why the session needs staff: a key of the staff wording catalogue (`ui/wording/staff.toml`),
/// in staff words there (Japanese: the staff display is not translated with the patient's).
pub fn staff_reason(screen: &Screen) -> &'static str {
    match screen {
        Screen::CallStaff { reason: StaffReason::FaceFailed } => "staff.reason.face-failed",
        Screen::CallStaff { reason: StaffReason::PinBlocked } => "staff.reason.pin-blocked",
        Screen::CallStaff { reason: StaffReason::NoMethod } => "staff.reason.no-method",
        Screen::ChooseMethod { notice: Some(n), .. } | Screen::PinEntry { notice: Some(n), .. } => match n {
            Notice::PinWrong => "staff.notice.pin-wrong",
            Notice::PinNowBlocked => "staff.notice.pin-now-blocked",
            Notice::PinBlocked => "staff.notice.pin-blocked",
            Notice::FaceFailed => "staff.notice.face-failed",
            Notice::FaceLocked => "staff.notice.face-locked",
            Notice::FaceUnavailable(p) => match p {
                FaceProblem::Camera => "staff.face.camera",
                FaceProblem::Models => "staff.face.models",
                FaceProblem::CardNumbers => "staff.face.card-numbers",
                FaceProblem::CardRefused => "staff.face.card-refused",
                FaceProblem::CardPhoto => "staff.face.card-photo",
                FaceProblem::CardNotGenuine => "staff.face.not-genuine",
                FaceProblem::NotCaptured => "staff.face.not-captured",
                FaceProblem::TimedOut => "staff.face.timed-out",
            },
        },
        Screen::CardError { problem } => match problem {
            CardProblem::NoAnswer => "staff.card.no-answer",
            CardProblem::BadAnswer => "staff.card.bad-answer",
            CardProblem::NotMyNumberCard => "staff.card.not-my-number-card",
            CardProblem::Expired => "staff.card.expired",
        },
        Screen::UnknownCard => "staff.unknown-card",
        Screen::CardExpired => "staff.card-expired",
        _ => "",
    }
}

/// The session's step for the staff display: 0 card, 1 identity check, 2 consents, 3 sending, 4 done.
pub fn step(screen: &Screen) -> i32 {
    match screen {
        Screen::PlaceCard | Screen::WaitForReception | Screen::ReadingCard | Screen::Maintenance => 0,
        Screen::CardError { .. } | Screen::UnknownCard | Screen::CardExpired => 0,
        Screen::ChooseMethod { .. }
        | Screen::ConfirmLastTry
        | Screen::PinEntry { .. }
        | Screen::VerifyingPin
        | Screen::FaceCheck { .. }
        | Screen::CallStaff { .. }
        | Screen::VisualCheck => 1,
        Screen::Registration | Screen::Consent { .. } => 2,
        Screen::Finished { .. } => 4,
    }
}

/// Ten digits in an order drawn from the operating system's CSPRNG.
pub fn shuffled_pad() -> Vec<i32> {
    let mut digits: Vec<i32> = (0..10).collect();
    digits.shuffle(&mut rand::rngs::OsRng);
    digits
}

impl Ui {
    /// Creates both windows (the Slint platform must be set up first) and wires their taps to
    /// `sink`.
    pub fn new(sink: Sink) -> anyhow::Result<Self> {
        let patient = PatientWindow::new().map_err(|e| anyhow::anyhow!("creating the patient window: {e}"))?;
        let staff = StaffWindow::new().map_err(|e| anyhow::anyhow!("creating the staff display: {e}"))?;
        let s = sink.clone();
        patient.on_method_chosen(move |m| {
            let method = match m.as_str() {
                "face" => AuthMethod::Face,
                "pin" => AuthMethod::Pin,
                _ => AuthMethod::Visual,
            };
            s(Event::MethodChosen(method));
        });
        let s = sink.clone();
        patient.on_last_try_confirmed(move || s(Event::LastTryConfirmed));
        let s = sink.clone();
        patient.on_pin_digit(move |d| {
            if let Ok(d) = u8::try_from(d)
                && d <= 9
            {
                s(Event::PinDigit(d));
            }
        });
        let s = sink.clone();
        patient.on_pin_delete(move || s(Event::PinDelete));
        let s = sink.clone();
        patient.on_back(move || s(Event::Back));
        let s = sink.clone();
        patient.on_consent_answered(move |yes| s(Event::ConsentAnswered(yes)));
        let s = sink.clone();
        patient.on_registration_answered(move |yes| s(Event::RegistrationAnswered(yes)));
        let s = sink.clone();
        patient.on_still_here(move || s(Event::StillHere));
        // The language button has set `Prefs.language` itself.
        let weak = staff.as_weak();
        patient.on_language_chosen(move |code| {
            if let Some(staff) = weak.upgrade() {
                select_for_both(&staff, &code);
            }
        });
        // The reader starts in Japanese whatever the system's locale says.
        select_for_both(&staff, DEFAULT_LANGUAGE);
        let s = sink.clone();
        staff.on_visual_mode_changed(move |on| s(Event::StaffVisualMode(on)));
        let s = sink.clone();
        staff.on_visual_confirm(move |yes| s(Event::StaffVisualConfirm(yes)));
        let s = sink;
        staff.on_cancel_session(move || s(Event::StaffCancel));
        let wording = Rc::new(RefCell::new(Wording::bundled()));
        crate::maintenance::install_wording(&staff, wording.clone());
        let notes: Rc<RefCell<Vec<kaoyomi_maintenance::settings::Wording>>> = Rc::default();
        let n = notes.clone();
        patient.global::<Prefs>().on_facility_note(move |topic, language, _revision| {
            n.borrow()
                .iter()
                .find(|w| w.topic == topic.as_str() && w.language.code() == language.as_str())
                .map(|w| SharedString::from(w.text.as_str()))
                .unwrap_or_default()
        });
        Ok(Self { patient, staff, last: RefCell::new(None), shown: RefCell::new(None), wording, notes })
    }

    /// Shows a screen state on both windows.
    pub fn show(&self, state: &ScreenState) {
        let p = &self.patient;
        let screen = state.screen;
        let previous = self.last.replace(Some(screen));
        if previous != Some(screen) {
            // A new question starts with its explanation closed.
            p.set_detail_open(false);
        }
        if screen == Screen::PlaceCard && matches!(previous, Some(Screen::Finished { .. })) {
            // The next patient finds the reader as it was made (`new` starts it so): Japanese,
            // normal letters, normal colours; the last patient's choices go with them (a card
            // taken away and placed again mid-session keeps them).
            self.set_language(DEFAULT_LANGUAGE);
            let prefs = p.global::<Prefs>();
            prefs.set_large_text(false);
            prefs.set_high_contrast(false);
        }
        p.set_timeout_warning(state.timeout_warning_s.map(|s| s.min(i32::MAX as u32) as i32).unwrap_or(-1));
        p.set_notice("".into());
        match screen {
            Screen::ChooseMethod { face, pin, visual, notice: n } => {
                p.set_face_offer(offer(face).into());
                p.set_pin_offer(offer(pin).into());
                p.set_visual_offer(offer(visual).into());
                p.set_notice(notice(n).into());
            }
            Screen::PinEntry { entered, tries_left, notice: n } => {
                // A new entry (coming from another screen) gets a new pad.
                if !matches!(previous, Some(Screen::PinEntry { .. })) {
                    p.set_pad(ModelRc::new(VecModel::from(shuffled_pad())));
                }
                p.set_pin_entered(i32::from(entered));
                p.set_tries_left(i32::from(tries_left));
                p.set_notice(notice(n).into());
            }
            Screen::FaceCheck { hint: h } => p.set_hint(hint(h).into()),
            Screen::CallStaff { reason } => p.set_staff_reason(
                match reason {
                    StaffReason::FaceFailed => "face-failed",
                    StaffReason::PinBlocked => "pin-blocked",
                    StaffReason::NoMethod => "no-method",
                }
                .into(),
            ),
            Screen::Consent { topic, index, total } => {
                p.set_consent_topic(
                    match topic {
                        ConsentTopic::Medical => "medical",
                        ConsentTopic::Checkup => "checkup",
                        ConsentTopic::Limit => "limit",
                    }
                    .into(),
                );
                p.set_consent_index(i32::from(index));
                p.set_consent_total(i32::from(total));
            }
            Screen::CardError { problem } => p.set_card_problem(
                match problem {
                    CardProblem::NoAnswer => "no-answer",
                    CardProblem::BadAnswer => "bad-answer",
                    CardProblem::NotMyNumberCard => "not-my-number-card",
                    CardProblem::Expired => "expired",
                }
                .into(),
            ),
            Screen::Finished { outcome, method } => {
                let (o, m) = finished_codes(outcome, method);
                p.set_outcome(o.into());
                p.set_method(m.into());
                self.staff.set_outcome(o.into());
                self.staff.set_method(m.into());
            }
            _ => {}
        }
        if !matches!(screen, Screen::FaceCheck { .. }) {
            // No picture of the patient stays in the window once the capture is over.
            self.set_preview(None);
        }
        p.set_screen(kind(&screen));
        let staff = &self.staff;
        staff.set_screen(kind(&screen));
        staff.set_step(step(&screen));
        staff.set_reason(staff_reason(&screen).into());
    }

    /// Takes the facility's staff wording (the bundled catalogue with its changes).
    pub fn set_wording(&self, wording: Wording) {
        *self.wording.borrow_mut() = wording;
        let words = self.staff.global::<Words>();
        words.set_revision(words.get_revision().wrapping_add(1));
    }

    /// Sends the maintenance pages' actions to `actions`.
    pub fn connect_maintenance(&self, actions: crate::maintenance::Actions) {
        crate::maintenance::connect(&self.staff, actions);
    }

    /// Takes the facility's settings for the patient's screens: the languages offered (Japanese
    /// always) and its notes on the consent screens.
    pub fn apply_settings(&self, settings: &kaoyomi_maintenance::Settings) {
        use kaoyomi_maintenance::Language;
        let prefs = self.patient.global::<Prefs>();
        let offered = |l| settings.languages.contains(&l);
        prefs.set_offer_en(offered(Language::English));
        prefs.set_offer_zh(offered(Language::Chinese));
        prefs.set_offer_ko(offered(Language::Korean));
        prefs.set_offer_vi(offered(Language::Vietnamese));
        prefs.set_offer_pt(offered(Language::Portuguese));
        if !settings.languages.iter().any(|l| l.code() == prefs.get_language().as_str()) {
            self.set_language(DEFAULT_LANGUAGE);
        }
        *self.notes.borrow_mut() = settings.consent_wording.clone();
        prefs.set_notes_revision(prefs.get_notes_revision().wrapping_add(1));
    }

    /// Shows the maintenance pages' state.
    pub fn show_maintenance(&self, view: &kaoyomi_maintenance::contract::View) {
        crate::maintenance::show(&self.staff, view, &self.wording.borrow());
    }

    /// Shows the patient's screen in `code` (a code of [`crate::LANGUAGES`]), and tells the staff.
    pub fn set_language(&self, code: &str) {
        if select_for_both(&self.staff, code) {
            self.patient.global::<Prefs>().set_language(code.into());
        }
    }

    /// The digits of the PIN pad in their positions (top-left first, the tenth key in the middle
    /// of the bottom row).
    pub fn pad(&self) -> Vec<i32> {
        self.patient.get_pad().iter().collect()
    }

    /// Shows a camera frame (greyscale, row-major) in the face-capture preview, mirrored like a
    /// looking-glass. Ignored unless the face-capture screen is showing (a frame that arrives
    /// after the capture ended never appears) or when the size does not match the pixels.
    pub fn preview(&self, width: u32, height: u32, grey: &[u8]) {
        if grey.len() != (width as usize) * (height as usize)
            || !matches!(*self.last.borrow(), Some(Screen::FaceCheck { .. }))
        {
            return;
        }
        let mut buffer = SharedPixelBuffer::<Rgb8Pixel>::new(width, height);
        let out = buffer.make_mut_slice();
        for (row_in, row_out) in grey.chunks_exact(width as usize).zip(out.chunks_exact_mut(width as usize)) {
            for (o, &g) in row_out.iter_mut().zip(row_in.iter().rev()) {
                *o = Rgb8Pixel { r: g, g, b: g };
            }
        }
        self.set_preview(Some(buffer));
    }

    /// Puts `buffer` (or nothing) into the preview and wipes the picture it replaces. Slint's
    /// image does not wipe its pixels when dropped, so the view keeps a second handle on them:
    /// once the window has let go of the old picture, that handle is the only one left and
    /// its pixels are overwritten in place. Returns whether the old picture was wiped in place
    /// (`false`: something else still held it, and only a copy could be wiped).
    pub fn set_preview(&self, buffer: Option<SharedPixelBuffer<Rgb8Pixel>>) -> bool {
        let image = buffer.as_ref().map_or_else(Image::default, |b| Image::from_rgb8(b.clone()));
        self.patient.set_preview(image);
        let Some(mut old) = self.shown.replace(buffer) else { return true };
        let before = old.as_slice().as_ptr();
        // Unique: the same memory; shared: a copy (the original lives on elsewhere).
        old.make_mut_bytes().zeroize();
        let in_place = std::ptr::eq(before, old.as_slice().as_ptr());
        if !in_place {
            log::warn!("a preview picture was still held elsewhere when it was wiped");
        }
        in_place
    }
}

/// Selects `code` for the patient's screen and shows it on the staff display; `false` (logged)
/// for a language the reader does not have.
fn select_for_both(staff: &StaffWindow, code: &str) -> bool {
    match crate::select_language(code) {
        Ok(()) => {
            staff.set_patient_language(code.into());
            true
        }
        Err(e) => {
            log::warn!("{e}");
            false
        }
    }
}

fn finished_codes(outcome: Outcome, method: Option<AuthMethod>) -> (&'static str, &'static str) {
    let o = match outcome {
        Outcome::Verified => "verified",
        Outcome::NotVerified => "not-verified",
        Outcome::Cancelled(_) => "cancelled",
    };
    let m = match method {
        Some(AuthMethod::Face) => "face",
        Some(AuthMethod::Pin) => "pin",
        Some(AuthMethod::Visual) => "visual",
        None => "",
    };
    (o, m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pad_holds_each_digit_once_in_changing_positions() {
        let pads: Vec<Vec<i32>> = (0..20).map(|_| shuffled_pad()).collect();
        for pad in &pads {
            let mut sorted = pad.clone();
            sorted.sort();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        }
        // 20 draws of 10! orders: all equal only if the shuffle did nothing.
        assert!(pads.iter().any(|p| p != &pads[0]), "the pad was never shuffled");
        // Each digit leaves the first position at some point.
        assert!(pads.iter().map(|p| p[0]).collect::<std::collections::BTreeSet<_>>().len() > 1);
    }

    #[test]
    fn staff_see_why_and_where() {
        let words = Wording::bundled();
        let reason = staff_reason(&Screen::CallStaff { reason: StaffReason::PinBlocked });
        assert!(words.text(reason, "", "ja").contains("ロック"));
        assert_eq!(staff_reason(&Screen::PlaceCard), "");
        assert_eq!(step(&Screen::Registration), 2);
        assert_eq!(hint(Some(FaceHint::MoveCloser)), "move-closer");
    }
}
