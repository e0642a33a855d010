//! `ServerProcess`: the real `portrait` binary serving on a free port with
//! its own database and MEDIA_ROOT, for what only a process shows (logs,
//! signals, exit codes).

use reqwest::StatusCode;
use serde_json::{json, Value};
use tempfile::TempDir;

/// The release or debug binary itself, serving on a free port with its own
/// database and MEDIA_ROOT; killed when dropped. For what only a real
/// process shows: logs, signals, exit codes.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub base: String,
    pub port: u16,
    _dir: TempDir,
    pub env: Vec<(String, String)>,
}

impl ServerProcess {
    pub fn start(extra_env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut env = vec![
            (
                "DATABASE_URL".to_owned(),
                format!("sqlite://{}/p.sqlite3", dir.path().display()),
            ),
            (
                "MEDIA_ROOT".to_owned(),
                dir.path().join("media").display().to_string(),
            ),
            ("BIND_ADDR".to_owned(), format!("127.0.0.1:{port}")),
            (
                "JWT_SECRET".to_owned(),
                "process-test-secret-at-least-32-bytes".to_owned(),
            ),
            ("WORKERS".to_owned(), "2".to_owned()),
            (
                "EMAIL_URL".to_owned(),
                format!("file://{}/outbox", dir.path().display()),
            ),
        ];
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_portrait"))
            .arg("serve")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let server = Self {
            child,
            base,
            port,
            _dir: dir,
            env,
        };
        server.wait_until_healthy();
        server
    }

    fn wait_until_healthy(&self) {
        for _ in 0..200 {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", self.port)) {
                use std::io::{Read, Write};
                let _ = stream.write_all(b"GET /healthz HTTP/1.0\r\n\r\n");
                let mut head = [0u8; 12];
                if stream.read_exact(&mut head).is_ok() && &head[9..12] == b"200" {
                    return;
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("the server did not become healthy");
    }

    /// Registers `username` on this server and signs in; returns the token pair.
    pub async fn register_and_sign_in(&self, username: &str, password: &str) -> Value {
        let client = reqwest::Client::new();
        let registered = client
            .post(format!("{}/users", self.base))
            .json(&json!({"username": username, "email": format!("{username}@example.com"), "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), StatusCode::CREATED);
        client
            .post(format!("{}/auth/token", self.base))
            .json(&json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Stops the server (SIGTERM) and returns everything it logged.
    pub fn stop_and_collect_log(mut self) -> String {
        self.signal("TERM");
        let mut log = String::new();
        use std::io::Read;
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut log);
        }
        let _ = self.child.wait();
        log
    }

    pub fn signal(&self, name: &str) {
        let status = std::process::Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
