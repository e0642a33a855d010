//! `spawn_app()`: the real application on port 0 with a database and a
//! MEDIA_ROOT of its own (a temp SQLite file, or, when TEST_DATABASE_URL is
//! a postgres URL, a freshly created database dropped afterwards), plus
//! request helpers. Tests share nothing, so they run in parallel.
//! `images` makes test pictures, `private_pg` runs a PostgreSQL of a
//! test's own, `process` runs the binary itself, `smtp` a real mail
//! server and the inbox that reads what arrived, `s3` a real S3 server
//! (s3s-fs): `spawn_app_on_s3` always stores pictures there, and
//! `TEST_STORAGE=s3` makes every app do so. `TestApp::stored*` read the
//! app's store, whichever it is. Unless a test says
//! otherwise, email goes to .eml files in the test's own directory
//! (`TestApp::outbox`). `missing` is how a test
//! meets a real dependency that is not installed: skipped on a developer's
//! machine, a failure under `CI=true`.

pub mod images;
pub mod private_pg;
pub mod process;
pub mod s3;
pub mod smtp;

use std::collections::HashMap;
use std::sync::{Arc, Once};

use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};
use portrait::context::AppContext;
use portrait::db::PooledConnection;
use portrait::settings::Settings;
use portrait::signals::Signals;
use portrait::startup::{Application, ConnectReceivers};
use portrait::storage::Storage;
use rand::Rng;
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery";

static TRACING: Once = Once::new();

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub context: AppContext,
    pub database_url: String,
    pub media_root: std::path::PathBuf,
    /// Where EMAIL_URL's file backend writes, unless the test set EMAIL_URL.
    pub outbox: std::path::PathBuf,
    /// `http://127.0.0.1:PORT` of /metrics, when the test set METRICS_ADDR.
    pub metrics_address: Option<String>,
    /// The S3 server pictures go to, when they do not go to MEDIA_ROOT.
    pub s3: Option<s3::S3Server>,
    _database: TestDatabase,
    _dir: TempDir,
}

/// A database of the test's own, removed when the test ends.
enum TestDatabase {
    Sqlite,
    Postgres { admin_url: String, name: String },
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let TestDatabase::Postgres { admin_url, name } = self {
            if let Ok(mut conn) = PgConnection::establish(admin_url) {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                        .execute(&mut conn);
            }
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[], portrait::receivers::connect_default_receivers).await
}

