//! What a terminal keeps: its own channel key and the readers it is paired with, by serial.
//!
//! A directory of its own (`kaoyomi-term --store`, by default the user's configuration directory):
//! `terminal-key.x25519` (32 secret bytes, mode 0600, made on first use) and `paired-readers`
//! (one line per reader: serial, its channel key, its device key, in hex). A reader whose serial is
//! listed must present exactly those keys; one that is not listed is served only for pairing.

use kaoyomi_protocol::channel::StaticKey;
use std::io::Write;
use std::path::{Path, PathBuf};

/// A reader this terminal is paired with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairedReader {
    /// Serial number.
    pub serial: String,
    /// Its channel key (X25519), pinned at pairing.
    pub link_key: [u8; 32],
    /// Its report-signing key (Ed25519), pinned at pairing.
    pub device_key: [u8; 32],
}

/// The terminal's directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

const KEY_FILE: &str = "terminal-key.x25519";
const READERS_FILE: &str = "paired-readers";

impl Store {
    /// The store in `dir` (made when first written).
    pub fn new(dir: &Path) -> Store {
        Store { dir: dir.to_path_buf() }
    }

    /// The user's default store: `$XDG_CONFIG_HOME/kaoyomi-term`, `~/.config/kaoyomi-term`, or
    /// `%APPDATA%\kaoyomi-term`.
    pub fn default_dir() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .or_else(|| std::env::var_os("APPDATA").map(PathBuf::from))?;
        Some(base.join("kaoyomi-term"))
    }

    /// The terminal's channel key, made from the OS random source on first use.
    pub fn key(&self) -> std::io::Result<StaticKey> {
        let path = self.dir.join(KEY_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let secret = <[u8; 32]>::try_from(bytes.as_slice())
                    .map_err(|_| std::io::Error::other(format!("{} is corrupt (not 32 bytes)", path.display())))?;
                Ok(StaticKey::from_secret(secret))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = StaticKey::generate().map_err(|e| std::io::Error::other(e.to_string()))?;
                write_new(&path, key.secret())?;
                Ok(key)
            }
            Err(e) => Err(e),
        }
    }

    /// The paired readers.
    pub fn readers(&self) -> std::io::Result<Vec<PairedReader>> {
        let text = match std::fs::read_to_string(self.dir.join(READERS_FILE)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        text.lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .map(|line| {
                let mut words = line.split_whitespace();
                let (Some(serial), Some(link), Some(device)) = (words.next(), words.next(), words.next()) else {
                    return Err(std::io::Error::other("paired-readers: a line without serial and two keys"));
                };
                let key = |hex_key: &str| -> std::io::Result<[u8; 32]> {
                    hex::decode(hex_key)
                        .ok()
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(|| std::io::Error::other("paired-readers: a key that is not 32 bytes of hex"))
                };
                Ok(PairedReader { serial: serial.to_string(), link_key: key(link)?, device_key: key(device)? })
            })
            .collect()
    }

    /// The paired reader with `serial`.
    pub fn find(&self, serial: &str) -> std::io::Result<Option<PairedReader>> {
        Ok(self.readers()?.into_iter().find(|r| r.serial == serial))
    }

    /// Keeps `reader` (replacing an entry of the same serial).
    pub fn add(&self, reader: &PairedReader) -> std::io::Result<()> {
        let mut readers: Vec<PairedReader> =
            self.readers()?.into_iter().filter(|r| r.serial != reader.serial).collect();
        readers.push(reader.clone());
        self.write_readers(&readers)
    }

    /// Forgets the reader with `serial`; whether it was there.
    pub fn remove(&self, serial: &str) -> std::io::Result<bool> {
        let readers = self.readers()?;
        let kept: Vec<PairedReader> = readers.iter().filter(|r| r.serial != serial).cloned().collect();
        let removed = kept.len() != readers.len();
        self.write_readers(&kept)?;
        Ok(removed)
    }

    fn write_readers(&self, readers: &[PairedReader]) -> std::io::Result<()> {
        let mut text = String::from("# Readers paired with this terminal: serial, channel key, device key (hex).\n");
        for r in readers {
            text.push_str(&format!("{} {} {}\n", r.serial, hex::encode(r.link_key), hex::encode(r.device_key)));
        }
        let path = self.dir.join(READERS_FILE);
        let tmp = self.dir.join(format!(".{READERS_FILE}.tmp"));
        let _ = std::fs::remove_file(&tmp);
        write_new(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, &path)
    }
}

/// Writes a new private file (mode 0600 where there are modes); an existing one is an error.
fn write_new(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_readers_persist() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(&dir.path().join("term"));
        let key = store.key().unwrap();
        assert_eq!(store.key().unwrap().public(), key.public());
        let a = PairedReader { serial: "KY-A".into(), link_key: [1; 32], device_key: [2; 32] };
        let b = PairedReader { serial: "KY-B".into(), link_key: [3; 32], device_key: [4; 32] };
        store.add(&a).unwrap();
        store.add(&b).unwrap();
        assert_eq!(store.find("KY-A").unwrap(), Some(a.clone()));
        assert_eq!(store.readers().unwrap().len(), 2);
        assert!(store.remove("KY-B").unwrap());
        assert_eq!(store.readers().unwrap(), vec![a]);
    }
}
