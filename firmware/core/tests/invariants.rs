//! Random walks through the session against a model card: whatever the patient, staff, terminal
//! and card do, the PIN rules hold.
//!
//! Seeded, so a failure replays exactly; the seed is in the assertion message.

use kaoyomi_core::*;
use kaoyomi_protocol::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

struct ModelCard {
    tries: u8,
    pin_set: bool,
}

#[test]
fn pin_rules_hold_on_random_walks() {
    // The walks must reach the rules they check, or the test proves nothing.
    let (mut verifies, mut last_tries) = (0, 0);
    for seed in 0..300u64 {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut s = Session::new(Config {
            timeouts: Timeouts::default(),
            face_available: rng.r#gen::<bool>(),
            serial: "KY-RW",
        });
        let mut card: Option<ModelCard> = None;
        let mut now = 0u64;
        let mut confirmed_since_last_verify = false;
        let mut pending: Vec<Event> = Vec::new();
        for step in 0..400 {
            now += rng.gen_range(0..20_000);
            let screen = s.screen().screen.name();
            let targeted = match screen {
                "choose-method" => Some(Event::MethodChosen(
                    [AuthMethod::Face, AuthMethod::Pin, AuthMethod::Visual][rng.gen_range(0..3)],
                )),
                "pin-entry" => Some(Event::PinDigit(rng.gen_range(0..10))),
                "confirm-last-try" => Some(if rng.gen_range(0..4) > 0 { Event::LastTryConfirmed } else { Event::Back }),
                "consent" => Some(Event::ConsentAnswered(rng.r#gen::<bool>())),
                "registration" => Some(Event::RegistrationAnswered(rng.r#gen::<bool>())),
                _ => None,
            };
            let event = if let Some(e) = pending.pop() {
                e
            } else if let Some(e) = targeted.filter(|_| rng.gen_range(0..10) < 8) {
                e
            } else {
                match rng.gen_range(0..16) {
                    0 => Event::Terminal {
                        seq: step,
                        request: Request::StartSession(SessionRequest {
                            nonce: [1; 32],
                            consents: ConsentRequest {
                                medical: rng.r#gen::<bool>(),
                                checkup: rng.r#gen::<bool>(),
                                limit: rng.r#gen::<bool>(),
                            },
                            registration_needed: rng.r#gen::<bool>(),
                        }),
                    },
                    1 if card.is_some() => Event::Tick,
                    1 => {
                        let tries = rng.gen_range(0..=3);
                        card = Some(ModelCard { tries, pin_set: rng.gen_range(0..5) > 0 });
                        Event::CardPlaced
                    }
                    2 => {
                        card = None;
                        Event::CardRemoved
                    }
                    3 => Event::MethodChosen(
                        [AuthMethod::Face, AuthMethod::Pin, AuthMethod::Visual][rng.gen_range(0..3)],
                    ),
                    4..=7 => Event::PinDigit(rng.gen_range(0..10)),
                    8 => Event::LastTryConfirmed,
                    9 => Event::Back,
                    10 => Event::ConsentAnswered(rng.r#gen::<bool>()),
                    11 => Event::RegistrationAnswered(rng.r#gen::<bool>()),
                    12 => Event::StaffVisualMode(rng.r#gen::<bool>()),
                    13 => Event::StaffVisualConfirm(rng.r#gen::<bool>()),
                    14 => Event::Tick,
                    _ => [
                        Event::StaffCancel,
                        Event::TerminalDisconnected,
                        Event::PinDelete,
                        Event::StillHere,
                        Event::MaintenanceRequested,
                        Event::MaintenanceEnded,
                    ][rng.gen_range(0..6)]
                    .clone(),
                }
            };
            if event == Event::LastTryConfirmed {
                confirmed_since_last_verify = true;
            }
            // In maintenance nothing of a patient session may start.
            let held = s.in_maintenance() && event != Event::MaintenanceEnded;
            for command in s.handle(Now { monotonic_ms: now, unix_ms: now }, event) {
                if held {
                    assert!(
                        !matches!(
                            command,
                            Command::Card(CardJob::Read { .. })
                                | Command::Respond { response: Response::SessionStarted { .. }, .. }
                        ),
                        "seed {seed}: a patient session started in maintenance: {command:?}"
                    );
                }
                match command {
                    Command::Card(CardJob::Read { op }) => {
                        if let Some(c) = &card {
                            let pin = match (c.pin_set, c.tries) {
                                (false, _) => PinState::NotSet,
                                (true, 0) => PinState::Blocked,
                                (true, n) => PinState::Tries(n),
                            };
                            pending.push(Event::CardRead {
                                op,
                                summary: CardSummary {
                                    token: TokenKind::Card,
                                    pin,
                                    auth_certificate: vec![0x30],
                                    expiry: None,
                                    collation_b: None,
                                },
                            });
                        }
                    }
                    Command::Card(CardJob::VerifyPinAndSign { op, allow_last_try, .. }) => {
                        let c = card.as_mut().expect("VERIFY sent with no card");
                        assert!(c.pin_set, "seed {seed}: VERIFY sent to a PIN-less card");
                        assert!(c.tries > 0, "seed {seed}: VERIFY sent to a blocked card");
                        verifies += 1;
                        if c.tries == 1 {
                            last_tries += 1;
                            assert!(allow_last_try, "seed {seed}: last try sent without confirmation");
                            assert!(
                                confirmed_since_last_verify,
                                "seed {seed}: last try allowed without the patient's confirmation"
                            );
                        }
                        confirmed_since_last_verify = false;
                        let result = if rng.r#gen::<bool>() {
                            c.tries = 3;
                            PinResult::Verified { signature: vec![1; 256] }
                        } else {
                            c.tries -= 1;
                            PinResult::Wrong { tries_left: c.tries }
                        };
                        pending.push(Event::PinChecked { op, result });
                    }
                    Command::StartFaceCheck { op } => {
                        pending.push(Event::FaceGuidance { op, hint: Some(FaceHint::MoveCloser) });
                        pending.push(Event::FaceChecked {
                            op,
                            result: [
                                FaceResult::Match,
                                FaceResult::NoMatch,
                                FaceResult::Unavailable(FaceProblem::NotCaptured),
                                FaceResult::NotLive,
                            ][rng.gen_range(0..4)],
                        });
                    }
                    Command::SendReport(r) => {
                        if r.method == Some(AuthMethod::Pin) && r.outcome == Outcome::Verified {
                            assert!(r.card_signature.is_some(), "seed {seed}: PIN result without card signature");
                        }
                        if r.outcome != Outcome::Verified {
                            assert!(
                                r.card_signature.is_none() && r.consents.is_empty(),
                                "seed {seed}: data in a failed report"
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(verifies > 1000 && last_tries > 100, "walks reached {verifies} VERIFYs, {last_tries} last tries");
}
