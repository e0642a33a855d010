//! Operations: request ids and logs, CORS, graceful shutdown, health while
//! uploads run; several tests drive the real binary as a process.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::images::{jpeg, marked};
use crate::support::process::ServerProcess;
use crate::support::{assert_problem, spawn_app, spawn_app_with_settings, PASSWORD};

#[tokio::test]
async fn every_answer_has_a_request_id_and_nosniff() {
    let app = spawn_app().await;
    let ok = app.get("/healthz", None).await;
    let id = ok.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);
    assert_eq!(ok.headers()["x-content-type-options"], "nosniff");
    let error = app.get("/nowhere", None).await;
    assert_ne!(error.headers()["x-request-id"].to_str().unwrap(), id);
    assert_eq!(error.headers()["x-content-type-options"], "nosniff");
    assert_problem(error, 404).await;
}

#[tokio::test]
async fn cors_answers_only_the_configured_origins_and_never_allows_credentials() {
    let app = spawn_app_with_settings(&[(
        "CORS_ALLOWED_ORIGINS",
        "https://app.example,https://admin.example",
    )])
    .await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/users"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .header(
            "Access-Control-Request-Headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(preflight
        .headers()
        .get("access-control-allow-credentials")
        .is_none());

    // A page on another origin can send If-Match and read the ETag.
    let conditional = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/profile/picture"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "PUT")
        .header("Access-Control-Request-Headers", "authorization, if-match")
        .send()
        .await
        .unwrap();
    assert!(
        conditional.status().is_success(),
        "{}",
        conditional.status()
    );
    let profile = app
        .client
        .get(app.url("/users/1/profile"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    let exposed = profile.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("etag"), "{exposed}");

    let simple = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", "https://admin.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://admin.example"
    );

    let stranger = app
        .client
        .get(app.url("/healthz"))
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(stranger.status(), StatusCode::OK);
    assert!(stranger
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let default = spawn_app().await;
    let response = default
        .client
        .get(default.url("/healthz"))
        .header("Origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "no origin is allowed by default"
    );
}

#[tokio::test]
async fn logs_never_hold_a_password_token_or_authorization_header() {
    let server = ServerProcess::start(&[("LOG_FORMAT", "json"), ("RUST_LOG", "debug")]);
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let secret_password = "a very secret passphrase 9";
    let tokens = server.register_and_sign_in("alice", secret_password).await;
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let _ = client
        .post(format!("{base}/auth/token"))
        .json(&json!({"username": "alice", "password": "wrong guess 123"}))
        .send()
        .await
        .unwrap();
    let form = Form::new().part(
        "image",
        Part::bytes(jpeg(&marked(64, 64))).file_name("me.jpg"),
    );
    let uploaded = client
        .put(format!("{base}/profile/picture"))
        .bearer_auth(&access)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), StatusCode::OK);
    let _ = client
        .post(format!("{base}/auth/refresh"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();

    let log = tokio::task::spawn_blocking(move || server.stop_and_collect_log())
        .await
        .unwrap();
    assert!(
        log.contains("request finished"),
        "requests are logged: {log}"
    );
    for secret in [
        secret_password,
        "wrong guess 123",
        access.as_str(),
        refresh.as_str(),
        "Bearer ",
        "argon2",
    ] {
        assert!(!log.contains(secret), "the log holds {secret:?}");
    }
    let line = log
        .lines()
        .find(|l| l.contains("request finished") && l.contains("/profile/picture"))
        .unwrap();
    let entry: Value = serde_json::from_str(line).expect("LOG_FORMAT=json writes JSON lines");
    assert_eq!(entry["fields"]["status"], 200);
    assert!(entry["span"]["request_id"].is_string(), "{entry}");
}

#[tokio::test]
async fn sigterm_lets_an_upload_in_flight_finish() {
    let server = ServerProcess::start(&[]);
    let tokens = server.register_and_sign_in("alice", PASSWORD).await;
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    let port = server.port;
    let outcome = tokio::task::spawn_blocking(move || {
        let picture = jpeg(&marked(400, 300));
        let boundary = "b0undary";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.jpg\"\r\n\r\n"
        )
        .into_bytes();
        body.extend(&picture);
        body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(
            stream,
            "PUT /profile/picture HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\
             Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .unwrap();
        let half = body.len() / 2;
        stream.write_all(&body[..half]).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        server.signal("TERM");
        std::thread::sleep(Duration::from_millis(300));
        stream.write_all(&body[half..]).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let started = Instant::now();
        let mut server = server;
        let status = server.child.wait().unwrap();
        (String::from_utf8_lossy(&response).into_owned(), status, started.elapsed())
    })
    .await
    .unwrap();
    let (response, status, exit_wait) = outcome;
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "in-flight upload finished: {response}"
    );
    assert!(status.success(), "clean exit: {status}");
    assert!(exit_wait < Duration::from_secs(10));
}

#[tokio::test]
async fn the_healthcheck_command_reports_the_servers_health() {
    let server = ServerProcess::start(&[]);
    let env = server.env.clone();
    let run = move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_portrait"))
            .arg("healthcheck")
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .unwrap()
    };
    assert!(run().status.success());
    drop(server);
    assert!(!run().status.success(), "no server, no health");
}
