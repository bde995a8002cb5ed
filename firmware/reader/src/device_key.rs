//! The reader's Ed25519 device key: made on first start, kept in the state directory, signing every
//! session report. The serial number is derived from its public half, so it is unique per reader.

use anyhow::{Context, Result, bail};
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// File name of the key in the state directory.
pub const KEY_FILE: &str = "device-key.ed25519";

/// The device identity.
pub struct DeviceKey {
    key: SigningKey,
    serial: String,
}

impl DeviceKey {
    /// Where the key of the state directory `state` lives.
    pub fn path(state: &Path) -> PathBuf {
        state.join(KEY_FILE)
    }

    /// Loads the key from `state`, or makes one from the OS random source on first start.
    pub fn load_or_create(state: &Path) -> Result<DeviceKey> {
        let path = state.join(KEY_FILE);
        let key = match std::fs::read(&path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                    bail!(
                        "device key {} is corrupt ({} bytes, expected 32); refusing to replace it silently",
                        path.display(),
                        bytes.len()
                    );
                };
                SigningKey::from_bytes(&seed)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(state)
                    .with_context(|| format!("creating state directory {}", state.display()))?;
                let key = SigningKey::generate(&mut rand_core::OsRng);
                let tmp = state.join(format!(".{KEY_FILE}.tmp"));
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create(true).truncate(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
                file.write_all(key.as_bytes())?;
                file.sync_all()?;
                std::fs::rename(&tmp, &path)?;
                log::info!("made a new device key in {}", path.display());
                key
            }
            Err(e) => return Err(e).with_context(|| format!("reading device key {}", path.display())),
        };
        let digest = Sha256::digest(key.verifying_key().as_bytes());
        let serial = format!("KY-{}", hex_upper(&digest[..5]));
        Ok(DeviceKey { key, serial })
    }

    /// The serial number.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).to_bytes().to_vec()
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_persists_and_corruption_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = DeviceKey::load_or_create(dir.path()).unwrap();
        let b = DeviceKey::load_or_create(dir.path()).unwrap();
        assert_eq!(a.public(), b.public());
        assert_eq!(a.serial(), b.serial());
        assert!(a.serial().starts_with("KY-") && a.serial().len() == 13);
        std::fs::write(dir.path().join(KEY_FILE), b"short").unwrap();
        let err = DeviceKey::load_or_create(dir.path()).err().unwrap();
        assert!(err.to_string().contains("corrupt"), "{err}");
    }
}
