//! Reliability: concurrency, outages, disk and database failures, the
//! database queue, `portrait check`, bounded fuzzing of JSON bodies.

use std::time::{Duration, SystemTime};

use diesel::RunQueryDsl;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::images::{jpeg, marked};
use crate::support::{assert_problem, spawn_app, spawn_app_with_settings, TestApp, PASSWORD};

fn portrait(app: &TestApp, args: &[&str]) -> std::process::Output {
    app.command().args(args).output().unwrap()
}

/// Every rendition file the profiles name, from their rows.
fn all_rendition_names(app: &TestApp) -> std::collections::BTreeSet<String> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        image_stem: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        image_variants: String,
        #[diesel(sql_type = diesel::sql_types::Text)]
        image: String,
    }
    use diesel::RunQueryDsl;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT image_stem, image_variants, image FROM profiles WHERE image <> 'default.jpg'",
    )
    .load(&mut *app.db())
    .unwrap();
    let mut names = std::collections::BTreeSet::new();
    for row in rows {
        let primary = row.image.rsplit('.').next().unwrap().to_owned();
        for size in row.image_variants.split(',') {
            let width = size.split('x').next().unwrap();
            for ext in [primary.as_str(), "webp"] {
                names.insert(format!("{}-{width}.{ext}", row.image_stem));
            }
        }
    }
    names
}

fn consistency(app: &TestApp) -> portrait::services::consistency::Report {
    let mut conn = app.db();
    portrait::services::consistency::check(&mut conn, &app.context, Duration::ZERO, false).unwrap()
}

async fn upload(app: &TestApp, token: &str, bytes: Vec<u8>) -> reqwest::Response {
    app.upload_picture(token, bytes).await
}

