//! The maintenance desk: the reader's records (the database) and its maintenance menu. It turns
//! the staff display's [`Action`]s into logins, password changes and settings, asks core for the
//! reader (no patient session may run meanwhile) and gives the pages a whole [`View`].
//!
//! It owns the [`Store`]: every record the reader writes goes through here, and a failing store
//! is reported once when it starts failing and once when it records again, never per record.

use crate::device_key::DeviceKey;
use kaoyomi_core::{Event, LogEntry, MaintenanceAnswer, Now, Timeouts};
use kaoyomi_maintenance::contract::{Action, DayLine, LogLine, Message, Page, Part, Storage, TestLine, Verdict, View};
use kaoyomi_maintenance::export::{self, jst};
use kaoyomi_maintenance::settings::{self, Current};
use kaoyomi_maintenance::{Accounts, ChangeError, LoginError, Role, Settings, SettingsError};
use kaoyomi_protocol::{ErrorCode as WireError, Request, Response};
use kaoyomi_store::{Health, Operation, SettingsSource, Store, StoreError};
use std::path::PathBuf;

/// The label the maintenance accounts' initial passwords are derived from the device key under.
pub const ACCOUNTS_LABEL: &[u8] = b"KAOYOMI-MAINTENANCE\0";

/// A maintenance session left alone this long ends by itself (the reader serves patients again).
pub const IDLE_LOGOUT_MS: u64 = 10 * 60 * 1000;

/// Days of statistics on the page.
const STAT_DAYS: i64 = 14;
/// Lines on the log page.
const LOG_LINES: usize = 200;

/// The desk.
pub struct Desk {
    store: Store,
    failing: bool,
    accounts: Accounts,
    current: Current,
    state: PathBuf,
    board: String,
    page: Page,
    role: Option<Role>,
    must_change: bool,
    message: Message,
    last_activity_ms: u64,
    /// Extra lines for the device page (model versions, from the board's devices).
    extra: Vec<(&'static str, String)>,
    /// The device key, which signs exported settings files.
    signer: ed25519_dalek::SigningKey,
    /// The self-tests' lines (empty until they are run).
    tests: Vec<TestLine>,
    /// When they were last started (monotonic ms).
    tests_started_ms: u64,
}

/// What an action asks of the main loop.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// An event for core (ask for the reader, give it back).
    pub event: Option<Event>,
    /// The settings changed: apply them.
    pub settings_changed: bool,
    /// The pages need no new view (someone is typing: the form stays as it is).
    pub no_view: bool,
    /// Run the devices' self-tests (their lines come back through [`Desk::self_tested`]).
    pub self_tests: bool,
}

impl Desk {
    /// Opens the database in `state` (never fails: see [`Store::open`]) and reads the settings.
    pub fn open(state: &std::path::Path, key: &DeviceKey, board: &str, now_ms: i64) -> Desk {
        Desk::open_with(state, key, board, now_ms, kaoyomi_store::Limits::default())
    }

    /// [`Desk::open`] with the database's size limit `limits`.
    pub fn open_with(
        state: &std::path::Path,
        key: &DeviceKey,
        board: &str,
        now_ms: i64,
        limits: kaoyomi_store::Limits,
    ) -> Desk {
        let store = Store::open_with(state, now_ms, limits);
        if let Some(moved) = store.recovered() {
            log::error!("the log database was damaged: moved to {}, a new one started", moved.display());
        }
        let current = settings::load(&store);
        Desk {
            store,
            failing: false,
            accounts: Accounts::new(key.serial(), key.derive(ACCOUNTS_LABEL)),
            current,
            state: state.to_path_buf(),
            board: board.into(),
            page: Page::Closed,
            role: None,
            must_change: false,
            message: Message::default(),
            last_activity_ms: 0,
            extra: Vec::new(),
            signer: key.settings_signer(),
            tests: Vec::new(),
            tests_started_ms: 0,
        }
    }

