//! The reader and a terminal over the real socket link, in one process: both signatures verified,
//! garbage on the link, a terminal that goes away mid-session, and no personal data in any log line.

use kaoyomi_board::Board;
use kaoyomi_hal_sim::{persona, pki};
use kaoyomi_protocol::channel::StaticKey;
use kaoyomi_protocol::{
    AuthMethod, ConsentRequest, Notification, Outcome, Progress, Request, Response, SessionRequest, SignedReport,
};
use kaoyomi_reader::{InputSource, Options, Summary};
use kaoyomi_terminal::{CardSignature, ChainCheck, Client, ClientError, Expected, VerifyError, verify_report};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static LOG: Mutex<String> = Mutex::new(String::new());

struct Capture;
impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        // Other crates' debug output (tract prints model weights at trace level) is not ours to
        // scan and would only make false alarms; their warnings and errors are kept.
        if record.level() > log::Level::Info && !record.target().starts_with("kaoyomi") {
            return;
        }
        let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
        log.push_str(&format!("{} {}\n", record.level(), record.args()));
    }
    fn flush(&self) {}
}

fn capture_logs() {
    if log::set_logger(&Capture).is_ok() {
        log::set_max_level(log::LevelFilter::Trace);
    }
}

/// Fails if any log line so far holds a persona's secrets or identifying data.
fn assert_logs_clean() {
    let log = LOG.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert!(!log.is_empty(), "the reader logged nothing: the scan would prove nothing");
    assert_clean(&log, "a log line");
}

/// Fails if the reader's database files in `state` (the database, its write-ahead log) hold a
/// persona's secrets or identifying data.
fn assert_database_clean(state: &Path) {
    let mut scanned = 0;
    for entry in std::fs::read_dir(state).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().unwrap().to_string_lossy().starts_with(kaoyomi_store::FILE) {
            let bytes = std::fs::read(&path).unwrap();
            scanned += bytes.len();
            assert_clean(&String::from_utf8_lossy(&bytes), &path.display().to_string());
        }
    }
    assert!(scanned > 0, "no database to scan");
}

/// Fails if `text` holds a persona's secrets or identifying data.
fn assert_clean(text: &str, what: &str) {
    let found = kaoyomi_tests::privacy::findings(text, &kaoyomi_tests::privacy::secrets(true));
    assert!(found.is_empty(), "{what} holds personal data: {found:?}");
}

fn start_reader(state: &Path, script: &str) -> std::thread::JoinHandle<anyhow::Result<Summary>> {
    start_reader_on(Board::sim(), state, script)
}

/// The sim board with the simulated face camera and the models of `cargo xtask models`.
fn face_board() -> Board {
    let mut board = Board::sim_face();
    let models = std::env::var_os("KAOYOMI_MODELS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/models"));
    board.face = kaoyomi_board::FaceDevice::Sim { scene: "holder".into(), models };
    board
}

fn start_reader_on(board: Board, state: &Path, script: &str) -> std::thread::JoinHandle<anyhow::Result<Summary>> {
    start_reader_with(board, state, script, None)
}

fn start_reader_with(
    board: Board,
    state: &Path,
    script: &str,
    preview: Option<kaoyomi_reader::PreviewView>,
) -> std::thread::JoinHandle<anyhow::Result<Summary>> {
    let lines = script.lines().map(String::from).collect();
    let options = Options {
        board,
        state: state.to_path_buf(),
        input: InputSource::Script(lines),
        once: false,
        show_screens: false,
        view: None,
        preview,
        taps: None,
        pairing_view: None,
        maintenance: None,
        maintenance_view: None,
        settings_view: None,
        touch: None,
        pace: std::time::Duration::ZERO,
    };
    std::thread::spawn(move || kaoyomi_reader::run(options))
}

