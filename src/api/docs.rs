//! The OpenAPI document (utoipa, OpenAPI 3.1) and the Swagger UI that shows
//! it, every asset served from the binary. `portrait openapi` prints the
//! same document that GET /openapi.json serves.

use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use utoipa::openapi::schema::{AdditionalProperties, Schema};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::RefOr;
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use crate::api::dto;
use crate::error::Problem;

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
        dto::HealthBody, dto::RegisterRequest, dto::UserPatchRequest, dto::ProfilePatchRequest,
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

/// The document as served, pretty-printed with a final newline.
pub fn openapi_json() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// The served document, made once.
static DOCUMENT: LazyLock<web::Bytes> = LazyLock::new(|| web::Bytes::from(openapi_json()));

/// This document.
#[utoipa::path(
    get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object))
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.clone())
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
