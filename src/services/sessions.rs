//! Sign-in sessions, as simplejwt's rotation and blacklist give DRF users,
//! without storing a token: each sign-in starts a family; a refresh spends
//! its token and issues the successor in the same transaction (the row is
//! locked, so two refreshes of one token give one pair); a spent token
//! presented again is taken for a stolen one and revokes its whole family.
//! Logout revokes one family; "log out everywhere" and every password
//! change bump the user's `token_version` (killing every access token)
//! and revoke every family. No HTTP here.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use rand::RngCore;

use crate::auth::jwt::{Claims, JwtKeys, RefreshId, TokenKind, TokenPair};
use crate::context::AppContext;
use crate::db::schema::{refresh_tokens, users};
use crate::db::transaction::atomic;
use crate::db::AnyConnection;
use crate::error::ServiceError;
use crate::models::{RefreshToken, User};
use crate::services::connection;

pub(crate) const BAD_TOKEN: &str = "Given token not valid for any token type, or expired.";

/// What a stored refresh token says about a request presenting it.
enum Standing {
    /// Unspent, unrevoked, unexpired: it may be used once.
    Live(RefreshToken),
    /// Spent already (or spent and flushed since): someone replays it.
    Replayed,
    /// Revoked or expired: refused, nothing more to do.
    Dead,
}

/// Starts a session for `user` (a sign-in) and issues its first pair. Runs
/// inside the sign-in's transaction.
pub fn start(
    conn: &mut AnyConnection,
    jwt: &JwtKeys,
    user: &User,
) -> Result<TokenPair, ServiceError> {
    issue(conn, jwt, user, &random_id())
}

/// Trades a live refresh token for a new pair in the same family.
pub fn rotate(ctx: &AppContext, refresh_token: &str) -> Result<TokenPair, ServiceError> {
    let claims = verified(ctx, refresh_token)?;
    let (jti, family) = ids(&claims)?;
    let issued = atomic(&mut *connection(ctx)?, |work| -> Result<_, ServiceError> {
        lock_family(work.conn, family)?;
        let now = crate::clock::now();
        let row = match standing(work.conn, jti, family, now)? {
            Standing::Live(row) => row,
            Standing::Replayed => {
                tracing::warn!(
                    user_id = claims.user_id(),
                    "a spent refresh token was presented again: its sign-in is revoked"
                );
                revoke_family(work.conn, family, now)?;
                return Ok(None);
            }
            Standing::Dead => return Ok(None),
        };
        diesel::update(refresh_tokens::table.find(jti))
            .set(refresh_tokens::spent_at.eq(now))
            .execute(work.conn)?;
        match User::find(work.conn, row.user_id)? {
            Some(user) if user.is_active && user.token_version == claims.ver => {
                Ok(Some(issue(work.conn, &ctx.jwt, &user, family)?))
            }
            _ => Ok(None),
        }
    })?;
    issued.ok_or(ServiceError::Unauthenticated(BAD_TOKEN))
}

/// Ends the sign-in `refresh_token` belongs to: every token of its family
/// stops working. A spent or revoked token is refused (a spent one still
/// revokes its family, as a replay would).
pub fn logout(ctx: &AppContext, refresh_token: &str) -> Result<(), ServiceError> {
    let claims = verified(ctx, refresh_token)?;
    let (jti, family) = ids(&claims)?;
    let ended = atomic(&mut *connection(ctx)?, |work| -> Result<_, ServiceError> {
        lock_family(work.conn, family)?;
        let now = crate::clock::now();
        let standing = standing(work.conn, jti, family, now)?;
        if !matches!(standing, Standing::Dead) {
            revoke_family(work.conn, family, now)?;
        }
        Ok(matches!(standing, Standing::Live(_)))
    })?;
    if ended {
        Ok(())
    } else {
        Err(ServiceError::Unauthenticated(BAD_TOKEN))
    }
}

/// Logs `user` out everywhere: every access and refresh token issued so
/// far stops working.
pub fn logout_all(ctx: &AppContext, user: &User) -> Result<(), ServiceError> {
    atomic(&mut *connection(ctx)?, |work| -> Result<_, ServiceError> {
        Ok(revoke_all(work.conn, user.id)?)
    })
}

/// Bumps the user's `token_version` (access tokens carry it) and revokes
/// every refresh token of theirs; inside the caller's transaction (a
/// password change, a reset, a logout everywhere).
pub fn revoke_all(conn: &mut AnyConnection, user_id: i64) -> Result<(), diesel::result::Error> {
    diesel::update(users::table.find(user_id))
        .set(users::token_version.eq(users::token_version + 1))
        .execute(conn)?;
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::user_id.eq(user_id))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(crate::clock::now()))
    .execute(conn)?;
    Ok(())
}

