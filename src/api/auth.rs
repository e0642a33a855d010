//! /auth handlers for sessions: sign in, refresh, logout and logout
//! everywhere. Rules (throttling, one answer for every bad credential)
//! live in `services::auth`; rotation and revocation in
//! `services::sessions`. Password reset and email verification are in
//! `accounts`.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::body::{Fields, JsonObject};
use crate::api::client::client_ip;
use crate::api::dto::TokenBody;
use crate::api::error::{ApiError, Problem};
use crate::api::extract::{AuthUser, MaybeAuthUser};
use crate::api::{blocking, hashing};
use crate::context::AppContext;
use crate::services::{auth, sessions};

/// Sign in: a username and password for an access and a refresh token.
#[utoipa::path(
    post, path = "/auth/token", operation_id = "auth_token", tag = "auth",
    request_body = crate::api::dto::TokenRequest,
    responses(
        (status = 200, description = "Signed in", body = TokenBody, headers(("Cache-Control" = String, description = "no-store"))),
        (status = 400, description = "Not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Wrong username or password, inactive user, or a bad token in Authorization", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Right credentials, but REQUIRE_VERIFIED_EMAIL is on and the address is not verified (problem type `urn:portrait:problem:email-not-verified`)", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing fields", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
        (status = 503, description = "Too many password hashes waiting", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn token(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    // Unused, but a bad token is 401 on every API route (the contract),
    // sign-in included: a client must drop a stale token, not send it.
    _: MaybeAuthUser,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(body);
    let username = fields.required_string("username");
    let password = fields.required_string("password");
    fields.finish()?;
    let (Some(username), Some(password)) = (username, password) else {
        return Err(ApiError::internal());
    };
    let client = client_ip(&req, &ctx.settings.trusted_proxies);
    auth::may_attempt(&ctx, client, &username)?;
    let pair = hashing(&ctx, move |ctx| {
        auth::login(ctx, client, &username, &password)
    })
    .await??;
    Ok(tokens(pair))
}

/// Trade a refresh token for a new pair. The token sent is spent: sent
/// again, it revokes every refresh token of its sign-in (reuse detection).
#[utoipa::path(
    post, path = "/auth/refresh", operation_id = "auth_refresh", tag = "auth",
    request_body = crate::api::dto::RefreshRequest,
    responses(
        (status = 200, description = "A new access and a new refresh token; the one sent is spent", body = TokenBody, headers(("Cache-Control" = String, description = "no-store"))),
        (status = 400, description = "Not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not a valid refresh token (expired, spent, revoked), or a bad token in Authorization", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn refresh(
    ctx: web::Data<AppContext>,
    // Unused, but a bad token is 401 on every API route (the contract).
    _: MaybeAuthUser,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(body);
    let token = fields.required_string("refresh_token");
    fields.finish()?;
    let Some(token) = token else {
        return Err(ApiError::internal());
    };
    let pair = blocking(&ctx, move |ctx| sessions::rotate(ctx, &token)).await??;
    Ok(tokens(pair))
}

/// Sign out: every refresh token of this sign-in stops working.
#[utoipa::path(
    post, path = "/auth/logout", operation_id = "auth_logout", tag = "auth",
    request_body = crate::api::dto::LogoutRequest,
    responses(
        (status = 204, description = "That sign-in's refresh tokens are revoked"),
        (status = 400, description = "Not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Not a valid refresh token (expired, spent, revoked), or a bad token in Authorization", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn logout(
    ctx: web::Data<AppContext>,
    // Unused, but a bad token is 401 on every API route (the contract).
    _: MaybeAuthUser,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(body);
    let token = fields.required_string("refresh_token");
    fields.finish()?;
    let Some(token) = token else {
        return Err(ApiError::internal());
    };
    blocking(&ctx, move |ctx| sessions::logout(ctx, &token)).await??;
    Ok(HttpResponse::NoContent().finish())
}

/// Sign out everywhere: every access and refresh token of the user stops
/// working.
#[utoipa::path(
    post, path = "/auth/logout-all", operation_id = "auth_logout_all", tag = "auth",
    responses(
        (status = 204, description = "Every token of the user is revoked"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn logout_all(
    ctx: web::Data<AppContext>,
    AuthUser(user): AuthUser,
) -> Result<HttpResponse, ApiError> {
    blocking(&ctx, move |ctx| sessions::logout_all(ctx, &user)).await??;
    Ok(HttpResponse::NoContent().finish())
}

/// Tokens are never to be stored by a cache along the way.
fn tokens(pair: crate::auth::jwt::TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(TokenBody::from(pair))
}
