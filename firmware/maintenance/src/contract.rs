//! What the staff display and the reader say to each other about maintenance: the staff's
//! [`Action`]s in, a whole [`View`] of the maintenance pages out. Plain data: the words are looked
//! up by the screens in their catalogue (`kaoyomi-ui`), so every text here is a catalogue key or a
//! value (a number, a code, a version), never a sentence.

use crate::{Current, Password, Role};

/// How often at most the pages say someone is typing ([`Action::Typing`]).
pub const TYPING_EVERY_MS: u64 = 20_000;

/// A maintenance page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Page {
    /// Not in maintenance: the staff display shows the patient session.
    #[default]
    Closed,
    /// The login form.
    Login,
    /// The initial password must be changed before anything else (or the user asked to).
    ChangePassword,
    /// Device information.
    Device,
    /// Settings.
    Settings,
    /// The operation and error logs.
    Logs,
    /// Statistics per day.
    Statistics,
    /// Paired terminals.
    Pairing,
    /// The devices' self-tests.
    SelfTest,
}

/// What staff did on the maintenance pages.
#[derive(Debug, Clone)]
pub enum Action {
    /// Opened the login form (the maintenance button).
    Open,
    /// Logged in.
    Login {
        /// The Device ID typed.
        device_id: String,
        /// The account.
        role: Role,
        /// The password typed.
        password: Password,
    },
    /// Changed the password.
    ChangePassword {
        /// The current password.
        current: Password,
        /// The new one.
        new: Password,
        /// The new one again.
        repeated: Password,
    },
    /// Went to a page.
    Show(Page),
    /// Saved the settings form.
    SaveSettings(crate::Settings),
    /// Asked for the database to be set aside and made again (recovery).
    ResetDatabase,
    /// Forgot every paired terminal.
    UnpairAll,
    /// Runs the self-tests (each device checked by the thread that owns it).
    RunSelfTests,
    /// Left maintenance (or closed the login form).
    Logout,
    /// Someone is typing in a field (sent at most every [`TYPING_EVERY_MS`]): a maintenance
    /// session in use is not left alone, though no form has been sent yet. Changes nothing else
    /// and is answered with no view, so that the form being typed in stays as it is.
    Typing,
}

/// A message on the page: a catalogue key and a value to put in it (`{}`), good or bad.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The catalogue key (`""`: no message).
    pub key: &'static str,
    /// The value put in the text's `{}`.
    pub value: String,
    /// Whether it reports a problem.
    pub bad: bool,
}

impl Message {
    /// A good message.
    pub fn ok(key: &'static str, value: impl Into<String>) -> Message {
        Message { key, value: value.into(), bad: false }
    }

    /// A problem.
    pub fn bad(key: &'static str, value: impl Into<String>) -> Message {
        Message { key, value: value.into(), bad: true }
    }
}

/// One line of a log page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When, in Japan's time (`2026-12-07 09:31:05`).
    pub time: String,
    /// The recorded code (`session-ended`, `E101`).
    pub code: String,
    /// The number that goes with it, if any.
    pub value: String,
    /// An error (from the error log).
    pub error: bool,
}

/// One day of the statistics page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayLine {
    /// The day (`12-07`).
    pub day: String,
    /// Sessions decided by the face check.
    pub face: u32,
    /// By the PIN.
    pub pin: u32,
    /// By staff's visual check.
    pub visual: u32,
    /// Ended without a check (cancelled, card unusable).
    pub none: u32,
    /// Face checks verified, in percent (`""` without face checks).
    pub face_rate: String,
    /// Mean session time in seconds (`""`: none timed).
    pub mean_s: String,
    /// 95th-percentile session time in seconds.
    pub p95_s: String,
    /// Sessions not verified.
    pub not_verified: u32,
    /// Sessions cancelled.
    pub cancelled: u32,
}

/// The database's state as the pages show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// Recording.
    #[default]
    Ready,
    /// Full.
    Full,
    /// The partition is read-only.
    ReadOnly,
    /// No database.
    Unavailable,
}

/// A part of the reader a self-test checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The NFC card reader (and a card on it, if one is placed).
    CardReader,
    /// The 2.5D face camera.
    FaceCamera,
    /// The card-surface camera.
    CardCamera,
    /// The link to the terminal.
    Terminal,
    /// The log database.
    Storage,
    /// The status LEDs.
    Leds,
    /// The speaker.
    Speaker,
    /// The patient's touch panel.
    Touch,
}

impl Part {
    /// Every part, in the order the page lists them.
    pub const ALL: [Part; 8] = [
        Part::CardReader,
        Part::FaceCamera,
        Part::CardCamera,
        Part::Terminal,
        Part::Storage,
        Part::Leds,
        Part::Speaker,
        Part::Touch,
    ];

    /// The part's spelling in the journal, the records and the catalogue (`selftest.<code>`).
    pub fn code(self) -> &'static str {
        match self {
            Part::CardReader => "card-reader",
            Part::FaceCamera => "face-camera",
            Part::CardCamera => "card-camera",
            Part::Terminal => "terminal",
            Part::Storage => "storage",
            Part::Leds => "leds",
            Part::Speaker => "speaker",
            Part::Touch => "touch",
        }
    }
}

/// What a self-test found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still running.
    Running,
    /// Works.
    Passed,
    /// Does not work (the note says what to do).
    Failed,
    /// The board file names no such device: nothing to test.
    NotFitted,
}

impl Verdict {
    /// The verdict's spelling in the journal and the records.
    pub fn code(self) -> &'static str {
        match self {
            Verdict::Running => "running",
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::NotFitted => "not-fitted",
        }
    }
}

/// One self-test's line on the page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestLine {
    /// The part.
    pub part: Part,
    /// What the test found.
    pub verdict: Verdict,
    /// What was measured, as values (`640x480 30.0 fps`, a device's name, an error's text): never
    /// a patient's data.
    pub value: String,
    /// The catalogue key of what the result means and what to do (`selftest.note.<…>`).
    pub note: &'static str,
}

impl TestLine {
    /// A test still running.
    pub fn running(part: Part) -> TestLine {
        TestLine { part, verdict: Verdict::Running, value: String::new(), note: "" }
    }
}

/// Everything the maintenance pages show.
#[derive(Debug, Clone, Default)]
pub struct View {
    /// The page.
    pub page: Page,
    /// Who is logged in.
    pub role: Option<Role>,
    /// The message on the page.
    pub message: Message,
    /// This reader's Device ID (shown on the login form and the device page).
    pub device_id: String,
    /// The device page: (catalogue key of the label, value).
    pub device: Vec<(&'static str, String)>,
    /// The logs, newest first.
    pub logs: Vec<LogLine>,
    /// The statistics, oldest day first (the chart reads left to right).
    pub days: Vec<DayLine>,
    /// The settings in force.
    pub settings: Option<Current>,
    /// Paired terminals (how many).
    pub terminals: usize,
    /// The database.
    pub storage: Storage,
    /// Why the database is not recording, in an engineer's words (empty when it is).
    pub storage_problem: String,
    /// The self-tests' lines (empty until they are run).
    pub tests: Vec<TestLine>,
}
