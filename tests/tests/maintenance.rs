//! The maintenance menu through the reader's own main loop (`Bench`): the login with the Device
//! ID and the initial password, its forced change, the lockout, the reader held for maintenance
//! (no patient session starts, a running one is never interrupted), the settings taking effect
//! and surviving a restart, and the pages' records.

use kaoyomi_core::Event;
use kaoyomi_maintenance::contract::{Action, Page, View};
use kaoyomi_maintenance::{Password, Role, Settings};
use kaoyomi_protocol::{ConsentRequest, ErrorCode, Response};
use kaoyomi_reader::device_key::DeviceKey;
use kaoyomi_tests::Bench;

const NONE: ConsentRequest = ConsentRequest { medical: false, checkup: false, limit: false };

fn bench(dir: &std::path::Path) -> Bench {
    let mut b = Bench::new(dir, false);
    b.attach_desk(dir);
    b
}

fn login(b: &mut Bench, id: &str, role: Role, password: &str) -> View {
    b.act(Action::Open);
    b.act(Action::Login { device_id: id.into(), role, password: Password::new(password) })
}

fn initial(dir: &std::path::Path, role: Role) -> String {
    let key = DeviceKey::load_or_create(dir).unwrap();
    let desk = kaoyomi_reader::desk::Desk::open(dir, &key, "bench", 0);
    desk.accounts().initial_password(role).expose().to_string()
}

#[test]
fn the_first_login_changes_the_initial_password_and_holds_the_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = bench(dir.path());
    let id = b.main.serial().to_string();
    let first = initial(dir.path(), Role::Engineer);

    let view = login(&mut b, "KY-NOT-THIS-ONE", Role::Engineer, &first);
    assert_eq!((view.page, view.message.key), (Page::Login, "login-wrong-device-id"));
    let view = login(&mut b, &id, Role::Engineer, &first);
    assert_eq!(
        (view.page, view.role, view.message.key),
        (Page::ChangePassword, Some(Role::Engineer), "password-must-change")
    );
    assert_eq!(b.screen(), "maintenance", "the patient panel says so");
    // Nothing but the password change is open until it is done.
    assert_eq!(b.act(Action::Show(Page::Settings)).page, Page::ChangePassword);
    assert!(b.act(Action::Show(Page::Logs)).logs.is_empty(), "no records shown before the change");
    // No patient session starts meanwhile.
    b.arm(NONE);
    assert!(matches!(b.responses.last(), Some(Response::Error { code: ErrorCode::InMaintenance, .. })));
    b.insert("normal");
    assert_eq!(b.screen(), "maintenance");
    assert!(b.apdus.is_empty(), "a card placed during maintenance is not read");

    let keep = b.act(Action::ChangePassword {
        current: Password::new(&first),
        new: Password::new(&first),
        repeated: Password::new(&first),
    });
    assert_eq!(keep.message.key, "password-is-initial");
    let changed = b.act(Action::ChangePassword {
        current: Password::new(&first),
        new: Password::new("Kaoyomi-Field-2026"),
        repeated: Password::new("Kaoyomi-Field-2026"),
    });
    assert_eq!((changed.page, changed.message.key), (Page::Device, "password-changed"));
    let device: Vec<&str> = changed.device.iter().map(|(k, _)| *k).collect();
    assert!(device.contains(&"device-serial") && device.contains(&"device-uptime"), "{device:?}");
    assert!(changed.device.iter().any(|(_, v)| *v == id));

    // Leaving gives the reader back: the card lying there waits for reception, a session starts.
    let left = b.act(Action::Logout);
    assert_eq!(left.page, Page::Closed);
    assert_eq!(b.screen(), "wait-for-reception");
    b.arm(NONE);
    assert!(matches!(b.responses.last(), Some(Response::SessionStarted { .. })));
    assert_eq!(b.screen(), "choose-method");

    // The new password opens the menu at once next time, the initial one no longer does.
    b.event(Event::StaffCancel);
    b.remove();
    let view = login(&mut b, &id, Role::Engineer, &first);
    assert_eq!(view.message.key, "login-wrong-password");
    let view = login(&mut b, &id, Role::Engineer, "Kaoyomi-Field-2026");
    assert_eq!((view.page, view.role), (Page::Device, Some(Role::Engineer)));
    let logs = b.act(Action::Show(Page::Logs)).logs;
    let codes: Vec<&str> = logs.iter().map(|l| l.code.as_str()).collect();
    for expected in [
        "password-changed:engineer",
        "maintenance-started:engineer",
        "maintenance-ended:engineer",
        "login-refused:engineer",
    ] {
        assert!(codes.contains(&expected), "{expected} missing from {codes:?}");
    }
}

