//! The OpenAPI document and Swagger UI: served, committed copy up to date,
//! rendered by a real browser.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::spawn_app;

const REGENERATE: &str = "cargo run --quiet -- openapi > openapi/openapi.json";

#[tokio::test]
async fn the_served_document_is_the_committed_one_and_the_cli_prints_it() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.text().await.unwrap();
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap_or_default();
    assert!(
        served == committed,
        "openapi/openapi.json is stale: regenerate it with `{REGENERATE}`"
    );
    let printed = Command::new(env!("CARGO_BIN_EXE_portrait"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(printed.status.success());
    assert_eq!(String::from_utf8(printed.stdout).unwrap(), served);
}

#[tokio::test]
async fn the_document_covers_the_whole_contract() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/openapi.json", None).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let operations = [
        ("/auth/token", "post"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
        ("/auth/logout-all", "post"),
        ("/auth/password-reset", "post"),
        ("/auth/password-reset/confirm", "post"),
        ("/auth/verify-email", "post"),
        ("/auth/verify-email/resend", "post"),
        ("/users", "post"),
        ("/users", "get"),
        ("/users/{id}", "get"),
        ("/users/{id}", "patch"),
        ("/users/{id}", "delete"),
        ("/users/{id}/profile", "get"),
        ("/users/{id}/profile", "patch"),
        ("/profile", "get"),
        ("/profile/picture", "put"),
        ("/profile/picture", "post"),
        ("/profile/picture", "delete"),
        ("/media/{path}", "get"),
        ("/openapi.json", "get"),
        ("/docs", "get"),
        ("/healthz", "get"),
    ];
    for (path, method) in operations {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(
            operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{method} {path} has no tag"
        );
    }
    for (path, method) in [
        ("/users", "get"),
        ("/profile", "get"),
        ("/profile/picture", "put"),
        ("/users/{id}", "delete"),
        ("/auth/logout-all", "post"),
        ("/auth/verify-email/resend", "post"),
    ] {
        let security = &doc["paths"][path][method]["security"];
        assert!(
            security.to_string().contains("bearer"),
            "{method} {path} lacks the bearer scheme"
        );
        assert!(doc["paths"][path][method]["responses"]["401"].is_object());
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    for reference in refs {
        let pointer = reference.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {reference}");
    }
    let upload =
        &doc["paths"]["/profile/picture"]["put"]["requestBody"]["content"]["multipart/form-data"];
    assert!(upload.is_object(), "upload is multipart/form-data");
    let problem =
        &doc["paths"]["/users"]["post"]["responses"]["422"]["content"]["application/problem+json"];
    assert!(problem.is_object(), "errors are documented as problem+json");
}

#[tokio::test]
async fn the_docs_page_and_its_assets_are_served_by_portrait_itself() {
    let app = spawn_app().await;
    let redirect = app.get("/docs", None).await;
    assert_eq!(redirect.status(), StatusCode::MOVED_PERMANENTLY);
    assert_eq!(redirect.headers()["location"], "/docs/");
    let page = app.get("/docs/", None).await;
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"));
    assert!(
        !html.contains("https://"),
        "the page loads nothing from the internet"
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-initializer.js",
    ] {
        let response = app.get(&format!("/docs/{asset}"), None).await;
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
    }
    let initializer = app
        .get("/docs/swagger-initializer.js", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"));
}

/// The page really renders in a browser with no network beyond portrait.
/// Skipped only when Chromium is not installed, and never under CI=true
/// (`.ci/run` installs it).
#[tokio::test]
async fn the_docs_render_in_headless_chromium() {
    let Some(chromium) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        return crate::support::missing("chromium");
    };
    let app = spawn_app().await;
    let profile_dir = tempfile::tempdir().unwrap();
    let url = app.url("/docs/");
    let dom = tokio::task::spawn_blocking({
        let chromium = chromium.to_owned();
        let profile = profile_dir.path().display().to_string();
        move || {
            Command::new(chromium)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--disable-quic",
                    &format!("--user-data-dir={profile}"),
                    "--virtual-time-budget=15000",
                    "--dump-dom",
                    &url,
                ])
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    for expected in [
        "opblock",
        "/users/{id}/profile",
        "/profile/picture",
        "/auth/token",
    ] {
        assert!(dom.contains(expected), "rendered page lacks {expected}");
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                match (key.as_str(), inner) {
                    ("$ref", Value::String(reference)) => refs.push(reference.clone()),
                    _ => collect_refs(inner, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, refs)),
        _ => {}
    }
}

/// What generated clients rely on: one unique, stable operationId per
/// operation; explicit security everywhere; a relative server; each
/// problem answer's example is of its own status (a 422's with `errors`).
#[tokio::test]
async fn generated_clients_can_rely_on_the_document() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/openapi.json", None).await;
    let expected_ids = [
        ("/auth/token", "post", "auth_token"),
        ("/auth/refresh", "post", "auth_refresh"),
        ("/auth/logout", "post", "auth_logout"),
        ("/auth/logout-all", "post", "auth_logout_all"),
        ("/auth/password-reset", "post", "auth_password_reset"),
        (
            "/auth/password-reset/confirm",
            "post",
            "auth_password_reset_confirm",
        ),
        ("/auth/verify-email", "post", "auth_verify_email"),
        (
            "/auth/verify-email/resend",
            "post",
            "auth_verify_email_resend",
        ),
        ("/users", "post", "users_create"),
        ("/users", "get", "users_list"),
        ("/users/{id}", "get", "users_retrieve"),
        ("/users/{id}", "patch", "users_partial_update"),
        ("/users/{id}", "delete", "users_destroy"),
        ("/users/{id}/profile", "get", "users_profile_retrieve"),
        (
            "/users/{id}/profile",
            "patch",
            "users_profile_partial_update",
        ),
        ("/profile", "get", "profile_retrieve"),
        ("/profile/picture", "put", "profile_picture_update"),
        ("/profile/picture", "post", "profile_picture_create"),
        ("/profile/picture", "delete", "profile_picture_destroy"),
        ("/media/{path}", "get", "media_retrieve"),
        ("/openapi.json", "get", "openapi_retrieve"),
        ("/docs", "get", "docs_retrieve"),
        ("/healthz", "get", "healthz_retrieve"),
    ];
    let mut seen = std::collections::HashSet::new();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let id = operation["operationId"].as_str().unwrap();
            assert!(seen.insert(id), "operationId {id} is used twice");
            assert!(
                operation["security"].is_array(),
                "{method} {path} does not say whether it needs a token"
            );
            for (status, response) in operation["responses"].as_object().unwrap() {
                let problem = &response["content"]["application/problem+json"];
                if problem.is_null() {
                    continue;
                }
                let example = &problem["example"];
                assert_eq!(
                    example["status"].to_string(),
                    *status,
                    "{method} {path} {status}: example of another status"
                );
                if status == "422" || status == "409" {
                    assert!(
                        example["errors"].is_object(),
                        "{method} {path} {status} example lacks errors"
                    );
                }
            }
        }
    }
    assert_eq!(operations, expected_ids.len());
    for (path, method, id) in expected_ids {
        assert_eq!(doc["paths"][path][method]["operationId"], id);
    }
    for public in [
        ("/users", "post"),
        ("/auth/token", "post"),
        ("/users/{id}/profile", "get"),
        ("/healthz", "get"),
        ("/auth/logout", "post"),
        ("/auth/password-reset", "post"),
        ("/auth/password-reset/confirm", "post"),
        ("/auth/verify-email", "post"),
    ] {
        assert_eq!(
            doc["paths"][public.0][public.1]["security"],
            serde_json::json!([]),
            "{public:?} is public"
        );
    }
    assert_eq!(doc["servers"][0]["url"], "/");
    assert!(doc["components"]["schemas"]["Problem"]["example"].is_null());
    assert!(
        doc["components"]["securitySchemes"]["bearer"]["description"]
            .as_str()
            .unwrap()
            .contains("/auth/token")
    );
    let media = doc["paths"]["/media/{path}"]["get"]["responses"]["200"]["content"]
        .as_object()
        .unwrap();
    for served in ["image/jpeg", "image/png", "image/webp", "image/gif"] {
        assert!(
            media.contains_key(served),
            "/media does not declare {served}"
        );
    }
}

