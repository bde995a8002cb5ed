//! Retry counters that survive the card leaving the reader, as a real card keeps them in EEPROM.
//!
//! One small JSON file per persona in a directory (`<state>/sim-cards/<persona>.json`), written
//! atomically after every change. Deleting the directory "issues new cards".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where the simulated cards keep their counters.
#[derive(Debug, Clone)]
pub struct CounterStore {
    dir: PathBuf,
}

impl CounterStore {
    /// Counters under `dir` (created when first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CounterStore { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, persona: &str) -> PathBuf {
        self.dir.join(format!("{persona}.json"))
    }

    /// The stored counters of `persona` (empty when the card is new or the file is unreadable).
    pub fn load(&self, persona: &str) -> BTreeMap<String, u8> {
        match std::fs::read(self.path(persona)) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                log::warn!("sim card counters for {persona} unreadable ({e}); treating the card as new");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        }
    }

    /// Stores the counters of `persona`.
    pub fn save(&self, persona: &str, counters: &BTreeMap<String, u8>) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{persona}.json.tmp"));
        std::fs::write(&tmp, serde_json::to_vec_pretty(counters).map_err(std::io::Error::other)?)?;
        std::fs::rename(tmp, self.path(persona))
    }

    /// Forgets the counters of every persona (new cards).
    pub fn reset(&self) -> std::io::Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}
