//! The database's schema and its migrations, numbered by SQLite's `user_version`.
//!
//! Each migration runs in one transaction with the version it brings, so a power cut leaves
//! either the old schema or the new one. A file made by a newer firmware (met after returning
//! to an older slot) is refused rather than written in a shape this firmware does not know.

use rusqlite::Connection;

/// The migrations in order: the database at version `n` has had the first `n`.
const MIGRATIONS: &[&str] = &[
    "
    CREATE TABLE operation (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        value INTEGER
    );
    CREATE INDEX operation_at ON operation (at_ms);
    CREATE TABLE error (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        code TEXT NOT NULL
    );
    CREATE INDEX error_at ON error (at_ms);
    CREATE TABLE session (
        id INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        method TEXT,
        outcome TEXT NOT NULL,
        duration_ms INTEGER
    );
    CREATE INDEX session_at ON session (at_ms);
",
    "
    CREATE TABLE account (
        role TEXT PRIMARY KEY,
        phc TEXT NOT NULL,
        initial INTEGER NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until_ms INTEGER NOT NULL DEFAULT 0,
        changed_at_ms INTEGER
    );
    CREATE TABLE settings (
        version INTEGER PRIMARY KEY,
        at_ms INTEGER NOT NULL,
        source TEXT NOT NULL,
        body TEXT NOT NULL
    );
",
];

/// The first schema (what the first firmware made), for the migration's test.
#[cfg(test)]
pub(crate) fn first_for_tests() -> &'static str {
    MIGRATIONS[0]
}

/// The newest schema this firmware knows.
pub const VERSION: usize = MIGRATIONS.len();

/// Why the schema could not be brought up to date.
#[derive(Debug)]
pub enum MigrateError {
    /// The file's schema is newer than this firmware's.
    Newer(u32),
    /// SQLite failed.
    Sqlite(rusqlite::Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sqlite(e)
    }
}

/// Brings `conn`'s schema to [`VERSION`]; returns the version it had.
pub fn migrate(conn: &mut Connection) -> Result<u32, MigrateError> {
    let found: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found as usize > VERSION {
        return Err(MigrateError::Newer(found));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as u32 + 1)?;
        tx.commit()?;
    }
    Ok(found)
}