fn set_age(path: &std::path::Path, age: Duration) {
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

#[tokio::test]
async fn check_finds_every_inconsistency_and_fix_repairs_them() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    diesel::sql_query(format!("DELETE FROM profiles WHERE user_id = {}", alice.id))
        .execute(&mut *app.db())
        .unwrap();
    // Bob's picture loses one rendition; Carol's loses them all; Dave's
    // was stored before renditions existed (one file, no sizes).
    let carol = app.signed_in("carol").await;
    let dave = app.signed_in("dave").await;
    let bob_before: Value = upload(&app, &bob.token, jpeg(&marked(200, 150)))
        .await
        .json()
        .await
        .unwrap();
    let carol_before: Value = upload(&app, &carol.token, jpeg(&marked(80, 80)))
        .await
        .json()
        .await
        .unwrap();
    let media_file = |url: &Value| {
        app.media_root
            .join(url.as_str().unwrap().strip_prefix("/media/").unwrap())
    };
    std::fs::remove_file(media_file(&bob_before["image"]["variants"][0]["url"])).unwrap();
    for variant in carol_before["image"]["variants"].as_array().unwrap() {
        std::fs::remove_file(media_file(&variant["url"])).unwrap();
    }
    let legacy = "profile_pics/00112233445566778899aabbccddeeff.jpg";
    std::fs::write(app.media_root.join(legacy), jpeg(&marked(400, 300))).unwrap();
    diesel::sql_query(format!(
        "UPDATE profiles SET image = '{legacy}', image_stem = '{legacy}', image_variants = '', \
         image_width = 300, image_height = 225 WHERE user_id = {}",
        dave.id
    ))
    .execute(&mut *app.db())
    .unwrap();
    let old_stray = app
        .media_root
        .join("profile_pics/0123456789abcdef0123456789abcdef.jpg");
    std::fs::write(&old_stray, b"stray").unwrap();
    set_age(&old_stray, Duration::from_secs(7200));
    let young_stray = app
        .media_root
        .join("profile_pics/fedcba9876543210fedcba9876543210.jpg");
    std::fs::write(&young_stray, b"in flight").unwrap();
    std::fs::remove_file(app.media_root.join("default.jpg")).unwrap();

    let found = portrait(&app, &["check"]);
    let report = String::from_utf8_lossy(&found.stdout);
    assert_eq!(
        found.status.code(),
        Some(1),
        "{report}\nstderr: {}",
        String::from_utf8_lossy(&found.stderr)
    );
    assert!(
        report.contains(&format!("user {} has no profile", alice.id)),
        "{report}"
    );
    assert!(
        report.contains(&format!("picture of user {} is missing renditions", bob.id)),
        "{report}"
    );
    assert!(
        report.contains(&format!("profile of user {} names missing file", carol.id)),
        "{report}"
    );
    assert!(
        report.contains(&format!(
            "picture of user {} ({legacy}) has no renditions",
            dave.id
        )),
        "{report}"
    );
    assert!(
        report.contains("stray file profile_pics/0123456789abcdef"),
        "{report}"
    );
    assert!(
        !report.contains("fedcba98"),
        "a young file is an upload in flight: {report}"
    );
    assert!(
        report.contains("default.jpg or one of its renditions is missing"),
        "{report}"
    );
    assert!(old_stray.exists(), "check without --fix changes nothing");

    let fixed = portrait(&app, &["check", "--fix"]);
    assert!(
        fixed.status.success(),
        "{}",
        String::from_utf8_lossy(&fixed.stdout)
    );
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) AS n FROM profiles WHERE user_id = {}",
            alice.id
        )),
        1
    );
    // Bob's and Dave's pictures have every rendition again, served; Carol
    // is back on the default picture.
    for (user, sizes) in [(&bob, vec![64, 128]), (&dave, vec![64, 128, 300])] {
        let profile: Value = app
            .get_json(&format!("/users/{}/profile", user.id), None)
            .await;
        assert_eq!(profile["image"]["is_default"], false);
        assert!(profile["image"]["thumbhash"].is_string());
        let variants = profile["image"]["variants"].as_array().unwrap();
        let widths: Vec<i64> = variants
            .iter()
            .map(|v| v["width"].as_i64().unwrap())
            .collect();
        let mut expected = sizes.clone();
        expected.extend(&sizes);
        assert_eq!(widths, expected);
        for variant in variants {
            let url = variant["url"].as_str().unwrap();
            assert_eq!(app.get(url, None).await.status(), StatusCode::OK, "{url}");
        }
    }
    assert!(!app.media_root.join(legacy).exists(), "the old file went");
    let carol_profile: Value = app
        .get_json(&format!("/users/{}/profile", carol.id), None)
        .await;
    assert_eq!(carol_profile["image"]["is_default"], true);
    assert!(!old_stray.exists());
    assert!(young_stray.exists());
    assert!(app.media_root.join("default.jpg").exists());
    assert!(portrait(&app, &["check"]).status.success());
    // With no grace, the young file is a stray too.
    assert!(!portrait(&app, &["check", "--grace", "0"]).status.success());
}

/// 50 clients at once register, sign in, upload, replace and delete
/// pictures, and delete themselves. Nothing may fail with a 5xx (no
/// "database is locked"), and the result must be consistent.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_clients_leave_a_consistent_state() {
    let app = spawn_app_with_settings(&[("DATABASE_POOL_SIZE", "8"), ("WORKERS", "4")]).await;
    let app = std::sync::Arc::new(app);
    let first = jpeg(&marked(240, 180));
    let second = jpeg(&marked(180, 240));
    let mut clients = Vec::new();
    for i in 0..50 {
        let app = app.clone();
        let (first, second) = (first.clone(), second.clone());
        clients.push(tokio::spawn(async move {
            let name = format!("client{i}");
            let mut statuses = Vec::new();
            let registered = app
                .post_json("/users", &json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD}), None)
                .await;
            statuses.push(registered.status());
            let id = registered.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
            let login = app.login(&name, PASSWORD).await;
            statuses.push(login.status());
            let token = login.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
            statuses.push(upload(&app, &token, first).await.status());
            statuses.push(upload(&app, &token, second).await.status());
            match i % 3 {
                0 => statuses.push(app.delete("/profile/picture", Some(&token)).await.status()),
                1 => statuses.push(app.delete(&format!("/users/{id}"), Some(&token)).await.status()),
                _ => statuses.push(app.get("/users?limit=100", Some(&token)).await.status()),
            }
            (i, statuses)
        }));
    }
    let mut deleted = 0;
    for client in clients {
        let (i, statuses) = client.await.unwrap();
        assert!(
            statuses.iter().all(|s| s.is_success()),
            "client {i}: {statuses:?}"
        );
        if i % 3 == 1 {
            deleted += 1;
        }
    }
    let users = app.count_rows("SELECT COUNT(*) AS n FROM users");
    assert_eq!(users, 50 - deleted);
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM profiles"), users);
    let report = consistency(&app);
    assert!(report.is_consistent(), "{:?}", report.lines());
    assert_eq!(report.young_files, 0, "no stray file, however young");
    // Every picture's renditions, and nothing else.
    let expected: std::collections::BTreeSet<String> = all_rendition_names(&app);
    let files: std::collections::BTreeSet<String> =
        std::fs::read_dir(app.media_root.join("profile_pics"))
            .unwrap()
            .map(|e| format!("profile_pics/{}", e.unwrap().file_name().to_string_lossy()))
            .collect();
    assert_eq!(files, expected);
}

