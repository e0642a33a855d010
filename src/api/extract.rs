//! `AuthUser` and `MaybeAuthUser`: the Bearer header turned into a user.
//! A pair rather than `Option<AuthUser>`, which would quietly treat a bad
//! token as no token: with `MaybeAuthUser` a missing header is anonymous
//! but a malformed, expired or forged one is still 401. The database
//! lookup runs on the blocking pool and queues for a connection like any
//! other database work. HTTP code: it lives in `api`, and `auth` (tokens,
//! hashes) knows nothing of it.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};

use crate::api::blocking;
use crate::api::error::ApiError;
use crate::context::AppContext;
use crate::models::User;
use crate::services;

/// A signed-in user; 401 without a valid access token.
pub struct AuthUser(pub User);

/// A signed-in user or nobody; 401 only for a token that is present but bad.
pub struct MaybeAuthUser(pub Option<User>);

type Pending<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pending<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lookup = lookup_user(req);
        Box::pin(async move {
            lookup.await?.map(AuthUser).ok_or_else(|| {
                ApiError::unauthorized("Authentication credentials were not provided.")
            })
        })
    }
}

impl FromRequest for MaybeAuthUser {
    type Error = ApiError;
    type Future = Pending<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let lookup = lookup_user(req);
        Box::pin(async move { Ok(MaybeAuthUser(lookup.await?)) })
    }
}

fn lookup_user(req: &HttpRequest) -> Pending<Option<User>> {
    let ctx = req.app_data::<web::Data<AppContext>>().cloned();
    let token = bearer_token(req);
    Box::pin(async move {
        let Some(token) = token? else { return Ok(None) };
        let ctx = ctx.ok_or_else(ApiError::internal)?;
        let user = blocking(&ctx, move |ctx| services::auth::authenticate(ctx, &token)).await??;
        Ok(Some(user))
    })
}

/// `Ok(None)` without an Authorization header; 401 for one that is not
/// `Bearer <token>`.
fn bearer_token(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let malformed =
        || ApiError::unauthorized("Invalid Authorization header: expected 'Bearer <token>'.");
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(malformed());
    }
    Ok(Some(token.to_owned()))
}
