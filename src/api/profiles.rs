//! /users/{id}/profile and /profile handlers, and what every answer that
//! carries a profile shares: its `ETag`, and the `If-Match` a change may
//! send. Rules live in `services::profiles`.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::blocking;
use crate::api::body::{path_id, Fields, JsonObject};
use crate::api::dto::ProfileBody;
use crate::api::error::{ApiError, Problem};
use crate::api::extract::{AuthUser, MaybeAuthUser};
use crate::context::AppContext;
use crate::domain::Bio;
use crate::models::{Profile, User};
use crate::services::profiles::{self, IfMatch};

/// A profile answer: the JSON and its strong `ETag`.
pub(crate) fn profile_answer(ctx: &AppContext, user: &User, profile: &Profile) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::ETAG, profiles::etag(user, profile)))
        .json(ProfileBody::new(user, profile, ctx))
}

/// The request's `If-Match`, if it sent one. A value that is not text
/// names no version we ever sent: it matches nothing (412), never "no
/// condition".
pub(crate) fn if_match(req: &HttpRequest) -> Option<IfMatch> {
    let mut values = Vec::new();
    for value in req.headers().get_all(header::IF_MATCH) {
        match value.to_str() {
            Ok(text) => values.push(text),
            Err(_) => return Some(IfMatch::Tags(Vec::new())),
        }
    }
    (!values.is_empty()).then(|| IfMatch::parse(&values.join(",")))
}

/// Read a user's profile.
#[utoipa::path(
    get, path = "/users/{id}/profile", operation_id = "users_profile_retrieve", tag = "profiles",
    params(("id" = i64, Path, description = "The user's id", minimum = 1)),
    responses(
        (status = 200, description = "The profile", body = ProfileBody,
         headers(("ETag" = String, description = "The profile's version, for If-Match"))),
        (status = 401, description = "A token was sent but is not valid", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn get(
    ctx: web::Data<AppContext>,
    id: web::Path<String>,
    // Unused, but a bad token is 401 on public routes too (as DRF).
    _: MaybeAuthUser,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "profile for this user")?;
    let (user, profile) = blocking(&ctx, move |ctx| profiles::get(ctx, id)).await??;
    Ok(profile_answer(&ctx, &user, &profile))
}

/// Change a profile's bio: the user themself or staff.
#[utoipa::path(
    patch, path = "/users/{id}/profile", operation_id = "users_profile_partial_update", tag = "profiles",
    params(
        ("id" = i64, Path, description = "The user's id", minimum = 1),
        ("If-Match" = Option<String>, Header, description = "The ETag of the profile as last read: the change is made only if it is still current (412 otherwise)"),
    ),
    request_body = crate::api::dto::ProfilePatchRequest,
    responses(
        (status = 200, description = "The changed profile", body = ProfileBody,
         headers(("ETag" = String, description = "The profile's new version"))),
        (status = 400, description = "Not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not this user and not staff", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 412, description = "If-Match does not name the current version: nothing was changed", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bio over 500 characters", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    id: web::Path<String>,
    AuthUser(actor): AuthUser,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id, "profile for this user")?;
    let mut fields = Fields::new(body);
    let bio = fields.optional_string("bio");
    let bio = fields.parse("bio", bio, Bio::parse);
    fields.finish()?;
    let precondition = if_match(&req);
    let (user, profile) = blocking(&ctx, move |ctx| {
        profiles::update(ctx, &actor, id, bio, precondition)
    })
    .await??;
    Ok(profile_answer(&ctx, &user, &profile))
}

/// Read your own profile.
#[utoipa::path(
    get, path = "/profile", operation_id = "profile_retrieve", tag = "profiles",
    responses(
        (status = 200, description = "Your profile", body = ProfileBody,
         headers(("ETag" = String, description = "The profile's version, for If-Match"))),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn own(
    ctx: web::Data<AppContext>,
    AuthUser(user): AuthUser,
) -> Result<HttpResponse, ApiError> {
    let (user, profile) = blocking(&ctx, move |ctx| profiles::get(ctx, user.id)).await??;
    Ok(profile_answer(&ctx, &user, &profile))
}
