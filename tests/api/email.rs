//! Password reset and email verification end to end, as a user lives
//! them: the email arrives at a real SMTP server (aiosmtpd), is read as a
//! mail client reads it, and its link is followed through the API. The
//! file backend, the throttles and a mail server that is down too.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::process::ServerProcess;
use crate::support::smtp::{Inbox, SmtpServer};
use crate::support::{assert_problem, spawn_app_with_settings, TestApp, PASSWORD};

const RESET_URL: &str = "https://app.example/account/reset?token={token}";
const VERIFY_URL: &str = "https://app.example/verify/{token}";

/// An app whose email goes to a real SMTP server; `None` when aiosmtpd
/// cannot be had outside CI.
async fn app_with_smtp(extra: &[(&'static str, &str)]) -> Option<(TestApp, SmtpServer)> {
    let smtp = SmtpServer::start(&[]).await?;
    let url = smtp.url();
    let mut settings = vec![
        ("EMAIL_URL", url.as_str()),
        ("PASSWORD_RESET_URL", RESET_URL),
        ("EMAIL_VERIFICATION_URL", VERIFY_URL),
        ("DEFAULT_FROM_EMAIL", "Portrait <no-reply@app.example>"),
    ];
    settings.extend_from_slice(extra);
    let app = spawn_app_with_settings(&settings).await;
    Some((app, smtp))
}

async fn reset(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json("/auth/password-reset", &json!({"email": email}), None)
        .await
}

async fn confirm(app: &TestApp, token: &str, new_password: &str) -> reqwest::Response {
    app.post_json(
        "/auth/password-reset/confirm",
        &json!({"token": token, "new_password": new_password}),
        None,
    )
    .await
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.post_json("/auth/verify-email", &json!({"token": token}), None)
        .await
}

async fn own_view(app: &TestApp, id: i64, token: &str) -> Value {
    app.get_json(&format!("/users/{id}"), Some(token)).await
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_emailed_link() {
    let Some((app, smtp)) = app_with_smtp(&[]).await else {
        return;
    };
    let alice = app.signed_in("alice").await;
    smtp.inbox.wait_for("alice@example.com").await; // the verification

    let asked = reset(&app, "ALICE@example.com").await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    assert!(asked.bytes().await.unwrap().is_empty());

    let email = smtp.inbox.wait_for("alice@example.com").await;
    assert_eq!(email.subject, "Reset your portrait password");
    assert_eq!(email.from, "no-reply@app.example");
    assert!(email.text.contains("Hello alice"), "{}", email.text);
    assert!(email.text.contains("within 1 hour"));
    assert!(email.text.contains("If you did not ask for this"));
    let link = email.link();
    assert!(
        link.starts_with("https://app.example/account/reset?token="),
        "{link}"
    );
    let token = email.token();
    assert!(email.html.contains(&link), "the HTML part has the link too");
    // Stored as a hash only.
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) AS n FROM email_tokens WHERE token_hash = '{token}'"
        )),
        0
    );

    let weak = assert_problem(confirm(&app, &token, "12345678901").await, 422).await;
    assert!(weak["errors"]["new_password"].is_array(), "{weak}");
    let done = confirm(&app, &token, "a brand new secret").await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);

    // Every older session is over; only the new password signs in.
    assert_problem(app.get("/profile", Some(&alice.token)).await, 401).await;
    let refresh = app
        .post_json(
            "/auth/refresh",
            &json!({"refresh_token": alice.refresh}),
            None,
        )
        .await;
    assert_problem(refresh, 401).await;
    assert_problem(app.login("alice", PASSWORD).await, 401).await;
    let signed_in = app.login("alice", "a brand new secret").await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let access = signed_in.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    // The link reached the address: it is verified now.
    assert_eq!(
        own_view(&app, alice.id, &access).await["email_verified"],
        true
    );

    // Single use.
    let again = assert_problem(confirm(&app, &token, "yet another secret").await, 400).await;
    assert_eq!(
        again["detail"],
        "Invalid, used or expired password reset token."
    );
    assert_eq!(
        app.login("alice", "a brand new secret").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_unknown_address_gets_the_same_answer_and_no_email() {
    let Some((app, smtp)) = app_with_smtp(&[]).await else {
        return;
    };
    app.register("bob").await;
    smtp.inbox.wait_for("bob@example.com").await;
    app.post_json(
        "/users",
        &json!({"username": "carol", "email": "carol@example.com", "password": PASSWORD}),
        None,
    )
    .await;
    smtp.inbox.wait_for("carol@example.com").await;
    use diesel::RunQueryDsl;
    diesel::sql_query("UPDATE users SET is_active = FALSE WHERE username = 'carol'")
        .execute(&mut *app.db())
        .unwrap();

    let unknown = reset(&app, "nobody@example.com").await;
    let inactive = reset(&app, "carol@example.com").await;
    let known = reset(&app, "bob@example.com").await;
    for response in [unknown, inactive, known] {
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        assert_eq!(response.headers().get("content-length").unwrap(), "0");
        assert!(response.bytes().await.unwrap().is_empty());
    }
    // Emails go out in order: once Bob's has arrived, the others were
    // handled, and nothing went to them.
    let email = smtp.inbox.wait_for("bob@example.com").await;
    assert_eq!(email.subject, "Reset your portrait password");
    assert!(smtp.inbox.take_all().is_empty());
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM email_tokens WHERE purpose = 'password_reset'"),
        1
    );

    let invalid = assert_problem(reset(&app, "not an address").await, 422).await;
    assert!(invalid["errors"]["email"].is_array());
    assert_problem(
        app.post_json("/auth/password-reset", &json!({}), None)
            .await,
        422,
    )
    .await;
}

