//! /metrics for the people who run portrait: scraped as Prometheus would,
//! on its own listener (METRICS_ADDR), never on the API's.

use reqwest::StatusCode;

use crate::support::images::{jpeg, marked};
use crate::support::{spawn_app, spawn_app_with_settings};

/// The value of the sample whose name and labels contain all of `parts`.
fn sample(text: &str, name: &str, parts: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter(|line| line.starts_with(name) && parts.iter().all(|part| line.contains(part)))
        .find_map(|line| line.rsplit(' ').next()?.parse().ok())
}

#[tokio::test]
async fn metrics_count_requests_queues_and_pictures_on_their_own_address() {
    let app = spawn_app_with_settings(&[("METRICS_ADDR", "127.0.0.1:0")]).await;
    let metrics = app.metrics_address.clone().expect("METRICS_ADDR was set");
    let alice = app.signed_in("alice").await;
    assert_eq!(app.get("/users/999999", None).await.status(), 404);
    assert_eq!(
        app.upload_picture(&alice.token, jpeg(&marked(400, 300)))
            .await
            .status(),
        StatusCode::OK
    );

    let scraped = app
        .client
        .get(format!("{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = scraped.text().await.unwrap();

    let created = sample(
        &text,
        "portrait_http_requests_total",
        &["route=\"/users\"", "method=\"POST\"", "status=\"201\""],
    );
    assert!(created.unwrap_or(0.0) >= 1.0, "{text}");
    // A route is its pattern, whatever id was asked for.
    let missing = sample(
        &text,
        "portrait_http_requests_total",
        &["route=\"/users/{id}\"", "status=\"404\""],
    );
    assert!(missing.unwrap_or(0.0) >= 1.0, "{text}");
    assert!(
        !text.contains("/users/999999"),
        "no path a client sent is a label"
    );
    for counted in [
        "portrait_http_request_duration_seconds_count{method=\"PUT\",route=\"/profile/picture\"}",
        "portrait_picture_processing_seconds_count",
        "portrait_db_pool_wait_seconds_count",
    ] {
        let value = sample(&text, counted, &[]).unwrap_or(0.0);
        assert!(value >= 1.0, "{counted}: {value}\n{text}");
    }
    for gauge in [
        "portrait_db_pool_connections_in_use",
        "portrait_db_pool_waiting",
        "portrait_picture_queue_depth",
        "portrait_password_hash_queue_depth",
    ] {
        assert!(
            sample(&text, gauge, &[]).is_some(),
            "{gauge} missing\n{text}"
        );
    }
    assert!(
        text.contains("# TYPE portrait_storage_errors_total counter"),
        "{text}"
    );

    // Never on the API's own address.
    assert_eq!(
        app.get("/metrics", None).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn without_metrics_addr_nothing_listens() {
    let app = spawn_app().await;
    assert!(app.metrics_address.is_none());
}
