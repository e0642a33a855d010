//! The OpenAPI document (utoipa, OpenAPI 3.1) and the Swagger UI that shows
//! it, every asset served from the binary. `portrait openapi` prints the
//! same document that GET /openapi.json serves.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use utoipa::openapi::content::Content;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::ServerBuilder;
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::api::dto;
use crate::api::error::{Problem, PROBLEM_JSON};
use crate::context::AppContext;
use crate::domain::{
    DEFAULT_MAX_PASSWORD_CHARS, MAX_BIO_CHARS, MAX_EMAIL_CHARS, MAX_USERNAME_CHARS,
    MIN_PASSWORD_CHARS,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "portrait",
        description = "User accounts, their one-to-one profiles and their profile pictures.\n\n\
Every error is `application/problem+json` (RFC 9457). Every GET route answers HEAD as well. \
A token that is sent but not valid is 401 on every API route, public ones included.",
    ),
    paths(
        crate::api::auth::token,
        crate::api::auth::refresh,
        crate::api::auth::logout,
        crate::api::auth::logout_all,
        crate::api::accounts::password_reset,
        crate::api::accounts::password_reset_confirm,
        crate::api::accounts::verify_email,
        crate::api::accounts::verify_email_resend,
        crate::api::users::register,
        crate::api::users::list,
        crate::api::users::get,
        crate::api::users::update,
        crate::api::users::delete,
        crate::api::profiles::get,
        crate::api::profiles::update,
        crate::api::profiles::own,
        crate::api::pictures::upload,
        crate::api::pictures::upload_post,
        crate::api::pictures::reset,
        crate::api::media::serve,
        crate::api::health::healthz,
        document,
        docs_redirect,
    ),
    components(schemas(
        Problem, dto::UserBody, dto::ProfileBody, dto::ImageBody, dto::UserPage, dto::TokenBody,
        dto::HealthBody, dto::VariantBody, dto::UserCursorPage, dto::UserList, dto::RegisterRequest, dto::UserPatchRequest, dto::ProfilePatchRequest,
        dto::TokenRequest, dto::RefreshRequest, dto::LogoutRequest, dto::PasswordResetRequest,
        dto::PasswordResetConfirmRequest, dto::VerifyEmailRequest, crate::api::pictures::PictureUpload,
    )),
    modifiers(&BearerSecurity, &UnknownFieldsIgnored, &PublicOperations, &ProblemExamples, &MediaTypes, &Servers),
    tags(
        (name = "auth", description = "Sessions (sign in, refresh, logout), password reset and email verification"),
        (name = "users", description = "User accounts"),
        (name = "profiles", description = "One profile per user"),
        (name = "pictures", description = "Profile pictures"),
        (name = "media", description = "Stored files"),
        (name = "meta", description = "Health and documentation"),
    )
)]
pub struct ApiDoc;

struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The `access_token` from POST /auth/token (sign in) or POST /auth/refresh, \
                         sent as `Authorization: Bearer <access_token>`. It expires after \
                         `expires_in` seconds; a refresh token is not accepted here.",
                    ))
                    .build(),
            ),
        );
    }
}

/// Request bodies ignore fields they do not know (as DRF's serializers
/// do); the document says so explicitly, so that fuzzers and generated
/// clients do not guess otherwise.
struct UnknownFieldsIgnored;

const REQUEST_SCHEMAS: [&str; 9] = [
    "RegisterRequest",
    "UserPatchRequest",
    "ProfilePatchRequest",
    "TokenRequest",
    "RefreshRequest",
    "LogoutRequest",
    "PasswordResetRequest",
    "PasswordResetConfirmRequest",
    "VerifyEmailRequest",
];

impl Modify for UnknownFieldsIgnored {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        for name in REQUEST_SCHEMAS {
            if let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(name) {
                object.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(true)));
            }
        }
    }
}

/// Operations that need no token say so with `security: []`, so that
/// Swagger UI draws no lock on them and sends no token, and linters know
/// the omission is meant.
struct PublicOperations;

impl Modify for PublicOperations {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (_, _, operation) in operations(openapi) {
            operation.security.get_or_insert_with(Vec::new);
        }
    }
}

/// Every operation of the document, with its method and path.
fn operations(
    openapi: &mut utoipa::openapi::OpenApi,
) -> impl Iterator<Item = (&'static str, &str, &mut Operation)> {
    openapi.paths.paths.iter_mut().flat_map(|(path, item)| {
        [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("delete", item.delete.as_mut()),
            ("patch", item.patch.as_mut()),
        ]
        .into_iter()
        .filter_map(move |(method, op)| op.map(|op| (method, path.as_str(), op)))
    })
}

/// Each problem+json answer gets an example of what this operation really
/// answers with that status (the texts the server uses), instead of one
/// shared example under every status.
struct ProblemExamples;

