//! The terminals this reader is paired with, and pairing itself.
//!
//! A terminal whose channel key is not pinned here gets only the pairing request: the reader shows
//! the six-digit code of that connection's handshake on the staff display, the terminal's
//! operator types it, and a right code pins the terminal's key (kept in the state directory,
//! `paired-terminals`, one hex key per line). Wrong codes are counted: after
//! [`MAX_WRONG_CODES`] pairing is refused for [`LOCKOUT`], so six digits cannot be guessed.
//! Unpairing: a paired terminal can forget itself (`Unpair`); `kaoyomi-reader unpair` forgets all
//! (the maintenance side).

use anyhow::{Context, Result};
use kaoyomi_protocol::PairingCode;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// File of the pinned terminal keys in the state directory.
pub const FILE: &str = "paired-terminals";
/// Wrong codes in a row before pairing is locked.
pub const MAX_WRONG_CODES: u32 = 3;
/// How long pairing stays locked after too many wrong codes.
pub const LOCKOUT: Duration = Duration::from_secs(10 * 60);

/// Why a pairing request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not the code this connection's handshake gives.
    WrongCode,
    /// Too many wrong codes lately.
    Locked,
}

/// The pinned keys and the wrong-code count.
pub struct Pairing {
    path: PathBuf,
    inner: Mutex<Inner>,
}

struct Inner {
    keys: Vec<[u8; 32]>,
    wrong: u32,
    locked_until: Option<Instant>,
}

impl Pairing {
    /// Loads the keys pinned in `state` (none when the file does not exist yet).
    pub fn load(state: &Path) -> Result<Pairing> {
        let path = state.join(FILE);
        let keys = match std::fs::read_to_string(&path) {
            Ok(text) => parse(&text).with_context(|| format!("{} is corrupt", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        Ok(Pairing { path, inner: Mutex::new(Inner { keys, wrong: 0, locked_until: None }) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `key` is pinned.
    pub fn is_paired(&self, key: &[u8; 32]) -> bool {
        self.lock().keys.contains(key)
    }

    /// How many terminals are paired.
    pub fn count(&self) -> usize {
        self.lock().keys.len()
    }

    /// A pairing request at `now` from the terminal with channel key `key`, whose handshake gives
    /// `expected`, with the code its operator typed.
    pub fn pair(&self, key: [u8; 32], expected: PairingCode, typed: PairingCode, now: Instant) -> Result<(), Refusal> {
        let mut inner = self.lock();
        if inner.locked_until.is_some_and(|until| now < until) {
            return Err(Refusal::Locked);
        }
        if typed != expected {
            inner.wrong += 1;
            if inner.wrong >= MAX_WRONG_CODES {
                inner.wrong = 0;
                inner.locked_until = Some(now + LOCKOUT);
                log::warn!(
                    "pairing: {MAX_WRONG_CODES} wrong codes; pairing is refused for {} minutes",
                    LOCKOUT.as_secs() / 60
                );
            }
            return Err(Refusal::WrongCode);
        }
        inner.wrong = 0;
        inner.locked_until = None;
        if !inner.keys.contains(&key) {
            let mut keys = inner.keys.clone();
            keys.push(key);
            if let Err(e) = write(&self.path, &keys) {
                log::error!("pairing: the terminal's key cannot be kept: {e:#}");
                return Err(Refusal::WrongCode);
            }
            inner.keys = keys;
        }
        log::info!("pairing: a terminal was paired ({} paired)", inner.keys.len());
        Ok(())
    }

    /// Forgets `key`.
    pub fn unpair(&self, key: &[u8; 32]) -> Result<()> {
        let mut inner = self.lock();
        let keys: Vec<[u8; 32]> = inner.keys.iter().copied().filter(|k| k != key).collect();
        write(&self.path, &keys)?;
        inner.keys = keys;
        log::info!("pairing: a terminal unpaired itself ({} paired)", inner.keys.len());
        Ok(())
    }
}

/// Forgets every paired terminal of the state directory `state` (the maintenance side).
pub fn unpair_all(state: &Path) -> Result<usize> {
    let pairing = Pairing::load(state)?;
    let n = pairing.count();
    write(&state.join(FILE), &[])?;
    Ok(n)
}

fn parse(text: &str) -> Result<Vec<[u8; 32]>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let hex = line.split_whitespace().next().unwrap_or_default();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| hex.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
                .collect::<Option<Vec<u8>>>()
                .context("a line that is not a hex key")?;
            <[u8; 32]>::try_from(bytes).map_err(|_| anyhow::anyhow!("a key that is not 32 bytes"))
        })
        .collect()
}

/// Writes the keys beside and renames into place: a power cut leaves the old list or the new one.
/// The temporary file is made anew (`O_EXCL`, no link followed).
fn write(path: &Path, keys: &[[u8; 32]]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    match std::fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", tmp.display())),
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    let mut text = String::from("# Terminals paired with this reader: their channel keys (X25519, hex).\n");
    for key in keys {
        text.extend(key.iter().map(|b| format!("{b:02x}")));
        text.push('\n');
    }
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("putting {} in place", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn right_code_pins_the_key_wrong_codes_lock_pairing() {
        let dir = tempfile::tempdir().unwrap();
        let pairing = Pairing::load(dir.path()).unwrap();
        let (key, code) = ([7u8; 32], PairingCode(123_456));
        let t0 = Instant::now();
        for _ in 0..MAX_WRONG_CODES - 1 {
            assert_eq!(pairing.pair(key, code, PairingCode(1), t0), Err(Refusal::WrongCode));
        }
        assert!(pairing.pair(key, code, code, t0).is_ok());
        assert!(pairing.is_paired(&key));
        // Kept across restarts.
        assert!(Pairing::load(dir.path()).unwrap().is_paired(&key));
        // Three wrong codes in a row lock pairing, even the right code, until the lockout ends.
        let other = [8u8; 32];
        for _ in 0..MAX_WRONG_CODES {
            assert_eq!(pairing.pair(other, code, PairingCode(2), t0), Err(Refusal::WrongCode));
        }
        assert_eq!(pairing.pair(other, code, code, t0 + Duration::from_secs(1)), Err(Refusal::Locked));
        assert!(pairing.pair(other, code, code, t0 + LOCKOUT + Duration::from_secs(1)).is_ok());
        pairing.unpair(&key).unwrap();
        assert!(!Pairing::load(dir.path()).unwrap().is_paired(&key));
        assert_eq!(unpair_all(dir.path()).unwrap(), 1);
        assert_eq!(Pairing::load(dir.path()).unwrap().count(), 0);
    }
}