fn socket(state: &Path) -> UnixStream {
    let deadline = Instant::now() + T;
    loop {
        match UnixStream::connect(state.join("reader.sock")) {
            Ok(s) => return s,
            Err(e) if Instant::now() > deadline => panic!("reader socket never came up: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A terminal with its own key, connected over the channel and paired (the code the staff display
/// would show is this connection's own; a terminal's operator types it from the display).
fn connect(state: &Path) -> Client<UnixStream> {
    let key = StaticKey::generate().unwrap();
    let mut client = Client::connect(socket(state), &key, "e2e", T).expect("the channel opens");
    let code = client.handshake_code().unwrap();
    client.pair(code, T).expect("pairing with the right code");
    client
}

/// A guard against hangs, not a speed limit: generous, because under qemu-aarch64 the simulated
/// cards' RSA keys take long to make.
const T: Duration = Duration::from_secs(180);

fn session(client: &mut Client<UnixStream>, consents: ConsentRequest) -> (kaoyomi_terminal::Verified, Vec<Progress>) {
    let info = client.device_info(T).unwrap();
    let nonce = [0x42; 32];
    let request = SessionRequest { nonce, consents, registration_needed: false };
    let id = client.start_session(request.clone(), T).unwrap();
    let mut progress = Vec::new();
    loop {
        match client.next_notification(T).unwrap() {
            Notification::Progress { session_id, progress: p } => {
                assert_eq!(session_id, id);
                progress.push(p);
            }
            Notification::Result(signed) => {
                let anchors = vec![pki::ca_certificate().unwrap()];
                let expected = Expected {
                    device_key: &info.device_key,
                    serial: &info.serial,
                    session_id: id,
                    request: &request,
                    now_ms: now_ms(),
                };
                let verified = verify_report(&signed, &expected, &anchors).expect("the result verifies");
                refused_when_altered(&signed, &expected, &anchors);
                return (verified, progress);
            }
        }
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64
}

/// A report altered, replayed for another request or session, or checked against another reader
/// is refused.
fn refused_when_altered(signed: &SignedReport, expected: &Expected<'_>, anchors: &[Vec<u8>]) {
    // A flipped bit anywhere in the report breaks the reader's signature.
    for i in [0, signed.report.len() / 2, signed.report.len() - 1] {
        let mut forged = signed.clone();
        forged.report[i] ^= 1;
        assert_eq!(verify_report(&forged, expected, anchors).err(), Some(VerifyError::ReaderSignature));
    }
    // Another reader's key (a rogue reader's report next to a genuine certificate) is refused.
    let mut other_key = *expected.device_key;
    other_key[0] ^= 1;
    assert!(verify_report(signed, &Expected { device_key: &other_key, ..*expected }, anchors).is_err());
    // Replayed as the answer to another request: another nonce, other consents, registration.
    let mut request = expected.request.clone();
    request.nonce[0] ^= 1;
    assert_eq!(
        verify_report(signed, &Expected { request: &request, ..*expected }, anchors).err(),
        Some(VerifyError::Nonce)
    );
    let mut request = expected.request.clone();
    request.registration_needed = !request.registration_needed;
    assert_eq!(
        verify_report(signed, &Expected { request: &request, ..*expected }, anchors).err(),
        Some(VerifyError::Request)
    );
    // Another session, another reader's serial, a report from long ago.
    let session_id = expected.session_id + 1;
    assert!(matches!(
        verify_report(signed, &Expected { session_id, ..*expected }, anchors),
        Err(VerifyError::Session(_))
    ));
    assert!(matches!(
        verify_report(signed, &Expected { serial: "KY-0000000000", ..*expected }, anchors),
        Err(VerifyError::Serial(_))
    ));
    let now_ms = expected.now_ms + 24 * 3600 * 1000;
    assert!(matches!(verify_report(signed, &Expected { now_ms, ..*expected }, anchors), Err(VerifyError::Time(_))));
}

#[test]
fn pin_session_end_to_end_with_both_signatures() {
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    let reader = start_reader(state.path(), include_str!("../../board/scripts/demo-pin.script"));
    let mut client = connect(state.path());
    // Garbage first: the reader says so and carries on.
    client.send_raw(&[0x99, 0x12, 0x00]).unwrap();
    match client.device_info(T) {
        Err(ClientError::Refused { code: kaoyomi_protocol::ErrorCode::Malformed, .. }) => {}
        other => panic!("garbage was not refused: {other:?}"),
    }
    let all = ConsentRequest { medical: true, checkup: true, limit: true };
    let (v, progress) = session(&mut client, all);
    assert_eq!((v.report.outcome, v.report.method), (Outcome::Verified, Some(AuthMethod::Pin)));
    assert_eq!(v.card_signature, CardSignature::Valid);
    assert!(matches!(v.chain, ChainCheck::Trusted(_)));
    assert_eq!(v.report.consents.iter().map(|c| c.agreed).collect::<Vec<_>>(), [true, true, false]);
    assert!(progress.contains(&Progress::Checking(AuthMethod::Pin)));
    let summary = reader.join().unwrap().unwrap();
    assert_eq!(summary.reports_sent, 1);
    assert_logs_clean();
    // The operation log on the state partition: what happened, never who.
    let store = kaoyomi_store::Store::open(state.path(), 0);
    let kinds: Vec<String> = store.operations(0).unwrap().into_iter().map(|o| o.kind).collect();
    for kind in ["reader-started", "session-armed", "card-accepted", "session-ended", "reader-stopping"] {
        assert!(kinds.iter().any(|k| k == kind), "no {kind} in the operation log: {kinds:?}");
    }
    let days = store.statistics(0, i64::MAX).unwrap();
    assert_eq!(days.iter().map(|d| d.sessions).sum::<u32>(), 1, "{days:?}");
    assert_eq!(days[0].by_method.get("pin"), Some(&1));
    assert_eq!(days[0].by_outcome.get("verified"), Some(&1));
    assert!(days[0].mean_ms.is_some(), "the session was timed from its card");
    drop(store);
    assert_database_clean(state.path());
}

#[test]
fn visual_session_end_to_end() {
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    let reader = start_reader(state.path(), include_str!("../../board/scripts/demo-visual.script"));
    let mut client = connect(state.path());
    let all = ConsentRequest { medical: true, checkup: true, limit: true };
    let (v, progress) = session(&mut client, all);
    assert_eq!((v.report.outcome, v.report.method), (Outcome::Verified, Some(AuthMethod::Visual)));
    assert_eq!(v.card_signature, CardSignature::NotPresent);
    assert!(progress.contains(&Progress::StaffNeeded));
    reader.join().unwrap().unwrap();
    assert_logs_clean();
}

/// A patient who places the card and waits at the method choice until the terminal goes away.
const LEFT_AT_CHOOSING: &str =
    "insert normal\nawait choose-method 120\nawait finished 120\nremove\nawait place-card\nquit\n";

fn wait_until_choosing(client: &mut Client<UnixStream>) {
    loop {
        if let Notification::Progress { progress: Progress::ChoosingMethod, .. } = client.next_notification(T).unwrap()
        {
            break;
        }
    }
}

#[test]
fn terminal_leaving_mid_session_returns_the_reader_to_idle() {
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    let reader = start_reader(state.path(), LEFT_AT_CHOOSING);
    let mut client = connect(state.path());
    client
        .start_session(
            SessionRequest { nonce: [1; 32], consents: ConsentRequest::default(), registration_needed: false },
            T,
        )
        .unwrap();
    wait_until_choosing(&mut client);
    drop(client);
    let summary = reader.join().unwrap().expect("the reader recovers and the script completes");
    assert_eq!(summary.reports_sent, 0);
    assert_logs_clean();
}

#[test]
fn a_second_terminal_is_refused_while_one_is_connected() {
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    let reader = start_reader(state.path(), LEFT_AT_CHOOSING);
    let mut first = connect(state.path());
    let info = first.device_info(T).expect("the first terminal is served");
    let key = StaticKey::generate().unwrap();
    match Client::connect(socket(state.path()), &key, "second", T) {
        Err(kaoyomi_terminal::ClientError::Refused { code: kaoyomi_protocol::ErrorCode::Busy, message }) => {
            assert!(message.contains("another terminal"), "{message}")
        }
        other => panic!("the second terminal was not refused: {:?}", other.map(|c| c.reader_serial().to_string())),
    }
    // The first terminal is undisturbed and can still arm a session.
    assert_eq!(first.device_info(T).expect("still served").serial, info.serial);
    first
        .start_session(
            SessionRequest { nonce: [2; 32], consents: ConsentRequest::default(), registration_needed: false },
            T,
        )
        .expect("the first terminal arms a session");
    wait_until_choosing(&mut first);
    drop(first);
    reader.join().unwrap().expect("the reader goes on");
    assert_logs_clean();
}

fn log_text() -> String {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

#[test]
fn face_session_end_to_end() {
    if kaoyomi_tests::skipped_under_emulation("face_session_end_to_end") {
        return;
    }
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    // The patient's preview: sizes of the frames the face thread hands to the screen.
    let previews: std::sync::Arc<std::sync::Mutex<Vec<(u32, u32, usize)>>> = Default::default();
    let seen = previews.clone();
    let preview: kaoyomi_reader::PreviewView =
        std::sync::Arc::new(move |w, h, grey: &[u8]| seen.lock().unwrap().push((w, h, grey.len())));
    let script = include_str!("../../board/scripts/demo-face.script");
    let reader = start_reader_with(face_board(), state.path(), script, Some(preview));
    let mut client = connect(state.path());
    let all = ConsentRequest { medical: true, checkup: true, limit: true };
    let (v, progress) = session(&mut client, all);
    assert_eq!((v.report.outcome, v.report.method), (Outcome::Verified, Some(AuthMethod::Face)));
    // Every frame the check looked at went to the preview, shrunk for the screen.
    let previews = previews.lock().unwrap().clone();
    assert!(!previews.is_empty(), "the face check showed the patient nothing");
    for (w, h, len) in previews {
        assert!((160..=320).contains(&w) && h > 0 && len == (w * h) as usize, "preview frame {w}x{h} ({len} bytes)");
    }
    assert_eq!(v.card_signature, CardSignature::NotPresent);
    assert!(progress.contains(&Progress::Checking(AuthMethod::Face)));
    reader.join().unwrap().unwrap();
    assert!(log_text().contains("face check: Match"), "{}", log_text());
    assert!(log_text().contains("card surface: 照合番号B read"), "{}", log_text());
    // The printed numbers were read right: the card's 照合番号B counter is whole.
    let card = normal_card(state.path());
    assert_eq!(card.tries("surface", 0x0012), Some(10));
    assert_logs_clean();
}

#[test]
fn a_photograph_of_the_holder_calls_staff_and_spends_no_try() {
    if kaoyomi_tests::skipped_under_emulation("a_photograph_of_the_holder_calls_staff") {
        return;
    }
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    let script = include_str!("../../board/scripts/demo-face-photo.script");
    let before = log_text().len();
    let reader = start_reader_on(face_board(), state.path(), script);
    let mut client = connect(state.path());
    let one = ConsentRequest { medical: true, checkup: false, limit: false };
    let (v, progress) = session(&mut client, one);
    // Staff looked and refused: nothing verified, and the face was never taken for the holder.
    assert_eq!((v.report.outcome, v.report.method), (Outcome::NotVerified, Some(AuthMethod::Visual)));
    assert!(progress.contains(&Progress::StaffNeeded), "{progress:?}");
    reader.join().unwrap().unwrap();
    let log = log_text();
    let log = &log[before..];
    assert!(log.contains("face check: NotLive") && log.contains("PresentationAttack"), "{log}");
    assert!(!log.contains("face check: Match"), "{log}");
    // The photograph's numbers were read to open the card photo once (that try was good and
    // so restored); the PIN was never asked.
    let card = normal_card(state.path());
    assert_eq!(card.tries("surface", 0x0012), Some(10));
    assert_eq!(card.tries("jpki", kaoyomi_myna::jpki::EF_AUTH_PIN), Some(3));
    assert_logs_clean();
}

#[test]
fn removing_the_card_stops_the_face_check_and_an_unplugged_camera_leaves_the_pin() {
    if kaoyomi_tests::skipped_under_emulation("removing_the_card_stops_the_face_check") {
        return;
    }
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    // Nobody at the counter; the card is taken away while the camera looks: the check stops.
    // Then the camera is unplugged during a check: the reader says so and the PIN still works.
    let script = "face nobody\ninsert normal\nawait choose-method 120\nchoose face\nawait face-check\nsleep 400\n\
                  remove\nawait place-card\nface unplugged\ninsert normal\nawait choose-method 120\nchoose face\n\
                  await choose-method 60\nchoose pin\nawait pin-entry\npin 4721\nawait consent\nconsent yes\n\
                  await finished\nremove\nawait place-card\nquit";
    // Taking the card away does not end the session: the patient may place it again.
    let log = verified_by_pin_after_face(state.path(), script);
    // Taken away while the card camera read the card's numbers or while the face camera looked:
    // whichever was running stopped.
    assert!(log.contains("face check stopped after") || log.contains("card surface: stopped after"), "{log}");
    assert!(log.contains("face check: the camera stopped delivering"), "{log}");
    assert_logs_clean();
}

/// The "normal" persona's card as the sessions in `state` left it (its counters persisted).
fn normal_card(state: &Path) -> kaoyomi_hal_sim::VirtualCard {
    kaoyomi_hal_sim::VirtualCard::issue(
        persona::find("normal").unwrap(),
        kaoyomi_hal_sim::CounterStore::new(state.join("sim-cards")),
    )
    .unwrap()
}

/// Runs `script` on the face board with one consent asked; the session must end verified by PIN
/// (after the face check did not decide). Returns the log so far.
fn verified_by_pin_after_face(state: &Path, script: &str) -> String {
    let reader = start_reader_on(face_board(), state, script);
    let mut client = connect(state);
    let one = ConsentRequest { medical: true, checkup: false, limit: false };
    let (v, _) = session(&mut client, one);
    assert_eq!((v.report.outcome, v.report.method), (Outcome::Verified, Some(AuthMethod::Pin)));
    reader.join().unwrap().unwrap();
    log_text()
}

#[test]
fn a_cloned_card_is_never_compared_by_face_and_the_pin_still_works() {
    if kaoyomi_tests::skipped_under_emulation("a_cloned_card_is_never_compared_by_face") {
        return;
    }
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    let script = "face holder\ninsert cloned\nawait choose-method 120\nchoose face\nawait choose-method 60\n\
                  choose pin\nawait pin-entry\npin 4721\nawait consent\nconsent yes\nawait finished\nremove\n\
                  await place-card\nquit";
    let log = verified_by_pin_after_face(state.path(), script);
    assert!(log.contains("the card is not genuine: the chip does not hold the key"), "{log}");
    assert_logs_clean();
}

/// The card camera's bad views: each gives its guidance, no 照合番号B reaches the card (its
/// counter is untouched), the face check ends as "numbers not read" and the PIN still works.
#[test]
fn a_card_the_camera_cannot_read_never_reaches_the_card_and_the_pin_remains() {
    if kaoyomi_tests::skipped_under_emulation("a_card_the_camera_cannot_read") {
        return;
    }
    capture_logs();
    for (view, guidance) in [
        ("upside-down", "UpsideDown"),
        ("back", "NotTheFront"),
        ("licence", "NotTheFront"),
        ("juki", "NotTheFront"),
        ("empty", "NoCard"),
        ("glare", "Glare"),
        ("unplugged", "the card camera stopped delivering"),
    ] {
        let state = tempfile::tempdir().unwrap();
        let script = format!(
            "slot {view}\ninsert normal\nawait choose-method 120\nchoose face\nawait choose-method 60\nchoose pin\n\
             await pin-entry\npin 4721\nawait consent\nconsent yes\nawait finished\nremove\nawait place-card\nquit"
        );
        let before = log_text().len();
        let log = verified_by_pin_after_face(state.path(), &script);
        let log = &log[before..];
        assert!(log.contains(guidance), "{view}: {log}");
        let card = normal_card(state.path());
        assert_eq!(card.tries("surface", 0x0012), Some(10), "{view}: no 照合番号B was presented");
    }
    assert_logs_clean();
}

/// The engineer's password set as the maintenance menu would, before the reader starts.
fn set_engineer_password(state: &Path, password: &str) {
    use kaoyomi_maintenance::{Accounts, Password, Role};
    let key = kaoyomi_reader::device_key::DeviceKey::load_or_create(state).unwrap();
    let mut accounts = Accounts::new(key.serial(), key.derive(kaoyomi_reader::desk::ACCOUNTS_LABEL));
    let mut store = kaoyomi_store::Store::open(state, 0);
    let initial = accounts.initial_password(Role::Engineer);
    let new = Password::new(password);
    accounts.change_password(&mut store, now_ms() as i64, Role::Engineer, &initial, &new, &new).unwrap();
}

fn import(client: &mut Client<UnixStream>, serial: &str, password: &str, file: Vec<u8>) -> Response {
    let credential = kaoyomi_protocol::Credential { device_id: serial.into(), password: password.into() };
    match client.request(Request::ImportSettings { credential, file }, T) {
        Ok(response) => response,
        Err(ClientError::Refused { code, message }) => Response::Error { code, message },
        Err(e) => panic!("{e}"),
    }
}

fn refused(response: Response, code: kaoyomi_protocol::ErrorCode) -> String {
    match response {
        Response::Error { code: c, message } if c == code => message,
        other => panic!("expected {code:?}, got {other:?}"),
    }
}

#[test]
fn the_terminal_collects_logs_statistics_and_settings_and_the_engineer_changes_them() {
    use kaoyomi_maintenance::settings::{self, Current, OutputEncoding, Settings};
    use kaoyomi_protocol::{ErrorCode, LogKind, TextEncoding};
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    set_engineer_password(state.path(), "Engineer-Pass-2026");
    let reader = start_reader(state.path(), include_str!("../../board/scripts/exports.script"));
    let mut client = connect(state.path());
    let one = ConsentRequest { medical: true, checkup: false, limit: false };
    let (v, _) = session(&mut client, one);
    assert_eq!(v.report.outcome, Outcome::Verified);
    let serial = client.device_info(T).unwrap().serial;
    let mut exported: Vec<u8> = Vec::new();

    // The operation log, page by page, as CSV in the reader's encoding (UTF-8 by default).
    let mut csv = Vec::new();
    let mut after = 0;
    loop {
        match client.request(Request::ExportLog { log: LogKind::Operations, after_id: after }, T).unwrap() {
            Response::LogPage { csv: page, last_id, more, encoding, .. } => {
                assert_eq!(encoding, TextEncoding::Utf8);
                csv.extend(page);
                if !more {
                    break;
                }
                after = last_id;
            }
            other => panic!("{other:?}"),
        }
    }
    let text = String::from_utf8(csv.clone()).unwrap();
    assert!(text.starts_with("id,time_jst,operation,value\r\n"), "{text}");
    for kind in ["reader-started", "password-changed:engineer", "session-ended"] {
        assert!(text.contains(kind), "no {kind} in the exported log:\n{text}");
    }
    exported.extend(csv);
    // The statistics: today's row counts the session.
    let Response::Statistics { csv, .. } = client.request(Request::ExportStatistics { days: 7 }, T).unwrap() else {
        panic!("no statistics")
    };
    let text = String::from_utf8(csv.clone()).unwrap();
    assert_eq!(text.lines().count(), 8, "a header and seven days:\n{text}");
    let today = text.lines().last().unwrap();
    assert!(today.split(',').nth(1) == Some("1") && today.split(',').nth(3) == Some("1"), "{today}");
    exported.extend(csv);

    // The settings file, signed by the reader: imported back by the engineer only.
    let Response::SettingsFile { version, file } = client.request(Request::ExportSettings, T).unwrap() else {
        panic!("no settings file")
    };
    assert_eq!(version, 0);
    exported.extend(&file);
    let why = refused(import(&mut client, &serial, "wrong-password-1", file.clone()), ErrorCode::LoginRefused);
    assert!(why.contains("wrong password"), "{why}");
    let altered = String::from_utf8(file.clone()).unwrap().replace("\"volume\": 6", "\"volume\": 9");
    let why =
        refused(import(&mut client, &serial, "Engineer-Pass-2026", altered.into_bytes()), ErrorCode::SettingsRefused);
    assert!(why.contains("signature"), "{why}");
    assert_eq!(import(&mut client, &serial, "Engineer-Pass-2026", file), Response::SettingsChanged { version: 1 });
    // A file from another reader (the engineer copies a facility's settings): Shift_JIS output.
    let other = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let sjis =
        Current { version: 4, settings: Settings { output_encoding: OutputEncoding::ShiftJis, ..Settings::default() } };
    let file = settings::export(&other, &kaoyomi_protocol::serial_for(other.verifying_key().as_bytes()), &sjis, 0);
    assert_eq!(import(&mut client, &serial, "Engineer-Pass-2026", file), Response::SettingsChanged { version: 2 });
    match client.request(Request::ExportLog { log: LogKind::Errors, after_id: 0 }, T).unwrap() {
        Response::LogPage { encoding: TextEncoding::ShiftJis, csv, .. } => {
            assert!(csv.starts_with(b"id,time_jst,code,advice\r\n"));
            exported.extend(csv);
        }
        other => panic!("{other:?}"),
    }

    // The next session ends the script.
    let _ = client.start_session(SessionRequest { nonce: [1; 32], consents: one, registration_needed: false }, T);
    reader.join().unwrap().unwrap();
    assert_clean(&String::from_utf8_lossy(&exported), "an export");
    assert_logs_clean();
    // The settings changes are in the database with their source.
    let store = kaoyomi_store::Store::open(state.path(), 0);
    let kinds: Vec<(String, Option<i64>)> =
        store.operations(0).unwrap().into_iter().map(|o| (o.kind, o.value)).collect();
    assert!(kinds.contains(&("settings-changed:terminal".into(), Some(2))), "{kinds:?}");
    assert!(kinds.contains(&("login-refused:engineer".into(), Some(1))), "{kinds:?}");
    drop(store);
    assert_database_clean(state.path());
}