impl Modify for ProblemExamples {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (_, _, operation) in operations(openapi) {
            let id = operation.operation_id.clone().unwrap_or_default();
            // Public, or with an optional token (an empty requirement).
            let anonymous = operation
                .security
                .as_ref()
                .is_none_or(|s| s.is_empty() || s.iter().any(|r| *r == Default::default()));
            for (status, response) in operation.responses.responses.iter_mut() {
                let RefOr::T(response) = response else {
                    continue;
                };
                let Some(content) = response.content.get_mut(PROBLEM_JSON) else {
                    continue;
                };
                let Ok(status) = status.parse::<u16>() else {
                    continue;
                };
                content.example = Some(problem_example(&id, status, anonymous));
            }
        }
    }
}

fn problem_example(operation_id: &str, status: u16, anonymous: bool) -> serde_json::Value {
    let detail = match (status, operation_id) {
        (400, "users_list") => "Invalid cursor.",
        (400, id) if id.starts_with("profile_picture") => "The multipart body could not be read.",
        (400, "auth_password_reset_confirm") => "Invalid, used or expired password reset token.",
        (400, "auth_verify_email") => "Invalid, used or expired email verification token.",
        (400, _) => "The request body must be a JSON object.",
        (401, "auth_token") => "No active account found with the given credentials.",
        (401, "auth_refresh" | "auth_logout") => {
            "Given token not valid for any token type, or expired."
        }
        (401, _) if anonymous => "Invalid Authorization header: expected 'Bearer <token>'.",
        (401, _) => "Authentication credentials were not provided.",
        (403, "auth_token") => {
            "Verify your email address before signing in: follow the link we sent you."
        }
        (403, "users_partial_update") => "You may only change your own account.",
        (403, "users_destroy") => "You may only delete your own account.",
        (403, _) => "You may only change your own profile.",
        (404, "media_retrieve") => "No such file.",
        (404, "users_profile_retrieve" | "users_profile_partial_update") => {
            "No profile for this user id."
        }
        (404, _) => "No user with this id.",
        (409, _) => "A user with that username already exists.",
        (412, _) => {
            "The profile has changed since you read it (If-Match). Read it again, then retry."
        }
        (413, _) => "The request body is too large.",
        (415, id) if id.starts_with("profile_picture") => {
            "Unsupported image type. Accepted types: image/jpeg, image/png, image/webp, image/gif."
        }
        (415, _) => "Send the body as application/json.",
        (422, _) => "The request body has invalid fields.",
        (429, "auth_token") => "Too many failed login attempts. Try again later.",
        (429, "auth_password_reset" | "auth_verify_email_resend") => {
            "Too many emails asked for. Try again later."
        }
        (429, id) if id.starts_with("profile_picture") => {
            "Too many picture changes. Try again later."
        }
        (429, _) => "Too many registrations from this address. Try again later.",
        (503, "healthz_retrieve") => "The database is not answering. Try again shortly.",
        (503, _) => "Too many sign-ins are being processed. Try again shortly.",
        _ => "An unexpected error occurred.",
    };
    let title = actix_web::http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let mut example = serde_json::json!({
        "type": "about:blank", "title": title, "status": status, "detail": detail,
    });
    if (status, operation_id) == (403, "auth_token") {
        example["type"] = crate::api::error::EMAIL_NOT_VERIFIED.into();
        example["title"] = "Email address not verified".into();
    }
    let errors = match (status, operation_id) {
        (409, _) => {
            Some(serde_json::json!({"username": ["A user with that username already exists."]}))
        }
        (422, id) if id.starts_with("profile_picture") => Some(serde_json::json!({
            "image": ["The image is truncated or corrupt."],
            "crop": ["The crop must lie inside the picture: x + w and y + h may be at most 1."]
        })),
        (422, "users_profile_partial_update") => {
            Some(serde_json::json!({"bio": ["Ensure this field has no more than 500 characters."]}))
        }
        (422, "auth_token") => Some(serde_json::json!({"password": ["This field is required."]})),
        (422, "auth_refresh" | "auth_logout") => {
            Some(serde_json::json!({"refresh_token": ["This field is required."]}))
        }
        (422, "auth_password_reset_confirm") => {
            Some(serde_json::json!({"new_password": ["This password is entirely numeric."]}))
        }
        (422, "auth_verify_email") => {
            Some(serde_json::json!({"token": ["This field is required."]}))
        }
        (422, _) => Some(serde_json::json!({"email": ["Enter a valid email address."]})),
        _ => None,
    };
    if let Some(errors) = errors {
        example["errors"] = errors;
    }
    example
}

/// GET /media serves what is stored: JPEG, PNG, WebP or GIF pictures, and
/// `application/octet-stream` for a name without a known image extension.
/// Every type is listed, each a binary body, so that generated clients
/// keep the bytes (openapi-python-client reads a body only as
/// `application/octet-stream`).
struct MediaTypes;