/// Removes refresh tokens that can no longer be used (spent, revoked or
/// expired); returns how many. A flushed spent token presented again is
/// still recognised as a replay: its signature is good but its row is gone.
pub fn flush(conn: &mut AnyConnection) -> Result<usize, diesel::result::Error> {
    diesel::delete(
        refresh_tokens::table.filter(
            refresh_tokens::expires_at
                .le(crate::clock::now())
                .or(refresh_tokens::spent_at.is_not_null())
                .or(refresh_tokens::revoked_at.is_not_null()),
        ),
    )
    .execute(conn)
}

/// What `flush_expired_tokens` removed.
pub struct Flushed {
    pub refresh_tokens: usize,
    pub email_tokens: usize,
    /// Rows of the shared sign-in throttle whose window ended.
    pub sign_in_failures: usize,
    /// Expired admin sessions.
    pub admin_sessions: usize,
}

/// `portrait flushexpiredtokens`: removes every refresh token and email
/// token that can no longer be used, in one transaction.
pub fn flush_expired_tokens(ctx: &AppContext) -> Result<Flushed, ServiceError> {
    atomic(&mut *connection(ctx)?, |work| -> Result<_, ServiceError> {
        Ok(Flushed {
            refresh_tokens: flush(work.conn)?,
            email_tokens: crate::services::email_tokens::flush(work.conn)?,
            sign_in_failures: crate::services::sign_in_throttle::flush(
                work.conn,
                ctx.settings.login_lockout,
            )?,
            admin_sessions: crate::services::admin::flush(work.conn)?,
        })
    })
}

fn verified(ctx: &AppContext, token: &str) -> Result<Claims, ServiceError> {
    ctx.jwt
        .verify(token, TokenKind::Refresh)
        .ok_or(ServiceError::Unauthenticated(BAD_TOKEN))
}

fn ids(claims: &Claims) -> Result<(&str, &str), ServiceError> {
    match (claims.jti.as_deref(), claims.fam.as_deref()) {
        (Some(jti), Some(family)) => Ok((jti, family)),
        _ => Err(ServiceError::Unauthenticated(BAD_TOKEN)),
    }
}

/// The stored token `jti`, locked for the rest of the transaction.
fn standing(
    conn: &mut AnyConnection,
    jti: &str,
    family: &str,
    now: NaiveDateTime,
) -> Result<Standing, diesel::result::Error> {
    Ok(match RefreshToken::find_for_update(conn, jti)? {
        // Signed by us, so it was stored once: flushed after being spent
        // or revoked. Treated as a replay, which is safe either way.
        None => Standing::Replayed,
        Some(row) if row.family != family => Standing::Dead,
        Some(row) if row.revoked_at.is_some() || row.expires_at <= now => Standing::Dead,
        Some(row) if row.spent_at.is_some() => Standing::Replayed,
        Some(row) => Standing::Live(row),
    })
}

/// One change to a family at a time, until the transaction ends. On
/// PostgreSQL a revocation's UPDATE would otherwise not see a successor
/// that a concurrent rotation commits meanwhile (its snapshot predates
/// it), and two revocations could deadlock on each other's rows. SQLite's
/// write transactions already run one at a time.
fn lock_family(conn: &mut AnyConnection, family: &str) -> Result<(), diesel::result::Error> {
    if let AnyConnection::Postgresql(pg) = conn {
        diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind::<diesel::sql_types::Text, _>(family)
            .execute(pg)?;
    }
    Ok(())
}

fn revoke_family(
    conn: &mut AnyConnection,
    family: &str,
    now: NaiveDateTime,
) -> Result<(), diesel::result::Error> {
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family.eq(family))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(conn)?;
    Ok(())
}

/// Stores a new refresh token of `family` and signs the pair.
fn issue(
    conn: &mut AnyConnection,
    jwt: &JwtKeys,
    user: &User,
    family: &str,
) -> Result<TokenPair, ServiceError> {
    let jti = random_id();
    let now = crate::clock::now();
    let lifetime = chrono::Duration::from_std(jwt.refresh_ttl).map_err(ServiceError::internal)?;
    diesel::insert_into(refresh_tokens::table)
        .values(RefreshToken {
            jti: jti.clone(),
            family: family.to_owned(),
            user_id: user.id,
            issued_at: now,
            expires_at: now + lifetime,
            spent_at: None,
            revoked_at: None,
        })
        .execute(conn)?;
    jwt.issue_pair(user.id, user.token_version, RefreshId { jti: &jti, family })
        .map_err(ServiceError::internal)
}

/// 128 random bits, hex.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}