#[tokio::test]
async fn a_failing_disk_is_a_clean_500_that_changes_nothing() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    assert_eq!(
        upload(&app, &alice.token, jpeg(&marked(60, 60)))
            .await
            .status(),
        StatusCode::OK
    );
    let before: Value = app.get_json("/profile", Some(&alice.token)).await;

    // Root ignores permissions, so the picture directory is swapped for a
    // plain file: every write into it fails, as on a broken disk.
    let pics = app.media_root.join("profile_pics");
    let aside = app.media_root.join("pics-aside");
    std::fs::rename(&pics, &aside).unwrap();
    std::fs::write(&pics, b"not a directory").unwrap();
    let problem =
        assert_problem(upload(&app, &alice.token, jpeg(&marked(60, 60))).await, 500).await;
    assert_eq!(problem["detail"], "An unexpected error occurred.");
    std::fs::remove_file(&pics).unwrap();
    std::fs::rename(&aside, &pics).unwrap();

    let after: Value = app.get_json("/profile", Some(&alice.token)).await;
    assert_eq!(before, after);
    let leftovers: Vec<_> = std::fs::read_dir(&app.media_root)
        .unwrap()
        .chain(std::fs::read_dir(&pics).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The first picture's two renditions (one size, two formats), no more.
    assert_eq!(std::fs::read_dir(&pics).unwrap().count(), 2);
}

