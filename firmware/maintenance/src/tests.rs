//! The accounts' and settings' rules, on a real database in a temporary directory.

use crate::accounts::{FIRST_LOCK_MS, FREE_FAILURES, MAX_LOCK_MS, lock_ms};
use crate::settings::{self, Reason, Wording};
use crate::*;
use ed25519_dalek::SigningKey;
use kaoyomi_store::{ErrorCode, SettingsSource, Store};

const ID: &str = "KY-0123456789";
const SECRET: [u8; 32] = [7; 32];

fn fresh() -> (tempfile::TempDir, Store, Accounts) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1_000);
    (dir, store, Accounts::new(ID, SECRET))
}

fn pw(s: &str) -> Password {
    Password::new(s)
}

#[test]
fn initial_passwords_differ_per_role_and_device_and_read_well() {
    let a = Accounts::new(ID, SECRET);
    let e = a.initial_password(Role::Engineer);
    let f = a.initial_password(Role::FacilityAdmin);
    assert_ne!(e, f);
    assert_ne!(e, Accounts::new(ID, [8; 32]).initial_password(Role::Engineer));
    let text = e.expose();
    assert_eq!(text.len(), 14, "three groups of four");
    assert!(text.chars().all(|c| c == '-' || (c.is_ascii_alphanumeric() && !"01IO".contains(c))), "{text}");
    assert_eq!(format!("{e:?}"), "Password(14 characters)", "Debug shows no characters");
}