#[test]
fn maintenance_waits_for_the_patient_being_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = bench(dir.path());
    let id = b.main.serial().to_string();
    let first = initial(dir.path(), Role::FacilityAdmin);
    b.arm(NONE);
    b.insert("normal");
    assert_eq!(b.screen(), "choose-method");
    let view = login(&mut b, &id, Role::FacilityAdmin, &first);
    assert_eq!((view.page, view.role, view.message.key), (Page::Login, None, "maintenance-busy"));
    assert_eq!(b.screen(), "choose-method", "the patient's session goes on");
}

#[test]
fn wrong_passwords_lock_the_login() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = bench(dir.path());
    let id = b.main.serial().to_string();
    let first = initial(dir.path(), Role::Engineer);
    for left in (0..5).rev() {
        let view = login(&mut b, &id, Role::Engineer, "not-the-password");
        if left > 0 {
            assert_eq!(
                (view.message.key, view.message.value.as_str()),
                ("login-wrong-password", left.to_string().as_str())
            );
        } else {
            assert_eq!((view.message.key, view.message.value.as_str()), ("login-locked", "30"));
        }
    }
    let view = login(&mut b, &id, Role::Engineer, &first);
    assert_eq!(view.message.key, "login-locked", "the right password is refused while locked");
    assert_eq!(b.screen(), "place-card", "patients are still served");
}

#[test]
fn settings_take_effect_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let id;
    {
        let mut b = bench(dir.path());
        id = b.main.serial().to_string();
        let first = initial(dir.path(), Role::FacilityAdmin);
        login(&mut b, &id, Role::FacilityAdmin, &first);
        b.act(Action::ChangePassword {
            current: Password::new(&first),
            new: Password::new("Clinic-Admin-77"),
            repeated: Password::new("Clinic-Admin-77"),
        });
        let page = b.act(Action::Show(Page::Settings));
        let mut s: Settings = page.settings.unwrap().settings;
        s.patient_timeout_s = 20;
        s.timeout_warning_s = 30;
        let refused = b.act(Action::SaveSettings(s.clone()));
        assert_eq!(refused.message.key, "settings-refused");
        assert!(refused.message.value.contains("timeout-warning-s"), "{}", refused.message.value);
        s.timeout_warning_s = 10;
        s.visual_check_default = true;
        s.log_retention_days = 365;
        let saved = b.act(Action::SaveSettings(s));
        assert_eq!((saved.message.key, saved.message.value.as_str()), ("settings-saved", "1"));
        b.act(Action::Logout);
        // The new patient time-out: a session left alone ends after 20 s, not 60.
        b.arm(NONE);
        b.insert("normal");
        assert_eq!(b.screen(), "choose-method");
        b.wait(21_000);
        assert_eq!(b.screen(), "finished");
    }
    // After a restart: the settings are read back and applied (visual check on from the start).
    let mut b = bench(dir.path());
    assert!(b.main.session.visual_mode(), "the visual-check default is applied at start");
    let view = login(&mut b, &id, Role::FacilityAdmin, "Clinic-Admin-77");
    let current = b.act(Action::Show(Page::Settings)).settings.unwrap();
    assert_eq!((current.version, current.settings.log_retention_days), (1, 365));
    assert_eq!(view.page, Page::Device);
    // The facility administrator may not reset the database or unpair terminals.
    assert_eq!(b.act(Action::ResetDatabase).message.key, "engineer-only");
    assert_eq!(b.act(Action::UnpairAll).message.key, "engineer-only");
}