/// The file is written, then the database refuses the change: the new
/// file must go, and the profile stay as it was.
#[tokio::test]
async fn a_failing_database_write_removes_the_new_file() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let sql = if app.database_url.starts_with("postgres") {
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql;
         CREATE TRIGGER refuse_updates BEFORE UPDATE ON profiles FOR EACH ROW EXECUTE FUNCTION refuse();"
    } else {
        "CREATE TRIGGER refuse_updates BEFORE UPDATE ON profiles BEGIN SELECT RAISE(ABORT, 'disk full'); END;"
    };
    use diesel::connection::SimpleConnection;
    app.db().batch_execute(sql).unwrap();
    let before: Value = app.get_json("/profile", Some(&alice.token)).await;
    let problem =
        assert_problem(upload(&app, &alice.token, jpeg(&marked(60, 60))).await, 500).await;
    assert!(
        !problem.to_string().contains("disk full"),
        "no database text leaks"
    );
    let after: Value = app.get_json("/profile", Some(&alice.token)).await;
    assert_eq!(before, after);
    assert_eq!(
        std::fs::read_dir(app.media_root.join("profile_pics"))
            .unwrap()
            .count(),
        0
    );
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        "[a-z0-9@.+_-]{0,12}".prop_map(Value::String),
        Just(Value::String("x".repeat(600))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map(".{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn arbitrary_body() -> impl Strategy<Value = Vec<u8>> {
    let field = prop_oneof![
        Just("username".to_owned()),
        Just("email".to_owned()),
        Just("password".to_owned()),
        Just("current_password".to_owned()),
        Just("is_staff".to_owned()),
        Just("bio".to_owned()),
        Just("refresh_token".to_owned()),
        Just("token".to_owned()),
        Just("new_password".to_owned()),
        ".{0,10}",
    ];
    prop_oneof![
        4 => proptest::collection::btree_map(field, arbitrary_json(), 0..5)
            .prop_map(|m| serde_json::to_vec(&Value::Object(m.into_iter().collect())).unwrap()),
        1 => arbitrary_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ]
}

/// Bounded fuzzing of every JSON body: whatever arrives, the answer is a
/// 2xx or a problem+json 4xx, never a 5xx.
#[tokio::test]
async fn arbitrary_json_bodies_never_cause_a_server_error() {
    let app = crate::support::spawn_fuzz_target().await;
    let alice = app.signed_in("alice").await;
    let mut runner = TestRunner::deterministic();
    let strategy = arbitrary_body();
    let cases = crate::support::fuzz_cases("JSON_FUZZ_CASES", 60);
    for _ in 0..cases {
        let body = strategy.new_tree(&mut runner).unwrap().current();
        let targets = [
            (reqwest::Method::POST, "/users".to_owned()),
            (reqwest::Method::POST, "/auth/token".to_owned()),
            (reqwest::Method::POST, "/auth/refresh".to_owned()),
            (reqwest::Method::POST, "/auth/logout".to_owned()),
            (reqwest::Method::POST, "/auth/password-reset".to_owned()),
            (
                reqwest::Method::POST,
                "/auth/password-reset/confirm".to_owned(),
            ),
            (reqwest::Method::POST, "/auth/verify-email".to_owned()),
            (reqwest::Method::PATCH, format!("/users/{}", alice.id)),
            (
                reqwest::Method::PATCH,
                format!("/users/{}/profile", alice.id),
            ),
        ];
        for (method, path) in targets {
            let response = app
                .client
                .request(method.clone(), app.url(&path))
                .bearer_auth(&alice.token)
                .header("content-type", "application/json")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            let status = response.status();
            let content_type = response
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned());
            assert!(
                status.as_u16() < 500,
                "{method} {path} answered {status} to {}",
                String::from_utf8_lossy(&body)
            );
            if status.is_client_error() {
                assert_eq!(content_type.as_deref(), Some("application/problem+json"));
            }
        }
    }
}

/// A private PostgreSQL of the test's own (initdb in a temp dir, its own
/// port) is stopped under the running service: requests get a quick 503,
/// /healthz says 503, and service resumes by itself when it returns. Runs
/// on the PostgreSQL pass; never touches the shared server.
#[tokio::test]
async fn a_database_outage_is_a_quick_503_and_service_resumes() {
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return;
    }
    let Some(private) = crate::support::private_pg::PrivatePostgres::start() else {
        return crate::support::missing("initdb (PostgreSQL's server binaries)");
    };
    let app =
        spawn_app_with_settings(&[("DATABASE_URL", &private.url), ("DATABASE_TIMEOUT", "1")]).await;
    let alice = app.register("alice").await;
    let path = format!("/users/{}", alice["id"]);
    assert_eq!(app.get(&path, None).await.status(), StatusCode::OK);

    private.stop();
    let started = std::time::Instant::now();
    assert_problem(app.get(&path, None).await, 503).await;
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "503 came after {:?}",
        started.elapsed()
    );
    assert_problem(app.get("/healthz", None).await, 503).await;

    private.restart();
    let mut recovered = false;
    for _ in 0..40 {
        if app.get(&path, None).await.status() == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "service resumes when the database returns");
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
}