    /// Answers a paired terminal's request for the logs, the statistics or the settings; the
    /// second value says whether the settings changed (to be applied).
    pub fn terminal(&mut self, request: Request, now: Now) -> (Response, bool) {
        let wall = now.unix_ms as i64;
        let encoding = self.current.settings.output_encoding;
        let unavailable =
            |e: StoreError| Response::Error { code: WireError::StorageUnavailable, message: e.to_string() };
        let response = match request {
            Request::ExportLog { log, after_id } => match export::log_page(&self.store, log, after_id, encoding) {
                Ok(page) => {
                    if after_id == 0 {
                        self.operation(wall, &Operation::LogsExported);
                    }
                    Response::LogPage {
                        log,
                        encoding: export::wire(encoding),
                        csv: page.csv,
                        last_id: page.last_id,
                        more: page.more,
                    }
                }
                Err(e) => unavailable(e),
            },
            Request::ExportStatistics { days } => {
                let days = days.clamp(1, kaoyomi_protocol::MAX_STATISTICS_DAYS);
                match export::statistics_csv(&self.store, wall, days, encoding) {
                    Ok(csv) => Response::Statistics { encoding: export::wire(encoding), csv },
                    Err(e) => unavailable(e),
                }
            }
            Request::ExportSettings => {
                let file = settings::export(&self.signer, self.accounts.device_id(), &self.current, wall);
                let version = self.current.version;
                self.operation(wall, &Operation::SettingsExported { version });
                Response::SettingsFile { version, file }
            }
            Request::ImportSettings { credential, file } => return self.import(credential, &file, wall),
            other => {
                Response::Error { code: WireError::NotNow, message: format!("{other:?} is not answered by the desk") }
            }
        };
        (response, false)
    }

    fn import(&mut self, credential: kaoyomi_protocol::Credential, file: &[u8], wall: i64) -> (Response, bool) {
        let refused = |code, message: String| (Response::Error { code, message }, false);
        let password = kaoyomi_maintenance::Password::new(credential.password.as_str());
        match self.accounts.authenticate(&mut self.store, wall, &credential.device_id, Role::Engineer, &password) {
            Ok(login) if login.must_change => {
                return refused(
                    WireError::LoginRefused,
                    "the engineer's password is still the initial one: change it at the reader's maintenance menu first"
                        .into(),
                );
            }
            Ok(_) => {}
            Err(e) => return refused(WireError::LoginRefused, e.to_string()),
        }
        let own = self.signer.verifying_key();
        let imported = match settings::import(file, &own, Role::Engineer) {
            Ok(i) => i,
            Err(e) => return refused(WireError::SettingsRefused, e.to_string()),
        };
        match settings::change(&mut self.store, wall, SettingsSource::Terminal, &self.current, imported.settings) {
            Ok(current) => {
                let version = current.version;
                self.current = current;
                (Response::SettingsChanged { version }, true)
            }
            Err(SettingsError::Store(e)) => refused(WireError::StorageUnavailable, e.to_string()),
            Err(e) => refused(WireError::SettingsRefused, e.to_string()),
        }
    }

