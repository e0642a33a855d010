//! The S3-compatible store (MEDIA_STORAGE=`s3://BUCKET[/PREFIX]`), through
//! the `object_store` crate with real SigV4 signing. A save puts every file
//! of a set at once and removes those put if another fails (a PUT is
//! atomic per object, so there is never a half-written one to sweep);
//! `open` reads small objects whole and streams larger ones; `list` pages
//! through the bucket and hands names over one at a time.
//! The `Storage` trait blocks while object_store is async: the store owns
//! a small runtime of its own and each call waits for its task on a plain
//! channel, so callers on any blocking thread (actix's, the CLI's) work
//! alike. Never call it from an async worker. No HTTP of ours, no
//! database, no business rule.

use std::io::{self, Read};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, ClientOptions, ObjectStore, ObjectStoreExt, PutOptions, PutPayload,
    RetryConfig,
};

use super::{
    is_plain_name, ListedObject, NewFile, ObjectBody, Storage, StoredObject, PROFILE_PICS_DIR,
};

/// What a browser or a CDN may do with an uploaded picture: its name never
/// gets other bytes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The default picture keeps its name across versions of portrait.
const REVALIDATE: &str = "public, max-age=3600";
/// Chunks of a streamed object waiting for the reader.
const STREAM_BUFFER: usize = 4;
/// The longest one call may wait for the store, retries included: a store
/// that hangs must not hold a blocking thread (and the requests queued
/// behind it) for longer.
const CALL_DEADLINE: Duration = Duration::from_secs(35);
/// The probe object `prepare` writes and removes (a hidden name: never a
/// stored picture's, never listed).
const PROBE: &str = ".portrait-write-probe";

/// Where pictures go in S3, from MEDIA_STORAGE and the AWS_* settings.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Key prefix without slashes at either end; empty for the bucket's root.
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Location")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "…"))
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "…"),
            )
            .finish()
    }
}

impl S3Location {
    /// `s3://BUCKET[/PREFIX]`: the rest comes from the AWS_* settings.
    pub fn parse(raw: &str) -> Result<(String, String), String> {
        let rest = raw
            .strip_prefix("s3://")
            .ok_or("expected `file` or s3://BUCKET[/PREFIX]")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err(format!("{bucket:?} is not an S3 bucket name"));
        }
        let prefix = prefix.trim_matches('/');
        if !prefix.is_empty() && !is_plain_name(prefix) {
            return Err(format!("{prefix:?} is not a usable key prefix"));
        }
        Ok((bucket.to_owned(), prefix.to_owned()))
    }

    /// Where the store is, for log lines: never a credential.
    pub fn describe(&self) -> String {
        let endpoint = self.endpoint.as_deref().unwrap_or("AWS");
        format!("s3://{}/{} at {endpoint}", self.bucket, self.prefix)
    }
}

/// The runtime object_store's futures run on. Shut down without waiting
/// when dropped, so that dropping the store on an async thread is safe.
struct Runtime(Option<tokio::runtime::Runtime>);

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

pub struct S3Storage {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    base_url: String,
    runtime: Runtime,
}

fn io_error(error: object_store::Error) -> io::Error {
    match error {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, error),
        other => io::Error::other(other),
    }
}

