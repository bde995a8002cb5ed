//! Card faults on the PIN path: the card leaves before (and after) each APDU in turn, answers are
//! cut or garbled. The reader must end up with a clear state, the card's counter must show no try
//! spent that the patient did not enter, and the same card placed again must work.

use kaoyomi_core::Event;
use kaoyomi_hal_sim::Fault;
use kaoyomi_protocol::{AuthMethod, ConsentRequest};
use kaoyomi_tests::Bench;

/// APDUs of a whole PIN path: read (SELECT, token, cert, counter) then verify and sign.
fn count_pin_path_apdus() -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Bench::new(dir.path(), false);
    b.arm(ConsentRequest::default());
    b.insert("normal");
    b.event(Event::MethodChosen(AuthMethod::Pin));
    b.pin("4721");
    assert_eq!(b.screen(), "finished");
    b.apdus.len()
}

fn run_with_fault(fault: Fault, pin: &str) -> (Bench, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Bench::new(dir.path(), false);
    b.arm(ConsentRequest::default());
    b.inject(fault);
    b.insert("normal");
    if b.screen() == "choose-method" {
        b.event(Event::MethodChosen(AuthMethod::Pin));
        b.pin(pin);
    }
    (b, dir)
}

#[test]
fn the_card_leaves_before_each_apdu_in_turn() {
    let total = count_pin_path_apdus();
    assert!(total >= 10, "the PIN path has {total} APDUs");
    for n in 1..=total {
        for pin in ["4721", "0000"] {
            let (mut b, _dir) = run_with_fault(Fault::RemoveBefore(n), pin);
            let fired = !b.slot.control().is_present();
            // Which APDU was the VERIFY? Before it, no try can be spent; a right PIN never costs one.
            let verify_at = b.apdus.iter().position(|a| kaoyomi_tests::is_verify_with_data(a)).map(|i| i + 1);
            let reached = verify_at.is_some_and(|v| !fired || v < n);
            let expected = if pin == "4721" || !reached { 3 } else { 2 };
            assert_eq!(b.tries("normal"), expected, "card removed before APDU {n} (pin {pin})");
            if !fired {
                continue;
            }
            assert_eq!(b.screen(), "place-card", "card removed before APDU {n}: back to waiting for the card");
            // The same card placed again completes the session.
            b.insert("normal");
            b.event(Event::MethodChosen(AuthMethod::Pin));
            b.pin("4721");
            assert_eq!(b.screen(), "finished", "after fault before APDU {n}");
        }
    }
}

#[test]
fn the_card_leaves_after_each_apdu_in_turn() {
    let total = count_pin_path_apdus();
    for n in 1..=total {
        let (b, _dir) = run_with_fault(Fault::RemoveAfter(n), "0000");
        let spent = 3 - b.tries("normal");
        // Only the VERIFY the patient typed can have cost a try, and only one.
        assert!(spent <= 1, "card removed after APDU {n}: {spent} tries spent");
        assert_eq!(spent as usize, b.verifies().min(1), "card removed after APDU {n}");
        if !b.slot.control().is_present() {
            assert_eq!(b.screen(), "place-card", "card removed after APDU {n}");
        }
    }
}

#[test]
fn cut_and_garbled_answers_are_errors_not_guesses() {
    let total = count_pin_path_apdus();
    for n in 1..=total {
        for fault in [Fault::TruncateAnswer(n), Fault::GarbleAnswer(n)] {
            let (b, _dir) = run_with_fault(fault, "4721");
            assert!(b.verifies() <= 1, "{fault:?}: the VERIFY is never resent");
            let screen = b.screen();
            assert!(
                matches!(screen, "card-error" | "finished"),
                "{fault:?}: ended on {screen}, expected a clear card error (or success if the fault hit nothing that mattered)"
            );
            assert_eq!(b.tries("normal"), 3, "{fault:?}: the right PIN never costs a try");
        }
    }
}
