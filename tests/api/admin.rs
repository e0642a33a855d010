//! The admin site over HTTP, as a browser without JavaScript uses it:
//! staff sign-in (and non-staff refused), the session cookie's flags, CSRF
//! on every form, the change list (search, order, cursor), add, change
//! (with the API's rules: staff status only by a superuser), picture
//! upload and reset through the same pipeline, delete with its
//! confirmation, the history, sign-out, the session ending with a
//! password change, the shared throttle, the admin's own 404 page and its
//! headers. The database and the store are checked after each action.
//! (tests/clients/typescript/admin.mjs drives the same pages in Chromium.)

use diesel::RunQueryDsl;
use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};

use crate::support::images::*;
use crate::support::{spawn_app, spawn_app_with_settings, TestApp, PASSWORD};

/// A browser's cookie jar for one staff member, by hand.
struct Staff<'a> {
    app: &'a TestApp,
    session: String,
    csrf: String,
}

fn cookie_value(response: &Response, name: &str) -> Option<(String, String)> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v[name.len() + 1..].split(';').next().unwrap().to_owned();
            (value, v.to_owned())
        })
}

fn hidden_token(page: &str) -> String {
    let marker = "name=\"csrfmiddlewaretoken\" value=\"";
    let start = page.find(marker).expect("a CSRF field") + marker.len();
    page[start..start + 64].to_owned()
}

async fn sign_in_response(app: &TestApp, username: &str, password: &str) -> Response {
    let form_page = app.get("/admin/login/", None).await;
    let (login_cookie, _) = cookie_value(&form_page, "portrait_admin_csrf").unwrap();
    let token = hidden_token(&form_page.text().await.unwrap());
    app.client
        .post(app.url("/admin/login/"))
        .header("Cookie", format!("portrait_admin_csrf={login_cookie}"))
        .form(&[
            ("csrfmiddlewaretoken", token.as_str()),
            ("username", username),
            ("password", password),
            ("next", "/admin/users/"),
        ])
        .send()
        .await
        .unwrap()
}

impl<'a> Staff<'a> {
    async fn sign_in(app: &'a TestApp, username: &str) -> Staff<'a> {
        let response = sign_in_response(app, username, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{username}");
        let (session, _) = cookie_value(&response, "portrait_admin_session").unwrap();
        let mut staff = Staff {
            app,
            session,
            csrf: String::new(),
        };
        let page = staff.page("/admin/users/").await;
        staff.csrf = hidden_token(&page);
        staff
    }

    async fn get(&self, path: &str) -> Response {
        self.app
            .client
            .get(self.app.url(path))
            .header("Cookie", format!("portrait_admin_session={}", self.session))
            .send()
            .await
            .unwrap()
    }

    async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.unwrap()
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        let mut all = vec![("csrfmiddlewaretoken", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Response {
        self.app
            .client
            .post(self.app.url(path))
            .header("Cookie", format!("portrait_admin_session={}", self.session))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    async fn change(&self, id: i64, fields: &[(&str, &str)]) -> Response {
        self.post(&format!("/admin/users/{id}/change/"), fields)
            .await
    }
}

fn user_row(app: &TestApp, id: i64) -> (String, String, bool, bool) {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        email: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        bio: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        is_staff: bool,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        is_active: bool,
    }
    let row: Row = diesel::sql_query(format!(
        "SELECT u.email, p.bio, u.is_staff, u.is_active FROM users u \
         JOIN profiles p ON p.user_id = u.id WHERE u.id = {id}"
    ))
    .get_result(&mut *app.db())
    .unwrap();
    (row.email, row.bio, row.is_staff, row.is_active)
}

fn log_messages(app: &TestApp, id: i64) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    diesel::sql_query(format!(
        "SELECT actor_username || ' ' || action || ' ' || change_message AS line \
         FROM admin_log WHERE object_id = {id} ORDER BY id"
    ))
    .load::<Row>(&mut *app.db())
    .unwrap()
    .into_iter()
    .map(|r| r.line)
    .collect()
}

#[tokio::test]
async fn staff_sign_in_with_a_strict_cookie_and_everyone_else_is_refused() {
    let app = spawn_app().await;
    app.signed_in_staff("carol", false).await;
    app.register("bob").await;

    let refused = sign_in_response(&app, "bob", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::OK);
    assert!(cookie_value(&refused, "portrait_admin_session").is_none());
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("correct username and password for a staff account"));
    let wrong = sign_in_response(&app, "carol", "wrong password").await;
    assert!(cookie_value(&wrong, "portrait_admin_session").is_none());
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM admin_sessions"),
        0
    );

    let response = sign_in_response(&app, "carol", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/admin/users/");
    let (_, header) = cookie_value(&response, "portrait_admin_session").unwrap();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/admin/"] {
        assert!(header.contains(flag), "{header}");
    }
    assert!(!header.contains("Secure"), "plain http: {header}");
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM admin_sessions"),
        1
    );