impl Modify for MediaTypes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(operation) = openapi
            .paths
            .paths
            .get_mut("/media/{path}")
            .and_then(|item| item.get.as_mut())
        else {
            return;
        };
        let Some(RefOr::T(ok)) = operation.responses.responses.get_mut("200") else {
            return;
        };
        ok.content.clear();
        for media_type in [
            "application/octet-stream",
            "image/jpeg",
            "image/png",
            "image/webp",
            "image/gif",
        ] {
            let binary = ObjectBuilder::new()
                .schema_type(Type::String)
                .content_media_type(media_type)
                .build();
            ok.content
                .insert(media_type.to_owned(), Content::new(Some(binary)));
        }
    }
}

/// Requests go to the server the document was read from, whatever its
/// address: a relative server URL, as generated clients and Swagger UI
/// resolve it against the document's own URL.
struct Servers;

impl Modify for Servers {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.servers = Some(vec![ServerBuilder::new()
            .url("/")
            .description(Some("The server this document is served from"))
            .build()]);
    }
}

/// Length limits of request fields, from the constants and the setting
/// the parsers check them with: the document cannot drift from the code.
struct FieldLimits {
    max_password_chars: usize,
}

impl Modify for FieldLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let limits: [(&str, &str, usize, Option<usize>); 8] = [
            ("RegisterRequest", "username", 1, Some(MAX_USERNAME_CHARS)),
            ("RegisterRequest", "email", 0, Some(MAX_EMAIL_CHARS)),
            (
                "RegisterRequest",
                "password",
                MIN_PASSWORD_CHARS,
                Some(self.max_password_chars),
            ),
            ("UserPatchRequest", "username", 1, Some(MAX_USERNAME_CHARS)),
            ("UserPatchRequest", "email", 0, Some(MAX_EMAIL_CHARS)),
            (
                "UserPatchRequest",
                "password",
                MIN_PASSWORD_CHARS,
                Some(self.max_password_chars),
            ),
            ("ProfilePatchRequest", "bio", 0, Some(MAX_BIO_CHARS)),
            (
                "PasswordResetConfirmRequest",
                "new_password",
                MIN_PASSWORD_CHARS,
                Some(self.max_password_chars),
            ),
        ];
        for (schema, field, min, max) in limits {
            let Some(RefOr::T(Schema::Object(object))) = components.schemas.get_mut(schema) else {
                continue;
            };
            if let Some(RefOr::T(Schema::Object(property))) = object.properties.get_mut(field) {
                property.min_length = (min > 0).then_some(min);
                property.max_length = max;
            }
        }
    }
}

/// The document with the limits of these settings.
fn document_for(max_password_chars: usize) -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    FieldLimits { max_password_chars }.modify(&mut document);
    document
}

/// The document with the default settings, pretty-printed with a final
/// newline (`portrait openapi`, and the committed copy).
pub fn openapi_json() -> String {
    openapi_json_for(DEFAULT_MAX_PASSWORD_CHARS)
}

fn openapi_json_for(max_password_chars: usize) -> String {
    let mut text = document_for(max_password_chars)
        .to_pretty_json()
        .unwrap_or_default();
    text.push('\n');
    text
}

/// The served document, made once per MAX_PASSWORD_LENGTH in use.
static DOCUMENTS: LazyLock<Mutex<HashMap<usize, web::Bytes>>> = LazyLock::new(Default::default);

fn served_document(max_password_chars: usize) -> web::Bytes {
    let mut documents = DOCUMENTS.lock().unwrap_or_else(|p| p.into_inner());
    documents
        .entry(max_password_chars)
        .or_insert_with(|| web::Bytes::from(openapi_json_for(max_password_chars)))
        .clone()
}

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", operation_id = "openapi_retrieve", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn document(ctx: web::Data<AppContext>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(served_document(ctx.settings.max_password_length))
}

/// The API docs (Swagger UI), served by portrait itself: works offline.
#[utoipa::path(
    get, path = "/docs", operation_id = "docs_retrieve", tag = "meta",
    responses(
        (status = 301, description = "Redirect to /docs/, the Swagger UI page", headers(("Location" = String))),
        (status = 200, description = "The Swagger UI page, once the redirect is followed", content_type = "text/html", body = String),
    )
)]
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// GET /openapi.json, GET /docs (a redirect) and /docs/ (Swagger UI).
pub fn routes(cfg: &mut web::ServiceConfig) {
    // Resources rather than `cfg.route`, whose method guard would make any
    // other method a 404 instead of a 405.
    cfg.service(web::resource("/openapi.json").route(web::get().to(document)))
        .service(web::resource("/docs").route(web::get().to(docs_redirect)))
        // The UI's assets are compiled into the binary (the `vendored`
        // feature); it reads the same document clients get.
        .service(
            SwaggerUi::new("/docs/{_:.*}").config(
                Config::new(["/openapi.json"])
                    // A token given to Authorize survives a reload.
                    .persist_authorization(true),
            ),
        );
}
