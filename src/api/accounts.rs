//! /auth handlers for the email flows: password reset (ask, confirm) and
//! email verification (verify, resend). The email throttles are checked
//! here, as DRF's throttles are a view's; the rules live in
//! `services::accounts`.

use actix_web::{web, HttpRequest, HttpResponse};

use crate::api::body::{Fields, JsonObject};
use crate::api::client::client_ip;
use crate::api::error::{ApiError, Problem};
use crate::api::extract::{AuthUser, MaybeAuthUser};
use crate::api::{blocking, hashing};
use crate::auth::throttle::ClientKey;
use crate::context::AppContext;
use crate::domain::Email;
use crate::services::accounts;

const TOO_MANY_EMAILS: &str = "Too many emails asked for. Try again later.";

/// Ask for a password reset link. The answer is the same whether or not
/// the address is known; a known, active user gets an email.
#[utoipa::path(
    post, path = "/auth/password-reset", operation_id = "auth_password_reset", tag = "auth",
    request_body = crate::api::dto::PasswordResetRequest,
    responses(
        (status = 202, description = "Accepted: if an active user has this address, a reset link is on its way"),
        (status = 400, description = "Not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A bad token in Authorization", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an email address", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over EMAIL_RATE_PER_CLIENT or EMAIL_RATE_PER_ADDRESS", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn password_reset(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    // Unused, but a bad token is 401 on every API route (the contract).
    _: MaybeAuthUser,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(body);
    let email = fields.required_string("email");
    let email = fields.parse("email", email, Email::parse);
    fields.finish()?;
    let Some(email) = email else {
        return Err(ApiError::internal());
    };
    let client = ClientKey::from(client_ip(&req, &ctx.settings.trusted_proxies));
    ctx.email_rates
        .allow(client, &email.normalized())
        .map_err(|wait| ApiError::too_many(TOO_MANY_EMAILS, wait))?;
    // Only a queue push: no lookup on the request's path, so a known and
    // an unknown address are answered alike.
    accounts::request_password_reset(&ctx, &email);
    Ok(HttpResponse::Accepted().finish())
}

/// Set a new password with the token of a reset link. Every older token of
/// the user stops working; the address counts as verified.
#[utoipa::path(
    post, path = "/auth/password-reset/confirm", operation_id = "auth_password_reset_confirm", tag = "auth",
    request_body = crate::api::dto::PasswordResetConfirmRequest,
    responses(
        (status = 204, description = "Password set; every older token revoked"),
        (status = 400, description = "A bad, used or expired token, or not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A bad token in Authorization", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing fields, or an unacceptable new password", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "Too many password hashes waiting", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    )
)]
pub async fn password_reset_confirm(
    ctx: web::Data<AppContext>,
    // Unused, but a bad token is 401 on every API route (the contract).
    _: MaybeAuthUser,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(body);
    let token = fields.required_string("token");
    let new_password = fields.required_string("new_password");
    fields.finish()?;
    let (Some(token), Some(new_password)) = (token, new_password) else {
        return Err(ApiError::internal());
    };
    hashing(&ctx, move |ctx| {
        accounts::confirm_password_reset(ctx, &token, &new_password)
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}

/// Verify an email address with the token of a verification link.
#[utoipa::path(
    post, path = "/auth/verify-email", operation_id = "auth_verify_email", tag = "auth",
    request_body = crate::api::dto::VerifyEmailRequest,
    responses(
        (status = 204, description = "`email_verified` is now true"),
        (status = 400, description = "A bad, used or expired token (or one sent to an address the user no longer has), or not a JSON object", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "A bad token in Authorization", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not application/json", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing field", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn verify_email(
    ctx: web::Data<AppContext>,
    // Unused, but a bad token is 401 on every API route (the contract).
    _: MaybeAuthUser,
    body: JsonObject,
) -> Result<HttpResponse, ApiError> {
    let mut fields = Fields::new(body);
    let token = fields.required_string("token");
    fields.finish()?;
    let Some(token) = token else {
        return Err(ApiError::internal());
    };
    blocking(&ctx, move |ctx| accounts::verify_email(ctx, &token)).await??;
    Ok(HttpResponse::NoContent().finish())
}

/// Send the signed-in user a new verification link (nothing is sent when
/// the address is verified already).
#[utoipa::path(
    post, path = "/auth/verify-email/resend", operation_id = "auth_verify_email_resend", tag = "auth",
    responses(
        (status = 202, description = "Accepted: a new link is on its way unless the address is verified"),
        (status = 401, description = "Not signed in", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Over EMAIL_RATE_PER_CLIENT or EMAIL_RATE_PER_ADDRESS", body = Problem, content_type = "application/problem+json",
         headers(("Retry-After" = u64, description = "Seconds to wait"))),
    ),
    security(("bearer" = []))
)]
pub async fn verify_email_resend(
    ctx: web::Data<AppContext>,
    req: HttpRequest,
    AuthUser(user): AuthUser,
) -> Result<HttpResponse, ApiError> {
    let client = ClientKey::from(client_ip(&req, &ctx.settings.trusted_proxies));
    ctx.email_rates
        .allow(client, &user.email_normalized)
        .map_err(|wait| ApiError::too_many(TOO_MANY_EMAILS, wait))?;
    accounts::resend_verification(&ctx, &user);
    Ok(HttpResponse::Accepted().finish())
}