#[test]
fn first_login_needs_the_initial_password_and_forces_a_change() {
    let (_d, mut store, mut a) = fresh();
    let initial = a.initial_password(Role::Engineer);
    let login = a.login(&mut store, 2_000, ID, Role::Engineer, &initial).unwrap();
    assert_eq!(login, Login { role: Role::Engineer, must_change: true });
    // Typed without the hyphens and in small letters: still the initial password.
    let loose = pw(&initial.expose().replace('-', "").to_lowercase());
    assert!(a.login(&mut store, 2_100, ID, Role::Engineer, &loose).unwrap().must_change);
    // The initial password cannot be kept.
    assert_eq!(
        a.change_password(&mut store, 2_200, Role::Engineer, &initial, &initial, &initial),
        Err(ChangeError::Refused(PasswordRefusal::IsInitial))
    );
    let new = pw("Kaoyomi-maint-2026");
    a.change_password(&mut store, 2_300, Role::Engineer, &initial, &new, &new).unwrap();
    assert_eq!(
        a.login(&mut store, 2_400, ID, Role::Engineer, &new).unwrap(),
        Login { role: Role::Engineer, must_change: false }
    );
    // The initial password no longer opens the account, and the other role keeps its own.
    assert!(matches!(a.login(&mut store, 2_500, ID, Role::Engineer, &initial), Err(LoginError::WrongPassword { .. })));
    let admin = a.initial_password(Role::FacilityAdmin);
    assert!(a.login(&mut store, 2_600, ID, Role::FacilityAdmin, &admin).unwrap().must_change);
    // The hash is what is stored, never the password.
    let record = store.account(Role::Engineer).unwrap().unwrap();
    assert!(record.phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", record.phc);
    assert!(!record.phc.contains(new.expose()));
    assert!(!format!("{record:?}").contains(&record.phc), "Debug hides the hash");
    let ops: Vec<String> = store.operations(0).unwrap().into_iter().map(|o| o.kind).collect();
    assert!(ops.contains(&"password-changed:engineer".to_string()), "{ops:?}");
    assert!(ops.contains(&"maintenance-started:engineer".to_string()), "{ops:?}");
}

#[test]
fn wrong_device_id_is_refused_without_counting() {
    let (_d, mut store, mut a) = fresh();
    let initial = a.initial_password(Role::Engineer);
    for _ in 0..10 {
        assert_eq!(a.login(&mut store, 2_000, "KY-OTHER", Role::Engineer, &initial), Err(LoginError::WrongDeviceId));
    }
    assert!(a.login(&mut store, 2_000, &ID.to_lowercase(), Role::Engineer, &initial).is_ok());
}

#[test]
fn new_passwords_follow_the_rules() {
    let (_d, mut store, mut a) = fresh();
    let initial = a.initial_password(Role::FacilityAdmin);
    let refused = |a: &mut Accounts, store: &mut Store, new: &str, again: &str| {
        a.change_password(store, 5_000, Role::FacilityAdmin, &initial, &pw(new), &pw(again))
    };
    use PasswordRefusal::*;
    assert_eq!(refused(&mut a, &mut store, "Short-1", "Short-1"), Err(ChangeError::Refused(TooShort)));
    assert_eq!(refused(&mut a, &mut store, "Long-enough-1", "Long-enough-2"), Err(ChangeError::Refused(Mismatch)));
    let long = "x1".repeat(40);
    assert_eq!(refused(&mut a, &mut store, &long, &long), Err(ChangeError::Refused(TooLong)));
    assert_eq!(
        refused(&mut a, &mut store, "パスワード一二三四五六", "パスワード一二三四五六"),
        Err(ChangeError::Refused(NotPrintableAscii))
    );
    assert_eq!(
        refused(&mut a, &mut store, "ky-0123456789!", "ky-0123456789!"),
        Err(ChangeError::Refused(ContainsDeviceId))
    );
    assert_eq!(refused(&mut a, &mut store, "1212121212", "1212121212"), Err(ChangeError::Refused(TooSimple)));
    assert_eq!(
        a.change_password(
            &mut store,
            5_000,
            Role::FacilityAdmin,
            &pw("not-the-initial"),
            &pw("Reception-2026"),
            &pw("Reception-2026")
        ),
        Err(ChangeError::WrongCurrent)
    );
    assert_eq!(refused(&mut a, &mut store, "Reception-2026", "Reception-2026"), Ok(()));
    let now = pw("Reception-2026");
    assert_eq!(
        a.change_password(&mut store, 6_000, Role::FacilityAdmin, &now, &now, &now),
        Err(ChangeError::Refused(Unchanged))
    );
}

#[test]
fn wrong_passwords_lock_out_with_back_off_across_restarts() {
    assert_eq!(lock_ms(FREE_FAILURES - 1), 0);
    assert_eq!(lock_ms(FREE_FAILURES), FIRST_LOCK_MS);
    assert_eq!(lock_ms(FREE_FAILURES + 1), 2 * FIRST_LOCK_MS);
    assert_eq!(lock_ms(FREE_FAILURES + 30), MAX_LOCK_MS);
    let (dir, mut store, mut a) = fresh();
    let initial = a.initial_password(Role::Engineer);
    let wrong = pw("guess-guess-1");
    let mut now = 10_000;
    for i in 1..FREE_FAILURES {
        let e = a.login(&mut store, now, ID, Role::Engineer, &wrong).unwrap_err();
        assert_eq!(e, LoginError::WrongPassword { left: FREE_FAILURES - i, locked_s: 0 });
        now += 1_000;
    }
    let e = a.login(&mut store, now, ID, Role::Engineer, &wrong).unwrap_err();
    assert_eq!(e, LoginError::WrongPassword { left: 0, locked_s: 30 });
    // Locked: even the right password is refused, and the lock survives a restart.
    drop(store);
    let mut store = Store::open(dir.path(), now);
    let mut a = Accounts::new(ID, SECRET);
    assert_eq!(
        a.login(&mut store, now + 10_000, ID, Role::Engineer, &initial),
        Err(LoginError::Locked { remaining_s: 20 })
    );
    // The other account is not locked.
    assert!(
        a.login(&mut store, now + 10_000, ID, Role::FacilityAdmin, &a.initial_password(Role::FacilityAdmin)).is_ok()
    );
    // After the lock, one more wrong password locks for twice as long.
    now += FIRST_LOCK_MS;
    let e = a.login(&mut store, now, ID, Role::Engineer, &wrong).unwrap_err();
    assert_eq!(e, LoginError::WrongPassword { left: 0, locked_s: 60 });
    now += 60_000;
    assert!(a.login(&mut store, now, ID, Role::Engineer, &initial).is_ok(), "the right password after the lock");
    // A success clears the count.
    let e = a.login(&mut store, now + 1, ID, Role::Engineer, &wrong).unwrap_err();
    assert_eq!(e, LoginError::WrongPassword { left: FREE_FAILURES - 1, locked_s: 0 });
    let errors: Vec<String> = store.errors(0).unwrap().into_iter().map(|e| e.code).collect();
    assert_eq!(errors.iter().filter(|c| *c == ErrorCode::MaintenanceLockedOut.code()).count(), 2);
    // A clock set back by a year after a lock: the lock lasts no longer than a lock from now.
    for _ in 0..FREE_FAILURES {
        let _ = a.login(&mut store, now + 2, ID, Role::Engineer, &wrong);
    }
    let year_ago = now - 365 * 86_400_000;
    match a.login(&mut store, year_ago, ID, Role::Engineer, &initial) {
        Err(LoginError::Locked { remaining_s }) => {
            assert!(i64::from(remaining_s) <= MAX_LOCK_MS / 1000, "{remaining_s}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn lockout_holds_in_memory_when_the_database_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-directory");
    let mut store = Store::open(&missing, 0);
    assert!(matches!(store.health(), kaoyomi_store::Health::Unavailable(_)));
    let mut a = Accounts::new(ID, SECRET);
    for _ in 0..FREE_FAILURES {
        let _ = a.login(&mut store, 1_000, ID, Role::Engineer, &pw("guess-guess-1"));
    }
    let initial = a.initial_password(Role::Engineer);
    assert!(matches!(a.login(&mut store, 2_000, ID, Role::Engineer, &initial), Err(LoginError::Locked { .. })));
    // The engineer's initial password still opens the menu once the lock is over, so that the
    // engineer can reach the recovery page; the facility administrator's does not (the accounts
    // cannot be read: a changed password must not give way to the initial one).
    assert!(a.login(&mut store, 2_000 + FIRST_LOCK_MS, ID, Role::Engineer, &initial).unwrap().must_change);
    let admin = a.initial_password(Role::FacilityAdmin);
    assert!(matches!(
        a.login(&mut store, 2_000 + FIRST_LOCK_MS, ID, Role::FacilityAdmin, &admin),
        Err(LoginError::WrongPassword { .. })
    ));
}

#[test]
fn settings_are_validated_with_reasons() {
    assert!(Settings::default().problems().is_empty());
    let mut s =
        Settings { patient_timeout_s: 10, volume: 11, languages: vec![Language::English], ..Settings::default() };
    s.consent_wording = vec![
        Wording { topic: "medical".into(), language: Language::Korean, text: "…".into() },
        Wording { topic: "genome".into(), language: Language::English, text: "x".into() },
        Wording { topic: "limit".into(), language: Language::English, text: "a\u{7}b".into() },
        Wording { topic: "limit".into(), language: Language::English, text: " ".into() },
    ];
    let problems = s.problems();
    let reasons: Vec<(&str, &Reason)> = problems.iter().map(|r| (r.field.as_str(), &r.reason)).collect();
    assert_eq!(
        reasons,
        vec![
            ("patient-timeout-s", &Reason::OutOfRange { min: 20, max: 300 }),
            ("timeout-warning-s", &Reason::WarningNotBeforeTimeout),
            ("consent-wording[0]", &Reason::LanguageNotOffered),
            ("consent-wording[1]", &Reason::UnknownTopic),
            ("consent-wording[2]", &Reason::ControlCharacters),
            ("consent-wording[3]", &Reason::Empty),
            ("languages", &Reason::JapaneseRequired),
            ("volume", &Reason::OutOfRange { min: 0, max: 10 }),
        ]
    );
    assert_eq!(problems[0].to_string(), "patient-timeout-s: must be from 20 to 300");
}

#[test]
fn settings_are_versioned_and_survive_reopening() {
    let (dir, mut store, _a) = fresh();
    let current = settings::load(&store);
    assert_eq!(current, Current { version: 0, settings: Settings::default() });
    let mut new = current.settings.clone();
    new.log_retention_days = 365;
    new.output_encoding = OutputEncoding::ShiftJis;
    new.consent_wording.push(Wording {
        topic: "medical".into(),
        language: Language::Japanese,
        text: "当院では、診療のためにお薬の情報を確認します。".into(),
    });
    let v1 = settings::change(&mut store, 3_000, SettingsSource::Menu(Role::FacilityAdmin), &current, new).unwrap();
    assert_eq!(v1.version, 1);
    // A bad value is refused and nothing changes.
    let bad = Settings { brightness: 5, ..v1.settings.clone() };
    assert!(matches!(
        settings::change(&mut store, 3_100, SettingsSource::Terminal, &v1, bad),
        Err(SettingsError::Invalid(_))
    ));
    // The facility administrator may not change the face check's accuracy.
    let stricter = Settings { face_accuracy: FaceAccuracy::Strict, ..v1.settings.clone() };
    assert!(matches!(
        settings::change(&mut store, 3_200, SettingsSource::Menu(Role::FacilityAdmin), &v1, stricter.clone()),
        Err(SettingsError::EngineerOnly("face-accuracy"))
    ));
    let v2 = settings::change(&mut store, 3_300, SettingsSource::Menu(Role::Engineer), &v1, stricter).unwrap();
    drop(store);
    let store = Store::open(dir.path(), 4_000);
    assert_eq!(settings::load(&store), v2);
    assert_eq!(
        v2.settings.wording("medical", Language::Japanese),
        Some("当院では、診療のためにお薬の情報を確認します。")
    );
    let ops: Vec<(String, Option<i64>)> = store.operations(0).unwrap().into_iter().map(|o| (o.kind, o.value)).collect();
    assert!(ops.contains(&("settings-changed:menu:facility-admin".into(), Some(1))), "{ops:?}");
    assert!(ops.contains(&("settings-changed:menu:engineer".into(), Some(2))), "{ops:?}");
}

#[test]
fn settings_files_are_signed_and_checked() {
    let key = SigningKey::from_bytes(&[3; 32]);
    let other = SigningKey::from_bytes(&[4; 32]);
    let id = kaoyomi_protocol::serial_for(key.verifying_key().as_bytes());
    let current = Current { version: 4, settings: Settings { volume: 2, ..Settings::default() } };
    let file = settings::export(&key, &id, &current, 9_000);
    let text = String::from_utf8(file.clone()).unwrap();
    assert!(text.contains("\"volume\": 2"), "readable JSON: {text}");
    let imported = settings::import(&file, &key.verifying_key(), Role::FacilityAdmin).unwrap();
    assert_eq!(imported.settings, current.settings);
    assert!(imported.from_this_reader);
    assert_eq!(imported.version, 4);
    // Changed after export: refused.
    let altered = text.replace("\"volume\": 2", "\"volume\": 9");
    assert_eq!(
        settings::import(altered.as_bytes(), &key.verifying_key(), Role::Engineer),
        Err(ImportError::BadSignature)
    );
    // Another reader's file: only the engineer may import it.
    assert_eq!(
        settings::import(&file, &other.verifying_key(), Role::FacilityAdmin),
        Err(ImportError::OtherReader(id.clone()))
    );
    // A file claiming another reader's Device ID than its key gives: refused, even re-signed.
    let claimed = settings::export(&other, &id, &current, 9_000);
    assert_eq!(settings::import(&claimed, &key.verifying_key(), Role::Engineer), Err(ImportError::BadSignature));
    assert!(!settings::import(&file, &other.verifying_key(), Role::Engineer).unwrap().from_this_reader);
    // Not a settings file, a future format, too large.
    assert!(matches!(
        settings::import(b"{\"a\":1}", &key.verifying_key(), Role::Engineer),
        Err(ImportError::NotSettings(_))
    ));
    assert!(matches!(
        settings::import(b"\xff\xfe", &key.verifying_key(), Role::Engineer),
        Err(ImportError::NotSettings(_))
    ));
    let future = text.replace("\"format-version\": 1", "\"format-version\": 2");
    assert_eq!(
        settings::import(future.as_bytes(), &key.verifying_key(), Role::Engineer),
        Err(ImportError::UnknownFormat(2))
    );
    assert_eq!(settings::import(&vec![b' '; 70_000], &key.verifying_key(), Role::Engineer), Err(ImportError::TooLarge));
    // A file signed by its maker but holding invalid values: refused with the reason.
    let bad = Current { version: 1, settings: Settings { log_retention_days: 1, ..Settings::default() } };
    let e = settings::import(&settings::export(&key, &id, &bad, 0), &key.verifying_key(), Role::Engineer).unwrap_err();
    assert_eq!(e, ImportError::Invalid("log-retention-days: must be from 30 to 1825".into()));
}

#[test]
fn exported_times_read_in_japan() {
    use crate::export::jst;
    // 2026-12-07 00:31:05 UTC is 09:31:05 in Japan; just before midnight UTC is the next morning.
    assert_eq!(jst(1_796_603_465_000), "2026-12-07 09:31:05");
    assert_eq!(jst(1_796_687_999_000), "2026-12-08 08:59:59");
}

#[test]
fn log_pages_cover_every_record_once_in_either_encoding() {
    use crate::export::{PAGE_BYTES, log_page};
    use kaoyomi_protocol::LogKind;
    let (_d, mut store, _a) = fresh();
    for i in 0..3_000 {
        store.log_operation(1_796_603_465_000 + i, &kaoyomi_store::Operation::ReaderStarted).unwrap();
    }
    store.log_error(1_796_603_465_000, ErrorCode::MaintenanceLockedOut).unwrap();
    let mut after = 0;
    let mut rows = 0;
    let mut pages = 0;
    loop {
        let page = log_page(&store, LogKind::Operations, after, OutputEncoding::Utf8).unwrap();
        assert!(page.csv.len() <= PAGE_BYTES);
        let text = String::from_utf8(page.csv).unwrap();
        rows += text.lines().filter(|l| !l.starts_with("id,")).count();
        pages += 1;
        if !page.more {
            break;
        }
        assert!(page.last_id > after, "a page moves on");
        after = page.last_id;
    }
    assert_eq!(rows, 3_000);
    assert!(pages > 1, "3,000 records need several pages");
    let errors = log_page(&store, LogKind::Errors, 0, OutputEncoding::ShiftJis).unwrap();
    let (text, _, bad) = encoding_rs::SHIFT_JIS.decode(&errors.csv);
    assert!(!bad);
    assert!(text.contains("E701") && text.contains("パスワード"), "{text}");
}
