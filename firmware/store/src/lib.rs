//! The reader's records on its state partition: the operation log, the error log and each
//! patient session's method, outcome and duration (for the statistics), in one SQLite database.
//!
//! What may be written is closed by type: core's [`LogEntry`] (what happened, never who), the
//! reader's own [`Operation`]s, the [`ErrorCode`]s, times and durations. Every text the
//! database holds is a code spelled in this crate's source, so no card data, PIN, name, number
//! or picture can reach it, whatever the caller does.
//!
//! Losing power: the journal is a write-ahead log with `synchronous = FULL`, so a record is on
//! the disk when [`Store::log`] returns, and a write cut off half-way is rolled back the next
//! time the database opens; a session's operation and its statistics row are one transaction
//! (`tests/power_cut.rs` kills writers at random points and checks both).
//!
//! The store never stops the reader from serving patients: [`Store::open`] always gives a
//! store, and its [`Health`] says whether it records. A file that is not a sound database is
//! moved aside and a fresh one made (the move is logged as [`ErrorCode::DatabaseRecovered`]); a
//! full disk (or the store's own size limit, [`Limits`]) and a read-only partition make writes
//! fail with a [`StoreError`] the caller shows to the engineer and otherwise ignores.

mod codes;
mod schema;
mod stats;

pub use codes::{ErrorCode, Operation, Role, SettingsSource};
pub use stats::{DayStatistics, JST_OFFSET_MS, day_of};

use kaoyomi_core::LogEntry;
use rusqlite::{Connection, OpenFlags, params};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The database's file name in the state directory.
pub const FILE: &str = "kaoyomi.db";

/// How large the database may grow (so that logs can never fill the state partition, which also
/// holds the device key and the paired terminals).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest size of the database file, in bytes.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bytes: 64 << 20 }
    }
}

/// Whether the store records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Recording.
    Ready,
    /// The last write found no room (the disk, or [`Limits`]); the next write tries again, and a
    /// purge of old records makes room.
    Full,
    /// The state partition is read-only: what is there can be read, nothing new is recorded.
    ReadOnly,
    /// No database could be opened at all (why, in an engineer's words).
    Unavailable(String),
}

/// Why a record was not written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No room for the record.
    #[error(
        "the state partition (or the log's size limit) is full: nothing new is recorded until old records are purged"
    )]
    Full,
    /// The partition is read-only.
    #[error("the state partition is read-only: nothing new is recorded")]
    ReadOnly,
    /// No database is open.
    #[error("no log database is open: {0}")]
    Unavailable(String),
    /// The database was made by a newer firmware (after a return to an older slot).
    #[error("the log database was made by a newer firmware (schema {found}, this firmware knows {known})")]
    Newer {
        /// The file's schema version.
        found: u32,
        /// The newest this firmware knows.
        known: u32,
    },
    /// Settings of a version not newer than the stored ones (changed meanwhile by someone else).
    #[error("the settings changed meanwhile (version {newest} is stored; this change was made from an older one)")]
    StaleSettings {
        /// The newest stored version.
        newest: u32,
    },
    /// Anything else SQLite reported.
    #[error("the log database failed: {0}")]
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
            Some(rusqlite::ErrorCode::ReadOnly) => StoreError::ReadOnly,
            _ => StoreError::Sqlite(e),
        }
    }
}

/// An operation-log record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    /// Its number (increasing).
    pub id: i64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// What ([`Operation::code`]).
    pub kind: String,
    /// A number that goes with it (tries left, records purged), if any.
    pub value: Option<i64>,
}

/// An error-log record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedError {
    /// Its number (increasing).
    pub id: i64,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The code ([`ErrorCode::code`]).
    pub code: String,
}