/// Pooled connections are trusted without a round trip only while busy:
/// after the database restarts under an idle service, the next requests
/// all succeed (the dead connections are checked, found gone and replaced)
/// rather than failing once per dead connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_request_fails_after_the_database_restarts_while_idle() {
    if !std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return;
    }
    let Some(private) = crate::support::private_pg::PrivatePostgres::start() else {
        return crate::support::missing("initdb (PostgreSQL's server binaries)");
    };
    let app = std::sync::Arc::new(spawn_app_with_settings(&[("DATABASE_URL", &private.url)]).await);
    let alice = app.register("alice").await;
    let path = format!("/users/{}", alice["id"]);
    // Requests at once, so that the pool holds several connections.
    let concurrent: Vec<_> = (0..8)
        .map(|_| {
            let (app, path) = (app.clone(), path.clone());
            tokio::spawn(async move { app.get(&path, None).await.status() })
        })
        .collect();
    for status in concurrent {
        assert_eq!(status.await.unwrap(), StatusCode::OK);
    }

    private.stop();
    private.restart();
    tokio::time::sleep(Duration::from_millis(700)).await;
    for _ in 0..8 {
        assert_eq!(app.get(&path, None).await.status(), StatusCode::OK);
    }
}

/// Requests beyond the pool wait their turn; one that waits longer than
/// DATABASE_TIMEOUT gets a 503 problem, and the request holding the
/// connection still completes once the database lets it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_queued_longer_than_the_database_timeout_is_a_503() {
    use diesel::connection::SimpleConnection;
    let app = std::sync::Arc::new(
        spawn_app_with_settings(&[("DATABASE_POOL_SIZE", "1"), ("DATABASE_TIMEOUT", "1")]).await,
    );
    // Another client of the database holds the write lock.
    let mut locker = hold_write_lock(&app, "users");

    let registering = {
        let app = app.clone();
        tokio::spawn(async move {
            app.post_json(
                "/users",
                &json!({"username": "waiting", "email": "waiting@example.com", "password": PASSWORD}),
                None,
            )
            .await
            .status()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    assert_problem(app.get("/users/1", None).await, 503).await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "503 after {waited:?}"
    );

    locker.batch_execute("ROLLBACK;").unwrap();
    assert_eq!(registering.await.unwrap(), StatusCode::CREATED);
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM users"), 1);
}

/// Uploads queue for the database like every other request: while an
/// upload's transaction holds the only pooled connection, a read that
/// arrives waits in the pool's queue (it does not slip past into r2d2),
/// and the requests behind it are served in arrival order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_queued_behind_an_upload_is_served_in_arrival_order() {
    use diesel::connection::SimpleConnection;
    let app = std::sync::Arc::new(
        spawn_app_with_settings(&[("DATABASE_POOL_SIZE", "1"), ("DATABASE_TIMEOUT", "30")]).await,
    );
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let pool = app.context.pool.clone();

    // Another client of the database holds the write lock, so the upload's
    // transaction waits on it while holding the pool's only connection.
    let mut locker = hold_write_lock(&app, "profiles");

    let finished = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let send = |name: &'static str, request: reqwest::RequestBuilder| {
        let finished = finished.clone();
        tokio::spawn(async move {
            let status = request.send().await.unwrap().status();
            finished.lock().unwrap().push(name);
            status
        })
    };
    let upload_request = |token: &str| {
        let form = Form::new().part(
            "image",
            Part::bytes(jpeg(&marked(64, 48))).file_name("p.jpg"),
        );
        app.client
            .put(app.url("/profile/picture"))
            .bearer_auth(token)
            .multipart(form)
    };
    let first_upload = send("first upload", upload_request(&alice.token));
    // The upload holds the connection once it is in use for a while on end
    // (its token lookup takes it only for a moment).
    let mut held_since = None;
    for _ in 0..400 {
        match (pool.in_use(), held_since) {
            (1, None) => held_since = Some(std::time::Instant::now()),
            (1, Some(since)) if since.elapsed() > Duration::from_millis(300) => break,
            (1, Some(_)) => {}
            _ => held_since = None,
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        pool.in_use(),
        1,
        "the upload's transaction holds the connection"
    );

    let read = send(
        "read",
        app.client.get(app.url(&format!("/users/{}", bob.id))),
    );
    wait_for_waiters(&pool, 1).await;
    let second_upload = send("second upload", upload_request(&bob.token));
    wait_for_waiters(&pool, 2).await;

    locker.batch_execute("ROLLBACK;").unwrap();
    assert_eq!(first_upload.await.unwrap(), StatusCode::OK);
    assert_eq!(read.await.unwrap(), StatusCode::OK);
    assert_eq!(second_upload.await.unwrap(), StatusCode::OK);
    let finished = finished.lock().unwrap().clone();
    let position = |name| finished.iter().position(|n| *n == name).unwrap();
    assert!(position("read") < position("second upload"), "{finished:?}");
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM profiles WHERE image <> 'default.jpg'"),
        2
    );
}

