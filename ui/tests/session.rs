//! Whole sessions driven through the patient's screen by accessible label, with Slint's testing
//! backend, against core, the card service and the simulated card (`kaoyomi_tests::Bench`): the
//! patient taps the method, types the PIN on the shuffled pad by reading the keys' labels, asks
//! what a consent means and answers it; a wrong PIN reshuffles the pad; the last try needs its own
//! confirmation; a PIN-less card has no PIN button; the time-out warning counts down and "I am
//! still here" gives the time back; the language changes with one touch.
//! (One test: the testing backend is set up once per process.)

use i_slint_backend_testing::{AccessibleRole, ElementHandle, ElementQuery};
use kaoyomi_core::{Command, Event};
use kaoyomi_protocol::{AuthMethod, ConsentAnswer, ConsentRequest, ConsentTopic, Outcome};
use kaoyomi_tests::Bench;
use kaoyomi_ui::ScreenKind;
use kaoyomi_ui::view::Ui;
use std::cell::RefCell;
use std::rc::Rc;

struct Counter {
    bench: Bench,
    ui: Ui,
    taps: Rc<RefCell<Vec<Event>>>,
    shown: usize,
}

impl Counter {
    fn new(dir: &std::path::Path) -> Counter {
        let taps: Rc<RefCell<Vec<Event>>> = Rc::default();
        let sink = taps.clone();
        let ui = Ui::new(Rc::new(move |e| sink.borrow_mut().push(e))).unwrap();
        let counter = Counter { bench: Bench::new(dir, false), ui, taps, shown: 0 };
        counter.ui.show(&counter.bench.main.session.screen());
        counter
    }

    /// Carries the screen's taps to core and every screen core asks for back to the windows, as
    /// the reader's main loop does.
    fn pump(&mut self) {
        let taps: Vec<Event> = self.taps.borrow_mut().drain(..).collect();
        for e in taps {
            self.bench.event(e);
        }
        let new: Vec<_> = self.bench.commands[self.shown..].to_vec();
        self.shown = self.bench.commands.len();
        for c in new {
            if let Command::Show(state) = c {
                self.ui.show(&state);
            }
        }
    }

    fn screen(&self) -> ScreenKind {
        self.ui.patient.get_screen()
    }

    /// Every element whose accessible label is `label` or starts with `label (`.
    fn find(&self, label: &str) -> Vec<ElementHandle> {
        let label = label.to_string();
        ElementQuery::from_root(&self.ui.patient)
            .match_descendants()
            .match_predicate(move |e| {
                e.accessible_label().is_some_and(|l| l == label.as_str() || l.starts_with(&format!("{label} (")))
            })
            .find_all()
    }

    fn tap(&mut self, label: &str) {
        let buttons: Vec<_> =
            self.find(label).into_iter().filter(|e| e.accessible_role() == Some(AccessibleRole::Button)).collect();
        // One element can show up more than once (a component and the element it inherits from);
        // one button is one place on the screen.
        let mut places: Vec<_> = buttons
            .iter()
            .map(|b| {
                let (p, s) = (b.absolute_position(), b.size());
                [p.x, p.y, s.width, s.height].map(|v| v.round() as i32)
            })
            .collect();
        places.dedup();
        assert_eq!(places.len(), 1, "one button {label:?} on screen {:?}: {places:?}", self.screen());
        buttons[0].invoke_accessible_default_action();
        self.pump();
    }

    fn has_text(&self, label: &str) -> bool {
        !self.find(label).is_empty()
    }

    /// Types `pin` by finding each digit's key by its label.
    fn type_pin(&mut self, pin: &str) {
        for d in pin.chars() {
            self.tap(&d.to_string());
        }
    }
}

fn all_consents() -> ConsentRequest {
    ConsentRequest { medical: true, checkup: true, limit: true }
}

