//! Hostile input and load: what one registered user, or many anonymous
//! connections, may try. Bombs are refused quickly and stall no one, a
//! sign-in flood costs reads nothing, the throttle cannot be raced or
//! rotated around, forwarded headers are believed only from trusted
//! proxies, slow bodies are cut off, odd strings never make a 5xx.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::images::{jpeg, jpeg_scan_bomb, marked, png_bomb};
use crate::support::{assert_problem, spawn_app, spawn_app_with_settings, PASSWORD};

#[tokio::test]
async fn a_scan_bomb_and_a_png_bomb_are_422_too_complex_before_decoding() {
    let app = spawn_app().await;
    let user = app.signed_in("mallory").await;
    for (bomb, says) in [
        (jpeg_scan_bomb(5000), "scans"),
        (png_bomb(6324), "bytes of memory"),
    ] {
        assert!(bomb.len() < 60_000);
        let started = Instant::now();
        let body = assert_problem(app.upload_picture(&user.token, bomb).await, 422).await;
        let message = body["errors"]["image"][0].as_str().unwrap().to_owned();
        assert!(
            message.contains("too complex") && message.contains(says),
            "{message}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }
    let profile = app.get_json("/profile", Some(&user.token)).await;
    assert_eq!(profile["image"]["is_default"], true);
    assert_eq!(
        std::fs::read_dir(app.media_root.join("profile_pics"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn a_png_within_the_decode_budget_is_still_accepted() {
    let app = spawn_app_with_settings(&[("MAX_DECODE_BYTES", "1048576")]).await;
    let user = app.signed_in("alice").await;
    let small = jpeg(&marked(120, 90));
    assert_eq!(
        app.upload_picture(&user.token, small).await.status(),
        StatusCode::OK
    );
    // 400 × 400 × 8 bytes = 1.28 MB: over a 1 MiB budget.
    let body = assert_problem(app.upload_picture(&user.token, png_bomb(400)).await, 422).await;
    assert!(body["errors"]["image"][0]
        .as_str()
        .unwrap()
        .contains("1048576"));
}

/// A flood of sign-ins beyond argon2's queue is refused at once with 503
/// and Retry-After, while reads and /healthz keep answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sign_in_flood_is_refused_at_once_and_reads_keep_answering() {
    let app = Arc::new(spawn_app_with_settings(&[("PASSWORD_HASH_QUEUE", "2")]).await);
    let alice = app.signed_in("alice").await;
    let flood: Vec<_> = (0..60)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                let response = app.login(&format!("nobody{i}"), "wrong password").await;
                let retry_after = response.headers().get("retry-after").cloned();
                (response.status(), retry_after)
            })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
        let profile = app.get(&format!("/users/{}/profile", alice.id), None).await;
        assert_eq!(profile.status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
    }
    let mut refused = 0;
    for attempt in flood {
        let (status, retry_after) = attempt.await.unwrap();
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                refused += 1;
                assert_eq!(retry_after.unwrap(), "1");
            }
            StatusCode::UNAUTHORIZED | StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("a sign-in answered {other}"),
        }
    }
    assert!(refused > 0, "the queue never filled");
    assert!(slowest < Duration::from_secs(1), "a read took {slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_wrong_guesses_cannot_pass_the_limit() {
    let app = Arc::new(spawn_app().await);
    app.register("alice").await;
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.login("alice", &format!("guess number {i}"))
                    .await
                    .status()
            })
        })
        .collect();
    let mut wrong = 0;
    for guess in guesses {
        match guess.await.unwrap() {
            StatusCode::UNAUTHORIZED => wrong += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("{other}"),
        }
    }
    assert_eq!(wrong, 5, "LOGIN_MAX_FAILURES is 5");
}

