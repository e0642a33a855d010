//! `S3Server`: a real S3-compatible server for a test of its own, the
//! `s3s-fs` binary (crates.io; real SigV4 checks) on a free port over a
//! temp directory, with one bucket. The binary is found through `S3S_FS`,
//! then `~/.cache/portrait-ci/s3s-fs-0.14.1/bin` (where `.ci/run` installs
//! it), then PATH. `TEST_STORAGE=s3` makes every `spawn_app` store its
//! pictures in one of these instead of MEDIA_ROOT.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

pub const BUCKET: &str = "portrait-media";
pub const ACCESS_KEY: &str = "portrait-test-access";
pub const SECRET_KEY: &str = "portrait-test-secret-key-0123456789";

pub struct S3Server {
    child: Child,
    pub endpoint: String,
    /// s3s-fs keeps each bucket as a directory under this one.
    pub root: TempDir,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where the s3s-fs binary is, if it is installed.
pub fn binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("S3S_FS") {
        return Some(PathBuf::from(path));
    }
    let cached = std::env::var_os("HOME")
        .map(PathBuf::from)
        .map(|home| home.join(".cache/portrait-ci/s3s-fs-0.14.1/bin/s3s-fs"));
    if let Some(path) = cached.filter(|path| path.is_file()) {
        return Some(path);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("s3s-fs"))
            .find(|path| path.is_file())
    })
}

/// Whether pictures go to S3 in this test run (`TEST_STORAGE=s3`).
pub fn requested() -> bool {
    std::env::var("TEST_STORAGE").is_ok_and(|v| v == "s3")
}

impl S3Server {
    /// A server with an empty bucket `BUCKET`; `None` when s3s-fs is not
    /// installed (the caller reports it through `support::missing`).
    pub fn start() -> Option<Self> {
        let binary = binary()?;
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--port")
            .arg(port.to_string())
            .arg("--access-key")
            .arg(ACCESS_KEY)
            .arg("--secret-key")
            .arg(SECRET_KEY)
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs starts");
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            root,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Some(server);
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("s3s-fs did not start listening");
    }

    /// The settings that store pictures here, under `prefix` ("" for none).
    pub fn settings(&self, prefix: &str) -> Vec<(&'static str, String)> {
        let storage = if prefix.is_empty() {
            format!("s3://{BUCKET}")
        } else {
            format!("s3://{BUCKET}/{prefix}")
        };
        vec![
            ("MEDIA_STORAGE", storage),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
        ]
    }

    /// The bucket's objects, listed on disk behind the server's back:
    /// what is really stored, whatever portrait believes.
    pub fn objects(&self) -> Vec<String> {
        fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, base, out);
                } else {
                    let name = path.strip_prefix(base).unwrap().to_string_lossy();
                    out.push(name.into_owned());
                }
            }
        }
        let bucket = self.root.path().join(BUCKET);
        let mut names = Vec::new();
        walk(&bucket, &bucket, &mut names);
        names.retain(|name| !name.starts_with(".") && !name.contains("/."));
        names.sort();
        names
    }
}
