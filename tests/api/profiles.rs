//! Profiles: reading one, changing the bio, who may.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{assert_problem, spawn_app};

#[tokio::test]
async fn a_profile_is_public_and_starts_on_the_default_picture() {
    let app = spawn_app().await;
    let alice = app.register("alice").await;
    let id = alice["id"].as_i64().unwrap();
    let response = app.get(&format!("/users/{id}/profile"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["user_id"], id);
    assert_eq!(profile["username"], "alice");
    assert_eq!(profile["bio"], "");
    let image = &profile["image"];
    assert_eq!(image["url"], "/media/default.jpg");
    assert_eq!(
        (&image["width"], &image["height"]),
        (&json!(300), &json!(300))
    );
    assert_eq!(image["is_default"], true);
    assert!(image["thumbhash"].as_str().is_some_and(|t| !t.is_empty()));
    // The shipped 300-pixel picture: the 64, 128 and 300 renditions.
    let urls: Vec<&str> = image["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["url"].as_str().unwrap())
        .collect();
    assert_eq!(
        urls,
        [
            "/media/default-64.jpg",
            "/media/default-128.jpg",
            "/media/default-300.jpg",
            "/media/default-64.webp",
            "/media/default-128.webp",
            "/media/default-300.webp"
        ]
    );
    for url in urls {
        assert_eq!(app.get(url, None).await.status(), StatusCode::OK, "{url}");
    }
    assert!(profile["updated_at"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn media_url_may_be_a_cdn() {
    let app =
        crate::support::spawn_app_with_settings(&[("MEDIA_URL", "https://cdn.example.com/m/")])
            .await;
    let alice = app.register("alice").await;
    assert_eq!(
        alice["profile"]["image"]["url"],
        "https://cdn.example.com/m/default.jpg"
    );
}

#[tokio::test]
async fn the_bio_is_changed_by_its_owner_or_staff_only() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let bob = app.signed_in("bob").await;
    let staff = app.signed_in_staff("staff", false).await;
    let path = format!("/users/{}/profile", alice.id);

    let response = app
        .patch_json(
            &path,
            &json!({"bio": "  I paint birds.  "}),
            Some(&alice.token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["bio"], "I paint birds.");
    let fetched: Value = app.get_json(&path, None).await;
    assert_eq!(fetched["bio"], "I paint birds.");

    assert_problem(
        app.patch_json(&path, &json!({"bio": "bob was here"}), Some(&bob.token))
            .await,
        403,
    )
    .await;
    assert_problem(
        app.patch_json(&path, &json!({"bio": "anon"}), None).await,
        401,
    )
    .await;
    let response = app
        .patch_json(
            &path,
            &json!({"bio": "tidied by staff"}),
            Some(&staff.token),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let too_long = app
        .patch_json(&path, &json!({"bio": "é".repeat(501)}), Some(&alice.token))
        .await;
    assert!(assert_problem(too_long, 422).await["errors"]["bio"].is_array());
    let ok_500 = app
        .patch_json(&path, &json!({"bio": "é".repeat(500)}), Some(&alice.token))
        .await;
    assert_eq!(ok_500.status(), StatusCode::OK);
    let not_a_string = app
        .patch_json(&path, &json!({"bio": 5}), Some(&alice.token))
        .await;
    assert_problem(not_a_string, 422).await;
    let fetched: Value = app.get_json(&path, None).await;
    assert_eq!(fetched["bio"].as_str().unwrap().chars().count(), 500);
}

#[tokio::test]
async fn get_profile_is_your_own() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    let response = app.get("/profile", Some(&alice.token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["user_id"], alice.id);
    assert_problem(app.get("/profile", None).await, 401).await;
}