#[test]
fn the_maintenance_session_ends_when_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = bench(dir.path());
    let id = b.main.serial().to_string();
    let first = initial(dir.path(), Role::Engineer);
    login(&mut b, &id, Role::Engineer, &first);
    assert_eq!(b.screen(), "maintenance");
    // Typing counts as use, though no form is sent: the time starts again, no view comes back
    // (the form being typed in stays), the page's message stays.
    let half = kaoyomi_reader::desk::IDLE_LOGOUT_MS / 2 + 1_000;
    b.wait(half);
    let views = b.views.len();
    b.act(Action::Typing);
    assert_eq!(b.views.len(), views, "no view answers typing");
    b.wait(half);
    assert_eq!(b.screen(), "maintenance", "still in use");
    assert_eq!(b.views.last().unwrap().message.key, "password-must-change");
    b.wait(kaoyomi_reader::desk::IDLE_LOGOUT_MS + 1_000);
    assert_eq!(b.screen(), "place-card");
    assert_eq!(b.views.last().unwrap().page, Page::Closed);
    // Typing after the end opens nothing.
    b.act(Action::Typing);
    assert_eq!(b.views.last().unwrap().page, Page::Closed);
    assert_eq!(b.screen(), "place-card");
}

#[test]
fn a_full_database_never_stops_a_session_and_the_engineer_recovers_it() {
    use kaoyomi_maintenance::contract::Storage;
    use kaoyomi_store::{Limits, Operation, Store};
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits { max_bytes: 96 << 10 };
    {
        // Fill the database to its limit.
        let mut store = Store::open_with(dir.path(), 1_795_000_000_000, limits);
        let mut n = 0;
        while store.log_operation(1_795_000_000_000, &Operation::ReaderStarted).is_ok() {
            n += 1;
            assert!(n < 100_000, "the limit never bit");
        }
    }
    let mut b = Bench::new(dir.path(), false);
    b.attach_desk_with(dir.path(), limits);
    let id = b.main.serial().to_string();
    // A patient is served all the same.
    b.arm(NONE);
    b.insert("normal");
    b.event(Event::MethodChosen(kaoyomi_protocol::AuthMethod::Pin));
    b.pin("4721");
    assert_eq!(b.screen(), "finished");
    assert_eq!(b.reports.len(), 1);
    b.remove();
    // The engineer's initial password cannot be changed while nothing is recorded: the device
    // page opens with the reason and the recovery.
    let first = initial(dir.path(), Role::Engineer);
    let view = login(&mut b, &id, Role::Engineer, &first);
    assert_eq!((view.page, view.storage), (Page::Device, Storage::Full));
    assert!(view.storage_problem.contains("full"), "{}", view.storage_problem);
    assert_eq!(b.act(Action::Show(Page::Settings)).page, Page::Device, "nothing else opens");
    let reset = b.act(Action::ResetDatabase);
    assert_eq!(
        (reset.message.key, reset.storage, reset.page),
        ("database-reset", Storage::Ready, Page::ChangePassword)
    );
    let moved = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with("kaoyomi.db.corrupt-"))
        .count();
    assert!(moved >= 1, "the full file is kept aside");
    let changed = b.act(Action::ChangePassword {
        current: Password::new(&first),
        new: Password::new("Kaoyomi-Field-2026"),
        repeated: Password::new("Kaoyomi-Field-2026"),
    });
    assert_eq!(changed.message.key, "password-changed");
}

/// Logs in as the facility's administrator with a changed password.
fn admin(b: &mut Bench, dir: &std::path::Path) {
    let id = b.main.serial().to_string();
    let first = initial(dir, Role::FacilityAdmin);
    login(b, &id, Role::FacilityAdmin, &first);
    let changed = b.act(Action::ChangePassword {
        current: Password::new(&first),
        new: Password::new("Clinic-Desk-2026!"),
        repeated: Password::new("Clinic-Desk-2026!"),
    });
    assert_eq!(changed.message.key, "password-changed");
}

fn line(view: &View, part: kaoyomi_maintenance::contract::Part) -> kaoyomi_maintenance::contract::TestLine {
    view.tests.iter().find(|t| t.part == part).cloned().unwrap_or_else(|| panic!("no {part:?} line: {view:?}"))
}

