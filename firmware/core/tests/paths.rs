//! Snapshot tests: every path of the patient session as an event -> command trace.
//!
//! Each trace lists the events fed (`>`) and the commands that came out (`<`). Review a changed
//! snapshot like code: it is the behaviour. Regenerate with `INSTA_UPDATE=always cargo test`.

use kaoyomi_core::*;
use kaoyomi_protocol::*;
use std::fmt::Write;

const T: Timeouts = Timeouts { patient_ms: 60_000, warn_before_ms: 15_000, card_op_ms: 20_000, face_ms: 60_000 };

struct Harness {
    session: Session,
    now: u64,
    trace: String,
    last_op: u32,
}

fn cert() -> Vec<u8> {
    vec![0x30, 0x82, 0x01, 0x00]
}

fn summary(pin: PinState) -> CardSummary {
    CardSummary {
        token: TokenKind::Card,
        pin,
        auth_certificate: cert(),
        expiry: Some(20350217),
        collation_b: Some(PinState::Tries(10)),
    }
}

fn fmt_command(c: &Command) -> String {
    match c {
        Command::Show(s) => match s.timeout_warning_s {
            Some(w) => format!("Show {:?} (time-out warning: {w} s)", s.screen),
            None => format!("Show {:?}", s.screen),
        },
        Command::SendReport(r) => format!(
            "SendReport session={} outcome={:?} method={:?} token={:?} cert={} card_sig={} consents={:?} registration={:?} took={}ms",
            r.session_id,
            r.outcome,
            r.method,
            r.token,
            r.auth_certificate.is_some(),
            r.card_signature.as_ref().map(|s| s.len()).unwrap_or(0),
            r.consents.iter().map(|c| (c.topic, c.agreed)).collect::<Vec<_>>(),
            r.registration,
            r.finished_ms - r.started_ms,
        ),
        Command::Notify(Notification::Progress { session_id, progress }) => {
            format!("Notify session={session_id} {progress:?}")
        }
        Command::Card(CardJob::VerifyPinAndSign { op, pin, message, allow_last_try }) => {
            format!("VerifyPinAndSign op={op} pin={pin:?} message={}B allow_last_try={allow_last_try}", message.len())
        }
        other => format!("{other:?}"),
    }
}

impl Harness {
    fn new(face: bool) -> Self {
        Harness {
            session: Session::new(Config { timeouts: T, face_available: face, serial: "KY-TEST" }),
            now: 0,
            trace: String::new(),
            last_op: 0,
        }
    }

    fn at(&mut self, ms: u64) -> &mut Self {
        self.now = ms;
        self
    }

    fn ev(&mut self, event: Event) -> &mut Self {
        let shown = match &event {
            Event::Terminal { request: Request::StartSession(r), seq } => {
                format!(
                    "Terminal seq={seq} StartSession consents={:?} registration_needed={}",
                    r.consents.topics(),
                    r.registration_needed
                )
            }
            Event::CardRead { op, summary } => format!("CardRead op={op} {summary:?}"),
            e => format!("{e:?}"),
        };
        writeln!(self.trace, "> [{:>6}ms] {shown}", self.now).unwrap();
        let commands =
            self.session.handle(Now { monotonic_ms: self.now, unix_ms: 1_800_000_000_000 + self.now }, event);
        for c in &commands {
            if let Command::Card(CardJob::Read { op } | CardJob::VerifyPinAndSign { op, .. })
            | Command::StartFaceCheck { op } = c
            {
                self.last_op = *op;
            }
            writeln!(self.trace, "<   {}", fmt_command(c)).unwrap();
        }
        self
    }

    fn arm(&mut self, consents: ConsentRequest, registration_needed: bool) -> &mut Self {
        self.ev(Event::Terminal {
            seq: 1,
            request: Request::StartSession(SessionRequest { nonce: [9; 32], consents, registration_needed }),
        })
    }

    fn card(&mut self, pin: PinState) -> &mut Self {
        self.ev(Event::CardPlaced);
        let op = self.last_op;
        self.ev(Event::CardRead { op, summary: summary(pin) })
    }

    fn pin(&mut self, digits: &str) -> &mut Self {
        for d in digits.bytes() {
            self.ev(Event::PinDigit(d - b'0'));
        }
        self
    }

    fn pin_result(&mut self, result: PinResult) -> &mut Self {
        let op = self.last_op;
        self.ev(Event::PinChecked { op, result })
    }

    fn face_result(&mut self, result: FaceResult) -> &mut Self {
        let op = self.last_op;
        self.ev(Event::FaceChecked { op, result })
    }

    fn done(&self) -> String {
        self.trace.clone()
    }
}