pub async fn spawn_app_with_settings(overrides: &[(&'static str, &str)]) -> TestApp {
    spawn_app_with(overrides, portrait::receivers::connect_default_receivers).await
}

/// An app whose pictures go to a real S3 server of its own, whatever
/// TEST_STORAGE says; `None` (after `missing`) when s3s-fs is not installed.
pub async fn spawn_app_on_s3(overrides: &[(&'static str, &str)]) -> Option<TestApp> {
    let Some(server) = s3::S3Server::start() else {
        missing("s3s-fs (cargo install s3s-fs@0.14.1 --features binary --locked)");
        return None;
    };
    Some(
        spawn(
            overrides,
            portrait::receivers::connect_default_receivers,
            Some(server),
        )
        .await,
    )
}

pub async fn spawn_app_with(
    overrides: &[(&'static str, &str)],
    connect: ConnectReceivers,
) -> TestApp {
    let chosen = overrides.iter().any(|(name, _)| *name == "MEDIA_STORAGE");
    let server = if s3::requested() && !chosen {
        let server = s3::S3Server::start();
        if server.is_none() {
            missing("s3s-fs (cargo install s3s-fs@0.14.1 --features binary --locked)");
        }
        server
    } else {
        None
    };
    spawn(overrides, connect, server).await
}

async fn spawn(
    overrides: &[(&'static str, &str)],
    connect: ConnectReceivers,
    s3: Option<s3::S3Server>,
) -> TestApp {
    // Before this test's first PostgreSQL connection (see init_tls).
    portrait::startup::init_tls();
    TRACING.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            portrait::telemetry::init(portrait::settings::LogFormat::Human);
        }
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let media_root = dir.path().join("media");
    let outbox = dir.path().join("outbox");
    let (database_url, database) = test_database(&dir);

    let mut values: HashMap<&str, String> = HashMap::from([
        ("DATABASE_URL", database_url.clone()),
        ("BIND_ADDR", "127.0.0.1:0".into()),
        ("MEDIA_ROOT", media_root.display().to_string()),
        (
            "JWT_SECRET",
            "test-secret-that-is-at-least-32-bytes-long".into(),
        ),
        ("WORKERS", "2".into()),
        ("DATABASE_POOL_SIZE", "4".into()),
        ("EMAIL_URL", format!("file://{}", outbox.display())),
    ]);
    if let Some(server) = &s3 {
        values.extend(server.settings(""));
    }
    for (name, value) in overrides {
        values.insert(name, value.to_string());
    }
    let settings = Settings::from_map(&values).expect("test settings");
    let app = tokio::task::spawn_blocking(move || Application::build_with(settings, connect))
        .await
        .unwrap()
        .expect("application starts");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app
        .metrics_port()
        .map(|port| format!("http://127.0.0.1:{port}"));
    let context = app.context().clone();
    tokio::spawn(app.run_until_stopped());

    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        context,
        database_url,
        media_root,
        outbox,
        metrics_address,
        s3,
        _database: database,
        _dir: dir,
    }
}

fn test_database(dir: &TempDir) -> (String, TestDatabase) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin_url) if admin_url.starts_with("postgres") => {
            let name = format!("portrait_test_{:016x}", rand::thread_rng().gen::<u64>());
            let mut conn = PgConnection::establish(&admin_url).expect("TEST_DATABASE_URL answers");
            diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .expect("create test database");
            let url = replace_database_name(&admin_url, &name);
            (url, TestDatabase::Postgres { admin_url, name })
        }
        _ => {
            let path = dir.path().join("portrait.sqlite3");
            (format!("sqlite://{}", path.display()), TestDatabase::Sqlite)
        }
    }
}

fn replace_database_name(url: &str, name: &str) -> String {
    let mut parsed = url::Url::parse(url).expect("TEST_DATABASE_URL is a URL");
    parsed.set_path(&format!("/{name}"));
    parsed.to_string()
}

/// A signed-in user of a test app.
pub struct TestUser {
    pub id: i64,
    pub token: String,
    pub refresh: String,
}

impl TestApp {
    /// The `portrait` binary, pointed at this app's database and MEDIA_ROOT.
    pub fn command(&self) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_portrait"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &self.database_url)
            .env("MEDIA_ROOT", &self.media_root)
            .env("EMAIL_URL", format!("file://{}", self.outbox.display()))
            .env("RUST_LOG", "warn");
        if let Some(server) = &self.s3 {
            command.envs(server.settings(""));
        }
        command
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// The bytes stored under `name`, from whichever store the app uses.
    pub fn stored(&self, name: &str) -> Option<Vec<u8>> {
        let object = self.context.storage.open(name, u64::MAX).unwrap()?;
        match object.body {
            portrait::storage::ObjectBody::Bytes(bytes) => Some(bytes),
            portrait::storage::ObjectBody::Reader(mut reader) => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut reader, &mut bytes).unwrap();
                Some(bytes)
            }
        }
    }

    /// The bytes behind a profile's `image.url`.
    pub fn stored_picture(&self, profile: &Value) -> Vec<u8> {
        let url = profile["image"]["url"].as_str().unwrap();
        let name = url.strip_prefix("/media/").unwrap();
        self.stored(name)
            .unwrap_or_else(|| panic!("{name} is not stored"))
    }

    /// The file names stored under profile_pics/, sorted.
    pub fn stored_pics(&self) -> Vec<String> {
        let mut names = Vec::new();
        self.context
            .storage
            .list("profile_pics/", &mut |object| {
                names.push(object.name.trim_start_matches("profile_pics/").to_owned())
            })
            .unwrap();
        names.sort();
        names
    }

    /// Puts `bytes` under `name` in the app's store.
    pub fn store(&self, name: &str, bytes: &[u8]) {
        self.context
            .storage
            .save_all(&[portrait::storage::NewFile {
                name: name.to_owned(),
                content_type: portrait::storage::content_type_of(name),
                bytes,
            }])
            .unwrap();
    }

    /// Removes `name` from the app's store.
    pub fn unstore(&self, name: &str) {
        self.context.storage.delete(name).unwrap();
    }

    pub fn db(&self) -> PooledConnection {
        self.context.pool.get().expect("test pool")
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn patch_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut request = self.client.patch(self.url(path)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    /// The JSON body of a GET, whatever its status.
    pub async fn get_json(&self, path: &str, token: Option<&str>) -> Value {
        self.get(path, token)
            .await
            .json()
            .await
            .expect("a JSON body")
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        let mut request = self.client.delete(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("request")
    }

    /// PUT /profile/picture with `bytes` as the `image` part, under a file
    /// name that must never reach the file system.
    pub async fn upload_picture(&self, token: &str, bytes: Vec<u8>) -> Response {
        let form = reqwest::multipart::Form::new().part(
            "image",
            reqwest::multipart::Part::bytes(bytes).file_name("../../etc/passwd.jpg"),
        );
        self.client
            .put(self.url("/profile/picture"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("request")
    }

    pub async fn register(&self, username: &str) -> Value {
        let response = self
            .post_json(
                "/users",
                &json!({"username": username, "email": format!("{username}@example.com"), "password": PASSWORD}),
                None,
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::CREATED,
            "registering {username}"
        );
        response.json().await.unwrap()
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_json(
            "/auth/token",
            &json!({"username": username, "password": password}),
            None,
        )
        .await
    }

    /// Registers `username` and signs in.
    pub async fn signed_in(&self, username: &str) -> TestUser {
        let user = self.register(username).await;
        let tokens: Value = self.login(username, PASSWORD).await.json().await.unwrap();
        TestUser {
            id: user["id"].as_i64().unwrap(),
            token: tokens["access_token"].as_str().unwrap().into(),
            refresh: tokens["refresh_token"].as_str().unwrap().into(),
        }
    }

    /// Registers a user, makes it staff (and superuser if asked) in the
    /// database, and signs in.
    pub async fn signed_in_staff(&self, username: &str, superuser: bool) -> TestUser {
        let user = self.register(username).await;
        let id = user["id"].as_i64().unwrap();
        diesel::sql_query(format!(
            "UPDATE users SET is_staff = TRUE, is_superuser = {} WHERE id = {id}",
            if superuser { "TRUE" } else { "FALSE" }
        ))
        .execute(&mut *self.db())
        .unwrap();
        let tokens: Value = self.login(username, PASSWORD).await.json().await.unwrap();
        TestUser {
            id,
            token: tokens["access_token"].as_str().unwrap().into(),
            refresh: tokens["refresh_token"].as_str().unwrap().into(),
        }
    }

    pub fn count_rows(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let rows: Vec<Count> = diesel::sql_query(sql)
            .load(&mut *self.db())
            .expect("count query");
        rows[0].n
    }
}

/// Asserts a problem+json answer with `status`, and returns its body.
pub async fn assert_problem(response: Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = response.json().await.expect("problem body is JSON");
    assert_eq!(body["status"], status);
    assert!(
        body["title"].is_string() && body["detail"].is_string() && body["type"].is_string(),
        "{body}"
    );
    body
}

/// Connects only a receiver that always fails (plus the default ones).
pub fn failing_receivers(signals: &mut Signals, storage: Arc<dyn Storage>) {
    portrait::receivers::connect_default_receivers(signals, storage);
    signals.post_save_user.connect("always_fails", |_, _| {
        Err(portrait::error::ServiceError::internal(
            "receiver failed on purpose",
        ))
    });
}

/// An app for fuzzing: the sign-in, registration and email throttles are off, so
/// that volume reaches the code under test instead of a 429.
pub async fn spawn_fuzz_target() -> TestApp {
    spawn_app_with_settings(&[
        ("LOGIN_MAX_FAILURES", "100000"),
        ("LOGIN_MAX_FAILURES_PER_CLIENT", "100000"),
        ("REGISTER_RATE", "off"),
        ("EMAIL_RATE_PER_CLIENT", "off"),
        ("EMAIL_RATE_PER_ADDRESS", "off"),
    ])
    .await
}

/// How many fuzz cases to run: the environment variable `name`, or `default`.
pub fn fuzz_cases(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A real dependency (`what`) is not installed. Under `CI=true` that fails
/// the test; elsewhere the test is skipped with a line saying why.
pub fn missing(what: &str) {
    if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0") {
        panic!("{what} is required under CI=true but is not installed");
    }
    eprintln!("skipped: {what} is not installed");
}
