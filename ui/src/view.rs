//! Core's screen states onto the two windows, and the windows' taps back to core's events.
//!
//! The windows get codes ("pin-entry", "move-closer"), never sentences: the words live in the
//! Slint files and their translations. The PIN pad's digit positions are shuffled from the
//! operating system's CSPRNG every time a PIN entry starts (a new entry, or again after a wrong
//! PIN); the pad never learns which digits were typed beyond their count.

use crate::{PatientWindow, Prefs, ScreenKind, StaffWindow};
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

/// Why the session needs staff, in staff words (Japanese: the staff display is not translated).
pub fn staff_reason(screen: &Screen) -> &'static str {
    match screen {
        Screen::CallStaff { reason: StaffReason::FaceFailed } => {
            "顔認証で本人と確認できませんでした。暗証番号は使えません。目視確認をお願いします。"
        }
        Screen::CallStaff { reason: StaffReason::PinBlocked } => {
            "暗証番号がロックされています（解除は市区町村の窓口）。目視確認をお願いします。"
        }
        Screen::CallStaff { reason: StaffReason::NoMethod } => {
            "このカードで使える本人確認方法がこのリーダーにありません（暗証番号のないカード等）。目視確認をお願いします。"
        }
        Screen::ChooseMethod { notice: Some(n), .. } | Screen::PinEntry { notice: Some(n), .. } => match n {
            Notice::PinWrong => "暗証番号が一致しませんでした（患者さんが再入力中）。",
            Notice::PinNowBlocked => "暗証番号がロックされました（解除は市区町村の窓口）。",
            Notice::PinBlocked => "このカードの暗証番号はロックされています。",
            Notice::FaceFailed => "顔認証で一致しませんでした。",
            Notice::FaceLocked => "照合番号Bがロックされており、顔認証は使えません（解除は市区町村の窓口）。",
            Notice::FaceUnavailable(p) => match p {
                FaceProblem::Camera => "顔認証カメラから映像が来ません（接続を確認してください）。",
                FaceProblem::Models => "顔認証のモデルを読み込めません（保守が必要です）。",
                FaceProblem::CardNumbers => {
                    "券面の照合番号Bを読み取れませんでした（カードの向き・反射・券面カメラの汚れを確認）。"
                }
                FaceProblem::CardRefused => "カードが照合番号Bを受け付けませんでした（同じ値は再送しません）。",
                FaceProblem::CardPhoto => "カードの顔写真を顔認証に使えませんでした。",
                FaceProblem::CardNotGenuine => {
                    "カードの真正性を確認できませんでした。券面と本人を慎重に確認してください。"
                }
                FaceProblem::NotCaptured => "顔を十分に撮影できませんでした（マスク・帽子・逆光を確認）。",
                FaceProblem::TimedOut => "顔認証が時間切れになりました。",
            },
        },
        Screen::CardError { problem } => match problem {
            CardProblem::NoAnswer => "カードが応答しなくなりました（置き直しを案内中）。",
            CardProblem::BadAnswer => "カードが想定外の応答をしました（置き直しを案内中）。",
            CardProblem::NotMyNumberCard => "マイナンバーカードではありません。",
            CardProblem::Expired => "カードの有効期限が切れています。",
        },
        Screen::UnknownCard => "マイナンバーカードではないカードが置かれました。",
        Screen::CardExpired => "有効期限切れのカードです。受付で対応してください。",
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
        let weak = staff.as_weak();
        staff.on_maintenance(move |password| {
            // The maintenance menu and its password store come with the maintenance issue; the
            // typed text is dropped here without being looked at or logged.
            drop(password);
            if let Some(staff) = weak.upgrade() {
                staff.set_maintenance_message("メンテナンスメニューはまだありません。".into());
            }
        });
        Ok(Self { patient, staff, last: RefCell::new(None), shown: RefCell::new(None) })
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
        if matches!(screen, Screen::PlaceCard) {
            staff.set_maintenance_message(SharedString::default());
        }
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
        assert!(staff_reason(&Screen::CallStaff { reason: StaffReason::PinBlocked }).contains("ロック"));
        assert_eq!(staff_reason(&Screen::PlaceCard), "");
        assert_eq!(step(&Screen::Registration), 2);
        assert_eq!(hint(Some(FaceHint::MoveCloser)), "move-closer");
    }
}
