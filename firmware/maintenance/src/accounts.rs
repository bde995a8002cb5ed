//! The maintenance menu's accounts: logging in with the Device ID and a role's password, the
//! initial password that must be changed at the first login, and the lockout with back-off.
//!
//! The failures are counted in the database (a restart does not reset them) and, when the
//! database cannot record, in memory; the stricter of the two counts. A locked account refuses
//! even the right password until its time is over, without checking it.

use crate::password::{self, Password, PasswordRefusal};
use kaoyomi_store::{AccountRecord, ErrorCode, Operation, Role, Store, StoreError};
use std::collections::BTreeMap;

/// Wrong passwords in a row before the first lock.
pub const FREE_FAILURES: u32 = 5;
/// The first lock's length; each further failure doubles it, up to [`MAX_LOCK_MS`].
pub const FIRST_LOCK_MS: i64 = 30_000;
/// The longest lock.
pub const MAX_LOCK_MS: i64 = 3_600_000;

/// How long the account is locked after `failures` wrong passwords in a row (0: not locked).
pub fn lock_ms(failures: u32) -> i64 {
    if failures < FREE_FAILURES {
        return 0;
    }
    let doublings = (failures - FREE_FAILURES).min(16);
    (FIRST_LOCK_MS << doublings).min(MAX_LOCK_MS)
}

/// A successful login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Login {
    /// Who logged in.
    pub role: Role,
    /// The password is the initial one: nothing but changing it is allowed.
    pub must_change: bool,
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// The Device ID typed is not this reader's (not counted as a failure: it is printed on
    /// the device).
    #[error("this is not the Device ID of this reader")]
    WrongDeviceId,
    /// Wrong password.
    #[error("wrong password ({left} more tries before logins are locked)")]
    WrongPassword {
        /// Tries left before the lock (0: this failure locked it).
        left: u32,
        /// The lock this failure started, in seconds (0: none).
        locked_s: u32,
    },
    /// Locked after too many wrong passwords.
    #[error("too many wrong passwords: try again in {remaining_s} s")]
    Locked {
        /// Seconds left.
        remaining_s: u32,
    },
}

/// The accounts, over the store.
pub struct Accounts {
    device_id: String,
    device_secret: [u8; 32],
    /// Failures and locks kept in memory when the store cannot record them.
    memory: BTreeMap<Role, (u32, i64)>,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the device secret: it gives both initial passwords.
        f.debug_struct("Accounts").field("device_id", &self.device_id).finish_non_exhaustive()
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.device_secret);
    }
}

impl Accounts {
    /// The accounts of the reader whose Device ID is `device_id` and whose initial passwords
    /// derive from `device_secret`.
    pub fn new(device_id: &str, device_secret: [u8; 32]) -> Accounts {
        Accounts { device_id: device_id.to_string(), device_secret, memory: BTreeMap::new() }
    }

    /// This reader's Device ID.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The initial password of `role` (for the factory's sheet: `kaoyomi-reader maintenance
    /// initial-passwords`).
    pub fn initial_password(&self, role: Role) -> Password {
        password::initial_password(&self.device_secret, role)
    }

    /// The account as stored (`Ok(None)`: a fresh database, the initial password applies), or
    /// `Err` when the accounts cannot be read at all.
    fn record(&self, store: &Store, role: Role) -> Result<Option<AccountRecord>, ()> {
        store.account(role).map_err(|e| log::warn!("reading the {} account: {e}", role.code()))
    }