    /// Lines the device page shows besides its own (e.g. the models' versions).
    pub fn set_extra(&mut self, extra: Vec<(&'static str, String)>) {
        self.extra = extra;
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.current.settings
    }

    /// The store (read-only use: tests, the terminal's exports).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The initial passwords' source (for `kaoyomi-reader maintenance initial-passwords`).
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Writes with `write`; a failure is logged when it starts and when it ends.
    fn write(&mut self, write: impl FnOnce(&mut Store, i64) -> Result<(), StoreError>, now_ms: i64) {
        match write(&mut self.store, now_ms) {
            Ok(()) if self.failing => {
                self.failing = false;
                log::info!("the operation log records again");
            }
            Ok(()) => {}
            Err(e) if !self.failing => {
                self.failing = true;
                log::error!("the operation log is not recording: {e}");
            }
            Err(_) => {}
        }
    }

    /// Records one of core's log entries.
    pub fn record(&mut self, now_ms: i64, entry: &LogEntry) {
        self.write(|s, now| s.log(now, entry), now_ms);
    }

    /// Records one of the reader's own operations.
    pub fn operation(&mut self, now_ms: i64, op: &Operation) {
        self.write(|s, now| s.log_operation(now, op), now_ms);
    }

    /// Records an error.
    pub fn error(&mut self, now_ms: i64, code: kaoyomi_store::ErrorCode) {
        self.write(|s, now| s.log_error(now, code), now_ms);
    }

    /// Deletes the records older than the retention setting.
    pub fn purge(&mut self, now_ms: i64) {
        let days = self.current.settings.log_retention_days;
        self.write(|s, now| s.purge(now, days).map(drop), now_ms);
    }

    /// The engineer logged in with the initial password while the database cannot record its
    /// change: only the device page and the database's recovery open (a full or broken database
    /// must not lock the engineer out of the recovery that would fix it).
    fn recovery(&self) -> bool {
        self.role == Some(Role::Engineer) && self.must_change && *self.store.health() != Health::Ready
    }

    /// Whether someone is logged in.
    pub fn logged_in(&self) -> Option<Role> {
        self.role
    }

    /// Carries out a staff action at `now`.
    pub fn act(&mut self, action: Action, now: Now) -> Outcome {
        if matches!(action, Action::Typing) {
            // Keeps an open session from being left alone; the page's message stays.
            if self.page != Page::Closed {
                self.last_activity_ms = now.monotonic_ms;
            }
            return Outcome { no_view: true, ..Outcome::default() };
        }
        let page = self.page;
        let outcome = self.carry_out(action, now);
        // The journal says which page opened and what the desk answered (a catalogue key, never
        // what was typed), for an engineer reading it and for the QEMU test.
        if !self.message.key.is_empty() {
            log::info!("maintenance: {}", self.message.key);
        }
        if self.page != page {
            log::info!("maintenance page {:?}", self.page);
        }
        outcome
    }

    fn carry_out(&mut self, action: Action, now: Now) -> Outcome {
        let wall = now.unix_ms as i64;
        self.last_activity_ms = now.monotonic_ms;
        self.message = Message::default();
        let mut outcome = Outcome::default();
        match action {
            Action::Open => {
                if self.role.is_none() {
                    self.page = Page::Login;
                }
            }
            Action::Login { device_id, role, password } => {
                if self.role.is_some() {
                    return outcome;
                }
                match self.accounts.login(&mut self.store, wall, &device_id, role, &password) {
                    Ok(login) => {
                        self.role = Some(role);
                        self.must_change = login.must_change;
                        self.page = if self.recovery() {
                            Page::Device
                        } else if login.must_change {
                            Page::ChangePassword
                        } else {
                            Page::Device
                        };
                        if login.must_change {
                            self.message = Message::ok("password-must-change", "");
                        }
                        outcome.event = Some(Event::MaintenanceRequested);
                    }
                    Err(LoginError::WrongDeviceId) => self.message = Message::bad("login-wrong-device-id", ""),
                    Err(LoginError::WrongPassword { left, locked_s: 0 }) => {
                        self.message = Message::bad("login-wrong-password", left.to_string())
                    }
                    Err(LoginError::WrongPassword { locked_s, .. }) => {
                        self.message = Message::bad("login-locked", locked_s.to_string())
                    }
                    Err(LoginError::Locked { remaining_s }) => {
                        self.message = Message::bad("login-locked", remaining_s.to_string())
                    }
                }
            }
            Action::ChangePassword { current, new, repeated } => {
                let Some(role) = self.role else { return outcome };
                match self.accounts.change_password(&mut self.store, wall, role, &current, &new, &repeated) {
                    Ok(()) => {
                        self.must_change = false;
                        self.page = Page::Device;
                        self.message = Message::ok("password-changed", "");
                    }
                    Err(ChangeError::Refused(why)) => self.message = Message::bad(why.key(), ""),
                    Err(ChangeError::WrongCurrent) => self.message = Message::bad("password-wrong-current", ""),
                    Err(ChangeError::Store(e)) => self.message = Message::bad("password-not-stored", e),
                }
            }
            Action::Show(page) => {
                // Logged in, any page but the login; before the forced change, only the change.
                let open =
                    !matches!(page, Page::Closed | Page::Login) && (!self.must_change || page == Page::ChangePassword);
                if self.role.is_some() && open {
                    self.page = page;
                }
            }
            Action::SaveSettings(mut new) => {
                let Some(role) = self.role.filter(|_| !self.must_change) else { return outcome };
                // The form edits the Japanese notes; notes in other languages (from an imported
                // file) stay.
                new.consent_wording.extend(
                    self.current
                        .settings
                        .consent_wording
                        .iter()
                        .filter(|w| w.language != kaoyomi_maintenance::Language::Japanese)
                        .cloned(),
                );
                match settings::change(&mut self.store, wall, SettingsSource::Menu(role), &self.current, new) {
                    Ok(current) => {
                        self.message = Message::ok("settings-saved", current.version.to_string());
                        self.current = current;
                        outcome.settings_changed = true;
                    }
                    Err(SettingsError::Invalid(refusals)) => {
                        let fields: Vec<String> = refusals.iter().map(|r| r.to_string()).collect();
                        self.message = Message::bad("settings-refused", fields.join("; "));
                    }
                    Err(SettingsError::EngineerOnly(field)) => {
                        self.message = Message::bad("settings-engineer-only", field)
                    }
                    Err(SettingsError::Store(e)) => self.message = Message::bad("settings-not-stored", e.to_string()),
                }
            }
            Action::ResetDatabase => {
                if self.role == Some(Role::Engineer) && (!self.must_change || self.recovery()) {
                    self.message = match self.store.reset(wall) {
                        Ok(moved) => {
                            self.failing = false;
                            if self.must_change {
                                // Recorded again: the initial password can now be changed.
                                self.page = Page::ChangePassword;
                            }
                            Message::ok(
                                "database-reset",
                                moved.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                            )
                        }
                        Err(e) => Message::bad("database-reset-failed", e.to_string()),
                    };
                } else {
                    self.message = Message::bad("engineer-only", "");
                }
            }
            Action::UnpairAll => {
                if self.role == Some(Role::Engineer) && !self.must_change {
                    self.message = match crate::pairing::unpair_all(&self.state) {
                        Ok(n) => Message::ok("terminals-unpaired", n.to_string()),
                        Err(e) => Message::bad("terminals-unpair-failed", e.to_string()),
                    };
                } else {
                    self.message = Message::bad("engineer-only", "");
                }
            }
            Action::RunSelfTests => {
                if self.role.is_none() || self.must_change {
                    return outcome;
                }
                // A run whose lines have not all come back within a minute (a device that hangs)
                // may be started again.
                let recent = now.monotonic_ms.saturating_sub(self.tests_started_ms) < 60_000;
                if recent && self.tests.iter().any(|t| t.verdict == Verdict::Running) {
                    self.message = Message::bad("selftest-already-running", "");
                    return outcome;
                }
                self.page = Page::SelfTest;
                self.tests = Part::ALL.into_iter().map(TestLine::running).collect();
                self.tests_started_ms = now.monotonic_ms;
                self.message = Message::ok("selftest-running", "");
                outcome.self_tests = true;
            }
            Action::Logout => outcome.event = self.leave(wall),
            // Answered by `act` before coming here.
            Action::Typing => {}
        }
        outcome
    }

    /// A self-test's line came back; true when the page showing it should be drawn again.
    pub fn self_tested(&mut self, line: TestLine, now: Now) -> bool {
        let Some(slot) = self.tests.iter().position(|t| t.part == line.part && t.verdict == Verdict::Running) else {
            log::warn!("self-test {}: a result nobody waits for, dropped", line.part.code());
            return false;
        };
        // The journal has each result (values are measurements and devices' names only).
        log::info!("self-test {}: {} {} {}", line.part.code(), line.verdict.code(), line.note, line.value);
        let wall = now.unix_ms as i64;
        if line.verdict == Verdict::Failed {
            let code = match line.part {
                Part::CardReader => Some(kaoyomi_store::ErrorCode::CardReaderLost),
                Part::FaceCamera => Some(kaoyomi_store::ErrorCode::FaceCameraLost),
                Part::CardCamera => Some(kaoyomi_store::ErrorCode::CardCameraLost),
                _ => None,
            };
            if let Some(code) = code {
                self.error(wall, code);
            }
        }
        self.tests[slot] = line;
        let waiting: Vec<Part> = self.tests.iter().filter(|t| t.verdict == Verdict::Running).map(|t| t.part).collect();
        if waiting == [Part::Storage] {
            // The database's test is a write: the record of this run, after the devices'.
            let storage = self.storage_test(wall);
            return self.self_tested(storage, now);
        }
        if waiting.is_empty() {
            let failed = self.tests.iter().filter(|t| t.verdict == Verdict::Failed).count();
            log::info!("self-test: done, {failed} failed");
            self.message = if failed == 0 {
                Message::ok("selftest-passed", "")
            } else {
                Message::bad("selftest-failed", failed.to_string())
            };
        }
        self.page == Page::SelfTest
    }

    /// The database's self-test: writes the run's record, with the devices' faults counted.
    fn storage_test(&mut self, wall: i64) -> TestLine {
        let failed = self.tests.iter().filter(|t| t.verdict == Verdict::Failed).count() as u32;
        match self.store.log_operation(wall, &Operation::SelfTest { failed }) {
            Ok(()) => crate::self_tests::passed(
                Part::Storage,
                "selftest.note.storage-ok",
                self.store.session_count().map(|n| format!("{n} sessions")).unwrap_or_default(),
            ),
            Err(e) => crate::self_tests::failed(
                Part::Storage,
                match self.store.health() {
                    Health::Full => "selftest.note.storage-full",
                    Health::ReadOnly => "selftest.note.storage-read-only",
                    _ => "selftest.note.storage-unavailable",
                },
                e.to_string(),
            ),
        }
    }

    fn leave(&mut self, wall: i64) -> Option<Event> {
        self.page = Page::Closed;
        self.must_change = false;
        let role = self.role.take()?;
        self.accounts.logout(&mut self.store, wall, role);
        Some(Event::MaintenanceEnded)
    }

    /// Core's answer to [`Event::MaintenanceRequested`].
    pub fn answer(&mut self, answer: MaintenanceAnswer, now: Now) {
        if answer == MaintenanceAnswer::Busy {
            let _ = self.leave(now.unix_ms as i64);
            self.page = Page::Login;
            self.message = Message::bad("maintenance-busy", "");
        }
    }

    /// Ends a maintenance session left alone for [`IDLE_LOGOUT_MS`].
    pub fn tick(&mut self, now: Now) -> Option<Event> {
        if self.page != Page::Closed && now.monotonic_ms.saturating_sub(self.last_activity_ms) >= IDLE_LOGOUT_MS {
            log::info!("maintenance: left alone for {} min, closed", IDLE_LOGOUT_MS / 60_000);
            return self.leave(now.unix_ms as i64);
        }
        None
    }

    /// Whether the maintenance pages are open (the tick should ask for a view when one closes).
    pub fn open_page(&self) -> Page {
        self.page
    }

    /// The pages' view at `now`.
    pub fn view(&self, now: Now, terminals: usize) -> View {
        let wall = now.unix_ms as i64;
        let (storage, storage_problem) = match self.store.health() {
            Health::Ready => (Storage::Ready, String::new()),
            Health::Full => (Storage::Full, StoreError::Full.to_string()),
            Health::ReadOnly => (Storage::ReadOnly, StoreError::ReadOnly.to_string()),
            Health::Unavailable(why) => (Storage::Unavailable, why.clone()),
        };
        let mut view = View {
            page: self.page,
            role: self.role,
            message: self.message.clone(),
            device_id: self.accounts.device_id().to_string(),
            storage,
            storage_problem,
            terminals,
            ..View::default()
        };
        if self.recovery() {
            view.device = self.device_lines(now);
            return view;
        }
        if self.role.is_none() || self.must_change {
            return view;
        }
        view.settings = Some(self.current.clone());
        match self.page {
            Page::Device => view.device = self.device_lines(now),
            Page::Logs => view.logs = self.log_lines(),
            Page::Statistics => view.days = self.day_lines(wall),
            Page::SelfTest => view.tests = self.tests.clone(),
            _ => {}
        }
        view
    }

    fn device_lines(&self, now: Now) -> Vec<(&'static str, String)> {
        let uptime_min = now.monotonic_ms / 60_000;
        let db = std::fs::metadata(self.state.join(kaoyomi_store::FILE)).map(|m| m.len()).unwrap_or(0);
        let mut lines = vec![
            ("device-serial", self.accounts.device_id().to_string()),
            ("device-firmware", env!("CARGO_PKG_VERSION").to_string()),
            ("device-board", self.board.clone()),
            ("device-uptime", format!("{} h {:02} min", uptime_min / 60, uptime_min % 60)),
            ("device-database", format!("{:.1} MB", db as f64 / 1e6)),
            ("device-sessions", self.store.session_count().map(|n| n.to_string()).unwrap_or_default()),
            ("device-settings-version", self.current.version.to_string()),
        ];
        lines.extend(self.extra.iter().cloned());
        lines
    }

    fn log_lines(&self) -> Vec<LogLine> {
        let mut lines: Vec<(i64, LogLine)> = Vec::new();
        if let Ok(ops) = self.store.newest_operations(LOG_LINES) {
            lines.extend(ops.into_iter().map(|o| {
                (
                    o.at_ms,
                    LogLine {
                        time: jst(o.at_ms),
                        code: o.kind,
                        value: o.value.map(|v| v.to_string()).unwrap_or_default(),
                        error: false,
                    },
                )
            }));
        }
        if let Ok(errors) = self.store.newest_errors(LOG_LINES) {
            lines.extend(
                errors.into_iter().map(|e| {
                    (e.at_ms, LogLine { time: jst(e.at_ms), code: e.code, value: String::new(), error: true })
                }),
            );
        }
        lines.sort_by_key(|l| std::cmp::Reverse(l.0));
        lines.into_iter().take(LOG_LINES).map(|(_, l)| l).collect()
    }

    fn day_lines(&self, wall: i64) -> Vec<DayLine> {
        let today = kaoyomi_store::day_of(wall);
        let from = (today - STAT_DAYS + 1) * 86_400_000 - kaoyomi_store::JST_OFFSET_MS;
        let stats = self.store.statistics(from, wall + 1).unwrap_or_default();
        (today - STAT_DAYS + 1..=today)
            .map(|day| {
                let s = stats.iter().find(|s| s.day == day).cloned().unwrap_or_default();
                let count = |k: &str| s.by_method.get(k).copied().unwrap_or(0);
                let outcome = |k: &str| s.by_outcome.get(k).copied().unwrap_or(0);
                let (_, month, date) = kaoyomi_core::civil_from_days(day);
                DayLine {
                    day: format!("{month:02}-{date:02}"),
                    face: count("face"),
                    pin: count("pin"),
                    visual: count("visual"),
                    none: count("none"),
                    face_rate: if s.face_checks > 0 {
                        format!("{:.0}%", 100.0 * f64::from(s.face_verified) / f64::from(s.face_checks))
                    } else {
                        String::new()
                    },
                    mean_s: s.mean_ms.map(|ms| format!("{:.1}", ms as f64 / 1000.0)).unwrap_or_default(),
                    p95_s: s.p95_ms.map(|ms| format!("{:.1}", ms as f64 / 1000.0)).unwrap_or_default(),
                    not_verified: outcome("not-verified"),
                    cancelled: s.by_outcome.iter().filter(|(k, _)| k.starts_with("cancelled")).map(|(_, n)| n).sum(),
                }
            })
            .collect()
    }
}

/// Core's time-outs from the settings (the card's own time-out stays the firmware's).
pub fn timeouts(settings: &Settings) -> Timeouts {
    Timeouts {
        patient_ms: u64::from(settings.patient_timeout_s) * 1000,
        warn_before_ms: u64::from(settings.timeout_warning_s) * 1000,
        face_ms: u64::from(settings.face_timeout_s) * 1000,
        ..Timeouts::default()
    }
}
