//! Signing in and refreshing: tokens, one answer for every bad credential,
//! the failed-login throttle, tokens that die with a password change.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_problem, spawn_app, spawn_app_with_settings, PASSWORD};

#[tokio::test]
async fn a_token_pair_is_issued_for_the_right_password() {
    let app = spawn_app().await;
    app.register("alice").await;
    let response = app.login("Alice", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(access.split('.').count(), 3);
    assert!(body["refresh_token"].is_string());
    let profile = app.get("/profile", Some(access)).await;
    assert_eq!(profile.status(), StatusCode::OK);
    assert_eq!(profile.json::<Value>().await.unwrap()["username"], "alice");
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = spawn_app().await;
    app.register("alice").await;
    let wrong = assert_problem(app.login("alice", "not the password").await, 401).await;
    let unknown = assert_problem(app.login("nobody", "not the password").await, 401).await;
    assert_eq!(wrong, unknown);
    let missing = app
        .post_json("/auth/token", &json!({"username": "alice"}), None)
        .await;
    assert!(assert_problem(missing, 422).await["errors"]["password"].is_array());
}

#[tokio::test]
async fn an_inactive_user_cannot_sign_in_and_its_tokens_stop_working() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    use diesel::RunQueryDsl;
    diesel::sql_query("UPDATE users SET is_active = FALSE")
        .execute(&mut *app.db())
        .unwrap();
    assert_problem(app.login("alice", PASSWORD).await, 401).await;
    assert_problem(app.get("/profile", Some(&alice.token)).await, 401).await;
}

/// Two apps on one PostgreSQL database are two replicas: failures count
/// in the database, whichever takes them; a success on one clears them for
/// both; a flush removes ended windows. (On SQLite, one machine serves and
/// the throttle is in memory: nothing to share.)
#[tokio::test]
async fn on_postgresql_failures_count_across_replicas_sharing_the_database() {
    let first = spawn_app_with_settings(&[("LOGIN_MAX_FAILURES", "4")]).await;
    if !first.database_url.starts_with("postgres") {
        return;
    }
    let second = spawn_app_with_settings(&[
        ("LOGIN_MAX_FAILURES", "4"),
        ("DATABASE_URL", first.database_url.as_str()),
    ])
    .await;
    first.register("alice").await;
    // A success on the second replica clears what the first counted.
    assert_problem(first.login("alice", "wrong password").await, 401).await;
    assert_eq!(
        second.login("alice", PASSWORD).await.status(),
        StatusCode::OK
    );
    for app in [&first, &second, &first, &second] {
        assert_problem(app.login("alice", "wrong password").await, 401).await;
    }
    for app in [&first, &second] {
        let throttled = app.login("alice", PASSWORD).await;
        assert!(throttled.headers().contains_key("retry-after"));
        assert_problem(throttled, 429).await;
    }
    // Counted under a hash, never the username.
    assert_eq!(
        first.count_rows("SELECT COUNT(*) AS n FROM login_failures WHERE key LIKE '%alice%'"),
        0
    );
    assert_eq!(
        first.count_rows("SELECT COUNT(*) AS n FROM login_failures WHERE failures = 4"),
        1
    );
    // Ended windows go with flushexpiredtokens.
    use diesel::RunQueryDsl;
    diesel::sql_query("UPDATE login_failures SET window_started = now() - interval '1 day'")
        .execute(&mut *first.db())
        .unwrap();
    let flushed = first.command().arg("flushexpiredtokens").output().unwrap();
    assert!(flushed.status.success());
    assert_eq!(
        first.count_rows("SELECT COUNT(*) AS n FROM login_failures"),
        0
    );
}

#[tokio::test]
async fn repeated_failures_are_throttled_with_retry_after() {
    let app = spawn_app_with_settings(&[("LOGIN_MAX_FAILURES", "3")]).await;
    app.register("alice").await;
    for _ in 0..3 {
        assert_problem(app.login("alice", "wrong password").await, 401).await;
    }
    let throttled = app.login("alice", PASSWORD).await;
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after > 0 && retry_after <= 900);
    assert_problem(throttled, 429).await;
    // Another username from the same client is not locked out.
    app.register("bob").await;
    assert_eq!(app.login("bob", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_gives_a_new_pair_and_kinds_are_not_interchangeable() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": alice.refresh}),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let pair: Value = response.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    let new_access = pair["access_token"].as_str().unwrap();
    assert_eq!(
        app.get("/profile", Some(new_access)).await.status(),
        StatusCode::OK
    );

    let access_as_refresh = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": alice.token}),
            None,
        )
        .await;
    assert_problem(access_as_refresh, 401).await;
    assert_problem(app.get("/profile", Some(&alice.refresh)).await, 401).await;
    assert_problem(
        app.post_json("/auth/refresh", &json!({"refresh_token": "junk"}), None)
            .await,
        401,
    )
    .await;
    assert_problem(app.post_json("/auth/refresh", &json!({}), None).await, 422).await;
}