/// Fields the server omits are optional and not nullable; fields it
/// always sends are required; timestamps say they are date-times.
#[tokio::test]
async fn optional_and_nullable_fields_say_what_the_server_does() {
    let app = spawn_app().await;
    let doc: Value = app.get_json("/openapi.json", None).await;
    let schemas = &doc["components"]["schemas"];
    let user = &schemas["UserBody"];
    let required: Vec<&str> = user["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for field in ["email", "is_staff", "last_login", "email_verified"] {
        assert!(!required.contains(&field), "{field} is not always sent");
    }
    assert_eq!(user["properties"]["email_verified"]["type"], "boolean");
    assert_eq!(user["properties"]["email"]["type"], "string");
    assert_eq!(user["properties"]["is_staff"]["type"], "boolean");
    assert_eq!(
        user["properties"]["last_login"]["type"],
        serde_json::json!(["string", "null"])
    );
    for (schema, field) in [
        ("UserBody", "date_joined"),
        ("UserBody", "last_login"),
        ("ProfileBody", "updated_at"),
    ] {
        assert_eq!(schemas[schema]["properties"][field]["format"], "date-time");
    }
    for page in ["UserPage", "UserCursorPage"] {
        let required = schemas[page]["required"].to_string();
        for field in ["next", "previous", "results"] {
            assert!(required.contains(field), "{page}.{field} is always sent");
        }
    }
}

/// The UI keeps an Authorize token across reloads.
#[tokio::test]
async fn swagger_ui_persists_the_authorization() {
    let app = spawn_app().await;
    let initializer = app.get("/docs/swagger-initializer.js", None).await;
    let text = initializer.text().await.unwrap();
    assert!(
        text.contains("\"persistAuthorization\": true"),
        "persistAuthorization is not set: {text}"
    );
}

#[tokio::test]
async fn every_get_of_the_docs_answers_head() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    for path in [
        "/docs/",
        "/docs/swagger-ui.css",
        "/openapi.json",
        "/healthz",
    ] {
        let head = client.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        let get = app.get(path, None).await;
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {path} has GET's headers"
        );
        assert!(
            head.bytes().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
}
