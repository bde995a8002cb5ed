//! Power cut: a writer process is killed with SIGKILL at random points while it records (500
//! times here, `KAOYOMI_POWER_CUTS` for more: `cargo xtask soak`); after each kill the database
//! must open, hold every record the writer saw committed, in order and whole, and no session
//! record without its operation record (both are one transaction).
//!
//! A SIGKILL stops the process between any two instructions but leaves the kernel's page cache,
//! so it tests SQLite's journal and this crate's transactions, not the disk's own write cache;
//! the QEMU guest's power cuts test the latter.

use kaoyomi_core::LogEntry;
use kaoyomi_protocol::{AuthMethod, Outcome, TokenKind};
use kaoyomi_store::{Health, Logged, Store};
use rand::Rng;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The directory the writer records into (set only for the writer).
const WRITER_DIR: &str = "KAOYOMI_POWER_CUT_WRITER";

/// What the writer records as its `n`th record (ids count from 1), and when.
fn entry(n: i64) -> LogEntry {
    match n % 4 {
        0 => LogEntry::SessionEnded { method: Some(AuthMethod::Face), outcome: Outcome::Verified },
        1 => LogEntry::CardAccepted(TokenKind::Card),
        2 => LogEntry::PinWrong { tries_left: (n % 3) as u8 },
        _ => LogEntry::VisualMode(n % 2 == 0),
    }
}

fn at(n: i64) -> i64 {
    1_796_000_000_000 + n * 10
}

/// The writer: records `entry(n)` for n = 1, 2, … (continuing after the records there), printing
/// each n once its record is committed. Run by [`killed_writers_never_lose_or_tear_a_record`].
#[test]
#[ignore = "the writer process the power-cut test starts and kills"]
fn writer() {
    let dir = std::env::var(WRITER_DIR).expect("run by the power-cut test");
    let mut store = Store::open(Path::new(&dir), 0);
    assert_eq!(store.health(), &Health::Ready);
    let mut n = store.operations(0).unwrap().last().map_or(1, |o| o.id + 1);
    let mut out = std::io::stdout().lock();
    loop {
        store.log(at(n), &entry(n)).unwrap();
        writeln!(out, "committed {n}").unwrap();
        out.flush().unwrap();
        n += 1;
    }
}

fn expected(n: i64) -> (String, Option<i64>) {
    let op = kaoyomi_store::Operation::Core(entry(n));
    (op.code().to_string(), op.value())
}

#[test]
fn killed_writers_never_lose_or_tear_a_record() {
    let runs: usize = std::env::var("KAOYOMI_POWER_CUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::thread_rng();
    let mut committed = 0i64;
    let started = Instant::now();
    let mut records_at_kill = Vec::new();
    for run in 0..runs {
        let mut child = Command::new(&exe)
            .args(["writer", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(WRITER_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
            text
        });
        // Anywhere from before the database is open to well into the writing.
        std::thread::sleep(Duration::from_micros(rng.gen_range(0..40_000)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let text = reader.join().unwrap();
        // A line cut off by the kill (its record was committed before it was printed) is not
        // trusted: one more record may be there besides the one in flight.
        let cut_line = !text.is_empty() && !text.ends_with('\n');
        let whole = if cut_line { &text[..text.rfind('\n').map_or(0, |i| i + 1)] } else { &text[..] };
        if let Some(last) =
            whole.lines().rev().find_map(|l| l.rsplit("committed ").next().and_then(|n| n.parse::<i64>().ok()))
        {
            committed = committed.max(last);
        }
        let in_flight = 1 + i64::from(cut_line);

        let store = Store::open(dir.path(), 0);
        assert_eq!(store.health(), &Health::Ready, "run {run}: the database did not open cleanly");
        assert!(store.recovered().is_none(), "run {run}: the database was found corrupt");
        let ops: Vec<Logged> = store.operations(0).unwrap();
        let have = ops.len() as i64;
        assert!(have >= committed, "run {run}: {committed} records were committed, {have} are there");
        assert!(
            have <= committed + in_flight,
            "run {run}: {have} records, only {committed} (and {in_flight} in flight) written; the writer said {:?}",
            &text[text.len().saturating_sub(300)..]
        );
        for (i, op) in ops.iter().enumerate() {
            let n = i as i64 + 1;
            assert_eq!(op.id, n, "run {run}: a gap before record {n}");
            assert_eq!(op.at_ms, at(n), "run {run}: record {n} torn");
            assert_eq!((op.kind.clone(), op.value), expected(n), "run {run}: record {n} torn");
        }
        let sessions = ops.iter().filter(|o| o.kind == "session-ended").count() as u64;
        assert_eq!(store.session_count().unwrap(), sessions, "run {run}: a session's two records were split");
        committed = have;
        records_at_kill.push(have);
    }
    let elapsed = started.elapsed();
    let cut_while_writing = records_at_kill.windows(2).filter(|w| w[1] > w[0]).count();
    println!(
        "{runs} power cuts in {:.1} s: {committed} records, {cut_while_writing} cuts after the writer had recorded something",
        elapsed.as_secs_f64()
    );
    // The kills must have landed while records were being written, not only before the
    // database opened: otherwise this test tests nothing.
    assert!(cut_while_writing >= runs / 4, "only {cut_while_writing} of {runs} kills came while writing");
}
