//! Pictures on an S3-compatible store (MEDIA_STORAGE=s3://…), against a real
//! s3s-fs server: every rendition put with its Content-Type and an immutable
//! Cache-Control, old objects removed after the commit, GET /media streamed
//! from the bucket, `portrait check [--fix]` on the bucket, /healthz, and
//! a start refused in one line for a bad bucket or bad credentials. The
//! bucket is read behind portrait's back (s3s-fs's own directory, or a
//! client of the test's own) to see what is really stored.

use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, ObjectStoreExt};
use reqwest::StatusCode;
use serde_json::Value;

use crate::support::images::*;
use crate::support::s3::{S3Server, ACCESS_KEY, BUCKET, SECRET_KEY};
use crate::support::{spawn_app_on_s3, TestApp};

/// The app's S3 server (the test app was started on one).
fn server(app: &TestApp) -> &S3Server {
    app.s3.as_ref().expect("an app on S3")
}

/// A client of the test's own, signing with the same keys.
fn bucket(server: &S3Server) -> object_store::aws::AmazonS3 {
    AmazonS3Builder::new()
        .with_bucket_name(BUCKET)
        .with_region("us-east-1")
        .with_endpoint(&server.endpoint)
        .with_allow_http(true)
        .with_access_key_id(ACCESS_KEY)
        .with_secret_access_key(SECRET_KEY)
        .build()
        .unwrap()
}