const ALL: ConsentRequest = ConsentRequest { medical: true, checkup: true, limit: true };
const TWO: ConsentRequest = ConsentRequest { medical: true, checkup: true, limit: false };
const NONE: ConsentRequest = ConsentRequest { medical: false, checkup: false, limit: false };

fn signed() -> PinResult {
    PinResult::Verified { signature: vec![0xAA; 256] }
}

#[test]
fn pin_path() {
    let mut h = Harness::new(false);
    h.arm(ALL, false)
        .card(PinState::Tries(3))
        .ev(Event::MethodChosen(AuthMethod::Pin))
        .pin("12")
        .ev(Event::PinDelete)
        .pin("345");
    h.pin_result(signed())
        .ev(Event::ConsentAnswered(true))
        .ev(Event::ConsentAnswered(true))
        .ev(Event::ConsentAnswered(false));
    h.ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn card_placed_before_the_terminal_arms() {
    let mut h = Harness::new(false);
    h.ev(Event::CardPlaced).arm(NONE, false);
    let op = h.last_op;
    h.ev(Event::CardRead { op, summary: summary(PinState::Tries(3)) })
        .ev(Event::MethodChosen(AuthMethod::Pin))
        .pin("1234");
    h.pin_result(signed()).ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn wrong_pins_down_to_the_last_try_which_needs_confirmation() {
    let mut h = Harness::new(false);
    h.arm(TWO, false).card(PinState::Tries(3)).ev(Event::MethodChosen(AuthMethod::Pin)).pin("0000");
    h.pin_result(PinResult::Wrong { tries_left: 2 }).pin("1111").pin_result(PinResult::Wrong { tries_left: 1 });
    // Digits on the warning screen do nothing; only the explicit confirmation opens the pad.
    h.pin("2222").ev(Event::LastTryConfirmed).pin("2222").pin_result(PinResult::Wrong { tries_left: 0 });
    h.ev(Event::StaffVisualMode(true))
        .ev(Event::MethodChosen(AuthMethod::Pin))
        .ev(Event::MethodChosen(AuthMethod::Visual));
    h.ev(Event::StaffVisualConfirm(true))
        .ev(Event::ConsentAnswered(true))
        .ev(Event::ConsentAnswered(true))
        .ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn last_try_card_warns_and_lets_the_patient_switch() {
    let mut h = Harness::new(true);
    h.arm(NONE, false).card(PinState::Tries(1)).ev(Event::MethodChosen(AuthMethod::Pin)).ev(Event::Back);
    h.ev(Event::MethodChosen(AuthMethod::Pin)).ev(Event::MethodChosen(AuthMethod::Face)).face_result(FaceResult::Match);
    h.ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn card_changed_counter_behind_our_back_is_confirmed_again() {
    let mut h = Harness::new(false);
    h.arm(NONE, false).card(PinState::Tries(2)).ev(Event::MethodChosen(AuthMethod::Pin)).pin("5555");
    h.pin_result(PinResult::NeedsConfirmation)
        .ev(Event::LastTryConfirmed)
        .pin("5555")
        .pin_result(signed())
        .ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn blocked_card_calls_staff_who_refuse() {
    let mut h = Harness::new(false);
    h.arm(ALL, false).card(PinState::Blocked).ev(Event::MethodChosen(AuthMethod::Pin)).pin("1234");
    h.ev(Event::StaffVisualMode(true)).ev(Event::MethodChosen(AuthMethod::Visual)).ev(Event::StaffVisualConfirm(false));
    h.ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn pinless_card_face_fails_then_staff() {
    let mut h = Harness::new(true);
    h.arm(ALL, true)
        .card(PinState::NotSet)
        .ev(Event::MethodChosen(AuthMethod::Pin))
        .ev(Event::MethodChosen(AuthMethod::Face));
    h.face_result(FaceResult::NoMatch).ev(Event::StaffVisualMode(true)).ev(Event::MethodChosen(AuthMethod::Visual));
    h.ev(Event::StaffVisualConfirm(true)).ev(Event::RegistrationAnswered(true)).ev(Event::ConsentAnswered(true));
    h.ev(Event::ConsentAnswered(false)).ev(Event::ConsentAnswered(false)).ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn a_picture_before_the_camera_calls_staff_and_offers_no_pin() {
    // A card with PIN tries left: after an attack the PIN is still not offered; staff decide
    // (here: they check visually and refuse). No PIN job, no try, is ever asked of the card.
    let mut h = Harness::new(true);
    h.arm(NONE, true).card(PinState::Tries(3)).ev(Event::MethodChosen(AuthMethod::Face));
    h.face_result(FaceResult::NotLive).ev(Event::MethodChosen(AuthMethod::Pin));
    h.ev(Event::StaffVisualMode(true)).ev(Event::MethodChosen(AuthMethod::Visual)).ev(Event::StaffVisualConfirm(false));
    h.ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn face_fails_then_pin() {
    let mut h = Harness::new(true);
    h.arm(NONE, true)
        .card(PinState::Tries(3))
        .ev(Event::MethodChosen(AuthMethod::Face))
        .face_result(FaceResult::NoMatch);
    h.ev(Event::MethodChosen(AuthMethod::Face))
        .ev(Event::MethodChosen(AuthMethod::Pin))
        .pin("4721")
        .pin_result(signed());
    h.ev(Event::RegistrationAnswered(false)).ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn smartphone_gets_no_face_check() {
    let mut h = Harness::new(true);
    h.arm(NONE, false).ev(Event::CardPlaced);
    let op = h.last_op;
    h.ev(Event::CardRead {
        op,
        summary: CardSummary {
            token: TokenKind::AndroidPhone,
            pin: PinState::Tries(3),
            auth_certificate: cert(),
            expiry: None,
            collation_b: None,
        },
    });
    h.ev(Event::MethodChosen(AuthMethod::Face))
        .ev(Event::MethodChosen(AuthMethod::Pin))
        .pin("2468")
        .pin_result(signed())
        .ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn card_removed_at_every_step() {
    type Setup = fn(&mut Harness);
    let steps: [(&str, Setup); 8] = [
        ("reading", |h| {
            h.ev(Event::CardPlaced);
        }),
        ("choosing", |h| {
            h.card(PinState::Tries(3));
        }),
        ("typing the PIN", |h| {
            h.card(PinState::Tries(3)).ev(Event::MethodChosen(AuthMethod::Pin)).pin("12");
        }),
        ("verifying the PIN", |h| {
            h.card(PinState::Tries(3)).ev(Event::MethodChosen(AuthMethod::Pin)).pin("1234");
        }),
        ("on the last-try warning", |h| {
            h.card(PinState::Tries(1)).ev(Event::MethodChosen(AuthMethod::Pin));
        }),
        ("during the face check", |h| {
            h.card(PinState::Tries(3)).ev(Event::MethodChosen(AuthMethod::Face));
        }),
        ("at the registration question", |h| {
            h.card(PinState::Tries(3)).ev(Event::MethodChosen(AuthMethod::Pin)).pin("1234").pin_result(signed());
        }),
        ("at a consent", |h| {
            h.card(PinState::Tries(3)).ev(Event::MethodChosen(AuthMethod::Pin)).pin("1234").pin_result(signed());
            h.ev(Event::RegistrationAnswered(true)).ev(Event::ConsentAnswered(true));
        }),
    ];
    let mut all = String::new();
    for (name, setup) in steps {
        let mut h = Harness::new(true);
        h.arm(TWO, true);
        setup(&mut h);
        h.trace.clear();
        let stale = h.last_op;
        h.ev(Event::CardRemoved);
        // A late answer to the interrupted operation changes nothing.
        h.pin_result(PinResult::Wrong { tries_left: 2 }).face_result(FaceResult::Match);
        h.ev(Event::CardRead { op: stale, summary: summary(PinState::Tries(3)) });
        // The same patient places the card again and the session starts over.
        h.ev(Event::CardPlaced);
        writeln!(all, "== card removed {name}\n{}", h.done()).unwrap();
    }
    insta::assert_snapshot!(all);
}

#[test]
fn patient_inactivity_warns_then_ends_the_session() {
    let mut h = Harness::new(false);
    h.arm(ALL, false).card(PinState::Tries(3));
    h.at(44_000).ev(Event::Tick).at(45_000).ev(Event::Tick).at(50_000).ev(Event::Tick);
    // Any tap restarts the clock.
    h.ev(Event::MethodChosen(AuthMethod::Pin))
        .at(95_000)
        .ev(Event::Tick)
        .at(109_999)
        .ev(Event::Tick)
        .at(110_000)
        .ev(Event::Tick);
    h.at(200_000).ev(Event::Tick).ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn the_warning_counts_down_and_still_here_gives_the_time_back() {
    let mut h = Harness::new(false);
    h.arm(ALL, false).card(PinState::Tries(3));
    // Not warned yet: "still here" changes nothing.
    h.at(10_000).ev(Event::StillHere);
    // The warning counts down in whole seconds (shown again only when they change).
    h.at(45_000).ev(Event::Tick).at(45_500).ev(Event::Tick).at(46_000).ev(Event::Tick).at(50_000).ev(Event::Tick);
    // "I am still here": the warning goes, a whole minute starts again.
    h.ev(Event::StillHere).at(94_999).ev(Event::Tick).at(95_000).ev(Event::Tick).at(110_000).ev(Event::Tick);
    insta::assert_snapshot!(h.done());
}

#[test]
fn silent_card_and_unknown_card() {
    let mut h = Harness::new(false);
    h.arm(NONE, false)
        .ev(Event::CardPlaced)
        .at(19_999)
        .ev(Event::Tick)
        .at(20_000)
        .ev(Event::Tick)
        .ev(Event::CardRemoved);
    h.ev(Event::CardPlaced);
    let op = h.last_op;
    h.ev(Event::CardUnusable { op, problem: CardProblem::NotMyNumberCard }).ev(Event::CardRemoved);
    h.card(PinState::Tries(3)).ev(Event::MethodChosen(AuthMethod::Pin)).pin("1234");
    h.pin_result(PinResult::Fault(CardProblem::BadAnswer)).ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn cancels_and_terminal_requests() {
    let mut h = Harness::new(false);
    h.arm(ALL, false).arm(ALL, false).card(PinState::Tries(3)).ev(Event::StaffCancel).ev(Event::CardRemoved);
    h.arm(ALL, false)
        .card(PinState::Tries(3))
        .ev(Event::Terminal { seq: 7, request: Request::CancelSession { session_id: 99 } });
    h.ev(Event::Terminal { seq: 8, request: Request::CancelSession { session_id: 2 } }).ev(Event::CardRemoved);
    h.arm(ALL, false).card(PinState::Tries(3)).ev(Event::MethodChosen(AuthMethod::Pin)).ev(Event::Back).ev(Event::Back);
    h.ev(Event::CardRemoved)
        .arm(ALL, false)
        .card(PinState::Tries(3))
        .ev(Event::TerminalDisconnected)
        .ev(Event::CardRemoved);
    h.arm(NONE, false).ev(Event::Terminal { seq: 9, request: Request::CancelSession { session_id: 4 } });
    h.ev(Event::Terminal { seq: 10, request: Request::SetVisualMode { enabled: true } })
        .ev(Event::TerminalDisconnected);
    insta::assert_snapshot!(h.done());
}

#[test]
fn expired_unknown_and_face_locked_cards() {
    let mut h = Harness::new(true);
    h.arm(NONE, false).ev(Event::CardPlaced);
    let op = h.last_op;
    let mut expired = summary(PinState::Tries(3));
    expired.expiry = Some(20240303);
    h.ev(Event::CardRead { op, summary: expired }).ev(Event::MethodChosen(AuthMethod::Pin)).ev(Event::CardRemoved);
    h.ev(Event::CardPlaced);
    let op = h.last_op;
    h.ev(Event::CardUnusable { op, problem: CardProblem::NotMyNumberCard }).ev(Event::CardRemoved);
    h.ev(Event::CardPlaced);
    let op = h.last_op;
    let mut locked = summary(PinState::Tries(3));
    locked.collation_b = Some(PinState::Blocked);
    h.ev(Event::CardRead { op, summary: locked })
        .ev(Event::MethodChosen(AuthMethod::Face))
        .ev(Event::MethodChosen(AuthMethod::Pin));
    h.ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn japan_dates_from_unix_time() {
    assert_eq!(today_jst(0), 19700101);
    // 2026-11-26T14:59:59Z is 23:59:59 in Japan; a second later it is the 27th there.
    assert_eq!(today_jst(1_795_705_199_000), 20261126);
    assert_eq!(today_jst(1_795_705_200_000), 20261127);
    assert_eq!(today_jst(951_750_000_000), 20000229);
}

#[test]
fn face_guidance_shows_then_the_camera_fails_and_pin_is_offered() {
    let mut h = Harness::new(true);
    h.arm(NONE, false).card(PinState::Tries(3)).ev(Event::MethodChosen(AuthMethod::Face));
    let op = h.last_op;
    h.ev(Event::FaceGuidance { op, hint: Some(FaceHint::MoveCloser) })
        .ev(Event::FaceGuidance { op: op + 7, hint: Some(FaceHint::TooDark) })
        .ev(Event::FaceGuidance { op, hint: None })
        .face_result(FaceResult::Unavailable(FaceProblem::Camera));
    h.ev(Event::CardRemoved);
    insta::assert_snapshot!(h.done());
}

#[test]
fn maintenance_waits_for_the_patient_and_holds_off_the_next() {
    let mut h = Harness::new(false);
    // Asked during a session: refused, the session goes on.
    h.arm(NONE, false).ev(Event::MaintenanceRequested);
    h.card(PinState::Tries(3)).ev(Event::StaffCancel).ev(Event::CardRemoved);
    // Asked at rest: the patient panel says so, the terminal's next session is refused, a card
    // placed meanwhile is not read.
    h.at(1_000).ev(Event::MaintenanceRequested);
    h.arm(NONE, false).ev(Event::CardPlaced).at(200_000).ev(Event::Tick);
    // Left: the card lying there waits for reception as usual; a session starts again.
    h.ev(Event::MaintenanceEnded).ev(Event::MaintenanceEnded).arm(NONE, false);
    insta::assert_snapshot!(h.done());
}
