//! The reader's Ed25519 device key: made on first start, kept in the state directory, signing every
//! session report. The serial number is derived from its public half, so it is unique per reader.

use anyhow::{Context, Result, bail};
use ed25519_dalek::{Signer, SigningKey};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
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
        Self::load_or_create_for(state, None)
    }

    /// As [`DeviceKey::load_or_create`], for root setting up on the reader's behalf: the key file
    /// is handed to `owner` (uid, gid) through its open descriptor. No step follows a symbolic
    /// link or reuses a file someone else put there: the state directory and the key are opened
    /// with `O_NOFOLLOW`, a new key is written to a file made with `O_EXCL` beside it, owned and
    /// filled through that descriptor and renamed into place, so a reader that had been taken
    /// over cannot make root write or hand over any other file.
    pub fn load_or_create_for(state: &Path, owner: Option<(u32, u32)>) -> Result<DeviceKey> {
        use rustix::fs::{AtFlags, Mode, OFlags};
        let path = state.join(KEY_FILE);
        let dir = match rustix::fs::open(state, OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()) {
            Ok(dir) => dir,
            Err(rustix::io::Errno::NOENT) => {
                std::fs::create_dir_all(state)
                    .with_context(|| format!("creating state directory {}", state.display()))?;
                let dir =
                    rustix::fs::open(state, OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
                        .with_context(|| format!("opening state directory {}", state.display()))?;
                if let Some((uid, gid)) = owner {
                    rustix::fs::fchown(
                        &dir,
                        Some(rustix::fs::Uid::from_raw(uid)),
                        Some(rustix::fs::Gid::from_raw(gid)),
                    )
                    .with_context(|| format!("handing {} to user {uid}", state.display()))?;
                }
                dir
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("opening state directory {} (it must be a directory, not a link)", state.display())
                });
            }
        };
        let read =
            rustix::fs::openat(&dir, KEY_FILE, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty());
        let key = match read {
            Ok(fd) => {
                let stat = rustix::fs::fstat(&fd)?;
                if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
                    bail!("device key {} is not a regular file; refusing to use it", path.display());
                }
                if let Some((uid, gid)) = owner
                    && (stat.st_uid != uid || stat.st_gid != gid)
                {
                    rustix::fs::fchown(&fd, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)))
                        .with_context(|| format!("handing {} to user {uid}", path.display()))?;
                }
                let mut bytes = Zeroizing::new(Vec::with_capacity(64));
                std::fs::File::from(fd)
                    .take(64)
                    .read_to_end(&mut bytes)
                    .with_context(|| format!("reading device key {}", path.display()))?;
                let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice()) else {
                    bail!(
                        "device key {} is corrupt ({} bytes, expected 32); refusing to replace it silently",
                        path.display(),
                        bytes.len()
                    );
                };
                SigningKey::from_bytes(&seed)
            }
            Err(rustix::io::Errno::NOENT) => {
                let key = SigningKey::generate(&mut rand_core::OsRng);
                let tmp = format!(".{KEY_FILE}.tmp");
                let create = || {
                    rustix::fs::openat(
                        &dir,
                        tmp.as_str(),
                        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::from_raw_mode(0o600),
                    )
                };
                let fd = match create() {
                    // Left by a start that did not finish: removed (a link is removed, not followed).
                    Err(rustix::io::Errno::EXIST) => {
                        rustix::fs::unlinkat(&dir, tmp.as_str(), AtFlags::empty())?;
                        create()
                    }
                    other => other,
                }
                .with_context(|| format!("making {}", state.join(&tmp).display()))?;
                if let Some((uid, gid)) = owner {
                    rustix::fs::fchown(&fd, Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)))
                        .with_context(|| format!("handing the new device key to user {uid}"))?;
                }
                let mut file = std::fs::File::from(fd);
                file.write_all(key.as_bytes())?;
                file.sync_all()?;
                rustix::fs::renameat(&dir, tmp.as_str(), &dir, KEY_FILE)
                    .with_context(|| format!("putting the device key in place at {}", path.display()))?;
                rustix::fs::fsync(&dir)?;
                log::info!("made a new device key in {}", path.display());
                key
            }
            Err(rustix::io::Errno::LOOP) => {
                bail!("device key {} is a symbolic link; refusing to follow it", path.display())
            }
            Err(e) => return Err(e).with_context(|| format!("reading device key {}", path.display())),
        };
        let serial = kaoyomi_protocol::serial_for(key.verifying_key().as_bytes());
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

    /// The reader's static key for the terminal channel (X25519), derived from the device key
    /// under its own label: one secret to keep, two keys that cannot be mistaken for each other.
    pub fn link_key(&self) -> kaoyomi_protocol::channel::StaticKey {
        let secret: [u8; 32] =
            Sha256::new().chain_update(b"KAOYOMI-LINK-KEY\0").chain_update(self.key.as_bytes()).finalize().into();
        kaoyomi_protocol::channel::StaticKey::from_secret(secret)
    }

    /// A secret derived from the device key under `label` (e.g. the maintenance accounts'
    /// initial passwords): known only to whoever holds the key.
    pub fn derive(&self, label: &[u8]) -> [u8; 32] {
        Sha256::new().chain_update(label).chain_update(self.key.as_bytes()).finalize().into()
    }

    /// The key that signs the settings files this reader exports (the device key itself: the
    /// files' own context string keeps their signatures apart from the reports').
    pub fn settings_signer(&self) -> SigningKey {
        self.key.clone()
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key.sign(message).to_bytes().to_vec()
    }
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

    #[test]
    fn links_in_the_state_directory_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, [7u8; 32]).unwrap();
        let state = dir.path().join("state");
        std::fs::create_dir(&state).unwrap();
        // The key a link points at is not read.
        std::os::unix::fs::symlink(&elsewhere, state.join(KEY_FILE)).unwrap();
        let err = DeviceKey::load_or_create(&state).err().unwrap();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        std::fs::remove_file(state.join(KEY_FILE)).unwrap();
        // A temporary file planted as a link to another file: removed, the other file untouched.
        let tmp = state.join(format!(".{KEY_FILE}.tmp"));
        std::os::unix::fs::symlink(&elsewhere, &tmp).unwrap();
        let key = DeviceKey::load_or_create(&state).unwrap();
        assert_eq!(std::fs::read(&elsewhere).unwrap(), [7u8; 32]);
        assert!(tmp.symlink_metadata().is_err());
        let meta = std::fs::symlink_metadata(state.join(KEY_FILE)).unwrap();
        assert!(meta.is_file());
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777, 0o600);
        assert_eq!(DeviceKey::load_or_create(&state).unwrap().public(), key.public());
        // A state directory that is a link is refused.
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&state, &linked).unwrap();
        assert!(DeviceKey::load_or_create(&linked).is_err());
    }
}
