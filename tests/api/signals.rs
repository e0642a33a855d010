//! Signals: the profile made with its user, a failing receiver rolling the
//! whole save back.

use serde_json::json;

use crate::support::{assert_problem, failing_receivers, spawn_app, spawn_app_with, PASSWORD};

#[tokio::test]
async fn a_failing_receiver_rolls_the_user_back() {
    let app = spawn_app_with(&[], failing_receivers).await;
    let response = app
        .post_json(
            "/users",
            &json!({"username": "alice", "email": "alice@example.com", "password": PASSWORD}),
            None,
        )
        .await;
    let problem = assert_problem(response, 500).await;
    assert!(
        !problem.to_string().contains("on purpose"),
        "a 500 leaks nothing: {problem}"
    );
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM users"), 0);
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM profiles"), 0);
}

#[tokio::test]
async fn the_default_receivers_are_connected_once() {
    let app = spawn_app().await;
    assert_eq!(
        app.context.signals.post_save_user.receiver_names(),
        vec!["create_profile"]
    );
    assert_eq!(
        app.context.signals.post_delete_profile.receiver_names(),
        vec!["delete_picture_file"]
    );
}