    fn is_initial(&self, role: Role, typed: &Password) -> bool {
        let norm = |s: &str| -> zeroize::Zeroizing<String> {
            zeroize::Zeroizing::new(
                s.chars().filter(|c| !matches!(c, '-' | ' ')).map(|c| c.to_ascii_uppercase()).collect(),
            )
        };
        let initial = self.initial_password(role);
        let (a, b) = (norm(initial.expose()), norm(typed.expose()));
        // Same length and every byte compared, whatever differs first.
        a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Logs `role` in at `now_ms` with `device_id` and `typed` (the maintenance menu: recorded
    /// as a maintenance start).
    pub fn login(
        &mut self,
        store: &mut Store,
        now_ms: i64,
        device_id: &str,
        role: Role,
        typed: &Password,
    ) -> Result<Login, LoginError> {
        let login = self.authenticate(store, now_ms, device_id, role, typed)?;
        self.log(store, now_ms, &Operation::MaintenanceStarted(role));
        Ok(login)
    }

    /// Checks `role`'s password as [`Accounts::login`] does (the same count of failures and the
    /// same lock), without starting maintenance: a request from the terminal.
    pub fn authenticate(
        &mut self,
        store: &mut Store,
        now_ms: i64,
        device_id: &str,
        role: Role,
        typed: &Password,
    ) -> Result<Login, LoginError> {
        if !device_id.trim().eq_ignore_ascii_case(&self.device_id) {
            return Err(LoginError::WrongDeviceId);
        }
        // Accounts that cannot be read are not a fresh database: a changed password must not
        // give way to the initial one. Only the engineer's initial password then opens the menu,
        // and only for the database's recovery (the desk allows nothing else while nothing is
        // recorded and the password is the initial one).
        let readable = self.record(store, role);
        let unreadable = readable.is_err();
        let record = readable.unwrap_or(None);
        let (mem_failures, mem_locked) = self.memory.get(&role).copied().unwrap_or((0, 0));
        let failures = record.as_ref().map_or(0, |r| r.failures).max(mem_failures);
        let mut locked_until = record.as_ref().map_or(0, |r| r.locked_until_ms).max(mem_locked);
        if locked_until - now_ms > MAX_LOCK_MS {
            // The clock went back (a device without a battery-backed clock, before its time is
            // set): a lock never lasts longer than the longest lock from now.
            locked_until = now_ms + lock_ms(failures).max(FIRST_LOCK_MS);
        }
        if now_ms < locked_until {
            return Err(LoginError::Locked { remaining_s: ((locked_until - now_ms + 999) / 1000) as u32 });
        }
        let (ok, initial) = match &record {
            Some(r) if !r.initial => (password::verify(typed, &r.phc), false),
            _ if unreadable && role != Role::Engineer => (false, true),
            // A fresh database, or the initial password not yet changed.
            _ => (self.is_initial(role, typed), true),
        };
        if ok {
            self.memory.remove(&role);
            if (failures > 0 || locked_until > 0)
                && let Some(mut r) = record
            {
                r.failures = 0;
                r.locked_until_ms = 0;
                self.save(store, now_ms, &r, None);
            }
            return Ok(Login { role, must_change: initial });
        }
        let failures = failures.saturating_add(1);
        let lock = lock_ms(failures);
        let locked_until = if lock > 0 { now_ms + lock } else { 0 };
        self.memory.insert(role, (failures, locked_until));
        let op = Operation::LoginRefused { role, failures };
        let r = match record {
            Some(mut r) => {
                r.failures = failures;
                r.locked_until_ms = locked_until;
                r
            }
            // The first failure on a fresh database: the account is stored with the initial
            // password's hash so that the count survives a restart.
            None => match password::hash(&self.initial_password(role)) {
                Ok(phc) => AccountRecord {
                    role,
                    phc,
                    initial: true,
                    failures,
                    locked_until_ms: locked_until,
                    changed_at_ms: None,
                },
                Err(e) => {
                    log::error!("hashing the initial password: {e}");
                    self.log(store, now_ms, &op);
                    return Err(refusal(failures, lock));
                }
            },
        };
        self.save(store, now_ms, &r, Some(&op));
        if lock > 0
            && let Err(e) = store.log_error(now_ms, ErrorCode::MaintenanceLockedOut)
        {
            log::warn!("recording the maintenance lockout: {e}");
        }
        Err(refusal(failures, lock))
    }

    /// Changes `role`'s password from `current` to `new` (typed twice). The initial password
    /// cannot be kept, nor the current one.
    pub fn change_password(
        &mut self,
        store: &mut Store,
        now_ms: i64,
        role: Role,
        current: &Password,
        new: &Password,
        repeated: &Password,
    ) -> Result<(), ChangeError> {
        password::check_form(new, repeated, &self.device_id).map_err(ChangeError::Refused)?;
        if self.is_initial(role, new) {
            return Err(ChangeError::Refused(PasswordRefusal::IsInitial));
        }
        let record = self.record(store, role).map_err(|()| ChangeError::Store("the accounts cannot be read".into()))?;
        let current_ok = match &record {
            Some(r) if !r.initial => password::verify(current, &r.phc),
            _ => self.is_initial(role, current),
        };
        if !current_ok {
            return Err(ChangeError::WrongCurrent);
        }
        if current.expose() == new.expose() {
            return Err(ChangeError::Refused(PasswordRefusal::Unchanged));
        }
        let phc = password::hash(new).map_err(|e| ChangeError::Store(format!("hashing: {e}")))?;
        let r =
            AccountRecord { role, phc, initial: false, failures: 0, locked_until_ms: 0, changed_at_ms: Some(now_ms) };
        store
            .put_account(now_ms, &r, Some(&Operation::PasswordChanged(role)))
            .map_err(|e| ChangeError::Store(e.to_string()))
    }

    /// Records the end of `role`'s maintenance session.
    pub fn logout(&mut self, store: &mut Store, now_ms: i64, role: Role) {
        self.log(store, now_ms, &Operation::MaintenanceEnded(role));
    }

    fn save(&self, store: &mut Store, now_ms: i64, r: &AccountRecord, op: Option<&Operation>) {
        if let Err(e) = store.put_account(now_ms, r, op) {
            report(&e);
        }
    }

    fn log(&self, store: &mut Store, now_ms: i64, op: &Operation) {
        if let Err(e) = store.log_operation(now_ms, op) {
            report(&e);
        }
    }
}

fn report(e: &StoreError) {
    log::warn!("the maintenance account's record was not written: {e}");
}

fn refusal(failures: u32, lock: i64) -> LoginError {
    LoginError::WrongPassword { left: FREE_FAILURES.saturating_sub(failures), locked_s: (lock / 1000) as u32 }
}

/// Why a password change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    /// The new password breaks a rule.
    #[error("the new password is refused: {}", .0.key())]
    Refused(PasswordRefusal),
    /// The current password typed is wrong.
    #[error("the current password is wrong")]
    WrongCurrent,
    /// The database could not record the change (the old password stays).
    #[error("the new password could not be stored: {0}")]
    Store(String),
}
