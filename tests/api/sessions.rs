//! Sessions as simplejwt's rotation and blacklist: a refresh spends its
//! token, a replayed one revokes its sign-in, two refreshes of one token at
//! once give one pair, logout ends one sign-in, logout-all every token, and
//! `portrait flushexpiredtokens` removes what can no longer be used.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_problem, spawn_app, TestApp, PASSWORD};

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/auth/refresh", &json!({"refresh_token": token}), None)
        .await
}

/// A second sign-in of `username`: (access, refresh).
async fn sign_in(app: &TestApp, username: &str) -> (String, String) {
    let tokens: Value = app.login(username, PASSWORD).await.json().await.unwrap();
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

/// The claims of a JWT, read as any client could (no key needed).
fn claims_of(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn pair(response: reqwest::Response) -> (String, String) {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    (
        tokens["access_token"].as_str().unwrap().to_owned(),
        tokens["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_refresh_spends_its_token_and_a_replay_revokes_the_sign_in() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let (_, other_sign_in) = sign_in(&app, "alice").await;

    let (access, second) = pair(refresh(&app, &alice.refresh).await).await;
    assert_ne!(second, alice.refresh);
    assert_eq!(app.get("/profile", Some(&access)).await.status(), 200);

    // The spent token again: refused, and its whole sign-in with it.
    assert_problem(refresh(&app, &alice.refresh).await, 401).await;
    assert_problem(refresh(&app, &second).await, 401).await;
    // Another sign-in of the same user is not touched.
    let (_, third) = pair(refresh(&app, &other_sign_in).await).await;
    assert_eq!(refresh(&app, &third).await.status(), StatusCode::OK);

    // The token's own id and family are stored, never the token: its
    // signature appears in no column.
    let claims = claims_of(&second);
    let (jti, family) = (
        claims["jti"].as_str().unwrap(),
        claims["fam"].as_str().unwrap(),
    );
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) AS n FROM refresh_tokens WHERE jti = '{jti}' AND family = '{family}' AND user_id = {}",
            alice.id
        )),
        1
    );
    let signature = second.rsplit('.').next().unwrap();
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) AS n FROM refresh_tokens WHERE jti LIKE '%{signature}%' OR family LIKE '%{signature}%'"
        )),
        0
    );
    assert_eq!(
        app.count_rows(
            "SELECT COUNT(*) AS n FROM refresh_tokens WHERE spent_at IS NULL AND revoked_at IS NULL"
        ),
        1,
        "one live token: the other sign-in's newest"
    );
}

#[tokio::test]
async fn two_refreshes_of_one_token_at_once_give_one_pair_and_revoke_the_sign_in() {
    let app = spawn_app().await;
    app.register("alice").await;
    for _ in 0..5 {
        let (_, token) = sign_in(&app, "alice").await;
        let (first, second) = tokio::join!(refresh(&app, &token), refresh(&app, &token));
        let mut statuses = [first.status().as_u16(), second.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 401]);
        let winner = if first.status() == StatusCode::OK {
            first
        } else {
            second
        };
        let (_, successor) = pair(winner).await;
        // The loser was a reuse: the winner's successor is revoked too.
        assert_problem(refresh(&app, &successor).await, 401).await;
    }
}

#[tokio::test]
async fn logout_ends_that_sign_in_only() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let (_, other) = sign_in(&app, "alice").await;
    let (_, rotated) = pair(refresh(&app, &alice.refresh).await).await;

    let logout = app
        .post_json("/auth/logout", &json!({"refresh_token": rotated}), None)
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(logout.bytes().await.unwrap().is_empty());
    assert_problem(refresh(&app, &rotated).await, 401).await;
    // Logged out already; an access token is no refresh token.
    for token in [rotated.as_str(), alice.token.as_str(), "junk"] {
        let again = app
            .post_json("/auth/logout", &json!({"refresh_token": token}), None)
            .await;
        assert_problem(again, 401).await;
    }
    assert_problem(app.post_json("/auth/logout", &json!({}), None).await, 422).await;
    assert_eq!(refresh(&app, &other).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn logout_all_ends_every_token_of_the_user() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let (other_access, other_refresh) = sign_in(&app, "alice").await;
    let bob = app.signed_in("bob").await;

    assert_problem(
        app.post_json("/auth/logout-all", &json!({}), None).await,
        401,
    )
    .await;
    let response = app
        .post_json("/auth/logout-all", &json!({}), Some(&alice.token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    for access in [&alice.token, &other_access] {
        assert_problem(app.get("/profile", Some(access)).await, 401).await;
    }
    for token in [&alice.refresh, &other_refresh] {
        assert_problem(refresh(&app, token).await, 401).await;
    }
    // Bob is not affected; Alice may sign in again.
    assert_eq!(app.get("/profile", Some(&bob.token)).await.status(), 200);
    assert_eq!(refresh(&app, &bob.refresh).await.status(), 200);
    let (access, _) = sign_in(&app, "alice").await;
    assert_eq!(app.get("/profile", Some(&access)).await.status(), 200);
}

#[tokio::test]
async fn a_password_change_revokes_every_refresh_token() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let (_, other) = sign_in(&app, "alice").await;
    let changed = app
        .patch_json(
            &format!("/users/{}", alice.id),
            &json!({"password": "a brand new secret", "current_password": PASSWORD}),
            Some(&alice.token),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    for token in [&alice.refresh, &other] {
        assert_problem(refresh(&app, token).await, 401).await;
    }
    assert_eq!(
        app.count_rows(
            "SELECT COUNT(*) AS n FROM refresh_tokens WHERE spent_at IS NULL AND revoked_at IS NULL"
        ),
        0
    );
}

#[tokio::test]
async fn flushexpiredtokens_removes_what_cannot_be_used_and_replays_stay_detected() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let (_, logged_out) = sign_in(&app, "alice").await;
    let (_, live) = pair(refresh(&app, &alice.refresh).await).await;
    let logout = app
        .post_json("/auth/logout", &json!({"refresh_token": logged_out}), None)
        .await;
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    {
        use diesel::RunQueryDsl;
        // An expired token and an expired email token, as time would leave them.
        diesel::sql_query(format!(
            "INSERT INTO refresh_tokens (jti, family, user_id, issued_at, expires_at) \
             VALUES ('00000000000000000000000000000000', 'f', {id}, '2020-01-01 00:00:00', '2020-01-08 00:00:00')",
            id = alice.id
        ))
        .execute(&mut *app.db())
        .unwrap();
        diesel::sql_query(format!(
            "INSERT INTO email_tokens (token_hash, user_id, purpose, email_normalized, token_version, created_at, expires_at) \
             VALUES ('{hash}', {id}, 'password_reset', 'alice@example.com', 0, '2020-01-01 00:00:00', '2020-01-01 01:00:00')",
            hash = "ab".repeat(32),
            id = alice.id
        ))
        .execute(&mut *app.db())
        .unwrap();
    }
    // The first sign-in's spent token, the logged-out one, the expired one.
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM refresh_tokens"),
        4
    );

    let output = app.command().arg("flushexpiredtokens").output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout.trim(),
        "Removed 3 refresh tokens and 1 email tokens."
    );
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM refresh_tokens"),
        1
    );
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM email_tokens WHERE purpose = 'password_reset'"),
        0
    );

    // The spent token's row is gone, yet presenting it is still a replay.
    assert_problem(refresh(&app, &alice.refresh).await, 401).await;
    assert_problem(refresh(&app, &live).await, 401).await;
}