    // Without a session, a page sends the browser to sign in.
    let anonymous = app.get("/admin/users/", None).await;
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        anonymous.headers()["location"],
        "/admin/login/?next=%2Fadmin%2Fusers%2F"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_saying_https_the_cookie_is_secure() {
    let app = spawn_app_with_settings(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.signed_in_staff("carol", false).await;
    let form_page = app
        .client
        .get(app.url("/admin/login/"))
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    let (_, header) = cookie_value(&form_page, "portrait_admin_csrf").unwrap();
    assert!(header.contains("Secure"), "{header}");
}

#[tokio::test]
async fn every_page_has_the_admin_headers_and_its_own_404() {
    let app = spawn_app().await;
    app.signed_in_staff("carol", false).await;
    let staff = Staff::sign_in(&app, "carol").await;
    for path in ["/admin/users/", "/admin/login/", "/admin/no-such-page/"] {
        let response = staff.get(path).await;
        assert_eq!(
            response.headers()["content-security-policy"],
            "default-src 'self'; frame-ancestors 'none'"
        );
        assert_eq!(response.headers()["x-frame-options"], "DENY");
    }
    let missing = staff.get("/admin/no-such-page/").await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(missing
        .text()
        .await
        .unwrap()
        .contains("portrait administration"));
    let no_user = staff.get("/admin/users/999999/change/").await;
    assert_eq!(no_user.status(), StatusCode::NOT_FOUND);
    assert!(no_user
        .text()
        .await
        .unwrap()
        .contains("No user with this id."));
    let css = app.get("/admin/static/admin.css", None).await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/css"));
}

#[tokio::test]
async fn a_post_without_its_csrf_token_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    app.signed_in_staff("carol", false).await;
    let bob = app.register("bob").await;
    let bob_id = bob["id"].as_i64().unwrap();
    let staff = Staff::sign_in(&app, "carol").await;

    let forged = staff
        .post_raw(
            &format!("/admin/users/{bob_id}/change/"),
            &[
                ("username", "bob"),
                ("email", "forged@example.com"),
                ("is_active", "on"),
                ("bio", "forged"),
            ],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged
        .text()
        .await
        .unwrap()
        .contains("CSRF verification failed"));
    let wrong = staff
        .post_raw(
            &format!("/admin/users/{bob_id}/delete/"),
            &[("csrfmiddlewaretoken", &"0".repeat(64))],
        )
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        user_row(&app, bob_id),
        ("bob@example.com".into(), String::new(), false, true)
    );
    // The sign-in form too: no token, no session.
    let login = app
        .client
        .post(app.url("/admin/login/"))
        .form(&[("username", "carol"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::FORBIDDEN);
    assert!(cookie_value(&login, "portrait_admin_session").is_none());
    assert!(log_messages(&app, bob_id).is_empty());
}

#[tokio::test]
async fn changes_follow_the_api_rules_and_are_recorded() {
    let app = spawn_app().await;
    app.signed_in_staff("carol", false).await;
    app.signed_in_staff("root", true).await;
    let bob = app.register("bob").await;
    let id = bob["id"].as_i64().unwrap();
    let staff = Staff::sign_in(&app, "carol").await;

    let saved = staff
        .change(
            id,
            &[
                ("username", "bob"),
                ("email", "bob@example.org"),
                ("is_active", "on"),
                ("bio", "Edited in the admin"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        user_row(&app, id),
        (
            "bob@example.org".into(),
            "Edited in the admin".into(),
            false,
            true
        )
    );
    assert!(staff
        .page(&format!("/admin/users/{id}/change/?saved=1"))
        .await
        .contains("Edited in the admin"));

    // Staff may not make anyone staff: a readable 403, nothing changed.
    let refused = staff
        .change(
            id,
            &[
                ("username", "bob"),
                ("email", "bob@example.org"),
                ("is_active", "on"),
                ("is_staff", "on"),
                ("bio", "Edited in the admin"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused
        .text()
        .await
        .unwrap()
        .contains("Only a superuser may change is_staff."));
    assert!(!user_row(&app, id).2);

    // A bad value is shown against its field.
    let invalid = staff
        .change(
            id,
            &[
                ("username", "bob"),
                ("email", "not an address"),
                ("is_active", "on"),
                ("bio", "Edited in the admin"),
            ],
        )
        .await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(invalid.text().await.unwrap().contains("err_email"));

    let root = Staff::sign_in(&app, "root").await;
    let promoted = root
        .change(
            id,
            &[
                ("username", "bob"),
                ("email", "bob@example.org"),
                ("is_staff", "on"),
                ("bio", "Edited in the admin"),
            ],
        )
        .await;
    assert_eq!(promoted.status(), StatusCode::SEE_OTHER);
    let (_, _, is_staff, is_active) = user_row(&app, id);
    assert!(is_staff && !is_active);
    assert_eq!(
        log_messages(&app, id),
        vec![
            "carol change Changed email, bio.".to_owned(),
            "root change Changed active, staff status.".to_owned(),
        ]
    );
    let history = root.page(&format!("/admin/users/{id}/history/")).await;
    assert!(history.contains("Changed email, bio.") && history.contains("carol"));
}

#[tokio::test]
async fn add_makes_a_user_with_its_profile_and_delete_lists_what_goes() {
    let app = spawn_app().await;
    app.signed_in_staff("carol", false).await;
    let staff = Staff::sign_in(&app, "carol").await;
    let mismatch = staff
        .post(
            "/admin/users/add/",
            &[
                ("username", "dora"),
                ("email", "dora@example.com"),
                ("password", PASSWORD),
                ("password2", "something else entirely"),
            ],
        )
        .await;
    assert_eq!(mismatch.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let added = staff
        .post(
            "/admin/users/add/",
            &[
                ("username", "dora"),
                ("email", "dora@example.com"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let location = added.headers()["location"].to_str().unwrap().to_owned();
    let id: i64 = location.split('/').nth(3).unwrap().parse().unwrap();
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) AS n FROM profiles WHERE user_id = {id}"
        )),
        1
    );
    assert_eq!(app.login("dora", PASSWORD).await.status(), StatusCode::OK);

    // A picture through the admin's form: the same pipeline, every rendition.
    let upload = app
        .client
        .post(app.url(&format!("/admin/users/{id}/picture/")))
        .header(
            "Cookie",
            format!("portrait_admin_session={}", staff.session),
        )
        .multipart(
            Form::new()
                .text("csrfmiddlewaretoken", staff.csrf.clone())
                .part(
                    "image",
                    Part::bytes(jpeg(&marked(400, 300)))
                        .file_name("me.jpg")
                        .mime_str("image/jpeg")
                        .unwrap(),
                ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(upload.status(), StatusCode::SEE_OTHER);
    let pics = app.stored_pics();
    assert_eq!(pics.len(), 6, "3 sizes in JPEG and WebP: {pics:?}");
    let list = staff.page("/admin/users/?q=dor").await;
    let thumb = pics.iter().find(|p| p.ends_with("-64.jpg")).unwrap();
    assert!(list.contains(thumb.as_str()), "the thumbnail is shown");

    let confirm = staff.page(&format!("/admin/users/{id}/delete/")).await;
    assert!(confirm.contains("Profile: dora"));
    for pic in &pics {
        assert!(confirm.contains(pic.as_str()), "{pic} listed");
    }
    let deleted = staff.post(&format!("/admin/users/{id}/delete/"), &[]).await;
    assert_eq!(deleted.status(), StatusCode::OK);
    assert_eq!(
        app.count_rows(&format!("SELECT COUNT(*) AS n FROM users WHERE id = {id}")),
        0
    );
    assert!(app.stored_pics().is_empty());
    assert_eq!(
        log_messages(&app, id),
        vec![
            "carol add Added.".to_owned(),
            "carol change Changed picture.".to_owned(),
            "carol delete Deleted.".to_owned(),
        ]
    );
    assert!(staff
        .page(&format!("/admin/users/{id}/history/"))
        .await
        .contains("Deleted."));
}

#[tokio::test]
async fn the_change_list_searches_orders_and_pages_by_cursor() {
    let app = spawn_app().await;
    app.signed_in_staff("carol", false).await;
    // Registered in the reverse of their names' order: ordering by
    // username cannot pass for ordering by id.
    for i in (0..55).rev() {
        app.register(&format!("user{i:02}")).await;
    }
    let staff = Staff::sign_in(&app, "carol").await;
    let first = staff.page("/admin/users/?o=-username").await;
    assert!(first.contains("56 users"));
    let position = |page: &str, name: &str| page.find(&format!(">{name}</a>"));
    assert!(position(&first, "user54").unwrap() < position(&first, "user53").unwrap());
    assert!(position(&first, "user05").is_some());
    assert!(position(&first, "user04").is_none(), "past the first 50");
    let next = first
        .split("href=\"")
        .find(|part| part.contains("after="))
        .and_then(|part| part.split('"').next())
        .unwrap()
        .replace("&amp;", "&");
    let second = staff.page(&format!("/admin/users/{next}")).await;
    for name in ["user04", "user00", "carol"] {
        assert!(position(&second, name).is_some(), "{name} on page 2");
    }
    assert!(position(&second, "user54").is_none());
    let by_id = staff.page("/admin/users/?o=-id").await;
    // user00 was registered last: the newest first.
    assert!(position(&by_id, "user00").unwrap() < position(&by_id, "user01").unwrap());
    assert!(
        position(&by_id, "carol").is_none(),
        "the oldest is on the last page"
    );
    // A term no username can hold is an empty page, not an error.
    assert!(staff.page("/admin/users/?q=%00").await.contains("0 users"));
    let found = staff.page("/admin/users/?q=ER1").await;
    assert!(found.contains("10 users matching"));
    assert!(position(&found, "user10").is_some() && position(&found, "user20").is_none());
}

#[tokio::test]
async fn a_session_ends_on_sign_out_and_with_a_password_change() {
    let app = spawn_app().await;
    app.signed_in_staff("carol", false).await;
    let staff = Staff::sign_in(&app, "carol").await;
    let out = staff.post("/admin/logout/", &[]).await;
    assert_eq!(out.status(), StatusCode::OK);
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM admin_sessions"),
        0
    );
    assert_eq!(
        staff.get("/admin/users/").await.status(),
        StatusCode::SEE_OTHER
    );

    let again = Staff::sign_in(&app, "carol").await;
    diesel::sql_query("UPDATE users SET token_version = token_version + 1")
        .execute(&mut *app.db())
        .unwrap();
    assert_eq!(
        again.get("/admin/users/").await.status(),
        StatusCode::SEE_OTHER
    );

    // ADMIN_SESSION_TTL: a session past its expiry is no session.
    let third = Staff::sign_in(&app, "carol").await;
    assert_eq!(third.get("/admin/users/").await.status(), StatusCode::OK);
    diesel::sql_query("UPDATE admin_sessions SET expires_at = created_at")
        .execute(&mut *app.db())
        .unwrap();
    assert_eq!(
        third.get("/admin/users/").await.status(),
        StatusCode::SEE_OTHER
    );
    let flushed = app.command().arg("flushexpiredtokens").output().unwrap();
    assert!(String::from_utf8_lossy(&flushed.stdout).contains("expired admin sessions"));
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM admin_sessions"),
        0
    );
}

#[tokio::test]
async fn a_picture_reset_in_the_admin_removes_the_files_and_is_recorded() {
    let app = spawn_app().await;
    app.signed_in_staff("carol", false).await;
    let bob = app.signed_in("bob").await;
    let uploaded = app
        .upload_picture(&bob.token, jpeg(&marked(200, 150)))
        .await;
    assert_eq!(uploaded.status(), StatusCode::OK);
    assert!(!app.stored_pics().is_empty());
    let staff = Staff::sign_in(&app, "carol").await;
    let page = staff
        .page(&format!("/admin/users/{}/change/", bob.id))
        .await;
    assert!(page.contains("Reset to the default picture"));
    let reset = staff
        .post(&format!("/admin/users/{}/picture/reset/", bob.id), &[])
        .await;
    assert_eq!(reset.status(), StatusCode::SEE_OTHER);
    assert!(app.stored_pics().is_empty());
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) AS n FROM profiles WHERE user_id = {} AND image = 'default.jpg'",
            bob.id
        )),
        1
    );
    assert_eq!(
        log_messages(&app, bob.id),
        vec!["carol change Reset picture to the default.".to_owned()]
    );
    // A sign-in's `next` never leaves the admin.
    let form_page = app
        .get("/admin/login/?next=https://evil.example/", None)
        .await;
    assert!(!form_page.text().await.unwrap().contains("evil.example"));
}

#[tokio::test]
async fn the_sign_in_throttle_is_the_apis() {
    let app = spawn_app_with_settings(&[("LOGIN_MAX_FAILURES", "3")]).await;
    app.signed_in_staff("carol", false).await;
    for _ in 0..3 {
        assert_eq!(
            app.login("carol", "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let throttled = sign_in_response(&app, "carol", PASSWORD).await;
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(cookie_value(&throttled, "portrait_admin_session").is_none());
    assert!(throttled
        .text()
        .await
        .unwrap()
        .contains("Too many failed login attempts"));
}

#[tokio::test]
async fn staff_cannot_change_or_delete_staff_and_a_stale_form_undoes_nothing() {
    let app = spawn_app().await;
    app.signed_in_staff("carol", false).await;
    let root = app.signed_in_staff("root", true).await;
    let dave = app.signed_in_staff("dave", false).await;
    let bob = app.register("bob").await;
    let bob_id = bob["id"].as_i64().unwrap();
    let staff = Staff::sign_in(&app, "carol").await;

    // Deactivating a superuser, or deleting another staff member: 403.
    let refused = staff
        .change(
            root.id,
            &[
                ("username", "root"),
                ("email", "root@example.com"),
                ("bio", ""),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(user_row(&app, root.id).3, "root stays active");
    let refused = staff
        .post(&format!("/admin/users/{}/delete/", dave.id), &[])
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) AS n FROM users WHERE id = {}",
            dave.id
        )),
        1
    );

    // The form showed bob active; meanwhile bob was deactivated. Saving a
    // new bio from that form keeps bob inactive.
    diesel::sql_query(format!(
        "UPDATE users SET is_active = FALSE WHERE id = {bob_id}"
    ))
    .execute(&mut *app.db())
    .unwrap();
    let saved = staff
        .change(
            bob_id,
            &[
                ("initial-username", "bob"),
                ("initial-email", "bob@example.com"),
                ("initial-is_active", "on"),
                ("initial-is_staff", ""),
                ("initial-bio", "line one\r\nline two"),
                ("username", "bob"),
                ("email", "bob@example.com"),
                ("is_active", "on"),
                ("bio", "A new bio"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        user_row(&app, bob_id),
        ("bob@example.com".into(), "A new bio".into(), false, false)
    );
    assert_eq!(
        log_messages(&app, bob_id),
        vec!["carol change Changed bio.".to_owned()]
    );
}

#[tokio::test]
async fn a_staff_member_who_deletes_themself_is_signed_out_and_it_is_recorded() {
    let app = spawn_app().await;
    let carol = app.signed_in_staff("carol", false).await;
    let staff = Staff::sign_in(&app, "carol").await;
    let deleted = staff
        .post(&format!("/admin/users/{}/delete/", carol.id), &[])
        .await;
    assert_eq!(deleted.status(), StatusCode::SEE_OTHER);
    assert_eq!(deleted.headers()["location"], "/admin/login/");
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) AS n FROM users WHERE id = {}",
            carol.id
        )),
        0
    );
    assert_eq!(
        log_messages(&app, carol.id),
        vec!["carol delete Deleted.".to_owned()]
    );
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM admin_log WHERE actor_id IS NULL"),
        1
    );
}
