//! The store's behaviour: records kept and read back, sessions timed, statistics, purge, a full
//! store, corrupt and foreign files.

use super::*;
use kaoyomi_protocol::{AuthMethod, CancelReason, Outcome, TokenKind};

const T0: i64 = 1_796_000_000_000; // 2026-11-30, early morning in Japan

fn ended(method: Option<AuthMethod>, outcome: Outcome) -> LogEntry {
    LogEntry::SessionEnded { method, outcome }
}

#[test]
fn records_are_kept_in_order_and_read_back_with_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path(), T0);
    assert_eq!(s.health(), &Health::Ready);
    s.log_operation(T0, &Operation::ReaderStarted).unwrap();
    s.log(T0 + 1, &LogEntry::CardAccepted(TokenKind::Card)).unwrap();
    s.log(T0 + 2, &LogEntry::PinWrong { tries_left: 2 }).unwrap();
    s.log_error(T0 + 3, ErrorCode::FaceCameraLost).unwrap();
    drop(s);
    let s = Store::open(dir.path(), T0 + 10);
    let ops = s.operations(0).unwrap();
    let kinds: Vec<_> = ops.iter().map(|o| (o.kind.as_str(), o.value)).collect();
    assert_eq!(kinds, [("reader-started", None), ("card-accepted", None), ("pin-wrong", Some(2))]);
    assert!(ops.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(s.operations(T0 + 2).unwrap().len(), 1);
    let errors = s.errors(0).unwrap();
    assert_eq!(errors.len(), 1);
    assert_eq!(ErrorCode::from_code(&errors[0].code), Some(ErrorCode::FaceCameraLost));
    assert!(s.recovered().is_none());
}

#[test]
fn a_session_is_timed_from_the_card_and_counted_per_day_in_japan() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path(), T0);
    // Twenty face sessions of 1 to 20 seconds, the last refused; one PIN session; one cancelled
    // before any card.
    for i in 1..=20 {
        let start = T0 + i * 60_000;
        s.log(start, &LogEntry::CardAccepted(TokenKind::Card)).unwrap();
        let outcome = if i == 20 { Outcome::NotVerified } else { Outcome::Verified };
        s.log(start + i * 1000, &ended(Some(AuthMethod::Face), outcome)).unwrap();
    }
    s.log(T0 + 30 * 60_000, &LogEntry::CardAccepted(TokenKind::Card)).unwrap();
    s.log(T0 + 30 * 60_000 + 45_000, &ended(Some(AuthMethod::Pin), Outcome::Verified)).unwrap();
    s.log(T0 + 40 * 60_000, &LogEntry::SessionArmed).unwrap();
    s.log(T0 + 41 * 60_000, &ended(None, Outcome::Cancelled(CancelReason::Terminal))).unwrap();
    assert_eq!(s.session_count().unwrap(), 22);
    let days = s.statistics(T0 - 86_400_000, T0 + 86_400_000).unwrap();
    assert_eq!(days.len(), 1);
    let d = &days[0];
    assert_eq!(d.day, day_of(T0));
    assert_eq!(d.sessions, 22);
    assert_eq!(d.by_method["face"], 20);
    assert_eq!(d.by_method["pin"], 1);
    assert_eq!(d.by_method["none"], 1);
    assert_eq!(d.by_outcome["verified"], 20);
    assert_eq!(d.by_outcome["not-verified"], 1);
    assert_eq!(d.by_outcome["cancelled:terminal"], 1);
    assert_eq!((d.face_checks, d.face_verified), (20, 19));
    assert_eq!(d.face_success_rate(), Some(0.95));
    // 1..=20 s and 45 s: mean 255/21 s; the 95th percentile by nearest rank is the 20th of 21.
    assert_eq!(d.mean_ms, Some(255_000 / 21));
    assert_eq!(d.p95_ms, Some(20_000));
}

