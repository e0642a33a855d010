//! Password reset and email verification, as djoser's flows. Asking for a
//! reset answers the same, at the same speed, whether or not the address
//! is known: the request only queues a job (`mailing`), and the lookup,
//! the token and the send happen after the answer. Confirming spends the
//! token once, sets the password and revokes every older session; because
//! the link went to the address, it also verifies it. Verifying spends a
//! token sent to the user's current address. No HTTP here.

use diesel::prelude::*;

use crate::context::AppContext;
use crate::db::schema::users;
use crate::db::transaction::atomic;
use crate::domain::{Email, Password};
use crate::error::ServiceError;
use crate::models::{EmailToken, User};
use crate::services::email_tokens::{self, Purpose};
use crate::services::mailing::Job;
use crate::services::{connection, sessions};

const BAD_RESET_TOKEN: &str = "Invalid, used or expired password reset token.";
const BAD_VERIFY_TOKEN: &str = "Invalid, used or expired email verification token.";

/// Queues a reset email for the active user with this address, if any.
pub fn request_password_reset(ctx: &AppContext, email: &Email) {
    ctx.outbox.send(Job::PasswordReset {
        email_normalized: email.normalized(),
    });
}

/// Queues a new verification email for `user`, unless already verified.
pub fn resend_verification(ctx: &AppContext, user: &User) {
    if !user.email_verified {
        ctx.outbox.send(Job::VerifyEmail { user_id: user.id });
    }
}

/// Sets a new password with a reset token. Hashes: the caller holds an
/// argon2 turn. `Err(BadRequest)` for a bad, used or expired token;
/// `Err(Invalid)` for an unacceptable password (the token stays unused).
pub fn confirm_password_reset(
    ctx: &AppContext,
    token: &str,
    new_password: &str,
) -> Result<(), ServiceError> {
    let bad = || ServiceError::BadRequest(BAD_RESET_TOKEN);
    // A first look, unlocked, to know whose password it is and to refuse
    // a bad token before hashing anything.
    let user = {
        let mut conn = connection(ctx)?;
        let row = email_tokens::peek(&mut conn, token)?.ok_or_else(bad)?;
        let user = User::find(&mut conn, row.user_id)?.ok_or_else(bad)?;
        if !reset_token_fits(&row, &user) {
            return Err(bad());
        }
        user
    };
    let password = Password::parse(
        new_password,
        &user.username,
        ctx.settings.max_password_length,
    )
    .map_err(|problems| {
        ServiceError::Invalid(
            [("new_password".to_owned(), problems)]
                .into_iter()
                .collect(),
        )
    })?;
    let password_hash = ctx
        .passwords
        .hash(password.expose())
        .map_err(ServiceError::internal)?;

    atomic(&mut *connection(ctx)?, |work| {
        let row =
            email_tokens::redeem(work.conn, token, Purpose::PasswordReset)?.ok_or_else(bad)?;
        let user = User::find(work.conn, row.user_id)?.ok_or_else(bad)?;
        if !reset_token_fits(&row, &user) {
            return Err(bad());
        }
        diesel::update(users::table.find(user.id))
            .set((
                users::password_hash.eq(&password_hash),
                // The link reached this address: it is the user's.
                users::email_verified.eq(true),
            ))
            .execute(work.conn)?;
        // Every older session ends, and with the version bump every other
        // reset link of this user dies too.
        sessions::revoke_all(work.conn, user.id)?;
        Ok(())
    })
}

/// A reset token still speaks for `user`: active, no password change (or
/// reset, or logout everywhere) since it was sent, and still the address
/// it was sent to (a link in a mailbox the user gave up opens nothing).
fn reset_token_fits(row: &EmailToken, user: &User) -> bool {
    row.purpose == "password_reset"
        && row.used_at.is_none()
        && row.expires_at > crate::clock::now()
        && user.is_active
        && user.token_version == row.token_version
        && user.email_normalized == row.email_normalized
}

/// Marks the user's address verified with a token sent to it.
pub fn verify_email(ctx: &AppContext, token: &str) -> Result<(), ServiceError> {
    let bad = || ServiceError::BadRequest(BAD_VERIFY_TOKEN);
    atomic(&mut *connection(ctx)?, |work| {
        let row = email_tokens::redeem(work.conn, token, Purpose::VerifyEmail)?.ok_or_else(bad)?;
        let user = User::find(work.conn, row.user_id)?.ok_or_else(bad)?;
        // Sent to an address the user no longer has: it proves nothing.
        if row.email_normalized != user.email_normalized || !user.is_active {
            return Err(bad());
        }
        diesel::update(users::table.find(user.id))
            .set(users::email_verified.eq(true))
            .execute(work.conn)?;
        Ok(())
    })
}
