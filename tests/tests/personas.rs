//! Every persona through the reader's card path against the virtual card: the retry counters on the
//! card are the judge. A wrong PIN costs exactly one try, the last try is never sent without the
//! patient's confirmation, a blocked or PIN-less card is never VERIFYed.

use kaoyomi_core::{Command, Event};
use kaoyomi_protocol::{AuthMethod, ConsentRequest, Outcome};
use kaoyomi_tests::Bench;

const ONE: ConsentRequest = ConsentRequest { medical: true, checkup: false, limit: false };

fn bench(face: bool) -> (tempfile::TempDir, Bench) {
    let dir = tempfile::tempdir().unwrap();
    let bench = Bench::new(dir.path(), face);
    (dir, bench)
}

#[test]
fn normal_card_right_pin() {
    let (_d, mut b) = bench(false);
    b.arm(ONE);
    b.insert("normal");
    assert_eq!(b.screen(), "choose-method");
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.pin("4721");
    assert_eq!(b.screen(), "consent");
    b.event(Event::ConsentAnswered(true));
    assert_eq!(b.screen(), "finished");
    let r = b.reports.last().unwrap();
    assert_eq!((r.outcome, r.method), (Outcome::Verified, Some(AuthMethod::Pin)));
    assert_eq!(r.card_signature.as_ref().map(Vec::len), Some(256));
    assert_eq!(b.tries("normal"), 3);
    assert_eq!(b.verifies(), 1);
    b.remove();
    assert_eq!(b.screen(), "place-card");
}

#[test]
fn a_wrong_pin_costs_exactly_one_try_and_the_count_persists() {
    let (_d, mut b) = bench(false);
    b.arm(ONE);
    b.insert("normal");
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.pin("0000");
    assert_eq!(b.tries("normal"), 2);
    assert_eq!(b.screen(), "pin-entry");
    // The patient takes the card away and comes back: the card still remembers.
    b.remove();
    b.insert("normal");
    assert_eq!(b.tries("normal"), 2);
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.pin("9999");
    assert_eq!(b.tries("normal"), 1);
    assert_eq!(b.screen(), "confirm-last-try");
    assert_eq!(b.verifies(), 2);
    b.event(Event::LastTryConfirmed);
    b.pin("4721");
    assert_eq!(b.tries("normal"), 3, "a right PIN restores the counter");
    assert_eq!(b.screen(), "consent");
}

#[test]
fn last_try_card_is_never_verified_without_confirmation() {
    let (_d, mut b) = bench(false);
    b.arm(ONE);
    b.insert("last-try");
    b.event(Event::MethodChosen(AuthMethod::Pin));
    assert_eq!(b.screen(), "confirm-last-try");
    b.pin("1357");
    assert_eq!(b.verifies(), 0, "digits on the warning screen send nothing");
    b.event(Event::Back);
    assert_eq!(b.screen(), "choose-method");
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.event(Event::LastTryConfirmed);
    b.pin("1357");
    assert_eq!(b.verifies(), 1);
    assert_eq!(b.tries("last-try"), 3);
    assert!(
        b.commands
            .iter()
            .any(|c| matches!(c, Command::Card(kaoyomi_core::CardJob::VerifyPinAndSign { allow_last_try: true, .. })))
    );
}

#[test]
fn last_try_wrong_blocks_the_card_and_calls_staff() {
    let (_d, mut b) = bench(false);
    b.arm(ONE);
    b.insert("last-try");
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.event(Event::LastTryConfirmed);
    b.pin("0000");
    assert_eq!(b.tries("last-try"), 0);
    assert_eq!(b.screen(), "call-staff");
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.pin("1357");
    assert_eq!(b.verifies(), 1, "a blocked card gets nothing more");
}

#[test]
fn blocked_card_is_never_verified() {
    let (_d, mut b) = bench(false);
    b.arm(ONE);
    b.insert("blocked");
    assert_eq!(b.screen(), "call-staff");
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.pin("8080");
    b.event(Event::StaffVisualMode(true));
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.pin("8080");
    assert_eq!(b.verifies(), 0);
    assert_eq!(b.tries("blocked"), 0);
    b.event(Event::MethodChosen(AuthMethod::Visual));
    b.event(Event::StaffVisualConfirm(true));
    b.event(Event::ConsentAnswered(false));
    let r = b.reports.last().unwrap();
    assert_eq!((r.outcome, r.method, r.card_signature.is_none()), (Outcome::Verified, Some(AuthMethod::Visual), true));
}

#[test]
fn pinless_card_has_no_pin_path() {
    let (_d, mut b) = bench(true);
    b.arm(ONE);
    b.insert("pinless");
    let shown = b.main.session.screen();
    assert_eq!(
        format!("{:?}", shown.screen),
        "ChooseMethod { face: Available, pin: Hidden, visual: Hidden, notice: None }"
    );
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.pin("1234");
    assert_eq!(b.verifies(), 0);
}

#[test]
fn smartphone_token_takes_the_pin_path() {
    let (_d, mut b) = bench(true);
    b.arm(ONE);
    b.insert("smartphone");
    b.event(Event::MethodChosen(AuthMethod::Face));
    assert_eq!(b.screen(), "choose-method", "no card face on a phone");
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.pin("2468");
    b.event(Event::ConsentAnswered(true));
    let r = b.reports.last().unwrap();
    assert_eq!((r.outcome, r.token), (Outcome::Verified, Some(kaoyomi_protocol::TokenKind::AndroidPhone)));
}

#[test]
fn expired_and_foreign_cards_get_their_own_screens() {
    let (_d, mut b) = bench(true);
    b.arm(ONE);
    b.insert("expired");
    assert_eq!(b.screen(), "card-expired");
    b.remove();
    b.insert("foreign");
    assert_eq!(b.screen(), "unknown-card");
    b.remove();
    b.insert("normal");
    assert_eq!(b.screen(), "choose-method", "the session waited for the right card");
    assert_eq!(b.verifies(), 0);
}

#[test]
fn a_blocked_collation_number_locks_the_face_check_only() {
    let (dir, mut b) = bench(true);
    let mut counters = std::collections::BTreeMap::new();
    counters.insert("surface/0012".to_string(), 0u8);
    kaoyomi_hal_sim::CounterStore::new(dir.path()).save("normal", &counters).unwrap();
    b.arm(ONE);
    b.insert("normal");
    let shown = format!("{:?}", b.main.session.screen().screen);
    assert_eq!(shown, "ChooseMethod { face: Unavailable, pin: Available, visual: Hidden, notice: Some(FaceLocked) }");
    b.event(Event::MethodChosen(AuthMethod::Face));
    assert_eq!(b.screen(), "choose-method");
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.pin("4721");
    assert_eq!(b.screen(), "consent");
}
