//! Where pictures live: a small storage interface in the spirit of Django's
//! `Storage` (save, delete, exists, url) and its local-disk implementation.
//! Names are always made here (random, unguessable); a client's file name
//! never reaches the file system. A save is atomic: temp file in the same
//! directory, fsync, rename. This module knows nothing of HTTP or the
//! database; it blocks, so call it off the async workers.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use rand::RngCore;

use crate::models::profile::DEFAULT_IMAGE;

/// The shipped default picture, put into MEDIA_ROOT at start when missing.
pub const DEFAULT_IMAGE_BYTES: &[u8] = include_bytes!("../media/default.jpg");
/// Uploaded pictures go under this directory of MEDIA_ROOT.
pub const PROFILE_PICS_DIR: &str = "profile_pics";
/// Temp files start with this, so a sweep at start can find the leftovers.
const TEMP_PREFIX: &str = ".tmp-";

pub trait MediaStorage: Send + Sync {
    /// Stores `bytes` under a new unguessable name in `dir`, with `extension`;
    /// returns that name, relative to the storage root.
    fn save(&self, dir: &str, extension: &str, bytes: &[u8]) -> io::Result<String>;
    /// Removes a stored name. The default picture is never removed; a name
    /// that is already gone is not an error.
    fn delete(&self, name: &str);
    fn exists(&self, name: &str) -> bool;
    /// The URL clients fetch `name` from: MEDIA_URL joined with it.
    fn url(&self, name: &str) -> String;
}

pub struct LocalMediaStorage {
    root: PathBuf,
    base_url: String,
    /// MEDIA_ROOT with links resolved, found once it exists.
    canonical_root: OnceLock<PathBuf>,
}

/// A stored file read whole, for serving.
pub struct StoredFile {
    pub bytes: Vec<u8>,
    pub modified: SystemTime,
}

