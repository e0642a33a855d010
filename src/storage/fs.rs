//! The local-disk store under MEDIA_ROOT. A save is atomic per file (temp
//! file in the same directory, fsync, rename, directory fsync) and all or
//! none per set (the files of a set are written at once, and those renamed
//! are removed if another one fails).
//! Names must be plain (`is_plain_name`) and may not reach outside the
//! root through a symbolic link. Temp files carry a prefix and are swept
//! by age only, so a starting process never removes another's save in
//! flight. No HTTP, no database, no business rule.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use super::{
    is_plain_name, older_than, random_hex, ListedObject, NewFile, ObjectBody, Storage,
    StoredObject, PROFILE_PICS_DIR,
};

/// Temp files start with this, so a sweep can find the leftovers.
const TEMP_PREFIX: &str = ".tmp-";

pub struct FileStorage {
    root: PathBuf,
    base_url: String,
    /// MEDIA_ROOT with links resolved, found once it exists.
    canonical_root: OnceLock<PathBuf>,
}

impl FileStorage {
    pub fn new(root: impl Into<PathBuf>, base_url: impl Into<String>) -> Self {
        Self {
            root: root.into(),
            base_url: base_url.into(),
            canonical_root: OnceLock::new(),
        }
    }

    /// The file behind a stored name, or `None` when the name is not plain
    /// or leads outside MEDIA_ROOT (through a symbolic link).
    fn resolve(&self, name: &str) -> Option<PathBuf> {
        if !is_plain_name(name) {
            return None;
        }
        let canonical_root = match self.canonical_root.get() {
            Some(root) => root,
            None => {
                let root = fs::canonicalize(&self.root).ok()?;
                self.canonical_root.get_or_init(|| root)
            }
        };
        let canonical = fs::canonicalize(self.root.join(name)).ok()?;
        canonical.starts_with(canonical_root).then_some(canonical)
    }

    fn save_one(&self, file: &NewFile<'_>) -> io::Result<PathBuf> {
        if !is_plain_name(&file.name) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a plain stored name",
            ));
        }
        let target = self.root.join(&file.name);
        let directory = target.parent().unwrap_or(&self.root).to_path_buf();
        fs::create_dir_all(&directory)?;
        let temp = directory.join(format!("{TEMP_PREFIX}{}", random_hex(8)));
        let result = (|| {
            let mut out = File::create(&temp)?;
            out.write_all(file.bytes)?;
            out.sync_all()?;
            fs::rename(&temp, &target)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&temp);
        }
        result.map(|()| target)
    }
}

impl Storage for FileStorage {
    fn prepare(&self) -> io::Result<()> {
        fs::create_dir_all(self.root.join(PROFILE_PICS_DIR))
    }