#[tokio::test]
async fn bad_tokens_get_401_with_a_bearer_challenge() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let mut forged = alice.token.clone();
    forged.pop();
    forged.push(if alice.token.ends_with('A') { 'B' } else { 'A' });
    for token in [forged.as_str(), "not.a.jwt", "x"] {
        let response = app.get("/profile", Some(token)).await;
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_problem(response, 401).await;
    }
    for header in [
        "Basic abc",
        "Bearer",
        "Token abc",
        &format!("Bearer  {} extra", alice.token),
    ] {
        let response = app
            .client
            .get(app.url("/profile"))
            .header("Authorization", header)
            .send()
            .await
            .unwrap();
        assert_problem(response, 401).await;
    }
    let response = app.client.get(app.url("/profile")).send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_problem(response, 401).await;
    // A bad token on a public route is refused too, never silently ignored.
    assert_problem(
        app.get(&format!("/users/{}", alice.id), Some("not.a.jwt"))
            .await,
        401,
    )
    .await;
}

/// As DRF, which authenticates before it checks permissions: a token that
/// is sent but not valid is 401 on every API route, public ones included,
/// and nothing is done. Only /media, /docs, /openapi.json and /healthz
/// ignore the header.
#[tokio::test]
async fn a_bad_token_is_refused_on_every_public_api_route() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bad = Some("not.a.jwt");
    let registration = json!({"username": "bob", "email": "bob@example.com", "password": PASSWORD});
    let refused = [
        app.post_json("/users", &registration, bad).await,
        app.post_json(
            "/auth/token",
            &json!({"username": "alice", "password": PASSWORD}),
            bad,
        )
        .await,
        app.post_json(
            "/auth/refresh",
            &json!({"refresh_token": alice.refresh}),
            bad,
        )
        .await,
        app.get(&format!("/users/{}/profile", alice.id), bad).await,
        app.post_json(
            "/auth/logout",
            &json!({"refresh_token": alice.refresh}),
            bad,
        )
        .await,
        app.post_json(
            "/auth/password-reset",
            &json!({"email": "alice@example.com"}),
            bad,
        )
        .await,
        app.post_json(
            "/auth/password-reset/confirm",
            &json!({"token": "0".repeat(64), "new_password": "a new password"}),
            bad,
        )
        .await,
        app.post_json("/auth/verify-email", &json!({"token": "0".repeat(64)}), bad)
            .await,
    ];
    for response in refused {
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        assert_problem(response, 401).await;
    }
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM users WHERE username = 'bob'"),
        0,
        "a refused registration creates nobody"
    );
    assert_eq!(
        app.post_json(
            "/auth/refresh",
            &json!({"refresh_token": alice.refresh}),
            None
        )
        .await
        .status(),
        StatusCode::OK,
        "a refused logout revokes nothing"
    );
    let image = app
        .get_json(&format!("/users/{}/profile", alice.id), None)
        .await["image"]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [image.as_str(), "/openapi.json", "/healthz", "/docs/"] {
        assert_eq!(app.get(path, bad).await.status(), StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_refused() {
    let app = spawn_app().await;
    let other =
        spawn_app_with_settings(&[("JWT_SECRET", "a-different-secret-also-32-bytes-long!")]).await;
    app.register("alice").await;
    other.register("alice").await;
    let tokens: Value = other.login("alice", PASSWORD).await.json().await.unwrap();
    let foreign = tokens["access_token"].as_str().unwrap();
    assert_problem(app.get("/profile", Some(foreign)).await, 401).await;
}

#[tokio::test]
async fn an_expired_access_token_is_refused() {
    let app = spawn_app_with_settings(&[("ACCESS_TOKEN_TTL", "1")]).await;
    let alice = app.signed_in("alice").await;
    assert_eq!(
        app.get("/profile", Some(&alice.token)).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_problem(app.get("/profile", Some(&alice.token)).await, 401).await;
}