/// A request whose client gives up while it waits for a connection leaves
/// the queue at once, and its work never runs: nothing is done for nobody
/// once the connection frees.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_for_a_client_that_left_is_dropped_from_the_queue() {
    let app =
        spawn_app_with_settings(&[("DATABASE_POOL_SIZE", "1"), ("DATABASE_TIMEOUT", "30")]).await;
    let alice = app.signed_in("alice").await;
    let pool = app.context.pool.clone();
    let held = app.db();
    let impatient = app
        .client
        .patch(app.url(&format!("/users/{}/profile", alice.id)))
        .bearer_auth(&alice.token)
        .json(&json!({"bio": "written for nobody"}))
        .timeout(Duration::from_secs(2))
        .send();
    // The connection is still held: the waiter left because its client did.
    gives_up_while_queued(&pool, impatient, "the abandoned request left the queue").await;
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let profile: Value = app
        .get_json(&format!("/users/{}/profile", alice.id), None)
        .await;
    assert_eq!(profile["bio"], "", "the abandoned change was never made");
}

/// The same for a page of the directory, which runs on the listing
/// threads: its client gives up, and it leaves the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_for_a_client_that_left_is_dropped_from_the_queue() {
    let app =
        spawn_app_with_settings(&[("DATABASE_POOL_SIZE", "1"), ("DATABASE_TIMEOUT", "30")]).await;
    let alice = app.signed_in("alice").await;
    let pool = app.context.pool.clone();
    let held = app.db();
    let impatient = app
        .client
        .get(app.url("/users?search=ali"))
        .bearer_auth(&alice.token)
        .timeout(Duration::from_secs(2))
        .send();
    gives_up_while_queued(&pool, impatient, "the abandoned page left the queue").await;
    drop(held);
    let page: Value = app.get_json("/users?search=ali", Some(&alice.token)).await;
    assert_eq!(page["count"], 1);
}

/// Pages of the directory are built on threads at LIST_NICENESS, so that
/// paging yields the cores to point reads (Linux: nice is per thread).
#[cfg(target_os = "linux")]
#[tokio::test]
async fn pages_are_built_on_threads_at_the_list_niceness() {
    let app = spawn_app_with_settings(&[("LIST_NICENESS", "7")]).await;
    let alice = app.signed_in("alice").await;
    let page: Value = app.get_json("/users", Some(&alice.token)).await;
    assert_eq!(page["results"][0]["username"], "alice");
    // Field 19 of /proc/…/stat is the nice value; the command name (field
    // 2, in parentheses) holds no space here.
    let nice_of = |stat: &str| -> Option<i64> {
        stat.rsplit(')')
            .next()?
            .split_whitespace()
            .nth(16)?
            .parse()
            .ok()
    };
    let own = nice_of(&std::fs::read_to_string("/proc/thread-self/stat").unwrap()).unwrap();
    let listing_nices: Vec<i64> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| {
            let task = task.ok()?.path();
            let name = std::fs::read_to_string(task.join("comm")).ok()?;
            (name.trim() == "portrait-yieldi")
                .then(|| nice_of(&std::fs::read_to_string(task.join("stat")).ok()?))?
        })
        .collect();
    assert!(
        listing_nices.contains(&(own + 7).min(19)),
        "no listing thread at nice {} among {listing_nices:?}",
        own + 7
    );
}