impl S3Storage {
    pub fn new(location: &S3Location, base_url: impl Into<String>) -> io::Result<Self> {
        // The environment first (session tokens, container and web-identity
        // credentials), then what the settings say.
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&location.bucket)
            .with_region(location.region.as_deref().unwrap_or("us-east-1"))
            // A store that does not answer must not hold a request (or a
            // start) for minutes: a few quick retries, then an error.
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(10),
                ..RetryConfig::default()
            })
            .with_client_options(
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(5))
                    .with_timeout(Duration::from_secs(30))
                    .with_allow_http(
                        location
                            .endpoint
                            .as_deref()
                            .is_some_and(|e| e.starts_with("http://")),
                    ),
            );
        if let Some(endpoint) = &location.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let Some(key) = &location.access_key_id {
            builder = builder.with_access_key_id(key);
        }
        if let Some(secret) = &location.secret_access_key {
            builder = builder.with_secret_access_key(secret);
        }
        let store = builder.build().map_err(io::Error::other)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("portrait-s3")
            .enable_all()
            .build()?;
        Ok(Self {
            store: Arc::new(store),
            prefix: location.prefix.clone(),
            base_url: base_url.into(),
            runtime: Runtime(Some(runtime)),
        })
    }

    /// Runs `work` on the store's runtime and waits for it here, at most
    /// CALL_DEADLINE.
    fn run<T: Send + 'static>(
        &self,
        work: impl std::future::Future<Output = T> + Send + 'static,
    ) -> io::Result<T> {
        let runtime = self.runtime.0.as_ref().ok_or_else(gone)?;
        let (done, wait) = mpsc::sync_channel(1);
        runtime.spawn(async move {
            let outcome = tokio::time::timeout(CALL_DEADLINE, work).await;
            let _ = done.send(outcome);
        });
        match wait.recv() {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the object store did not answer in time",
            )),
            Err(_) => Err(gone()),
        }
    }

    /// Hands `item` to a reader on another thread, waiting while its
    /// buffer is full without holding up the runtime's other tasks.
    fn hand_over<T>(sender: &mpsc::SyncSender<T>, item: T) -> bool {
        tokio::task::block_in_place(|| sender.send(item).is_ok())
    }

    fn key(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    /// The stored name of a key under the prefix.
    fn name_of<'a>(&self, key: &'a str) -> Option<&'a str> {
        if self.prefix.is_empty() {
            Some(key)
        } else {
            key.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }

    fn plain(name: &str) -> io::Result<()> {
        if is_plain_name(name) {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a plain stored name",
            ))
        }
    }
}

fn gone() -> io::Error {
    io::Error::other("the object store's runtime has stopped")
}

fn cache_control(name: &str) -> &'static str {
    if name.starts_with(&format!("{PROFILE_PICS_DIR}/")) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// A streamed object's chunks, as `Read`.