#[tokio::test]
async fn a_new_user_verifies_the_address_with_the_emailed_link() {
    let Some((app, smtp)) = app_with_smtp(&[]).await else {
        return;
    };
    let alice = app.signed_in("alice").await;
    assert_eq!(
        own_view(&app, alice.id, &alice.token).await["email_verified"],
        false
    );
    // Others do not see it.
    let bob = app.signed_in("bob").await;
    assert!(own_view(&app, alice.id, &bob.token)
        .await
        .get("email_verified")
        .is_none());

    let email = smtp.inbox.wait_for("alice@example.com").await;
    assert_eq!(email.subject, "Confirm your email address");
    assert!(email.text.contains("alice@example.com"));
    assert!(email.link().starts_with("https://app.example/verify/"));
    let token = email.token();

    assert_problem(verify(&app, &"0".repeat(64)).await, 400).await;
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        own_view(&app, alice.id, &alice.token).await["email_verified"],
        true
    );
    let used = assert_problem(verify(&app, &token).await, 400).await;
    assert_eq!(
        used["detail"],
        "Invalid, used or expired email verification token."
    );
    // Verified: asking again sends nothing.
    smtp.inbox.wait_for("bob@example.com").await;
    let resend = app
        .post_json("/auth/verify-email/resend", &json!({}), Some(&alice.token))
        .await;
    assert_eq!(resend.status(), StatusCode::ACCEPTED);
    let resend = app
        .post_json("/auth/verify-email/resend", &json!({}), Some(&bob.token))
        .await;
    assert_eq!(resend.status(), StatusCode::ACCEPTED);
    let email = smtp.inbox.wait_for("bob@example.com").await;
    assert_eq!(email.subject, "Confirm your email address");
    assert!(
        smtp.inbox.take_all().is_empty(),
        "nothing to verified Alice"
    );
}

#[tokio::test]
async fn a_changed_address_is_verified_again_and_the_old_one_is_told() {
    let Some((app, smtp)) = app_with_smtp(&[]).await else {
        return;
    };
    let alice = app.signed_in("alice").await;
    let first = smtp.inbox.wait_for("alice@example.com").await.token();
    let verified = app
        .post_json("/auth/verify-email", &json!({"token": first}), None)
        .await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    // A second link to the old address, not followed yet.
    app.post_json("/auth/verify-email/resend", &json!({}), Some(&alice.token))
        .await;

    // Only the case changes: the same address, still verified.
    let same = app
        .patch_json(
            &format!("/users/{}", alice.id),
            &json!({"email": "Alice@Example.com"}),
            Some(&alice.token),
        )
        .await;
    assert_eq!(same.json::<Value>().await.unwrap()["email_verified"], true);

    let changed = app
        .patch_json(
            &format!("/users/{}", alice.id),
            &json!({"email": "alice@example.org"}),
            Some(&alice.token),
        )
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["email"], "alice@example.org");
    assert_eq!(body["email_verified"], false);

    let notice = smtp.inbox.wait_for("Alice@Example.com").await;
    assert_eq!(notice.subject, "Your portrait email address was changed");
    assert!(notice.text.contains("a***@example.org"), "{}", notice.text);
    assert!(!notice.text.contains("alice@example.org"));
    let verification = smtp.inbox.wait_for("alice@example.org").await;
    assert_eq!(verification.subject, "Confirm your email address");
    assert!(smtp.inbox.take_all().is_empty());

    assert_eq!(
        app.post_json(
            "/auth/verify-email",
            &json!({"token": verification.token()}),
            None
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        own_view(&app, alice.id, &alice.token).await["email_verified"],
        true
    );
}