#[test]
fn days_turn_at_midnight_in_japan_not_in_greenwich() {
    let midnight_jst = 1_796_050_800_000; // 2026-12-01 00:00 JST = 2026-11-30 15:00 UTC
    assert_eq!(day_of(midnight_jst) - day_of(midnight_jst - 1), 1);
    assert_eq!(day_of(midnight_jst + 86_399_999), day_of(midnight_jst));
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path(), T0);
    for at in [midnight_jst - 1000, midnight_jst + 1000] {
        s.log(at - 500, &LogEntry::CardAccepted(TokenKind::Card)).unwrap();
        s.log(at, &ended(Some(AuthMethod::Visual), Outcome::Verified)).unwrap();
    }
    let days = s.statistics(0, i64::MAX).unwrap();
    assert_eq!(days.iter().map(|d| d.sessions).collect::<Vec<_>>(), [1, 1]);
}

#[test]
fn a_purge_keeps_the_retention_days_and_records_itself() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path(), T0);
    let day = 86_400_000;
    for age in [100, 91, 89, 1] {
        s.log(T0 - age * day, &LogEntry::SessionArmed).unwrap();
        s.log_error(T0 - age * day, ErrorCode::TerminalLinkLost).unwrap();
    }
    assert_eq!(s.purge(T0, 90).unwrap(), 4);
    let ops = s.operations(0).unwrap();
    assert_eq!(ops.len(), 3);
    assert_eq!((ops[2].kind.as_str(), ops[2].value), ("purged", Some(4)));
    assert_eq!(s.errors(0).unwrap().len(), 2);
}

#[test]
fn a_full_store_refuses_records_with_a_reason_and_recovers_after_a_purge() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open_with(dir.path(), T0, Limits { max_bytes: 128 << 10 });
    let mut written = 0;
    let error = loop {
        match s.log(T0 + written, &LogEntry::PinWrong { tries_left: 1 }) {
            Ok(()) => written += 1,
            Err(e) => break e,
        }
        assert!(written < 100_000, "the limit never bit");
    };
    assert!(matches!(error, StoreError::Full), "{error:?}");
    assert_eq!(s.health(), &Health::Full);
    assert!(error.to_string().contains("full"));
    // Everything written before is still there, and reading works.
    assert_eq!(s.operations(0).unwrap().len() as i64, written);
    // A purge makes room; recording goes on.
    s.purge(T0 + written + 100 * 86_400_000, 90).unwrap();
    s.log(T0 + written + 1, &LogEntry::SessionArmed).unwrap();
    assert_eq!(s.health(), &Health::Ready);
}

#[test]
fn a_file_that_is_not_a_database_is_moved_aside_and_a_fresh_one_made() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(FILE), vec![0x5a; 8192]).unwrap();
    let mut s = Store::open(dir.path(), T0);
    assert_eq!(s.health(), &Health::Ready);
    let moved = s.recovered().expect("moved aside").to_path_buf();
    assert_eq!(std::fs::read(&moved).unwrap(), vec![0x5a; 8192], "the damaged file is kept for the engineer");
    let errors = s.errors(0).unwrap();
    assert_eq!(errors.iter().map(|e| e.code.as_str()).collect::<Vec<_>>(), ["E601"]);
    s.log(T0 + 1, &LogEntry::SessionArmed).unwrap();
}

#[test]
fn a_database_damaged_inside_is_detected_at_opening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE);
    let mut s = Store::open(dir.path(), T0);
    for i in 0..2000 {
        s.log(T0 + i, &LogEntry::PinWrong { tries_left: (i % 3) as u8 }).unwrap();
    }
    drop(s); // checkpoints the log into the file
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 5 * 4096);
    // Page 3's header and cells: what a torn write or a failing flash leaves.
    for b in &mut bytes[2 * 4096..2 * 4096 + 200] {
        *b = 0xff;
    }
    std::fs::write(&path, bytes).unwrap();
    let s = Store::open(dir.path(), T0 + 5000);
    assert!(s.recovered().is_some(), "{:?}", s.health());
    assert_eq!(s.operations(0).unwrap().len(), 0);
    assert_eq!(s.errors(0).unwrap().len(), 1);
}