struct ChunkReader {
    chunks: mpsc::Receiver<io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.recv() {
                Ok(chunk) => self.current = chunk?,
                Err(_) => return Ok(0),
            }
        }
        let n = buffer.len().min(self.current.len());
        buffer[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

impl Storage for S3Storage {
    fn prepare(&self) -> io::Result<()> {
        // A bucket that is not there, or credentials it refuses (reading
        // or writing), fail here, at start, rather than at the first
        // upload.
        self.health()?;
        let store = Arc::clone(&self.store);
        let probe = self.key(PROBE);
        self.run(async move {
            store
                .put(&probe, PutPayload::from_static(b"portrait"))
                .await
                .map_err(io_error)?;
            store.delete(&probe).await.map_err(io_error)
        })?
    }

    fn save_all(&self, files: &[NewFile<'_>]) -> io::Result<()> {
        for file in files {
            Self::plain(&file.name)?;
        }
        let puts: Vec<_> = files
            .iter()
            .map(|file| {
                let store = Arc::clone(&self.store);
                let key = self.key(&file.name);
                let mut attributes = Attributes::new();
                attributes.insert(Attribute::ContentType, file.content_type.into());
                attributes.insert(Attribute::CacheControl, cache_control(&file.name).into());
                let payload = PutPayload::from(file.bytes.to_vec());
                async move {
                    let options = PutOptions {
                        attributes,
                        ..PutOptions::default()
                    };
                    let result = store.put_opts(&key, payload, options).await;
                    (key, result)
                }
            })
            .collect();
        let store = Arc::clone(&self.store);
        self.run(async move {
            let results = futures_util::future::join_all(puts).await;
            let mut failure = None;
            let mut written = Vec::new();
            for (key, result) in results {
                match result {
                    Ok(_) => written.push(key),
                    Err(error) => failure = failure.or(Some(error)),
                }
            }
            match failure {
                None => Ok(()),
                Some(error) => {
                    for key in written {
                        let _ = store.delete(&key).await;
                    }
                    Err(io_error(error))
                }
            }
        })?
    }

    fn open(&self, name: &str, inline_limit: u64) -> io::Result<Option<StoredObject>> {
        if !is_plain_name(name) {
            return Ok(None);
        }
        let store = Arc::clone(&self.store);
        let key = self.key(name);
        let (sender, chunks) = mpsc::sync_channel(STREAM_BUFFER);
        let opened = self.run(async move {
            let object = match store.get(&key).await {
                Ok(object) => object,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(error) => return Err(io_error(error)),
            };
            let (len, modified) = (object.meta.size, object.meta.last_modified);
            if len <= inline_limit {
                let bytes = object.bytes().await.map_err(io_error)?;
                return Ok(Some((len, modified, Some(bytes.to_vec()))));
            }
            // Larger objects are streamed: a task feeds the reader and
            // stops when it is dropped.
            let mut stream = object.into_stream();
            tokio::spawn(async move {
                while let Some(chunk) = stream.next().await {
                    let failed = chunk.is_err();
                    if !Self::hand_over(&sender, chunk.map_err(io_error)) || failed {
                        break;
                    }
                }
            });
            Ok(Some((len, modified, None)))
        })??;
        Ok(opened.map(|(len, modified, bytes)| StoredObject {
            len,
            modified: SystemTime::from(modified),
            body: match bytes {
                Some(bytes) => ObjectBody::Bytes(bytes),
                None => ObjectBody::Reader(Box::new(ChunkReader {
                    chunks,
                    current: bytes::Bytes::new(),
                })),
            },
        }))
    }

    fn delete(&self, name: &str) -> io::Result<()> {
        if !is_plain_name(name) {
            return Ok(());
        }
        let store = Arc::clone(&self.store);
        let key = self.key(name);
        self.run(async move {
            match store.delete(&key).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(error) => Err(io_error(error)),
            }
        })?
    }

    fn exists(&self, name: &str) -> io::Result<bool> {
        if !is_plain_name(name) {
            return Ok(false);
        }
        let store = Arc::clone(&self.store);
        let key = self.key(name);
        self.run(async move {
            match store.head(&key).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(error) => Err(io_error(error)),
            }
        })?
    }

    fn list(&self, prefix: &str, visit: &mut dyn FnMut(ListedObject)) -> io::Result<()> {
        // object_store lists by whole path segments: list the directory
        // the prefix names and keep the names that start with it.
        let directory = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
        let listed = if directory.is_empty() {
            (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()))
        } else {
            Some(self.key(directory))
        };
        let store = Arc::clone(&self.store);
        let (sender, entries) = mpsc::sync_channel(256);
        let runtime = self.runtime.0.as_ref().ok_or_else(gone)?;
        runtime.spawn(async move {
            let mut stream = store.list(listed.as_ref());
            while let Some(entry) = stream.next().await {
                let failed = entry.is_err();
                if !S3Storage::hand_over(&sender, entry.map_err(io_error)) || failed {
                    break;
                }
            }
        });
        for entry in entries {
            let meta = entry?;
            let key = meta.location.to_string();
            let Some(name) = self.name_of(&key) else {
                continue;
            };
            // Only the directory's own files, as on disk.
            let below = name
                .strip_prefix(directory)
                .map(|rest| rest.trim_start_matches('/'));
            if !name.starts_with(prefix) || below.is_none_or(|rest| rest.contains('/')) {
                continue;
            }
            visit(ListedObject {
                name: name.to_owned(),
                modified: SystemTime::from(meta.last_modified),
            });
        }
        Ok(())
    }

    fn url(&self, name: &str) -> String {
        format!("{}{}", self.base_url, name)
    }

    fn health(&self) -> io::Result<()> {
        let store = Arc::clone(&self.store);
        let listed = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        self.run(async move {
            store
                .list_with_delimiter(listed.as_ref())
                .await
                .map(|_| ())
                .map_err(io_error)
        })?
    }

    fn sweep_leftovers(&self, _min_age: Duration) -> io::Result<usize> {
        // A PUT is atomic: an interrupted one leaves no object behind.
        Ok(0)
    }
}