#[tokio::test]
async fn one_client_is_limited_across_accounts() {
    let app = spawn_app_with_settings(&[("LOGIN_MAX_FAILURES_PER_CLIENT", "3")]).await;
    for i in 0..3 {
        assert_eq!(
            app.login(&format!("someone{i}"), "wrong password")
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = app.login("someone-else", "wrong password").await;
    assert!(locked.headers().contains_key("retry-after"));
    assert_problem(locked, 429).await;
}

/// `X-Forwarded-For` is believed only from a trusted proxy: rotating it
/// does not escape the throttle; behind a trusted proxy each client counts
/// on its own.
#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let sign_in = |app: &crate::support::TestApp, from: &str| {
        app.client
            .post(app.url("/auth/token"))
            .header("X-Forwarded-For", from)
            .json(&json!({"username": "alice", "password": "wrong password"}))
            .send()
    };
    let direct = spawn_app_with_settings(&[("LOGIN_MAX_FAILURES", "2")]).await;
    direct.register("alice").await;
    for i in 0..2 {
        let from = format!("198.51.100.{i}");
        assert_eq!(
            sign_in(&direct, &from).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let rotated = sign_in(&direct, "198.51.100.99").await.unwrap();
    assert_eq!(rotated.status(), StatusCode::TOO_MANY_REQUESTS);

    let proxied = spawn_app_with_settings(&[
        ("LOGIN_MAX_FAILURES", "2"),
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
    ])
    .await;
    proxied.register("alice").await;
    for _ in 0..2 {
        let status = sign_in(&proxied, "198.51.100.1").await.unwrap().status();
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let same = sign_in(&proxied, "198.51.100.1").await.unwrap();
    assert_eq!(same.status(), StatusCode::TOO_MANY_REQUESTS);
    let other = sign_in(&proxied, "203.0.113.5").await.unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn links_never_come_from_untrusted_forwarded_headers() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    app.register("bob").await;
    let page: Value = app
        .client
        .get(app.url("/users?limit=1"))
        .bearer_auth(&alice.token)
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "javascript")
        .header("Forwarded", "host=evil.example;proto=javascript")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = page["next"].as_str().unwrap();
    assert!(next.starts_with(&app.address), "{next}");
}

#[tokio::test]
async fn token_answers_are_never_cached() {
    let app = spawn_app().await;
    app.register("alice").await;
    let signed_in = app.login("alice", PASSWORD).await;
    assert_eq!(signed_in.headers()["cache-control"], "no-store");
    let refresh = signed_in.json::<Value>().await.unwrap()["refresh_token"].clone();
    let refreshed = app
        .post_json("/auth/refresh", &json!({"refresh_token": refresh}), None)
        .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    assert_eq!(refreshed.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn wrong_current_passwords_count_as_failed_sign_ins() {
    let app = spawn_app_with_settings(&[("LOGIN_MAX_FAILURES", "2")]).await;
    let alice = app.signed_in("alice").await;
    let path = format!("/users/{}", alice.id);
    let change = json!({"password": "a brand new one", "current_password": "not it at all"});
    for _ in 0..2 {
        let body = assert_problem(
            app.patch_json(&path, &change, Some(&alice.token)).await,
            422,
        )
        .await;
        assert!(body["errors"]["current_password"].is_array());
    }
    assert_problem(
        app.patch_json(&path, &change, Some(&alice.token)).await,
        429,
    )
    .await;
    assert_problem(app.login("alice", PASSWORD).await, 429).await;
}

#[tokio::test]
async fn odd_strings_are_answered_never_a_500() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    assert_problem(app.login("ali\0ce", PASSWORD).await, 401).await;
    let long = "a".repeat(50_000);
    let page = app
        .get_json(&format!("/users?search={long}"), Some(&alice.token))
        .await;
    assert_eq!(
        (page["count"].clone(), page["results"].clone()),
        (json!(0), json!([]))
    );
    let nul = app
        .get_json("/users?search=a%00b", Some(&alice.token))
        .await;
    assert_eq!(nul["count"], 0);
    let body =
        json!({"username": "x\0y", "email": "x\0@example.com", "password": "pass\0word 123"});
    assert_problem(app.post_json("/users", &body, None).await, 422).await;
}

/// A body that trickles in is cut off at CLIENT_BODY_TIMEOUT with a 408,
/// and the connection is closed.
#[tokio::test]
async fn a_body_that_arrives_too_slowly_is_a_408() {
    let app = spawn_app_with_settings(&[("CLIENT_BODY_TIMEOUT", "1")]).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        stream
            .write_all(
                b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
            )
            .unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        (String::from_utf8_lossy(&answer).into_owned(), started.elapsed())
    })
    .await
    .unwrap();
    let (text, waited) = answer;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
    assert!(waited < Duration::from_secs(5), "{waited:?}");
}

/// REGISTER_RATE per client and UPLOAD_RATE per user, as DRF's throttles:
/// past them 429 with Retry-After, and nothing is created or stored.
#[tokio::test]
async fn registrations_and_picture_writes_are_rate_throttled() {
    let app =
        spawn_app_with_settings(&[("REGISTER_RATE", "3/hour"), ("UPLOAD_RATE", "2/min")]).await;
    let alice = app.signed_in("alice").await;
    app.register("bob").await;
    app.register("carol").await;
    let refused = app
        .post_json(
            "/users",
            &json!({"username": "dave", "email": "dave@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=1200).contains(&wait), "{wait}");
    assert_problem(refused, 429).await;
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM users"), 3);

    let picture = || jpeg(&marked(40, 30));
    assert_eq!(
        app.upload_picture(&alice.token, picture()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.delete("/profile/picture", Some(&alice.token))
            .await
            .status(),
        StatusCode::OK
    );
    let third = app.upload_picture(&alice.token, picture()).await;
    assert!(third.headers().contains_key("retry-after"));
    assert_problem(third, 429).await;
    assert_eq!(
        std::fs::read_dir(app.media_root.join("profile_pics"))
            .unwrap()
            .count(),
        0
    );
}

/// The attacks at once (a scan bomb, a 16-bit PNG bomb, a sign-in flood)
/// while a well-behaved client reads profiles and uploads a photo: the
/// well-behaved client sees no 5xx and every answer in time, and the bombs
/// are refused within PICTURE_TIMEOUT + 1 s. (Its latency figures are
/// measured by bench/hostile.py, not here.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attacks_at_once_leave_a_well_behaved_client_unharmed() {
    let app = Arc::new(spawn_app_with_settings(&[("PASSWORD_HASH_QUEUE", "8")]).await);
    let mallory = app.signed_in("mallory").await;
    let alice = app.signed_in("alice").await;
    let picture_timeout = app.context.settings.picture_timeout;

    let mut attacks = Vec::new();
    for bomb in [
        jpeg_scan_bomb(5000),
        png_bomb(6324),
        jpeg_scan_bomb(20_000),
        png_bomb(9000),
    ] {
        let (app, token) = (app.clone(), mallory.token.clone());
        attacks.push(tokio::spawn(async move {
            let started = Instant::now();
            let status = app.upload_picture(&token, bomb).await.status();
            (status, started.elapsed())
        }));
    }
    let flood: Vec<_> = (0..80)
        .map(|i| {
            let app = app.clone();
            tokio::spawn(async move {
                app.login(&format!("victim{}", i % 7), "wrong guess")
                    .await
                    .status()
            })
        })
        .collect();

    for round in 0..20 {
        let started = Instant::now();
        let profile = app.get(&format!("/users/{}/profile", alice.id), None).await;
        assert_eq!(profile.status(), StatusCode::OK);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "read {round}: {:?}",
            started.elapsed()
        );
    }
    let photo = app
        .upload_picture(&alice.token, jpeg(&marked(640, 480)))
        .await;
    assert_eq!(photo.status(), StatusCode::OK);

    for attack in attacks {
        let (status, took) = attack.await.unwrap();
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            took < picture_timeout + Duration::from_secs(1),
            "a bomb took {took:?}"
        );
    }
    for attempt in flood {
        let status = attempt.await.unwrap();
        assert!(
            !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
            "{status}"
        );
    }
}

/// Hostile strings: NUL bytes, control and combining characters,
/// right-to-left marks, look-alikes, astral planes, and lengths from 0 to
/// 60,000 characters.
fn hostile_string() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let pieces = prop_oneof![
        Just("\0".to_owned()),
        Just("\u{202E}".to_owned()),
        Just("\u{0301}\u{0301}".to_owned()),
        Just("ｕｎｉａｄｍｉｎ".to_owned()),
        Just("𝐮ﬁ🙂".to_owned()),
        Just("%_\\'\"".to_owned()),
        "\\PC{0,20}",
        (1usize..60_000).prop_map(|n| "a".repeat(n)),
    ];
    proptest::collection::vec(pieces, 0..4).prop_map(|parts| parts.concat())
}

/// Every string field of every body, and the search parameter, fed
/// hostile strings: answers are 2xx or problem+json 4xx, never a 5xx.
#[tokio::test]
async fn hostile_strings_in_every_field_never_make_a_5xx() {
    use proptest::strategy::{Strategy, ValueTree};
    let app = crate::support::spawn_fuzz_target().await;
    let alice = app.signed_in("alice").await;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = hostile_string();
    let cases = crate::support::fuzz_cases("STRING_FUZZ_CASES", 40);
    for _ in 0..cases {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        let bodies = [
            (
                "POST",
                "/users".to_owned(),
                json!({"username": text, "email": "x@example.com", "password": PASSWORD}),
            ),
            (
                "POST",
                "/users".to_owned(),
                json!({"username": "valid", "email": text, "password": PASSWORD}),
            ),
            (
                "POST",
                "/users".to_owned(),
                json!({"username": "valid2", "email": "v@example.com", "password": text}),
            ),
            (
                "POST",
                "/auth/token".to_owned(),
                json!({"username": text, "password": text}),
            ),
            (
                "POST",
                "/auth/refresh".to_owned(),
                json!({"refresh_token": text}),
            ),
            (
                "POST",
                "/auth/logout".to_owned(),
                json!({"refresh_token": text}),
            ),
            (
                "POST",
                "/auth/password-reset".to_owned(),
                json!({"email": text}),
            ),
            (
                "POST",
                "/auth/password-reset/confirm".to_owned(),
                json!({"token": text, "new_password": text}),
            ),
            (
                "POST",
                "/auth/verify-email".to_owned(),
                json!({"token": text}),
            ),
            (
                "PATCH",
                format!("/users/{}", alice.id),
                json!({"username": text}),
            ),
            (
                "PATCH",
                format!("/users/{}", alice.id),
                json!({"email": text}),
            ),
            (
                "PATCH",
                format!("/users/{}", alice.id),
                json!({"password": text, "current_password": text}),
            ),
            (
                "PATCH",
                format!("/users/{}/profile", alice.id),
                json!({"bio": text}),
            ),
        ];
        for (method, path, body) in bodies {
            let response = app
                .client
                .request(method.parse().unwrap(), app.url(&path))
                .bearer_auth(&alice.token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            assert!(status.as_u16() < 500, "{method} {path} answered {status}");
            if status.is_client_error() {
                assert_eq!(
                    response.headers()["content-type"],
                    "application/problem+json"
                );
            }
        }
        let mut query: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
        // No HTTP client sends a URL over 64 KiB (a cut %XX is hostile too).
        query.truncate(60_000);
        let search = app
            .get(&format!("/users?search={query}"), Some(&alice.token))
            .await;
        assert!(
            search.status().as_u16() < 500,
            "search answered {}",
            search.status()
        );
    }
}

/// A picture within every limit that still takes longer than
/// PICTURE_TIMEOUT is answered 422 at the timeout (its decode keeps its
/// core until it ends), and the next upload is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_picture_that_takes_too_long_is_422_at_the_timeout() {
    let app = spawn_app_with_settings(&[("PICTURE_TIMEOUT", "1")]).await;
    let user = app.signed_in("slowpoke").await;
    let slow = crate::support::images::slow_png(4000);
    assert!(slow.len() < 2_000_000, "{}", slow.len());
    let started = Instant::now();
    let body = assert_problem(app.upload_picture(&user.token, slow).await, 422).await;
    let waited = started.elapsed();
    let message = body["errors"]["image"][0].as_str().unwrap();
    assert!(message.contains("within 1 s"), "{message}");
    assert!(waited < Duration::from_millis(2500), "{waited:?}");
    let photo = app.upload_picture(&user.token, jpeg(&marked(64, 48))).await;
    assert_eq!(photo.status(), StatusCode::OK);
}

/// A GIF frame larger than its canvas is cut to the canvas, as browsers
/// show it (it used to be refused as "0×0 pixels").
#[tokio::test]
async fn a_gif_frame_larger_than_its_canvas_is_cut_to_the_canvas() {
    let app = spawn_app().await;
    let user = app.signed_in("giffer").await;
    let gif = crate::support::images::gif_frame_outside_canvas();
    let response = app.upload_picture(&user.token, gif).await;
    assert_eq!(response.status(), StatusCode::OK);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(
        (
            profile["image"]["width"].clone(),
            profile["image"]["height"].clone()
        ),
        (json!(10), json!(10))
    );
}
