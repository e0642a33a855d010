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