/// A maintenance account as stored: its password's Argon2id hash (PHC string), whether that is
/// still the initial password, and its failed logins.
#[derive(Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Which account.
    pub role: Role,
    /// The password's hash as a PHC string (`$argon2id$…`).
    pub phc: String,
    /// The password is still the initial one (the next login must change it).
    pub initial: bool,
    /// Wrong passwords in a row.
    pub failures: u32,
    /// Logins are refused until then (milliseconds since the Unix epoch; 0: not locked).
    pub locked_until_ms: i64,
    /// When the password was last changed.
    pub changed_at_ms: Option<i64>,
}

impl std::fmt::Debug for AccountRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountRecord")
            .field("role", &self.role)
            .field("initial", &self.initial)
            .field("failures", &self.failures)
            .field("locked_until_ms", &self.locked_until_ms)
            .finish_non_exhaustive()
    }
}

/// One version of the settings as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsRecord {
    /// Their version (1, 2, …).
    pub version: u32,
    /// When they were made.
    pub at_ms: i64,
    /// Where they came from ([`SettingsSource::code`]).
    pub source: String,
    /// The settings (JSON, validated by the maintenance crate before they are stored).
    pub body: String,
}

/// How many versions of the settings are kept (the newest).
pub const SETTINGS_KEPT: u32 = 50;

/// The reader's database.
pub struct Store {
    dir: PathBuf,
    limits: Limits,
    conn: Option<Connection>,
    health: Health,
    recovered: Option<PathBuf>,
    /// When the current patient session's card was accepted (its duration's start).
    session_start: Option<i64>,
}

/// Why a connection could not be made.
enum OpenError {
    Sqlite(rusqlite::Error),
    Corrupt(String),
    Newer(u32),
}

impl From<rusqlite::Error> for OpenError {
    fn from(e: rusqlite::Error) -> Self {
        OpenError::Sqlite(e)
    }
}

impl Store {
    /// Opens (or makes) the database in `dir` with the default [`Limits`]. Never fails: see
    /// [`Store::health`]. `now_ms` names a corrupt file moved aside and dates its log record.
    pub fn open(dir: &Path, now_ms: i64) -> Store {
        Store::open_with(dir, now_ms, Limits::default())
    }

