//! The reader tried as an attacker would: a terminal that is not paired, a reader whose keys are not
//! the pinned ones, a terminal that never reads, one that sends half a frame, a garbage flood, and a
//! card swapped between a job's queueing and its run. Whatever a peer does, the reader keeps
//! serving its patient, its log stays bounded, and no card's try is spent by a job meant for
//! another card. (Altered and replayed reports: `tests/e2e.rs`; sealed frames replayed or altered:
//! `kaoyomi_protocol::channel`; a second PC/SC program on the card: `tests/pcsc.rs`.)

use kaoyomi_board::Board;
use kaoyomi_core::{CardJob, Event, Pin, PinResult};
use kaoyomi_hal_sim::{CounterStore, SimCardSlot, VirtualCard, persona};
use kaoyomi_myna::surface::IssuerKeys;
use kaoyomi_protocol::channel::StaticKey;
use kaoyomi_protocol::{
    Body, ConsentRequest, ErrorCode, Frame, FrameReader, Notification, PairingCode, Progress, Request, Response,
    SessionRequest,
};
use kaoyomi_reader::card_service::{self, PhotoWiring, Work};
use kaoyomi_reader::{InputSource, Options, Summary};
use kaoyomi_terminal::{Client, ClientError};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;
impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, record: &log::Record) {
        if record.target().starts_with("kaoyomi") {
            LOG.lock().unwrap_or_else(|e| e.into_inner()).push(format!("{} {}", record.level(), record.args()));
        }
    }
    fn flush(&self) {}
}

fn capture_logs() {
    if log::set_logger(&Capture).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
}

/// Log lines so far that contain `what`.
fn lines_with(what: &str) -> usize {
    LOG.lock().unwrap_or_else(|e| e.into_inner()).iter().filter(|l| l.contains(what)).count()
}

/// A guard against hangs, not a speed limit.
const T: Duration = Duration::from_secs(180);

fn start_reader(state: &Path, script: &str) -> std::thread::JoinHandle<anyhow::Result<Summary>> {
    let options = Options {
        board: Board::sim(),
        state: state.to_path_buf(),
        input: InputSource::Script(script.lines().map(String::from).collect()),
        once: false,
        show_screens: false,
        view: None,
        preview: None,
        taps: None,
        pairing_view: None,
        maintenance: None,
        maintenance_view: None,
        settings_view: None,
        touch: None,
        pace: Duration::ZERO,
    };
    std::thread::spawn(move || kaoyomi_reader::run(options))
}

