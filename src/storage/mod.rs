//! Where pictures live, behind one trait, in the spirit of Django's
//! `Storage` and pict-rs's `Store`: save a set of files all or none, open
//! one for serving, delete, list under a prefix, the public URL, health.
//! The app holds an `Arc<dyn Storage>`; only `build` names an
//! implementation. Names are made here (random, unguessable, from
//! [`new_name`]) and checked here ([`is_plain_name`]): nothing a client
//! sends ever names a file. Business rules (the default picture is never
//! deleted) are the services', not the store's. Every method blocks: call
//! it off the async workers.

mod fs;
mod s3;

pub use s3::S3Location;

use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::RngCore;

/// Uploaded pictures go under this prefix.
pub const PROFILE_PICS_DIR: &str = "profile_pics";

/// A file to store: its name (from [`new_name`], or a fixed one of the
/// app's own), its media type and its bytes.
pub struct NewFile<'a> {
    pub name: String,
    pub content_type: &'static str,
    pub bytes: &'a [u8],
}

/// A stored file opened for serving.
pub struct StoredObject {
    pub len: u64,
    pub modified: SystemTime,
    pub body: ObjectBody,
}

pub enum ObjectBody {
    /// Small files are read whole in the same call.
    Bytes(Vec<u8>),
    /// Larger ones are read as the answer is sent.
    Reader(Box<dyn Read + Send>),
}

/// One entry of a listing.
pub struct ListedObject {
    pub name: String,
    pub modified: SystemTime,
}

pub trait Storage: Send + Sync {
    /// Makes the store ready (the local store creates its directories).
    fn prepare(&self) -> io::Result<()>;
    /// Stores every file, or none: on error no file of the set is left.
    fn save_all(&self, files: &[NewFile<'_>]) -> io::Result<()>;
    /// The file behind `name`, read whole when at most `inline_limit`
    /// bytes; `None` when there is no such file or the name is not plain.
    fn open(&self, name: &str, inline_limit: u64) -> io::Result<Option<StoredObject>>;
    /// Removes `name`; a name already gone is not an error.
    fn delete(&self, name: &str) -> io::Result<()>;
    fn exists(&self, name: &str) -> io::Result<bool>;
    /// Calls `visit` for every stored file whose name starts with
    /// `prefix`, one at a time (a listing is never held whole).
    fn list(&self, prefix: &str, visit: &mut dyn FnMut(ListedObject)) -> io::Result<()>;
    /// The URL clients fetch `name` from: MEDIA_URL joined with it.
    fn url(&self, name: &str) -> String;
    /// Whether the store can be written to now.
    fn health(&self) -> io::Result<()>;
    /// Removes what interrupted saves left that is older than `min_age`
    /// (younger ones may be another process's save in flight); returns
    /// how many were removed.
    fn sweep_leftovers(&self, min_age: Duration) -> io::Result<usize>;
}

/// Which store MEDIA_STORAGE names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaStorage {
    /// MEDIA_ROOT on local disk.
    File,
    S3(S3Location),
}

/// The store MEDIA_STORAGE names, serving at MEDIA_URL. An S3 store is
/// only described here; `prepare` is what reaches it.
pub fn build(
    kind: &MediaStorage,
    media_root: &Path,
    media_url: &str,
) -> io::Result<Arc<dyn Storage>> {
    Ok(match kind {
        MediaStorage::File => Arc::new(fs::FileStorage::new(media_root, media_url)),
        MediaStorage::S3(location) => Arc::new(s3::S3Storage::new(location, media_url)?),
    })
}

/// A new unguessable name under `dir` (128 random bits).
pub fn new_name(dir: &str, extension: &str) -> String {
    format!("{dir}/{}.{extension}", random_hex(16))
}

/// A new unguessable stem under `dir` (128 random bits): every rendition
/// of one picture is named `<stem>-<width>.<ext>`.
pub fn new_stem(dir: &str) -> String {
    format!("{dir}/{}", random_hex(16))
}

/// A name made only of plain parts: not empty, not absolute, no `..`, no
/// hidden (dot) parts. Stores refuse anything else.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && name
            .split('/')
            .all(|part| !part.is_empty() && !part.starts_with('.') && !part.contains('\\'))
}

fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buffer);
    hex::encode(buffer)
}

/// How old a file must be before the checker may call it a stray.
pub fn older_than(modified: SystemTime, age: Duration) -> bool {
    SystemTime::now()
        .duration_since(modified)
        .is_ok_and(|elapsed| elapsed > age)
}

/// The media type of a stored name, from its extension.
pub fn content_type_of(name: &str) -> &'static str {
    match name
        .rsplit('.')
        .next()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_pass() {
        for bad in [
            "",
            "/etc/passwd",
            "../secret",
            "profile_pics/../../x",
            ".env",
            "a//b",
            "a\\b",
        ] {
            assert!(!is_plain_name(bad), "{bad}");
        }
        assert!(is_plain_name("default.jpg"));
        assert!(is_plain_name("profile_pics/0a1b.jpg"));
    }

    #[test]
    fn new_names_are_unguessable_and_keep_the_extension() {
        let (a, b) = (
            new_name("profile_pics", "jpg"),
            new_name("profile_pics", "jpg"),
        );
        assert_ne!(a, b);
        assert!(a.starts_with("profile_pics/") && a.ends_with(".jpg") && a.len() == 13 + 32 + 4);
    }
}
