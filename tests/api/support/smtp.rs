//! Real mail for tests. `SmtpServer` runs Python's aiosmtpd (a real SMTP
//! server; pinned, installed once into ~/.cache/portrait-ci) on a free
//! port, writing what it receives into a Maildir of the test's own;
//! `Inbox` reads messages back from that Maildir or from the .eml files of
//! EMAIL_URL's file backend, parsed with mail-parser as a mail client
//! would. Missing Python or aiosmtpd is `support::missing`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const AIOSMTPD: &str = "aiosmtpd==1.4.6";

/// A message as its recipient reads it.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Received {
    /// The single-use token of the link in the message (a `{token}` of
    /// 64 hex digits, wherever the link template put it).
    pub fn token(&self) -> String {
        let link = self.link();
        let start = link
            .char_indices()
            .map(|(i, _)| i)
            .find(|&i| {
                link[i..].len() >= 64 && link[i..i + 64].bytes().all(|b| b.is_ascii_hexdigit())
            })
            .unwrap_or_else(|| panic!("no token in {link}"));
        link[start..start + 64].to_owned()
    }

    /// The first http(s) link of the plain-text body.
    pub fn link(&self) -> String {
        self.text
            .split_whitespace()
            .find(|word| word.starts_with("http://") || word.starts_with("https://"))
            .unwrap_or_else(|| panic!("no link in {:?}", self.text))
            .to_owned()
    }
}

/// The messages in a directory (a Maildir's `new/`, or EMAIL_URL's file
/// backend), each handed out once.
pub struct Inbox {
    dir: PathBuf,
    seen: Mutex<HashSet<PathBuf>>,
}

impl Inbox {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            seen: Mutex::new(HashSet::new()),
        }
    }

    /// Every message not handed out yet (now marked handed out).
    pub fn take_all(&self) -> Vec<Received> {
        let unseen = self.unseen();
        let mut seen = self.seen.lock().unwrap();
        unseen
            .into_iter()
            .map(|(path, message)| {
                seen.insert(path);
                message
            })
            .collect()
    }

    /// The next message to `to`, waiting up to 15 s for it; messages to
    /// others stay for later calls.
    pub async fn wait_for(&self, to: &str) -> Received {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let unseen = self.unseen();
            if let Some((path, message)) = unseen
                .iter()
                .find(|(_, message)| message.to.eq_ignore_ascii_case(to))
            {
                self.seen.lock().unwrap().insert(path.clone());
                return message.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no email to {to} arrived; others: {unseen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Complete messages not handed out yet, oldest name first.
    fn unseen(&self) -> Vec<(PathBuf, Received)> {
        let seen = self.seen.lock().unwrap();
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|path| !seen.contains(path))
                .collect(),
            Err(_) => Vec::new(),
        };
        paths.sort();
        paths
            .into_iter()
            // A file still being written does not parse yet: next time.
            .filter_map(|path| {
                let message = parse(&std::fs::read(&path).ok()?)?;
                Some((path, message))
            })
            .collect()
    }
}

fn parse(raw: &[u8]) -> Option<Received> {
    let message = mail_parser::MessageParser::default().parse(raw)?;
    let address = |list: Option<&mail_parser::Address>| {
        list.and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default()
            .to_owned()
    };
    let received = Received {
        from: address(message.from()),
        to: address(message.to()),
        subject: message.subject().unwrap_or_default().to_owned(),
        text: message.body_text(0).unwrap_or_default().into_owned(),
        html: message.body_html(0).unwrap_or_default().into_owned(),
    };
    // Both parts present: the message is whole.
    (!received.to.is_empty() && !received.html.is_empty()).then_some(received)
}

/// aiosmtpd listening on 127.0.0.1; killed when dropped.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub inbox: Inbox,
    _dir: TempDir,
}

impl SmtpServer {
    /// `None` (after `support::missing`) when aiosmtpd cannot be had.
    /// `extra` goes to aiosmtpd's command line (TLS options).
    pub async fn start(extra: &[&str]) -> Option<Self> {
        let Some(python) = python_with_aiosmtpd() else {
            super::missing("Python 3 with aiosmtpd (pip install aiosmtpd)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let maildir = dir.path().join("Maildir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(python)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd starts");
        let server = Self {
            child,
            port,
            inbox: Inbox::new(maildir.join("new")),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(server)
    }

    /// EMAIL_URL for this server.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Python that imports aiosmtpd: a venv in ~/.cache/portrait-ci, made
/// once (into a temp folder, then renamed, so a half-made one is never
/// used).
fn python_with_aiosmtpd() -> Option<PathBuf> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let home = std::env::var_os("HOME")?;
            let cache = Path::new(&home).join(".cache/portrait-ci");
            let venv = cache.join(AIOSMTPD.replace("==", "-"));
            let python = venv.join("bin/python");
            if imports_aiosmtpd(&python) {
                return Some(python);
            }
            std::fs::create_dir_all(&cache).ok()?;
            let staging = tempfile::tempdir_in(&cache).ok()?;
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(staging.path())
                .status()
                .is_ok_and(|s| s.success())
                && Command::new(staging.path().join("bin/pip"))
                    .args([
                        "install",
                        "--quiet",
                        "--disable-pip-version-check",
                        AIOSMTPD,
                    ])
                    .status()
                    .is_ok_and(|s| s.success());
            if !ok {
                return None;
            }
            // `python -m` finds the venv's packages from its own place,
            // so the finished venv can be moved where it will live.
            let _ = std::fs::remove_dir_all(&venv);
            std::fs::rename(staging.keep(), &venv).ok()?;
            imports_aiosmtpd(&python).then_some(python)
        })
        .clone()
}

fn imports_aiosmtpd(python: &Path) -> bool {
    Command::new(python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A self-signed certificate for 127.0.0.1 and localhost, made with the
/// openssl command: (certificate, key). `None` (after `missing`) without it.
pub fn self_signed_certificate(dir: &Path) -> Option<(PathBuf, PathBuf)> {
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        super::missing("the openssl command (to make a test certificate)");
        return None;
    }
    Some((cert, key))
}