fn rendition_names(profile: &Value) -> Vec<String> {
    let mut names: Vec<String> = profile["image"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            v["url"]
                .as_str()
                .unwrap()
                .strip_prefix("/media/")
                .unwrap()
                .to_owned()
        })
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn every_rendition_is_an_object_with_its_type_and_an_immutable_cache_control() {
    let Some(app) = spawn_app_on_s3(&[]).await else {
        return;
    };
    let alice = app.signed_in("alice").await;
    let response = app
        .upload_picture(&alice.token, jpeg(&marked(800, 600)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let profile: Value = response.json().await.unwrap();
    let names = rendition_names(&profile);
    assert_eq!(names.len(), 8, "4 sizes in JPEG and WebP: {names:?}");

    let objects = server(&app).objects();
    for name in &names {
        assert!(objects.contains(name), "{name} not in {objects:?}");
    }
    assert!(objects.contains(&"default.jpg".to_owned()), "{objects:?}");

    let client = bucket(server(&app));
    for name in &names {
        let object = client.get(&ObjectPath::from(name.as_str())).await.unwrap();
        let expected_type = if name.ends_with(".webp") {
            "image/webp"
        } else {
            "image/jpeg"
        };
        assert_eq!(
            object
                .attributes
                .get(&Attribute::ContentType)
                .map(|v| v.as_ref()),
            Some(expected_type),
            "{name}"
        );
        assert_eq!(
            object
                .attributes
                .get(&Attribute::CacheControl)
                .map(|v| v.as_ref()),
            Some("public, max-age=31536000, immutable"),
            "{name}"
        );
        // What /media serves is the object's bytes.
        let stored = object.bytes().await.unwrap();
        let served = app.get(&format!("/media/{name}"), None).await;
        assert_eq!(served.status(), StatusCode::OK);
        assert_eq!(
            served.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(served.headers()["content-type"], expected_type);
        let etag = served.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(served.bytes().await.unwrap(), stored);
        let again = app
            .client
            .get(app.url(&format!("/media/{name}")))
            .header("If-None-Match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    }
    let decoded = image::load_from_memory(&app.stored_picture(&profile)).unwrap();
    assert_eq!(
        (decoded.width(), decoded.height()),
        (300, 225),
        "image.url's rendition"
    );
}

#[tokio::test]
async fn replaced_and_deleted_pictures_leave_the_bucket_and_the_default_stays() {
    let Some(app) = spawn_app_on_s3(&[]).await else {
        return;
    };
    let alice = app.signed_in("alice").await;
    let first: Value = app
        .upload_picture(&alice.token, jpeg(&marked(200, 200)))
        .await
        .json()
        .await
        .unwrap();
    let second: Value = app
        .upload_picture(&alice.token, jpeg(&marked(200, 200)))
        .await
        .json()
        .await
        .unwrap();
    let objects = server(&app).objects();
    for name in rendition_names(&first) {
        assert!(!objects.contains(&name), "{name} outlived its replacement");
    }
    for name in rendition_names(&second) {
        assert!(objects.contains(&name), "{name}");
    }
    let response = app
        .delete(&format!("/users/{}", alice.id), Some(&alice.token))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let left = server(&app).objects();
    assert!(
        left.iter().all(|name| !name.starts_with("profile_pics/")),
        "{left:?}"
    );
    assert!(left.contains(&"default.jpg".to_owned()));
    assert_eq!(
        app.get("/media/default.jpg", None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_key_prefix_keeps_every_object_under_it() {
    let Some(server) = S3Server::start() else {
        crate::support::missing("s3s-fs");
        return;
    };
    let settings = server.settings("tenant/media");
    let overrides: Vec<(&'static str, &str)> = settings
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    let app = crate::support::spawn_app_with_settings(&overrides).await;
    let alice = app.signed_in("alice").await;
    let profile: Value = app
        .upload_picture(
            &alice.token,
            png(&image::DynamicImage::ImageRgb8(marked(90, 60))),
        )
        .await
        .json()
        .await
        .unwrap();
    let objects = server.objects();
    assert!(
        objects.iter().all(|name| name.starts_with("tenant/media/")),
        "{objects:?}"
    );
    for name in rendition_names(&profile) {
        assert!(objects.contains(&format!("tenant/media/{name}")), "{name}");
        assert_eq!(
            app.get(&format!("/media/{name}"), None).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(app.stored_pics().len(), rendition_names(&profile).len());
}

#[tokio::test]
async fn a_large_object_is_streamed_from_the_bucket() {
    let Some(app) = spawn_app_on_s3(&[]).await else {
        return;
    };
    // Larger than what /media reads whole (4 MiB): it arrives in chunks.
    let big: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    app.store(
        "profile_pics/0123456789abcdef0123456789abcdef-big.jpg",
        &big,
    );
    let response = app
        .get(
            "/media/profile_pics/0123456789abcdef0123456789abcdef-big.jpg",
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-length"], big.len().to_string());
    assert_eq!(response.bytes().await.unwrap().as_ref(), big.as_slice());
    assert_eq!(
        app.get("/media/profile_pics/nothing-here.jpg", None)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn check_finds_and_fixes_the_bucket() {
    let Some(app) = spawn_app_on_s3(&[]).await else {
        return;
    };
    let alice = app.signed_in("alice").await;
    let profile: Value = app
        .upload_picture(&alice.token, jpeg(&marked(400, 300)))
        .await
        .json()
        .await
        .unwrap();
    let names = rendition_names(&profile);
    app.unstore(&names[0]);
    let stray = "profile_pics/00112233445566778899aabbccddeeff-64.jpg";
    app.store(stray, &jpeg(&marked(64, 48)));
    app.unstore("default.jpg");

    // Just written: a stray is young, and only reported after the grace.
    let young = app.command().arg("check").output().unwrap();
    let report = String::from_utf8_lossy(&young.stdout);
    assert_eq!(young.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!(
            "picture of user {} is missing renditions",
            alice.id
        )),
        "{report}"
    );
    assert!(!report.contains(stray), "{report}");

    let found = app
        .command()
        .args(["check", "--grace", "0"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&found.stdout);
    assert_eq!(found.status.code(), Some(1), "{report}");
    assert!(report.contains(stray), "{report}");
    assert!(server(&app).objects().contains(&stray.to_owned()));

    let fixed = app
        .command()
        .args(["check", "--fix", "--grace", "0"])
        .output()
        .unwrap();
    assert!(
        fixed.status.success(),
        "{}",
        String::from_utf8_lossy(&fixed.stdout)
    );
    let objects = server(&app).objects();
    assert!(!objects.contains(&stray.to_owned()), "{objects:?}");
    let now: Value = app.get_json("/profile", Some(&alice.token)).await;
    let regenerated = rendition_names(&now);
    assert_eq!(regenerated.len(), names.len());
    for name in &regenerated {
        assert!(objects.contains(name), "{name} not regenerated");
    }
    assert!(objects.contains(&"default.jpg".to_owned()));
    let clean = app
        .command()
        .args(["check", "--grace", "0"])
        .output()
        .unwrap();
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stdout)
    );
}

#[tokio::test]
async fn healthz_is_503_while_the_store_does_not_answer() {
    let Some(mut app) = spawn_app_on_s3(&[]).await else {
        return;
    };
    assert_eq!(app.get("/healthz", None).await.status(), StatusCode::OK);
    drop(app.s3.take());
    let response = tokio::time::timeout(Duration::from_secs(60), app.get("/healthz", None))
        .await
        .expect("an answer, not a hang");
    let problem = crate::support::assert_problem(response, 503).await;
    assert!(!problem.to_string().contains(SECRET_KEY), "{problem}");
}

#[tokio::test]
async fn a_bad_bucket_or_bad_credentials_stop_the_start_in_one_line() {
    let Some(server) = S3Server::start() else {
        crate::support::missing("s3s-fs");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |overrides: &[(&str, &str)]| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_portrait"));
        command
            .arg("migrate")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/p.sqlite3", dir.path().display()),
            )
            .env(
                "EMAIL_URL",
                format!("file://{}/outbox", dir.path().display()),
            )
            .env("RUST_LOG", "off")
            .envs(server.settings(""));
        for (name, value) in overrides {
            command.env(name, value);
        }
        command.output().unwrap()
    };
    let good = run(&[]);
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    for (overrides, what) in [
        (
            &[("MEDIA_STORAGE", "s3://no-such-bucket")][..],
            "no-such-bucket",
        ),
        (
            &[("AWS_SECRET_ACCESS_KEY", "not-the-secret-key-at-all")][..],
            BUCKET,
        ),
    ] {
        let output = run(overrides);
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].contains("object store") && lines[0].contains(what),
            "{stderr}"
        );
        assert!(!stderr.contains("not-the-secret-key-at-all"), "{stderr}");
        assert!(!stderr.contains(SECRET_KEY), "{stderr}");
    }
}
