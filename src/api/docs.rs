//! The OpenAPI document (utoipa, OpenAPI 3.1) and the Swagger UI that shows
//! it, every asset served from the binary. `portrait openapi` prints the
//! same document that GET /openapi.json serves.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use utoipa::openapi::schema::{AdditionalProperties, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::api::dto;
use crate::api::error::Problem;
use crate::context::AppContext;
use crate::domain::{
    DEFAULT_MAX_PASSWORD_CHARS, MAX_BIO_CHARS, MAX_EMAIL_CHARS, MAX_USERNAME_CHARS,
    MIN_PASSWORD_CHARS,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "portrait",
        description = "User accounts, their one-to-one profiles and their profile pictures.",
    ),
    paths(
        crate::api::auth::token,
        crate::api::auth::refresh,
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
        dto::HealthBody, dto::UserCursorPage, dto::UserList, dto::RegisterRequest, dto::UserPatchRequest, dto::ProfilePatchRequest,
        dto::TokenRequest, dto::RefreshRequest, crate::api::pictures::PictureUpload,
    )),
    modifiers(&BearerSecurity, &UnknownFieldsIgnored),
    tags(
        (name = "auth", description = "Tokens: sign in and refresh"),
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
                    .build(),
            ),
        );
    }
}

/// Request bodies ignore fields they do not know (as DRF's serializers
/// do); the document says so explicitly, so that fuzzers and generated
/// clients do not guess otherwise.
struct UnknownFieldsIgnored;

const REQUEST_SCHEMAS: [&str; 5] = [
    "RegisterRequest",
    "UserPatchRequest",
    "ProfilePatchRequest",
    "TokenRequest",
    "RefreshRequest",
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
        let limits: [(&str, &str, usize, Option<usize>); 7] = [
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
    get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn document(ctx: web::Data<AppContext>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(served_document(ctx.settings.max_password_length))
}

/// The API docs (Swagger UI), served by portrait itself: works offline.
#[utoipa::path(
    get, path = "/docs", tag = "meta",
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
        .service(SwaggerUi::new("/docs/{_:.*}").config(Config::new(["/openapi.json"])));
}
