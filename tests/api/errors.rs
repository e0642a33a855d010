//! Every error a client sees is problem+json, the framework's own included.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{assert_problem, spawn_app, spawn_app_with_settings};

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_problem_json() {
    let app = spawn_app().await;
    assert_problem(app.get("/no/such/route", None).await, 404).await;
    let response = app.client.put(app.url("/users")).send().await.unwrap();
    assert_problem(response, 405).await;
    let response = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_problem(response, 405).await;
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_400_and_other_types_415() {
    let app = spawn_app().await;
    for body in ["{not json", "[1, 2]", "\"alice\"", "null", ""] {
        let response = app
            .client
            .post(app.url("/users"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_problem(response, 400).await;
    }
    let response = app
        .client
        .post(app.url("/users"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(response, 415).await;
    let response = app
        .client
        .post(app.url("/users"))
        .form(&[("username", "x")])
        .send()
        .await
        .unwrap();
    assert_problem(response, 415).await;
}

#[tokio::test]
async fn an_oversized_json_body_is_413() {
    let app = spawn_app_with_settings(&[("MAX_JSON_BYTES", "1024")]).await;
    let body = format!("{{\"username\": \"{}\"}}", "a".repeat(4096));
    let response = app
        .client
        .post(app.url("/users"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_problem(response, 413).await;
}

#[tokio::test]
async fn healthz_answers_ok_when_the_database_does() {
    let app = spawn_app().await;
    let response = app.get("/healthz", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        serde_json::json!({"status": "ok"})
    );
}

/// Every GET route answers HEAD: the same status and headers, no body.
#[tokio::test]
async fn every_get_route_answers_head_with_the_same_headers_and_no_body() {
    let app = spawn_app().await;
    let alice = app.signed_in("alice").await;
    for path in [
        format!("/users/{}", alice.id),
        format!("/users/{}/profile", alice.id),
        "/profile".to_owned(),
        "/users?limit=1".to_owned(),
        "/media/default.jpg".to_owned(),
        "/healthz".to_owned(),
        "/openapi.json".to_owned(),
        "/docs/".to_owned(),
        "/users/999999".to_owned(),
    ] {
        let get = app
            .client
            .get(app.url(&path))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap();
        let head = app
            .client
            .head(app.url(&path))
            .bearer_auth(&alice.token)
            .send()
            .await
            .unwrap();
        assert_eq!(head.status(), get.status(), "{path}");
        for name in ["content-type", "content-length", "cache-control", "etag"] {
            if name == "etag" && path.starts_with("/docs") {
                continue;
            }
            assert_eq!(
                head.headers().get(name),
                get.headers().get(name),
                "{path}: {name}"
            );
        }
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
}

#[tokio::test]
async fn oversized_urls_and_headers_are_problem_json_414_and_431() {
    let app = spawn_app_with_settings(&[("MAX_URL_BYTES", "1024")]).await;
    let long_url = app.url(&format!("/users?search={}", "a".repeat(2_000)));
    assert_problem(app.client.get(long_url).send().await.unwrap(), 414).await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("X-Padding", "p".repeat(100_000))
        .send()
        .await
        .unwrap();
    assert_problem(response, 431).await;
}