#[test]
fn sessions_through_the_touch_screen() {
    i_slint_backend_testing::init_integration_test_with_mock_time();
    let dir = tempfile::tempdir().unwrap();
    let mut c = Counter::new(dir.path());
    c.tap("English");
    assert_eq!(c.screen(), ScreenKind::PlaceCard);
    assert!(c.has_text("Please place your My Number card"));

    // PIN path: one wrong PIN, then the right one; consents with a look at "what is this?".
    c.bench.arm(all_consents());
    c.bench.insert("normal");
    c.pump();
    assert_eq!(c.screen(), ScreenKind::ChooseMethod);
    assert!(c.find("Face recognition").is_empty(), "face is not offered on a reader without it");
    c.tap("PIN (4 digits)");
    assert_eq!(c.screen(), ScreenKind::PinEntry);
    assert!(c.has_text("Tries left: 3"));
    let first_pad = c.ui.pad();
    c.type_pin("47");
    assert!(c.has_text("2 of 4 digits entered"));
    c.tap("Delete");
    assert!(c.has_text("1 of 4 digits entered"));
    c.type_pin("000"); // 4000: wrong
    assert_eq!(c.screen(), ScreenKind::PinEntry);
    assert!(c.has_text("The PIN was wrong. Please try again."));
    assert!(c.has_text("Tries left: 2"));
    assert_eq!(c.bench.tries("normal"), 2);
    let second_pad = c.ui.pad();
    assert_ne!(first_pad, second_pad, "a new entry gets a new pad (10! orders: equal by chance once in 3.6 million)");
    c.type_pin("4721");
    assert_eq!(c.screen(), ScreenKind::Consent);
    assert!(c.has_text("Question 1 of 3"));
    c.tap("What is this?");
    assert!(!c.find("Hide details").is_empty(), "the detail is open");
    c.tap("Yes, I agree");
    assert!(c.has_text("Question 2 of 3"));
    assert!(c.find("Hide details").is_empty(), "the next question starts with its detail closed");
    c.tap("No");
    c.tap("Yes, I agree");
    assert_eq!(c.screen(), ScreenKind::Finished);
    assert!(c.has_text("Thank you. You have been confirmed."));
    let report = c.bench.reports.last().expect("a report");
    assert_eq!((report.outcome, report.method), (Outcome::Verified, Some(AuthMethod::Pin)));
    assert_eq!(
        report.consents,
        vec![
            ConsentAnswer { topic: ConsentTopic::Medical, agreed: true },
            ConsentAnswer { topic: ConsentTopic::Checkup, agreed: false },
            ConsentAnswer { topic: ConsentTopic::Limit, agreed: true },
        ]
    );
    assert_eq!(c.bench.tries("normal"), 3, "the right PIN resets the counter");
    c.bench.remove();
    c.pump();
    assert_eq!(c.screen(), ScreenKind::PlaceCard);
    // The next patient finds the reader in Japanese again.
    assert!(c.has_text("マイナンバーカードを置いてください"), "the last patient's language stayed");
    c.tap("English");

    // The last try: its own warning first; "choose another way" spends nothing.
    c.bench.arm(all_consents());
    c.bench.insert("last-try");
    c.pump();
    c.tap("PIN (4 digits)");
    assert_eq!(c.screen(), ScreenKind::ConfirmLastTry);
    c.tap("Choose another way");
    assert_eq!(c.screen(), ScreenKind::ChooseMethod);
    assert_eq!(c.bench.tries("last-try"), 1);
    assert_eq!(c.bench.verifies(), 2, "only the two PINs typed above reached a card");
    c.tap("PIN (4 digits)");
    c.tap("Enter the PIN");
    assert_eq!(c.screen(), ScreenKind::PinEntry);
    assert!(c.has_text("Tries left: 1 (last try)"));
    c.type_pin("1357");
    assert_eq!(c.screen(), ScreenKind::Consent);
    c.bench.remove();
    c.pump();
    assert!(c.has_text("Please place your My Number card"), "a card taken away mid-session keeps the language");

    // A PIN-less card: no PIN button at all.
    c.bench.arm(all_consents());
    c.bench.insert("pinless");
    c.pump();
    assert!(c.find("PIN (4 digits)").is_empty(), "screen {:?}", c.screen());
    c.bench.remove();
    c.pump();

    // Left alone, the screen warns before it closes, counts down, and "I am still here" gives
    // the time back.
    c.bench.arm(all_consents());
    c.bench.insert("normal");
    c.pump();
    assert_eq!(c.screen(), ScreenKind::ChooseMethod);
    assert!(c.find("I am still here").is_empty(), "no warning yet");
    c.bench.wait(46_000);
    c.pump();
    assert!(c.has_text("Are you still there? This screen closes in 14 seconds."));
    c.bench.wait(5_000);
    c.pump();
    assert!(c.has_text("Are you still there? This screen closes in 9 seconds."));
    c.tap("I am still here");
    assert_eq!(c.screen(), ScreenKind::ChooseMethod);
    assert!(c.find("I am still here").is_empty(), "the warning went away");
    c.bench.wait(50_000);
    c.pump();
    assert_eq!(c.screen(), ScreenKind::ChooseMethod, "a whole minute started again");
    c.bench.wait(10_000);
    c.pump();
    assert_eq!(c.screen(), ScreenKind::Finished, "left alone, the session ends");
    assert!(c.has_text("Please take your card."));
    c.bench.remove();
    c.pump();

    // One touch changes the language, on any screen.
    c.tap("日本語");
    assert!(c.has_text("マイナンバーカードを置いてください"));
    c.tap("English");
    assert!(c.has_text("Please place your My Number card"));
}