#[test]
fn the_self_tests_check_each_part_and_say_what_to_do() {
    use kaoyomi_maintenance::contract::{Part, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let mut b = bench(dir.path());
    admin(&mut b, dir.path());
    let asked = b.views.len();
    let view = b.act(Action::RunSelfTests);
    // The page opens with every part still being checked, then fills in line by line.
    let first = &b.views[asked];
    assert_eq!((first.page, first.message.key), (Page::SelfTest, "selftest-running"));
    assert!(first.tests.iter().all(|t| t.verdict == Verdict::Running), "{first:?}");
    assert_eq!(view.page, Page::SelfTest);
    assert_eq!(view.tests.len(), Part::ALL.len());
    assert!(view.tests.iter().all(|t| t.verdict != Verdict::Running), "{view:?}");
    let reader = line(&view, Part::CardReader);
    assert_eq!((reader.verdict, reader.note), (Verdict::Passed, "selftest.note.card-reader-no-card"));
    assert_eq!(line(&view, Part::FaceCamera).verdict, Verdict::NotFitted);
    let terminal = line(&view, Part::Terminal);
    assert_eq!((terminal.verdict, terminal.note), (Verdict::Failed, "selftest.note.terminal-not-paired"));
    let storage = line(&view, Part::Storage);
    assert_eq!((storage.verdict, storage.note), (Verdict::Passed, "selftest.note.storage-ok"));
    assert_eq!((view.message.key, view.message.value.as_str(), view.message.bad), ("selftest-failed", "1", true));
    // The run is in the operation log with its count of faults.
    let ops = b.main.desk().unwrap().store().newest_operations(10).unwrap();
    assert!(ops.iter().any(|o| o.kind == "self-test" && o.value == Some(1)), "{ops:?}");
    // Every result is a catalogue key both languages have.
    let wording = kaoyomi_ui_keys();
    for t in &view.tests {
        assert!(wording.contains(&format!("selftest.{}", t.part.code())), "{:?}", t.part);
        assert!(t.note.is_empty() || wording.contains(&t.note.to_string()), "{}", t.note);
    }
}

/// The staff catalogue's keys (read as text: the tests crate does not draw screens).
fn kaoyomi_ui_keys() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../ui/wording/staff.toml")).unwrap();
    text.lines().filter_map(|l| l.strip_prefix('"')?.split('"').next().map(str::to_string)).collect()
}

#[test]
fn the_card_reader_self_test_talks_to_a_card_without_spending_a_try() {
    use kaoyomi_maintenance::contract::{Part, Verdict};
    let dir = tempfile::tempdir().unwrap();
    let mut b = bench(dir.path());
    admin(&mut b, dir.path());
    b.insert("normal");
    let tries = b.tries("normal");
    let view = b.act(Action::RunSelfTests);
    let reader = line(&view, Part::CardReader);
    assert_eq!((reader.verdict, reader.note), (Verdict::Passed, "selftest.note.card-answered"), "{reader:?}");
    assert!(reader.value.contains("JPKI AP"), "{reader:?}");
    assert!(!b.apdus.iter().any(|a| kaoyomi_tests::is_verify_with_data(a)), "no VERIFY was sent");
    assert_eq!(b.tries("normal"), tries);
    assert!(b.main.desk().unwrap().store().newest_errors(10).unwrap().is_empty());

    // A card that leaves as it is asked: a fault with the engineer's advice, and E101 recorded.
    b.inject(kaoyomi_hal_sim::Fault::RemoveBefore(1));
    let view = b.act(Action::RunSelfTests);
    let reader = line(&view, Part::CardReader);
    assert_eq!((reader.verdict, reader.note), (Verdict::Failed, "selftest.note.card-no-answer"), "{reader:?}");
    let errors = b.main.desk().unwrap().store().newest_errors(10).unwrap();
    assert!(errors.iter().any(|e| e.code == "E101"), "{errors:?}");
    // Once the card is gone, the reader itself passes again.
    b.poll();
    let view = b.act(Action::RunSelfTests);
    assert_eq!(line(&view, Part::CardReader).note, "selftest.note.card-reader-no-card");
}