#[test]
fn a_database_from_a_newer_firmware_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path(), T0);
    s.log(T0, &LogEntry::SessionArmed).unwrap();
    drop(s);
    let conn = Connection::open(dir.path().join(FILE)).unwrap();
    conn.pragma_update(None, "user_version", 99).unwrap();
    drop(conn);
    let mut s = Store::open(dir.path(), T0 + 1);
    match s.health() {
        Health::Unavailable(why) => assert!(why.contains("newer firmware"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(s.recovered().is_none());
    assert!(matches!(s.log(T0 + 2, &LogEntry::SessionArmed), Err(StoreError::Unavailable(_))));
    drop(s);
    let conn = Connection::open(dir.path().join(FILE)).unwrap();
    let n: i64 = conn.query_row("SELECT count(*) FROM operation", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1, "the newer firmware's records are kept");
}

#[test]
fn no_state_directory_leaves_the_reader_running_without_logs() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(&dir.path().join("missing"), T0);
    assert!(matches!(s.health(), Health::Unavailable(_)), "{:?}", s.health());
    assert!(s.log(T0, &LogEntry::SessionArmed).is_err());
    assert!(s.operations(0).is_err());
}

#[test]
fn every_error_code_is_distinct_and_explained() {
    let codes: std::collections::BTreeSet<_> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
    assert_eq!(codes.len(), ErrorCode::ALL.len());
    for c in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        assert!(c.advice().len() > 40);
    }
}

#[test]
fn a_first_version_database_is_brought_up_to_date_keeping_its_records() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = Connection::open(dir.path().join(FILE)).unwrap();
        conn.execute_batch(schema::first_for_tests()).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute("INSERT INTO operation (at_ms, kind) VALUES (?1, 'reader-started')", [T0]).unwrap();
    }
    let mut s = Store::open(dir.path(), T0 + 1);
    assert_eq!(s.health(), &Health::Ready);
    assert_eq!(s.operations(0).unwrap().len(), 1);
    assert_eq!(s.account(Role::Engineer).unwrap(), None);
    s.put_settings(T0 + 2, SettingsSource::Terminal, 1, "{}").unwrap();
    assert_eq!(s.settings().unwrap().unwrap().version, 1);
}

#[test]
fn settings_versions_only_grow_and_the_oldest_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path(), T0);
    for v in 1..=SETTINGS_KEPT + 5 {
        s.put_settings(T0 + i64::from(v), SettingsSource::Menu(Role::Engineer), v, &format!("{{\"v\":{v}}}")).unwrap();
    }
    assert!(s.put_settings(T0, SettingsSource::Terminal, 3, "{}").is_err(), "an older version is refused");
    let newest = s.settings().unwrap().unwrap();
    assert_eq!((newest.version, newest.source.as_str()), (SETTINGS_KEPT + 5, "menu:engineer"));
    let kept: i64 = s.conn().unwrap().query_row("SELECT count(*) FROM settings", [], |r| r.get(0)).unwrap();
    assert_eq!(kept, i64::from(SETTINGS_KEPT));
}

#[test]
fn the_engineers_reset_moves_the_file_aside_and_keeps_accounts_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Store::open(dir.path(), T0);
    let account = AccountRecord {
        role: Role::FacilityAdmin,
        phc: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        initial: false,
        failures: 2,
        locked_until_ms: 0,
        changed_at_ms: Some(T0),
    };
    s.put_account(T0, &account, Some(&Operation::PasswordChanged(Role::FacilityAdmin))).unwrap();
    s.put_settings(T0, SettingsSource::Menu(Role::FacilityAdmin), 3, "{\"volume\":3}").unwrap();
    s.log_operation(T0, &Operation::ReaderStarted).unwrap();
    let moved = s.reset(T0 + 5).unwrap();
    assert!(moved.exists());
    assert_eq!(s.health(), &Health::Ready);
    assert_eq!(s.account(Role::FacilityAdmin).unwrap(), Some(account));
    assert_eq!(s.settings().unwrap().unwrap().body, "{\"volume\":3}");
    let kinds: Vec<String> = s.operations(0).unwrap().into_iter().map(|o| o.kind).collect();
    assert_eq!(kinds, ["database-reset"], "the old log stays in the moved file");
}