    /// [`Store::open`] with other limits.
    pub fn open_with(dir: &Path, now_ms: i64, limits: Limits) -> Store {
        let path = dir.join(FILE);
        let mut store = Store {
            dir: dir.to_path_buf(),
            limits,
            conn: None,
            health: Health::Ready,
            recovered: None,
            session_start: None,
        };
        match connect(&path, limits, false) {
            Ok(conn) => store.conn = Some(conn),
            Err(OpenError::Corrupt(why)) => {
                log::error!("{}: {why}; moving it aside", path.display());
                match move_aside(&path, now_ms) {
                    Ok(moved) => match connect(&path, limits, false) {
                        Ok(conn) => {
                            store.conn = Some(conn);
                            // The maintenance accounts, if the damaged file still gives them: a
                            // changed password must not turn back into the initial one.
                            store.carry_accounts(&moved);
                            store.recovered = Some(moved);
                            if let Err(e) = store.log_error(now_ms, ErrorCode::DatabaseRecovered) {
                                log::error!("recording the recovery: {e}");
                            }
                        }
                        Err(e) => store.health = Health::Unavailable(describe(&e)),
                    },
                    Err(e) => {
                        store.health =
                            Health::Unavailable(format!("a corrupt log database could not be moved aside: {e}"))
                    }
                }
            }
            Err(OpenError::Sqlite(e))
                if matches!(
                    e.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen)
                ) =>
            {
                match connect(&path, limits, true) {
                    Ok(conn) => {
                        store.conn = Some(conn);
                        store.health = Health::ReadOnly;
                    }
                    Err(_) => store.health = Health::Unavailable(describe(&OpenError::Sqlite(e))),
                }
            }
            Err(e) => store.health = Health::Unavailable(describe(&e)),
        }
        if let Health::Unavailable(why) = &store.health {
            log::error!("{why}: the reader runs without its logs and statistics");
        }
        store
    }

    /// Whether the store records.
    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Where a corrupt database found at opening was moved, if one was.
    pub fn recovered(&self) -> Option<&Path> {
        self.recovered.as_deref()
    }

    fn conn(&self) -> Result<&Connection, StoreError> {
        match (&self.conn, &self.health) {
            (Some(c), _) => Ok(c),
            (None, Health::Unavailable(why)) => Err(StoreError::Unavailable(why.clone())),
            (None, _) => Err(StoreError::Unavailable("not opened".into())),
        }
    }

    /// Runs `write` in one transaction, keeping [`Health`] up to date.
    fn write<T>(
        &mut self,
        write: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        if self.health == Health::ReadOnly {
            return Err(StoreError::ReadOnly);
        }
        let conn = match self.conn.as_mut() {
            Some(c) => c,
            None => return Err(self.conn().err().unwrap_or(StoreError::Unavailable("not opened".into()))),
        };
        let result = conn.transaction().and_then(|tx| {
            let value = write(&tx)?;
            tx.commit()?;
            Ok(value)
        });
        match result {
            Ok(value) => {
                self.health = Health::Ready;
                Ok(value)
            }
            Err(e) => {
                let e = StoreError::from(e);
                match e {
                    StoreError::Full => self.health = Health::Full,
                    StoreError::ReadOnly => self.health = Health::ReadOnly,
                    _ => {}
                }
                Err(e)
            }
        }
    }

    /// Records one of core's operation-log entries at `at_ms` (milliseconds since the Unix
    /// epoch); a [`LogEntry::SessionEnded`] also records the session for the statistics, in the
    /// same transaction, with its duration since the card was accepted.
    pub fn log(&mut self, at_ms: i64, entry: &LogEntry) -> Result<(), StoreError> {
        let op = Operation::Core(*entry);
        let session = match entry {
            LogEntry::CardAccepted(_) => {
                self.session_start.get_or_insert(at_ms);
                None
            }
            LogEntry::SessionEnded { method, outcome } => {
                Some((codes::method(*method), codes::outcome(*outcome), self.session_start.map(|s| at_ms - s)))
            }
            _ => None,
        };
        self.write(|tx| {
            insert_operation(tx, at_ms, &op)?;
            if let Some((method, outcome, duration)) = session {
                tx.execute(
                    "INSERT INTO session (at_ms, method, outcome, duration_ms) VALUES (?1, ?2, ?3, ?4)",
                    params![at_ms, method, outcome, duration],
                )?;
            }
            Ok(())
        })?;
        if session.is_some() {
            self.session_start = None;
        }
        Ok(())
    }

    /// Records one of the reader's own operations.
    pub fn log_operation(&mut self, at_ms: i64, op: &Operation) -> Result<(), StoreError> {
        self.write(|tx| insert_operation(tx, at_ms, op))
    }

    /// Records an error.
    pub fn log_error(&mut self, at_ms: i64, code: ErrorCode) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute("INSERT INTO error (at_ms, code) VALUES (?1, ?2)", params![at_ms, code.code()])?;
            Ok(())
        })
    }

    /// The operation log from `since_ms` on, oldest first.
    pub fn operations(&self, since_ms: i64) -> Result<Vec<Logged>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare("SELECT id, at_ms, kind, value FROM operation WHERE at_ms >= ?1 ORDER BY id")?;
        let rows = q.query_map([since_ms], |r| {
            Ok(Logged { id: r.get(0)?, at_ms: r.get(1)?, kind: r.get(2)?, value: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// At most `limit` operation-log records numbered after `after_id`, oldest first (an export's
    /// pages).
    pub fn operations_after(&self, after_id: i64, limit: usize) -> Result<Vec<Logged>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare("SELECT id, at_ms, kind, value FROM operation WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        let rows = q.query_map(params![after_id, limit as i64], |r| {
            Ok(Logged { id: r.get(0)?, at_ms: r.get(1)?, kind: r.get(2)?, value: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// At most `limit` error-log records numbered after `after_id`, oldest first.
    pub fn errors_after(&self, after_id: i64, limit: usize) -> Result<Vec<LoggedError>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare("SELECT id, at_ms, code FROM error WHERE id > ?1 ORDER BY id LIMIT ?2")?;
        let rows = q.query_map(params![after_id, limit as i64], |r| {
            Ok(LoggedError { id: r.get(0)?, at_ms: r.get(1)?, code: r.get(2)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest `limit` operation-log records, newest first (the maintenance page).
    pub fn newest_operations(&self, limit: usize) -> Result<Vec<Logged>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare("SELECT id, at_ms, kind, value FROM operation ORDER BY id DESC LIMIT ?1")?;
        let rows = q.query_map([limit as i64], |r| {
            Ok(Logged { id: r.get(0)?, at_ms: r.get(1)?, kind: r.get(2)?, value: r.get(3)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The newest `limit` error-log records, newest first.
    pub fn newest_errors(&self, limit: usize) -> Result<Vec<LoggedError>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare("SELECT id, at_ms, code FROM error ORDER BY id DESC LIMIT ?1")?;
        let rows =
            q.query_map([limit as i64], |r| Ok(LoggedError { id: r.get(0)?, at_ms: r.get(1)?, code: r.get(2)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The error log from `since_ms` on, oldest first.
    pub fn errors(&self, since_ms: i64) -> Result<Vec<LoggedError>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare("SELECT id, at_ms, code FROM error WHERE at_ms >= ?1 ORDER BY id")?;
        let rows = q.query_map([since_ms], |r| Ok(LoggedError { id: r.get(0)?, at_ms: r.get(1)?, code: r.get(2)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The number of sessions recorded for the statistics.
    pub fn session_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self.conn()?.query_row("SELECT count(*) FROM session", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// Deletes every record older than `keep_days` days before `now_ms` (the retention setting)
    /// and records the purge; returns how many records went.
    pub fn purge(&mut self, now_ms: i64, keep_days: u32) -> Result<u64, StoreError> {
        let before = now_ms - i64::from(keep_days) * 86_400_000;
        let removed = self.write(|tx| {
            let mut n = 0;
            for table in ["operation", "error", "session"] {
                n += tx.execute(&format!("DELETE FROM {table} WHERE at_ms < ?1"), [before])?;
            }
            Ok(n as u64)
        })?;
        // The purge is recorded after the room it made, so that a full store can record it.
        self.log_operation(now_ms, &Operation::Purged { records: removed })?;
        Ok(removed)
    }
}

impl Store {
    /// Copies the maintenance accounts from the database file at `from` (moved aside), as far as
    /// they can be read.
    fn carry_accounts(&mut self, from: &Path) {
        let read = || -> rusqlite::Result<Vec<AccountRecord>> {
            let old = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            let mut q =
                old.prepare("SELECT role, phc, initial, failures, locked_until_ms, changed_at_ms FROM account")?;
            let rows = q.query_map([], |r| {
                let role: String = r.get(0)?;
                Role::from_code(&role).map(|role| account_from(role, r, 1)).transpose()
            })?;
            let mut accounts = Vec::new();
            for row in rows {
                accounts.extend(row?);
            }
            Ok(accounts)
        };
        match read() {
            Ok(accounts) => {
                for account in accounts {
                    if let Err(e) = self.put_account(0, &account, None) {
                        log::error!("carrying the {} account over: {e}", account.role.code());
                    }
                }
            }
            Err(e) => log::warn!(
                "the damaged database's maintenance accounts could not be read ({e}): the initial passwords apply"
            ),
        }
    }

    /// A maintenance account, if it was ever stored (a fresh database has none: the initial
    /// passwords apply).
    pub fn account(&self, role: Role) -> Result<Option<AccountRecord>, StoreError> {
        let conn = self.conn()?;
        let mut q =
            conn.prepare("SELECT phc, initial, failures, locked_until_ms, changed_at_ms FROM account WHERE role = ?1")?;
        let mut rows = q.query([role.code()])?;
        let Some(r) = rows.next()? else { return Ok(None) };
        Ok(Some(account_from(role, r, 0)?))
    }

    /// Stores `account` and records `op` with it, in one transaction.
    pub fn put_account(
        &mut self,
        at_ms: i64,
        account: &AccountRecord,
        op: Option<&Operation>,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO account (role, phc, initial, failures, locked_until_ms, changed_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (role) DO UPDATE SET phc = ?2, initial = ?3, failures = ?4,
                     locked_until_ms = ?5, changed_at_ms = ?6",
                params![
                    account.role.code(),
                    account.phc,
                    account.initial,
                    account.failures,
                    account.locked_until_ms,
                    account.changed_at_ms
                ],
            )?;
            if let Some(op) = op {
                insert_operation(tx, at_ms, op)?;
            }
            Ok(())
        })
    }

    /// The newest settings, if any were ever stored.
    pub fn settings(&self) -> Result<Option<SettingsRecord>, StoreError> {
        let conn = self.conn()?;
        let mut q = conn.prepare("SELECT version, at_ms, source, body FROM settings ORDER BY version DESC LIMIT 1")?;
        let mut rows = q.query([])?;
        let Some(r) = rows.next()? else { return Ok(None) };
        Ok(Some(SettingsRecord { version: r.get(0)?, at_ms: r.get(1)?, source: r.get(2)?, body: r.get(3)? }))
    }

    /// Stores a new version of the settings and records the change, in one transaction; the
    /// version must be newer than every stored one. Only the newest [`SETTINGS_KEPT`] versions
    /// are kept.
    pub fn put_settings(
        &mut self,
        at_ms: i64,
        source: SettingsSource,
        version: u32,
        body: &str,
    ) -> Result<(), StoreError> {
        let newest: Option<u32> = self.conn()?.query_row("SELECT max(version) FROM settings", [], |r| r.get(0))?;
        if let Some(newest) = newest.filter(|n| *n >= version) {
            return Err(StoreError::StaleSettings { newest });
        }
        self.write(|tx| {
            tx.execute(
                "INSERT INTO settings (version, at_ms, source, body) VALUES (?1, ?2, ?3, ?4)",
                params![version, at_ms, source.code(), body],
            )?;
            tx.execute("DELETE FROM settings WHERE version <= ?1", [i64::from(version) - i64::from(SETTINGS_KEPT)])?;
            insert_operation(tx, at_ms, &Operation::SettingsChanged { source, version })
        })
    }

    /// The engineer's recovery: the database file is moved aside (kept, for the vendor) and a
    /// fresh one made, keeping the accounts and the newest settings when they can still be read.
    /// Returns where the old file went.
    pub fn reset(&mut self, now_ms: i64) -> Result<PathBuf, StoreError> {
        let accounts: Vec<AccountRecord> =
            Role::ALL.into_iter().filter_map(|r| self.account(r).ok().flatten()).collect();
        let settings = self.settings().ok().flatten();
        let path = self.dir.join(FILE);
        // Closed first (its journal goes into the file), then moved; when the move fails the file
        // is opened again as it was, so the store never ends up without a connection.
        self.conn = None;
        let moved = match move_aside(&path, now_ms) {
            Ok(moved) => moved,
            Err(e) => {
                *self = Store::open_with(&self.dir, now_ms, self.limits);
                return Err(StoreError::Unavailable(format!("moving the database aside: {e}")));
            }
        };
        *self = Store::open_with(&self.dir, now_ms, self.limits);
        for account in &accounts {
            self.put_account(now_ms, account, None)?;
        }
        if let Some(s) = settings {
            self.write(|tx| {
                tx.execute(
                    "INSERT INTO settings (version, at_ms, source, body) VALUES (?1, ?2, ?3, ?4)",
                    params![s.version, s.at_ms, s.source, s.body],
                )
            })?;
        }
        self.log_operation(now_ms, &Operation::DatabaseReset)?;
        Ok(moved)
    }
}

/// An account from a row whose columns from `first` on are phc, initial, failures,
/// locked_until_ms, changed_at_ms.
fn account_from(role: Role, r: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<AccountRecord> {
    Ok(AccountRecord {
        role,
        phc: r.get(first)?,
        initial: r.get::<_, i64>(first + 1)? != 0,
        failures: r.get::<_, i64>(first + 2)?.clamp(0, i64::from(u32::MAX)) as u32,
        locked_until_ms: r.get(first + 3)?,
        changed_at_ms: r.get(first + 4)?,
    })
}

fn insert_operation(tx: &rusqlite::Transaction<'_>, at_ms: i64, op: &Operation) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO operation (at_ms, kind, value) VALUES (?1, ?2, ?3)",
        params![at_ms, op.code(), op.value()],
    )?;
    Ok(())
}

/// Opens the file at `path`, sets the journal and limits, checks it and brings its schema up to
/// date.
fn connect(path: &Path, limits: Limits, read_only: bool) -> Result<Connection, OpenError> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let mut conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(2))?;
    let checked = conn.query_row("PRAGMA quick_check", [], |r| r.get::<_, String>(0));
    match checked {
        Ok(ok) if ok == "ok" => {}
        Ok(problem) => return Err(OpenError::Corrupt(format!("the integrity check failed ({problem})"))),
        Err(e) if is_corrupt(&e) => return Err(OpenError::Corrupt(e.to_string())),
        Err(e) => return Err(e.into()),
    }
    if !read_only {
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!("the log database's journal is {mode}, not WAL");
        }
        conn.pragma_update(None, "synchronous", "FULL")?;
        let page: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let pages = (limits.max_bytes / page.max(512) as u64).max(16);
        let _: i64 = conn.pragma_update_and_check(None, "max_page_count", pages as i64, |r| r.get(0))?;
        match schema::migrate(&mut conn) {
            Ok(_) => {}
            Err(schema::MigrateError::Newer(v)) => return Err(OpenError::Newer(v)),
            Err(schema::MigrateError::Sqlite(e)) if is_corrupt(&e) => return Err(OpenError::Corrupt(e.to_string())),
            Err(schema::MigrateError::Sqlite(e)) => return Err(e.into()),
        }
    } else {
        let version: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version as usize > schema::VERSION {
            return Err(OpenError::Newer(version));
        }
    }
    Ok(conn)
}

fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase))
}

fn describe(e: &OpenError) -> String {
    match e {
        OpenError::Sqlite(e) => match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full.to_string(),
            Some(rusqlite::ErrorCode::ReadOnly) => StoreError::ReadOnly.to_string(),
            _ => format!("the log database could not be opened: {e}"),
        },
        OpenError::Corrupt(why) => format!("the log database is corrupt and a fresh one could not be made: {why}"),
        OpenError::Newer(v) => StoreError::Newer { found: *v, known: schema::VERSION as u32 }.to_string(),
    }
}

/// Moves the database at `path` (and its journal files) aside as `<file>.corrupt-<now_ms>`;
/// returns the new name of the database.
fn move_aside(path: &Path, now_ms: i64) -> std::io::Result<PathBuf> {
    let moved = path.with_file_name(format!("{FILE}.corrupt-{now_ms}"));
    std::fs::rename(path, &moved)?;
    for suffix in ["-wal", "-shm"] {
        let side = path.with_file_name(format!("{FILE}{suffix}"));
        if side.exists() {
            std::fs::rename(&side, moved.with_file_name(format!("{FILE}.corrupt-{now_ms}{suffix}")))?;
        }
    }
    Ok(moved)
}

#[cfg(test)]
mod tests;
