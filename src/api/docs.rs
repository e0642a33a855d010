//! The OpenAPI document (utoipa, OpenAPI 3.1) and the Swagger UI that shows
//! it, every asset served from the binary. `portrait openapi` prints the
//! same document that GET /openapi.json serves.

use actix_web::{web, HttpResponse};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

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
    ),
    components(schemas(
        Problem, dto::UserBody, dto::ProfileBody, dto::ImageBody, dto::UserPage, dto::TokenBody,
        dto::HealthBody, dto::RegisterRequest, dto::UserPatchRequest, dto::ProfilePatchRequest,
        dto::TokenRequest, dto::RefreshRequest, crate::api::pictures::PictureUpload,
    )),
    modifiers(&BearerSecurity),
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

/// The document as served, pretty-printed with a final newline.
pub fn openapi_json() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    let document = openapi_json();
    cfg.route(
        "/openapi.json",
        web::get().to(move || {
            let document = document.clone();
            async move {
                HttpResponse::Ok()
                    .content_type("application/json")
                    .body(document)
            }
        }),
    );
}
