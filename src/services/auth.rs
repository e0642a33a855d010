//! Signing in, refreshing and recognising tokens. The rules: one answer for
//! a wrong username and a wrong password (and the same time, via a dummy
//! hash); inactive users cannot sign in; repeated failures from one client
//! (for one username, and in all) are throttled, counted atomically; a
//! token is only good while the user's password generation
//! (`token_version`) is the one it was issued for. With
//! REQUIRE_VERIFIED_EMAIL, right credentials of an unverified address are
//! refused with their own error. A sign-in starts a session
//! (`sessions::start`), whose refresh tokens rotate there.

use std::net::IpAddr;

use diesel::prelude::*;

use crate::auth::jwt::{TokenKind, TokenPair};
use crate::context::AppContext;
use crate::db::schema::users;
use crate::db::transaction::atomic;
use crate::domain::{normalize_username as normalize, MAX_USERNAME_CHARS};
use crate::error::ServiceError;
use crate::models::User;
use crate::services::connection;
use crate::services::sessions::{self, BAD_TOKEN};

const BAD_CREDENTIALS: &str = "No active account found with the given credentials.";

/// Refuses at once a sign-in the throttle would refuse, so that a locked
/// out client never waits in argon2's queue (nor fills it). Counts nothing:
/// `login` checks again, atomically.
pub fn may_attempt(ctx: &AppContext, client: IpAddr, username: &str) -> Result<(), ServiceError> {
    ctx.throttle
        .check(client, &normalize(username.trim()))
        .map_err(|retry_after| ServiceError::Throttled { retry_after })
}

/// The user these credentials are right for, whoever asks (the API's
/// sign-in, the admin's): the attempt counted in the throttle first, an
/// unknown name costing a dummy hash, a wrong password or unknown name one
/// `Unauthenticated`. Says nothing of whether the user may sign in
/// (active, staff, verified): that is the caller's rule. Verifies a
/// password: the caller holds an argon2 turn.
pub fn check_credentials(
    ctx: &AppContext,
    client: IpAddr,
    username: &str,
    password: &str,
) -> Result<User, ServiceError> {
    let throttle_key = normalize(username.trim());
    let attempt = ctx.throttle.begin(client, &throttle_key)?;

    // A name no user can have is not looked up (PostgreSQL refuses a NUL
    // in text); it still costs a dummy hash, as an unknown name does.
    let could_exist =
        !throttle_key.contains('\0') && throttle_key.chars().count() <= 2 * MAX_USERNAME_CHARS;
    let found: Option<User> = if could_exist {
        // The connection goes back to the pool while argon2 runs (~15 ms).
        let lookup = connection(ctx).and_then(|mut conn| {
            Ok(users::table
                .filter(users::username_normalized.eq(&throttle_key))
                .select(User::as_select())
                .first(&mut *conn)
                .optional()?)
        });
        match lookup {
            Ok(found) => found,
            Err(error) => {
                // Not a guess: the database could not say.
                attempt.cancelled();
                return Err(error);
            }
        }
    } else {
        None
    };

    let verified = match &found {
        Some(user) => ctx.passwords.verify(password, &user.password_hash),
        None => {
            ctx.passwords.verify_dummy(password);
            false
        }
    };
    match found {
        Some(user) if verified => {
            // Right credentials: not a guess, whatever the answer.
            attempt.succeeded();
            Ok(user)
        }
        // The attempt stays counted as a failure.
        _ => Err(ServiceError::Unauthenticated(BAD_CREDENTIALS)),
    }
}

/// Signs in. Verifies a password: the caller holds an argon2 turn.
pub fn login(
    ctx: &AppContext,
    client: IpAddr,
    username: &str,
    password: &str,
) -> Result<TokenPair, ServiceError> {
    let user = check_credentials(ctx, client, username, password)?;
    if !user.is_active {
        return Err(ServiceError::Unauthenticated(BAD_CREDENTIALS));
    }
    if ctx.settings.require_verified_email && !user.email_verified {
        return Err(ServiceError::EmailNotVerified);
    }

    atomic(&mut *connection(ctx)?, |work| -> Result<_, ServiceError> {
        diesel::update(users::table.find(user.id))
            .set(users::last_login.eq(crate::clock::now()))
            .execute(work.conn)?;
        sessions::start(work.conn, &ctx.jwt, &user)
    })
}

/// The active user an access token speaks for.
pub fn authenticate(ctx: &AppContext, access_token: &str) -> Result<User, ServiceError> {
    let claims = ctx
        .jwt
        .verify(access_token, TokenKind::Access)
        .ok_or(ServiceError::Unauthenticated(BAD_TOKEN))?;
    let user_id = claims
        .user_id()
        .ok_or(ServiceError::Unauthenticated(BAD_TOKEN))?;
    let user = User::find(&mut *connection(ctx)?, user_id)?;
    match user {
        Some(user) if user.is_active && user.token_version == claims.ver => Ok(user),
        _ => Err(ServiceError::Unauthenticated(BAD_TOKEN)),
    }
}