impl LocalMediaStorage {
    pub fn new(root: impl Into<PathBuf>, base_url: impl Into<String>) -> Self {
        Self {
            root: root.into(),
            base_url: base_url.into(),
            canonical_root: OnceLock::new(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates MEDIA_ROOT and its picture directory, and puts the default
    /// picture there if it is missing.
    pub fn prepare(&self) -> io::Result<()> {
        fs::create_dir_all(self.root.join(PROFILE_PICS_DIR))?;
        let default = self.root.join(DEFAULT_IMAGE);
        if !default.exists() {
            write_atomically(&self.root, &default, DEFAULT_IMAGE_BYTES)?;
        }
        Ok(())
    }

    /// Removes temp files left by a crash in the middle of a save; returns
    /// how many were removed.
    pub fn sweep_temp_files(&self) -> io::Result<usize> {
        let mut removed = 0;
        for dir in [self.root.clone(), self.root.join(PROFILE_PICS_DIR)] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// The file behind a stored name, or `None` when the name could reach
    /// outside MEDIA_ROOT (absolute, `..`, or through a symbolic link).
    pub fn resolve(&self, name: &str) -> Option<PathBuf> {
        let relative = Path::new(name);
        let plain = relative.components().all(
            |c| matches!(c, Component::Normal(part) if !part.to_string_lossy().starts_with('.')),
        );
        if name.is_empty() || !plain {
            return None;
        }
        let canonical_root = match self.canonical_root.get() {
            Some(root) => root,
            None => {
                let root = fs::canonicalize(&self.root).ok()?;
                self.canonical_root.get_or_init(|| root)
            }
        };
        let canonical = fs::canonicalize(self.root.join(relative)).ok()?;
        canonical.starts_with(canonical_root).then_some(canonical)
    }

    /// Reads a stored regular file of at most `max_bytes` whole: one
    /// blocking call where a streamed file takes several. `None` when the
    /// name does not resolve (see `resolve`), is not a file, or is larger.
    pub fn read_small(&self, name: &str, max_bytes: u64) -> Option<StoredFile> {
        let path = self.resolve(name)?;
        let mut file = File::open(path).ok()?;
        let metadata = file.metadata().ok()?;
        if !metadata.is_file() || metadata.len() > max_bytes {
            return None;
        }
        let mut bytes = Vec::with_capacity(metadata.len() as usize);
        file.read_to_end(&mut bytes).ok()?;
        Some(StoredFile {
            bytes,
            modified: metadata.modified().ok()?,
        })
    }

    /// Files in the picture directory with their modification time, for the
    /// consistency check.
    pub fn list_profile_pics(&self) -> io::Result<Vec<(String, SystemTime)>> {
        let mut files = Vec::new();
        for entry in fs::read_dir(self.root.join(PROFILE_PICS_DIR))? {
            let entry = entry?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if file_name.starts_with(TEMP_PREFIX) || !entry.file_type()?.is_file() {
                continue;
            }
            let modified = entry.metadata()?.modified()?;
            files.push((format!("{PROFILE_PICS_DIR}/{file_name}"), modified));
        }
        Ok(files)
    }
}

impl MediaStorage for LocalMediaStorage {
    fn save(&self, dir: &str, extension: &str, bytes: &[u8]) -> io::Result<String> {
        let name = format!("{dir}/{}.{extension}", random_hex(16));
        let directory = self.root.join(dir);
        fs::create_dir_all(&directory)?;
        write_atomically(&directory, &self.root.join(&name), bytes)?;
        Ok(name)
    }

    fn delete(&self, name: &str) {
        if name == DEFAULT_IMAGE {
            return;
        }
        let Some(path) = self.resolve(name) else {
            return;
        };
        if let Err(error) = fs::remove_file(&path) {
            if error.kind() != io::ErrorKind::NotFound {
                tracing::warn!(%name, %error, "could not delete a stored picture");
            }
        }
    }

    fn exists(&self, name: &str) -> bool {
        self.resolve(name).is_some_and(|path| path.is_file())
    }

    fn url(&self, name: &str) -> String {
        format!("{}{}", self.base_url, name)
    }
}

/// Writes `bytes` to `target` so that a reader sees the whole file or none:
/// a temp file in the same directory, fsynced, then renamed over.
fn write_atomically(directory: &Path, target: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = directory.join(format!("{TEMP_PREFIX}{}", random_hex(8)));
    let result = (|| {
        let mut file = File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, target)?;
        // The rename itself is durable only once the directory is synced.
        File::open(directory)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// How old a file must be before the checker may call it a stray.
pub fn older_than(modified: SystemTime, grace: Duration) -> bool {
    SystemTime::now()
        .duration_since(modified)
        .is_ok_and(|age| age > grace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_makes_unguessable_names_and_delete_spares_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalMediaStorage::new(dir.path(), "/media/");
        storage.prepare().unwrap();
        let a = storage.save(PROFILE_PICS_DIR, "jpg", b"one").unwrap();
        let b = storage.save(PROFILE_PICS_DIR, "jpg", b"two").unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("profile_pics/") && a.ends_with(".jpg") && a.len() > 40);
        assert_eq!(fs::read(dir.path().join(&a)).unwrap(), b"one");
        assert_eq!(storage.url(&a), format!("/media/{a}"));
        storage.delete(&a);
        assert!(!storage.exists(&a));
        storage.delete(DEFAULT_IMAGE);
        assert!(storage.exists(DEFAULT_IMAGE));
    }

    #[test]
    fn resolve_refuses_names_that_leave_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalMediaStorage::new(dir.path().join("media"), "/media/");
        storage.prepare().unwrap();
        fs::write(dir.path().join("secret.txt"), b"x").unwrap();
        for name in [
            "../secret.txt",
            "/etc/passwd",
            "profile_pics/../../secret.txt",
            "",
            ".env",
        ] {
            assert!(storage.resolve(name).is_none(), "{name}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                dir.path().join("secret.txt"),
                dir.path().join("media/link"),
            )
            .unwrap();
            assert!(storage.resolve("link").is_none());
        }
        assert!(storage.resolve(DEFAULT_IMAGE).is_some());
    }

    #[test]
    fn sweep_removes_temp_leftovers_only() {
        let dir = tempfile::tempdir().unwrap();
        let storage = LocalMediaStorage::new(dir.path(), "/media/");
        storage.prepare().unwrap();
        fs::write(dir.path().join("profile_pics/.tmp-abc"), b"x").unwrap();
        let kept = storage.save(PROFILE_PICS_DIR, "png", b"y").unwrap();
        assert_eq!(storage.sweep_temp_files().unwrap(), 1);
        assert!(storage.exists(&kept));
    }
}