/// Sends `impatient` (a request with a short timeout) while every
/// connection is held, checks that its client gave up while it queued,
/// then that it left the queue.
async fn gives_up_while_queued(
    pool: &portrait::db::DbPool,
    impatient: impl std::future::Future<Output = reqwest::Result<reqwest::Response>>,
    left: &str,
) {
    let waiting = async {
        wait_for_waiters(pool, 1).await;
    };
    let (sent, ()) = tokio::join!(impatient, waiting);
    assert!(sent.unwrap_err().is_timeout(), "the client gave up");
    for _ in 0..200 {
        if pool.waiting() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(pool.waiting(), 0, "{left}");
}

async fn wait_for_waiters(pool: &portrait::db::DbPool, count: usize) {
    for _ in 0..500 {
        if pool.waiting() >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{count} requests never queued for the connection");
}

/// A connection of its own, outside the app's pool, in a transaction that
/// keeps others from writing `table` (SQLite: from writing at all) until
/// it runs `ROLLBACK;`.
fn hold_write_lock(app: &TestApp, table: &str) -> portrait::db::AnyConnection {
    use diesel::connection::SimpleConnection;
    let url = portrait::settings::DatabaseUrl::parse(&app.database_url).unwrap();
    let mut locker = portrait::db::establish(&url).unwrap();
    let lock = if url.is_postgres() {
        format!("BEGIN; LOCK TABLE {table} IN EXCLUSIVE MODE;")
    } else {
        "BEGIN IMMEDIATE;".to_owned()
    };
    locker.batch_execute(&lock).unwrap();
    locker
}

/// Usernames stored before NFKC normalisation: `check` reports them,
/// `--fix` normalises those whose normal form is free and leaves a clash
/// for a person to decide.
#[tokio::test]
async fn check_normalises_old_usernames_and_reports_clashes() {
    let app = spawn_app().await;
    app.register("uniadmin").await;
    let old = app.register("placeholder1").await["id"].as_i64().unwrap();
    let clash = app.register("placeholder2").await["id"].as_i64().unwrap();
    for (id, name) in [(old, "ｂｏｂ"), (clash, "ｕｎｉａｄｍｉｎ")] {
        diesel::sql_query(format!(
            "UPDATE users SET username = '{name}', username_normalized = '{name}' WHERE id = {id}"
        ))
        .execute(&mut *app.db())
        .unwrap();
    }
    let found = portrait(&app, &["check"]);
    let report = String::from_utf8_lossy(&found.stdout);
    assert_eq!(found.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("username of user {old}")),
        "{report}"
    );

    let fixed = portrait(&app, &["check", "--fix"]);
    let report = String::from_utf8_lossy(&fixed.stdout);
    assert!(
        report.contains("another user has its normal form"),
        "{report}"
    );
    assert!(
        !fixed.status.success(),
        "a clash is left for a person: {report}"
    );
    assert_eq!(
        app.count_rows(&format!(
            "SELECT COUNT(*) AS n FROM users WHERE id = {old} AND username = 'bob' AND username_normalized = 'bob'"
        )),
        1
    );
    assert_eq!(app.login("bob", PASSWORD).await.status(), StatusCode::OK);
}

/// Uploads by one user at once: whichever commits last wins, and every
/// other new file is deleted with the old one, so exactly the profile's
/// file is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_uploads_by_one_user_leave_only_the_profiles_file() {
    let app = std::sync::Arc::new(spawn_app().await);
    let user = app.signed_in("busy").await;
    let uploads: Vec<_> = (0..6)
        .map(|i| {
            let (app, token) = (app.clone(), user.token.clone());
            tokio::spawn(async move {
                app.upload_picture(&token, jpeg(&marked(60 + i, 40)))
                    .await
                    .status()
            })
        })
        .collect();
    for upload in uploads {
        assert_eq!(upload.await.unwrap(), StatusCode::OK);
    }
    let profile = app.get_json("/profile", Some(&user.token)).await;
    let mut urls: Vec<String> = profile["image"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["url"].as_str().unwrap().to_owned())
        .collect();
    urls.sort();
    let mut files: Vec<String> = std::fs::read_dir(app.media_root.join("profile_pics"))
        .unwrap()
        .map(|e| {
            format!(
                "/media/profile_pics/{}",
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .collect();
    files.sort();
    assert_eq!(files, urls, "exactly the profile's renditions are left");
}