#[tokio::test]
async fn a_link_sent_to_an_old_address_proves_nothing() {
    let Some((app, smtp)) = app_with_smtp(&[]).await else {
        return;
    };
    let alice = app.signed_in("alice").await;
    let old_link = smtp.inbox.wait_for("alice@example.com").await.token();
    app.patch_json(
        &format!("/users/{}", alice.id),
        &json!({"email": "alice@example.org"}),
        Some(&alice.token),
    )
    .await;
    let refused = app
        .post_json("/auth/verify-email", &json!({"token": old_link}), None)
        .await;
    assert_problem(refused, 400).await;
    assert_eq!(
        own_view(&app, alice.id, &alice.token).await["email_verified"],
        false
    );
}

#[tokio::test]
async fn require_verified_email_refuses_an_unverified_sign_in_with_its_own_problem() {
    let Some((app, smtp)) = app_with_smtp(&[("REQUIRE_VERIFIED_EMAIL", "true")]).await else {
        return;
    };
    app.register("alice").await;
    let refused = app.login("alice", PASSWORD).await;
    let problem = assert_problem(refused, 403).await;
    assert_eq!(problem["type"], "urn:portrait:problem:email-not-verified");
    // A wrong password is still the same 401 as ever: no hint.
    assert_problem(app.login("alice", "wrong password").await, 401).await;

    let token = smtp.inbox.wait_for("alice@example.com").await.token();
    app.post_json("/auth/verify-email", &json!({"token": token}), None)
        .await;
    assert_eq!(app.login("alice", PASSWORD).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_used_expired_or_outdated_reset_link_is_refused() {
    let Some((app, smtp)) = app_with_smtp(&[]).await else {
        return;
    };
    let alice = app.signed_in("alice").await;
    smtp.inbox.wait_for("alice@example.com").await;
    reset(&app, "alice@example.com").await;
    let expired = smtp.inbox.wait_for("alice@example.com").await.token();
    reset(&app, "alice@example.com").await;
    let outdated = smtp.inbox.wait_for("alice@example.com").await.token();
    {
        use diesel::RunQueryDsl;
        diesel::sql_query(
            "UPDATE email_tokens SET expires_at = '2020-01-01 00:00:00' \
             WHERE created_at = (SELECT MIN(created_at) FROM email_tokens WHERE purpose = 'password_reset')",
        )
        .execute(&mut *app.db())
        .unwrap();
    }
    let new = "a brand new secret";
    assert_problem(confirm(&app, &expired, new).await, 400).await;
    // A password change since the link was sent kills the link.
    app.patch_json(
        &format!("/users/{}", alice.id),
        &json!({"password": "changed meanwhile", "current_password": PASSWORD}),
        Some(&alice.token),
    )
    .await;
    assert_problem(confirm(&app, &outdated, new).await, 400).await;
    assert_problem(confirm(&app, "not a token", new).await, 400).await;
    // A link sent to an address the user has since left opens nothing.
    reset(&app, "alice@example.com").await;
    let left_behind = smtp.inbox.wait_for("alice@example.com").await.token();
    let tokens: Value = app
        .login("alice", "changed meanwhile")
        .await
        .json()
        .await
        .unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    app.patch_json(
        &format!("/users/{}", alice.id),
        &json!({"email": "alice@example.org"}),
        Some(access),
    )
    .await;
    assert_problem(confirm(&app, &left_behind, new).await, 400).await;
    assert_eq!(
        app.login("alice", "changed meanwhile").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn email_requests_are_throttled_per_address_and_per_client() {
    let app = spawn_app_with_settings(&[
        ("EMAIL_RATE_PER_ADDRESS", "2/hour"),
        ("EMAIL_RATE_PER_CLIENT", "4/hour"),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(
            reset(&app, "someone@example.com").await.status(),
            StatusCode::ACCEPTED
        );
    }
    let throttled = reset(&app, "Someone@Example.com").await;
    let wait: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= 3600, "{wait}");
    assert_problem(throttled, 429).await;
    // Known or not, the address counts the same; then the client's limit.
    assert_eq!(
        reset(&app, "a@example.com").await.status(),
        StatusCode::ACCEPTED
    );
    assert_problem(reset(&app, "b@example.com").await, 429).await;
}

#[tokio::test]
async fn the_file_backend_writes_each_email_as_an_eml_file() {
    let app = spawn_app_with_settings(&[("EMAIL_VERIFICATION_URL", VERIFY_URL)]).await;
    let alice = app.signed_in("alice").await;
    let outbox = Inbox::new(&app.outbox);
    let email = outbox.wait_for("alice@example.com").await;
    assert_eq!(email.subject, "Confirm your email address");
    assert_eq!(email.from, "portrait@localhost");
    let verified = app
        .post_json("/auth/verify-email", &json!({"token": email.token()}), None)
        .await;
    assert_eq!(verified.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        own_view(&app, alice.id, &alice.token).await["email_verified"],
        true
    );
}

#[tokio::test]
async fn a_mail_server_that_is_down_changes_no_answer() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("smtp://127.0.0.1:{closed}");
    let app = spawn_app_with_settings(&[("EMAIL_URL", &url)]).await;
    let alice = app.signed_in("alice").await;
    assert_eq!(
        reset(&app, "alice@example.com").await.status(),
        StatusCode::ACCEPTED
    );
    let resend = app
        .post_json("/auth/verify-email/resend", &json!({}), Some(&alice.token))
        .await;
    assert_eq!(resend.status(), StatusCode::ACCEPTED);
    assert_eq!(app.get("/profile", Some(&alice.token)).await.status(), 200);
}

/// SMTP with STARTTLS (aiosmtpd refuses mail before it) and SMTPS, with the
/// server's certificate checked: trusted through SSL_CERT_FILE, mail goes
/// out; not trusted, none does and the log says so. The real binary, as
/// the trust store is the process's own.
#[tokio::test]
async fn email_goes_over_starttls_and_smtps_with_the_certificate_checked() {
    let dir = tempfile::tempdir().unwrap();
    let Some((cert, key)) = crate::support::smtp::self_signed_certificate(dir.path()) else {
        return;
    };
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let modes = [
        (
            "smtp",
            ["--tlscert", cert.as_str(), "--tlskey", key.as_str()],
        ),
        (
            "smtps",
            ["--smtpscert", cert.as_str(), "--smtpskey", key.as_str()],
        ),
    ];
    for (scheme, flags) in modes {
        let Some(smtp) = SmtpServer::start(&flags).await else {
            return;
        };
        let url = format!("{scheme}://127.0.0.1:{}", smtp.port);
        let trusted = ServerProcess::start(&[("EMAIL_URL", &url), ("SSL_CERT_FILE", &cert)]);
        trusted.register_and_sign_in("alice", PASSWORD).await;
        let email = smtp.inbox.wait_for("alice@example.com").await;
        assert_eq!(email.subject, "Confirm your email address", "{scheme}");
        drop(trusted);

        let untrusted = ServerProcess::start(&[("EMAIL_URL", &url)]);
        untrusted.register_and_sign_in("bob", PASSWORD).await;
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        assert!(smtp.inbox.take_all().is_empty(), "{scheme}: sent unchecked");
        let log = untrusted.stop_and_collect_log();
        assert!(log.contains("email not sent"), "{scheme}: {log}");
    }
}

/// Neither a token nor a link ever reaches a log line, whether the email
/// is written or its send fails.
#[tokio::test]
async fn no_email_token_reaches_the_log() {
    let server = ServerProcess::start(&[("RUST_LOG", "debug")]);
    server.register_and_sign_in("alice", PASSWORD).await;
    let client = reqwest::Client::new();
    let asked = client
        .post(format!("{}/auth/password-reset", server.base))
        .json(&json!({"email": "alice@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let outbox = server
        .env
        .iter()
        .find(|(name, _)| name == "EMAIL_URL")
        .and_then(|(_, url)| url.strip_prefix("file://"))
        .unwrap()
        .to_owned();
    let inbox = Inbox::new(&outbox);
    let verification = inbox.wait_for("alice@example.com").await;
    let reset = inbox.wait_for("alice@example.com").await;
    let log = server.stop_and_collect_log();
    assert!(log.contains("email sent"), "{log}");
    for email in [verification, reset] {
        assert!(!log.contains(&email.token()), "a token was logged");
    }
}