fn connect(state: &Path) -> UnixStream {
    let deadline = Instant::now() + T;
    loop {
        match UnixStream::connect(state.join("reader.sock")) {
            Ok(s) => {
                // A guard: a write the reader never takes fails instead of hanging the test.
                s.set_write_timeout(Some(T)).unwrap();
                return s;
            }
            Err(e) if Instant::now() > deadline => panic!("reader socket never came up: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A terminal with a key of its own over the channel, not paired.
fn terminal(state: &Path) -> Client<UnixStream> {
    Client::connect(connect(state), &StaticKey::generate().unwrap(), "attacks", T).expect("the channel opens")
}

/// A terminal paired with the code this connection gives.
fn paired(state: &Path) -> Client<UnixStream> {
    let mut client = terminal(state);
    let code = client.handshake_code().unwrap();
    client.pair(code, T).expect("pairing with the right code");
    client
}

fn refused_with(result: Result<impl std::fmt::Debug, ClientError>, expected: ErrorCode) {
    match result {
        Err(ClientError::Refused { code, .. }) if code == expected => {}
        other => panic!("expected a refusal {expected:?}, got {other:?}"),
    }
}

#[test]
fn a_terminal_that_is_not_paired_gets_nothing_but_pairing() {
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    let _reader = start_reader(state.path(), "await place-card\nawait never-shown 60\n");
    let mut stranger = terminal(state.path());
    refused_with(stranger.device_info(T), ErrorCode::NotPaired);
    refused_with(
        stranger.start_session(
            SessionRequest { nonce: [1; 32], consents: ConsentRequest::default(), registration_needed: false },
            T,
        ),
        ErrorCode::NotPaired,
    );
    refused_with(stranger.request(Request::SetVisualMode { enabled: true }, T), ErrorCode::NotPaired);
    // The terminal itself refuses to send a code that is not its connection's.
    let own = stranger.handshake_code().unwrap();
    let other = PairingCode((own.0 + 1) % 1_000_000);
    assert!(matches!(stranger.pair(other, T), Err(ClientError::CodeMismatch)));
    // A wrong code sent anyway is refused by the reader; after three, even the right one is.
    for _ in 0..kaoyomi_reader::pairing::MAX_WRONG_CODES {
        refused_with(stranger.request(Request::Pair { code: other }, T), ErrorCode::WrongCode);
    }
    refused_with(stranger.request(Request::Pair { code: own }, T), ErrorCode::PairingLocked);
    refused_with(stranger.device_info(T), ErrorCode::NotPaired);
}

#[test]
fn a_reader_with_other_keys_than_the_pinned_ones_is_refused() {
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    let _reader = start_reader(state.path(), "await place-card\nawait never-shown 60\n");
    let key = StaticKey::generate().unwrap();
    let mut client = Client::connect(connect(state.path()), &key, "attacks", T).unwrap();
    let code = client.handshake_code().unwrap();
    let pinned = client.pair(code, T).unwrap();
    drop(client);
    // The same reader again: accepted.
    let again = Client::connect_paired(connect(state.path()), &key, "attacks", std::slice::from_ref(&pinned), T);
    let again = again.expect("the paired reader is accepted");
    drop(again);
    // A device claiming the reader's serial with another channel key, or another device key.
    for rogue in [
        kaoyomi_terminal::PairedReader { link_key: [7; 32], ..pinned.clone() },
        kaoyomi_terminal::PairedReader { device_key: [7; 32], ..pinned.clone() },
    ] {
        std::thread::sleep(Duration::from_millis(600));
        match Client::connect_paired(connect(state.path()), &key, "attacks", &[rogue], T) {
            Err(ClientError::RogueReader(serial)) => assert_eq!(serial, pinned.serial),
            other => {
                panic!("a reader with other keys was accepted: {:?}", other.map(|c| c.reader_serial().to_string()))
            }
        }
    }
}

fn request(seq: u32, request: Request) -> Vec<u8> {
    Frame::new(seq, Body::Request(request)).encode()
}

fn start_request(nonce: u8) -> SessionRequest {
    SessionRequest { nonce: [nonce; 32], consents: ConsentRequest::default(), registration_needed: false }
}

/// Reads frames from `stream` until one answers `to`; None when the connection ends first.
fn answer_to(stream: &mut UnixStream, to: u32) -> Option<Response> {
    stream.set_read_timeout(Some(T)).unwrap();
    let mut frames = FrameReader::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).ok().filter(|&n| n > 0)?;
        for frame in frames.push(&buf[..n]) {
            if let Ok(Frame { body: Body::Response { to: t, response }, .. }) = frame
                && t == to
            {
                return Some(response);
            }
        }
    }
}

/// The script of a patient at the reader: placed at the method choice, the session ends when its
/// terminal is gone; then a second patient's PIN session through a terminal that behaves.
const TWO_PATIENTS: &str = "insert normal\nawait choose-method 120\nawait finished 120\nremove\nawait place-card 120\n\
insert normal\nawait choose-method 120\nchoose pin\nawait pin-entry\npin 4721\nawait finished 120\n\
remove\nawait place-card\nquit\n";

#[test]
fn a_terminal_that_never_reads_loses_the_link_and_the_reader_serves_the_next() {
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    let reader = start_reader(state.path(), TWO_PATIENTS);
    let mut stalled = paired(state.path());
    stalled.start_session(start_request(1), T).unwrap();
    // A terminal that behaves until its patient chooses the check ...
    while !matches!(
        stalled.next_notification(T).unwrap(),
        Notification::Progress { progress: Progress::ChoosingMethod, .. }
    ) {}
    // ... then sends requests without end, never reading an answer: the replies pile up.
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        if stalled.send(Request::GetDeviceInfo).is_err() {
            break; // the reader hung up
        }
    }
    assert!(Instant::now() < deadline, "the reader never gave up a terminal that does not read");
    // The patient's session ended without its terminal; the next terminal is served and its
    // patient's PIN session completes.
    let mut next = paired(state.path());
    next.start_session(start_request(2), T).expect("the next terminal is served");
    while !matches!(next.next_notification(T).unwrap(), Notification::Result(_)) {}
    drop(stalled);
    let summary = reader.join().unwrap().expect("both patients' scripts completed");
    assert_eq!(summary.reports_sent, 1, "the second patient's report reached the second terminal");
}

#[test]
fn half_a_frame_loses_the_terminal_slot() {
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    let reader = start_reader(state.path(), "await place-card\nawait never-shown 60\n");
    let mut half = connect(state.path());
    let whole = request(1, Request::GetDeviceInfo);
    half.write_all(&whole[..2]).unwrap();
    // The reader closes the connection: the read ends without an answer.
    assert_eq!(answer_to(&mut half, 1), None);
    assert!(lines_with("half a frame") >= 1);
    // The slot is free for a terminal that sends whole frames.
    let mut next = paired(state.path());
    next.device_info(T).expect("the next terminal is served");
    drop(reader);
}

#[test]
fn a_garbage_flood_writes_a_bounded_log() {
    capture_logs();
    let state = tempfile::tempdir().unwrap();
    let _reader = start_reader(state.path(), "await place-card\nawait never-shown 60\n");
    let mut terminal = connect(state.path());
    let mut drain = terminal.try_clone().unwrap();
    // Read whatever the reader answers, so this is a flood and not a stall; stop at the answer
    // to the request sent after the garbage.
    let answered = std::thread::spawn(move || answer_to(&mut drain, 77));
    // Lines about this flood (other tests in this process log about their own links).
    let before = lines_with("malformed frame");
    // 200 KB of frames that are not frames.
    let garbage: Vec<u8> = [0x99u8, 0x12, 0x00].repeat(70_000);
    terminal.write_all(&garbage).unwrap();
    // Answers to bad input are rate-limited too, so the request is repeated until one is answered.
    let deadline = Instant::now() + T;
    while !answered.is_finished() && Instant::now() < deadline {
        terminal.write_all(&request(77, Request::GetDeviceInfo)).unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    // Answered (outside a channel, a request is refused as not paired): the link still works.
    assert!(
        matches!(answered.join().unwrap(), Some(Response::Error { code: ErrorCode::NotPaired, .. })),
        "the link does not answer after the flood"
    );
    let written = lines_with("malformed frame") - before;
    assert!((1..=5).contains(&written), "{written} log lines for 70000 bad frames");
}

#[test]
fn a_card_swapped_before_its_job_runs_never_spends_the_new_cards_try() {
    let dir = tempfile::tempdir().unwrap();
    let store = CounterStore::new(dir.path());
    let issue = |id: &str| VirtualCard::issue(persona::find(id).unwrap(), store.clone()).unwrap();
    let tries = |id: &str| issue(id).tries("jpki", kaoyomi_myna::jpki::EF_AUTH_PIN).unwrap();
    let slot = SimCardSlot::new();
    let control = slot.control();
    let (jobs, job_queue) = std::sync::mpsc::channel();
    let (events_tx, events) = std::sync::mpsc::channel();
    let (photos, _photo_queue) = std::sync::mpsc::channel();
    let _card = card_service::spawn(
        slot.reader(),
        job_queue,
        events_tx,
        PhotoWiring { issuers: Arc::new(IssuerKeys::default()), reply: photos },
    );
    control.insert(issue("normal"));
    assert_eq!(events.recv_timeout(T).unwrap(), Event::CardPlaced);
    let before = tries("last-try");
    // Patient A's card leaves and B's arrives; then the PIN typed for A (a wrong one for B)
    // reaches the card thread, still naming A's placement.
    control.remove();
    control.insert(issue("last-try"));
    let job = CardJob::VerifyPinAndSign {
        op: 9,
        pin: Pin::from_ascii("4721").unwrap(),
        message: b"challenge".to_vec(),
        allow_last_try: true,
    };
    jobs.send(Work::Core { job, card: 1 }).unwrap();
    let mut seen = Vec::new();
    loop {
        match events.recv_timeout(T).unwrap() {
            Event::PinChecked { op: 9, result } => {
                assert!(matches!(result, PinResult::Fault(_)), "the job ran on the new card: {result:?}");
                break;
            }
            other => seen.push(other),
        }
    }
    assert!(seen.contains(&Event::CardRemoved) || seen.is_empty(), "{seen:?}");
    assert_eq!(tries("last-try"), before, "the new card's try was spent");
    // The new card is told to core as a new placement, and a job naming it runs.
    let deadline = Instant::now() + T;
    while !seen.contains(&Event::CardPlaced) && Instant::now() < deadline {
        if let Ok(e) = events.recv_timeout(Duration::from_millis(100)) {
            seen.push(e);
        }
    }
    assert!(seen.contains(&Event::CardPlaced), "{seen:?}");
    jobs.send(Work::Core { job: CardJob::Read { op: 10 }, card: 2 }).unwrap();
    loop {
        match events.recv_timeout(T).unwrap() {
            Event::CardRead { op: 10, .. } => break,
            Event::CardUnusable { op: 10, problem } => panic!("the current card's job was refused: {problem:?}"),
            _ => {}
        }
    }
}
