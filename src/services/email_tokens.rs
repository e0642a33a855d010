//! Single-use email tokens (password reset, email verification): 256
//! random bits sent in a link, stored only as their SHA-256, each bound to
//! a purpose, the address it was sent to and the user's `token_version`
//! then, expiring after EMAIL_TOKEN_TTL. A token never appears in a log
//! line. Functions run on the caller's connection or transaction.

use std::time::Duration;

use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::db::schema::email_tokens;
use crate::db::AnyConnection;
use crate::models::{EmailToken, User};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    PasswordReset,
    VerifyEmail,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::VerifyEmail => "verify_email",
        }
    }
}

/// Makes and stores a token for `user`'s current address; returns the
/// token, which only the email will hold.
pub fn create(
    conn: &mut AnyConnection,
    user: &User,
    purpose: Purpose,
    ttl: Duration,
) -> Result<String, diesel::result::Error> {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let now = crate::clock::now();
    let lifetime = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(1));
    diesel::insert_into(email_tokens::table)
        .values(EmailToken {
            token_hash: digest(&token),
            user_id: user.id,
            purpose: purpose.as_str().to_owned(),
            email_normalized: user.email_normalized.clone(),
            token_version: user.token_version,
            created_at: now,
            expires_at: now + lifetime,
            used_at: None,
        })
        .execute(conn)?;
    Ok(token)
}

/// The row of `token`, whatever its state, without spending or locking it.
pub fn peek(
    conn: &mut AnyConnection,
    token: &str,
) -> Result<Option<EmailToken>, diesel::result::Error> {
    email_tokens::table
        .find(digest(token))
        .select(EmailToken::as_select())
        .first(conn)
        .optional()
}

/// Spends `token` if it is an unused, unexpired token for `purpose`:
/// marks it used and returns its row. Inside the caller's transaction,
/// with the row locked, so one redemption wins.
pub fn redeem(
    conn: &mut AnyConnection,
    token: &str,
    purpose: Purpose,
) -> Result<Option<EmailToken>, diesel::result::Error> {
    let hash = digest(token);
    let Some(row) = EmailToken::find_for_update(conn, &hash)? else {
        return Ok(None);
    };
    let now = crate::clock::now();
    if row.purpose != purpose.as_str() || row.used_at.is_some() || row.expires_at <= now {
        return Ok(None);
    }
    diesel::update(email_tokens::table.find(&hash))
        .set(email_tokens::used_at.eq(now))
        .execute(conn)?;
    Ok(Some(row))
}

/// Removes used and expired tokens; returns how many.
pub fn flush(conn: &mut AnyConnection) -> Result<usize, diesel::result::Error> {
    diesel::delete(
        email_tokens::table.filter(
            email_tokens::expires_at
                .le(crate::clock::now())
                .or(email_tokens::used_at.is_not_null()),
        ),
    )
    .execute(conn)
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}