    fn save_all(&self, files: &[NewFile<'_>]) -> io::Result<()> {
        // Each file written and synced on a thread of its own: the disk
        // takes the syncs of a picture's renditions in one journal commit
        // rather than one after another.
        // A thread the system will not give is a file saved here instead.
        let results: Vec<io::Result<PathBuf>> = std::thread::scope(|scope| {
            let saves: Vec<_> = files
                .iter()
                .map(|file| {
                    std::thread::Builder::new()
                        .spawn_scoped(scope, move || self.save_one(file))
                        .map_err(|_| file)
                })
                .collect();
            saves
                .into_iter()
                .map(|save| match save {
                    Ok(thread) => thread
                        .join()
                        .unwrap_or_else(|_| Err(io::Error::other("a save panicked"))),
                    Err(file) => self.save_one(file),
                })
                .collect()
        });
        let mut written = Vec::with_capacity(files.len());
        let mut failure = None;
        for result in results {
            match result {
                Ok(path) => written.push(path),
                Err(error) => failure = failure.or(Some(error)),
            }
        }
        let directories: BTreeSet<PathBuf> = written
            .iter()
            .filter_map(|path| path.parent().map(PathBuf::from))
            .collect();
        // A rename is durable only once its directory is synced.
        let result = match failure {
            Some(error) => Err(error),
            None => directories
                .iter()
                .try_for_each(|dir| File::open(dir)?.sync_all()),
        };
        if result.is_err() {
            for path in written {
                let _ = fs::remove_file(path);
            }
        }
        result
    }

    fn open(&self, name: &str, inline_limit: u64) -> io::Result<Option<StoredObject>> {
        let Some(path) = self.resolve(name) else {
            return Ok(None);
        };
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(error),
        };
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            return Ok(None);
        }
        let len = metadata.len();
        let body = if len <= inline_limit {
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes)?;
            ObjectBody::Bytes(bytes)
        } else {
            ObjectBody::Reader(Box::new(file))
        };
        Ok(Some(StoredObject {
            len,
            modified: metadata.modified()?,
            body,
        }))
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        let Some(path) = self.resolve(name) else {
            return Ok(());
        };
        match fs::remove_file(&path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        Ok(self.resolve(name).is_some_and(|path| path.is_file()))
    }

    fn list(&self, prefix: &str, visit: &mut dyn FnMut(ListedObject)) -> io::Result<()> {
        // Names are `dir/file`: list the directory the prefix names.
        let (dir, start) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        let directory = if dir.is_empty() {
            self.root.clone()
        } else {
            self.root.join(dir)
        };
        let entries = match fs::read_dir(&directory) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error),
        };
        for entry in entries {
            let entry = entry?;
            let file_name = entry.file_name().to_string_lossy().into_owned();
            if file_name.starts_with('.')
                || !file_name.starts_with(start)
                || !entry.file_type()?.is_file()
            {
                continue;
            }
            let name = if dir.is_empty() {
                file_name
            } else {
                format!("{dir}/{file_name}")
            };
            visit(ListedObject {
                name,
                modified: entry.metadata()?.modified()?,
            });
        }
        Ok(())
    }

    fn url(&self, name: &str) -> String {
        format!("{}{}", self.base_url, name)
    }

    fn health(&self) -> io::Result<()> {
        let pictures = self.root.join(PROFILE_PICS_DIR);
        if fs::metadata(&pictures)?.is_dir() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{} is not a directory",
                pictures.display()
            )))
        }
    }

    fn sweep_leftovers(&self, min_age: Duration) -> io::Result<usize> {
        let mut removed = 0;
        for dir in [self.root.clone(), self.root.join(PROFILE_PICS_DIR)] {
            let Ok(entries) = fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                if !entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                    continue;
                }
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|modified| older_than(modified, min_age));
                if old {
                    fs::remove_file(entry.path())?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::super::new_name;
    use super::*;
    use std::path::Path;

    fn store(dir: &Path) -> FileStorage {
        let storage = FileStorage::new(dir, "/media/");
        storage.prepare().unwrap();
        storage
    }

    fn file(name: &str, bytes: &'static [u8]) -> NewFile<'static> {
        NewFile {
            name: name.to_owned(),
            content_type: "image/jpeg",
            bytes,
        }
    }

    #[test]
    fn a_saved_set_reads_back_lists_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let storage = store(dir.path());
        let (a, b) = (
            new_name(PROFILE_PICS_DIR, "jpg"),
            new_name(PROFILE_PICS_DIR, "png"),
        );
        storage
            .save_all(&[file(&a, b"one"), file(&b, b"two")])
            .unwrap();
        assert_eq!(fs::read(dir.path().join(&a)).unwrap(), b"one");
        assert_eq!(storage.url(&a), format!("/media/{a}"));
        let Some(StoredObject {
            body: ObjectBody::Bytes(bytes),
            len: 3,
            ..
        }) = storage.open(&b, 100).unwrap()
        else {
            panic!("a small file is read whole");
        };
        assert_eq!(bytes, b"two");
        assert!(matches!(
            storage.open(&b, 1).unwrap().unwrap().body,
            ObjectBody::Reader(_)
        ));
        let mut listed = Vec::new();
        storage
            .list("profile_pics/", &mut |o| listed.push(o.name))
            .unwrap();
        listed.sort();
        let mut expected = vec![a.clone(), b.clone()];
        expected.sort();
        assert_eq!(listed, expected);
        storage.delete(&a).unwrap();
        storage.delete(&a).unwrap();
        assert!(!storage.exists(&a).unwrap());
        assert!(storage.health().is_ok());
    }

    #[test]
    fn a_set_that_fails_part_way_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let storage = store(dir.path());
        let good = new_name(PROFILE_PICS_DIR, "jpg");
        // A directory where the second file should go: its rename fails.
        let blocked = new_name(PROFILE_PICS_DIR, "webp");
        fs::create_dir_all(dir.path().join(&blocked).join("x")).unwrap();
        assert!(storage
            .save_all(&[file(&good, b"one"), file(&blocked, b"two")])
            .is_err());
        assert!(!dir.path().join(&good).exists());
        let leftovers = fs::read_dir(dir.path().join(PROFILE_PICS_DIR))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(TEMP_PREFIX)
            })
            .count();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn names_that_leave_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let storage = store(&dir.path().join("media"));
        fs::write(dir.path().join("secret.txt"), b"x").unwrap();
        for name in [
            "../secret.txt",
            "/etc/passwd",
            "profile_pics/../../secret.txt",
            "",
            ".env",
        ] {
            assert!(storage.open(name, 100).unwrap().is_none(), "{name}");
            assert!(storage
                .save_all(&[file(name, b"x")])
                .is_err_and(|e| e.kind() == io::ErrorKind::InvalidInput));
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(
                dir.path().join("secret.txt"),
                dir.path().join("media/link"),
            )
            .unwrap();
            assert!(storage.open("link", 100).unwrap().is_none());
            assert!(!storage.exists("link").unwrap());
        }
    }

    #[test]
    fn the_sweep_spares_young_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let storage = store(dir.path());
        fs::write(dir.path().join("profile_pics/.tmp-young"), b"x").unwrap();
        let old = File::create(dir.path().join("profile_pics/.tmp-old")).unwrap();
        old.set_modified(std::time::SystemTime::now() - Duration::from_secs(7200))
            .unwrap();
        assert_eq!(
            storage.sweep_leftovers(Duration::from_secs(3600)).unwrap(),
            1
        );
        assert!(dir.path().join("profile_pics/.tmp-young").exists());
        assert!(!dir.path().join("profile_pics/.tmp-old").exists());
    }
}
