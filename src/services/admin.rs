//! The admin site's own rules: staff sign-in (the same throttle as
//! POST /auth/token), server-side sessions in the database (so that any
//! replica recognises them), each with its CSRF token, and the change log
//! (Django's LogEntry). Changes themselves go through the same services
//! as the API (`users`, `profiles`, `pictures`). No HTML or HTTP here; the
//! cookie's raw value is never stored, only its SHA-256.

use std::net::IpAddr;
use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::context::AppContext;
use crate::db::schema::{admin_log, admin_sessions, users};
use crate::db::AnyConnection;
use crate::domain::normalize_username as normalize;
use crate::error::ServiceError;
use crate::models::User;
use crate::services::connection;

/// Django's words for a refused admin sign-in: the same for a wrong
/// password, an unknown name, an inactive user and a user who is not staff.
pub const BAD_CREDENTIALS: &str =
    "Please enter the correct username and password for a staff account. \
     Note that both fields may be case-sensitive.";

/// A signed-in staff member's session.
pub struct AdminSession {
    pub user: User,
    pub csrf_token: String,
}

/// One change made in the admin.
#[derive(Clone, Debug, Queryable, serde::Serialize)]
pub struct LogEntry {
    pub id: i64,
    pub action_time: NaiveDateTime,
    pub actor_id: Option<i64>,
    pub actor_username: String,
    pub object_id: i64,
    pub object_repr: String,
    pub action: String,
    pub change_message: String,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn hash(raw: &str) -> String {
    hex::encode(Sha256::digest(raw.as_bytes()))
}

/// Whether two tokens are the same, in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A fresh token for the sign-in form's CSRF cookie (before any session).
pub fn new_csrf_token() -> String {
    random_token()
}

/// Checks a staff member's credentials and starts a session; returns the
/// cookie's raw value. Verifies a password: the caller holds an argon2 turn.
pub fn sign_in(
    ctx: &AppContext,
    client: IpAddr,
    username: &str,
    password: &str,
    ttl: Duration,
) -> Result<String, ServiceError> {
    // Wrong, unknown, inactive or not staff: one answer, Django's.
    let user = match crate::services::auth::check_credentials(ctx, client, username, password) {
        Ok(user) if user.is_active && user.is_staff => user,
        Ok(_) | Err(ServiceError::Unauthenticated(_)) => {
            return Err(ServiceError::Unauthenticated(BAD_CREDENTIALS))
        }
        Err(error) => return Err(error),
    };
    let raw = random_token();
    let now = crate::clock::now();
    let expires = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(14));
    let mut conn = connection(ctx)?;
    diesel::insert_into(admin_sessions::table)
        .values((
            admin_sessions::key_hash.eq(hash(&raw)),
            admin_sessions::user_id.eq(user.id),
            admin_sessions::csrf_token.eq(random_token()),
            admin_sessions::token_version.eq(user.token_version),
            admin_sessions::created_at.eq(now),
            admin_sessions::expires_at.eq(expires),
        ))
        .execute(&mut *conn)?;
    diesel::update(users::table.find(user.id))
        .set(users::last_login.eq(now))
        .execute(&mut *conn)?;
    Ok(raw)
}

/// The session behind a cookie's value: only while it has not expired, its
/// user is active staff, and their password has not changed since.
pub fn session(ctx: &AppContext, raw: &str) -> Result<Option<AdminSession>, ServiceError> {
    if raw.len() != 64 {
        return Ok(None);
    }
    let mut conn = connection(ctx)?;
    let found: Option<(String, i64, NaiveDateTime, User)> = admin_sessions::table
        .inner_join(users::table)
        .filter(admin_sessions::key_hash.eq(hash(raw)))
        .select((
            admin_sessions::csrf_token,
            admin_sessions::token_version,
            admin_sessions::expires_at,
            User::as_select(),
        ))
        .first(&mut *conn)
        .optional()?;
    Ok(match found {
        Some((csrf_token, version, expires, user))
            if expires > crate::clock::now()
                && user.is_active
                && user.is_staff
                && user.token_version == version =>
        {
            Some(AdminSession { user, csrf_token })
        }
        _ => None,
    })
}

/// Ends the session behind a cookie's value (sign-out).
pub fn sign_out(ctx: &AppContext, raw: &str) -> Result<(), ServiceError> {
    diesel::delete(admin_sessions::table.filter(admin_sessions::key_hash.eq(hash(raw))))
        .execute(&mut *connection(ctx)?)?;
    Ok(())
}

/// Removes expired sessions (`portrait flushexpiredtokens`).
pub fn flush(conn: &mut AnyConnection) -> Result<usize, diesel::result::Error> {
    diesel::delete(admin_sessions::table.filter(admin_sessions::expires_at.le(crate::clock::now())))
        .execute(conn)
}

/// Records one change made in the admin.
pub fn record(
    ctx: &AppContext,
    actor: &User,
    object_id: i64,
    object_repr: &str,
    action: &str,
    change_message: &str,
) -> Result<(), ServiceError> {
    // A staff member who deleted themself is no row to point at: the
    // entry keeps their name only.
    let actor_id = (action != "delete" || actor.id != object_id).then_some(actor.id);
    diesel::insert_into(admin_log::table)
        .values((
            admin_log::action_time.eq(crate::clock::now()),
            admin_log::actor_id.eq(actor_id),
            admin_log::actor_username.eq(&actor.username),
            admin_log::object_id.eq(object_id),
            admin_log::object_repr.eq(object_repr),
            admin_log::action.eq(action),
            admin_log::change_message.eq(change_message),
        ))
        .execute(&mut *connection(ctx)?)?;
    Ok(())
}

/// A user's history, oldest first.
pub fn history(ctx: &AppContext, object_id: i64) -> Result<Vec<LogEntry>, ServiceError> {
    Ok(admin_log::table
        .filter(admin_log::object_id.eq(object_id))
        .order((admin_log::action_time.asc(), admin_log::id.asc()))
        .load(&mut *connection(ctx)?)?)
}

/// The change list's orders (Django's `?o=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    IdAscending,
    IdDescending,
    UsernameAscending,
    UsernameDescending,
}

impl Order {
    pub fn parse(raw: Option<&str>) -> Self {
        match raw {
            Some("-id") => Self::IdDescending,
            Some("username") => Self::UsernameAscending,
            Some("-username") => Self::UsernameDescending,
            _ => Self::IdAscending,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::IdAscending => "id",
            Self::IdDescending => "-id",
            Self::UsernameAscending => "username",
            Self::UsernameDescending => "-username",
        }
    }
}

/// Where the next page of the change list starts: after the row with this
/// id and (for the username orders) this normalised username. The cursor
/// carries both, so it still works once that user is gone.
pub struct Cursor {
    pub id: i64,
    pub username_normalized: String,
}

/// One page of the change list: users whose username holds `search`, in
/// `order`, after `after`, with whether more follow and how many match in
/// all. Waits for the pool's listing share, as the API's directory does.
pub fn list_users(
    ctx: &AppContext,
    search: &str,
    order: Order,
    after: Option<Cursor>,
    limit: i64,
) -> Result<(Vec<crate::models::UserWithProfile>, bool, i64), ServiceError> {
    use crate::db::schema::profiles;
    use crate::models::Profile;
    let term = normalize(search.trim());
    // A term no username can hold (a NUL, past twice the longest name) is
    // answered at once, as the API's directory does.
    if !crate::services::directory::could_be_in_a_username(&term) {
        return Ok((Vec::new(), false, 0));
    }
    let total =
        crate::services::directory::list(ctx, (!term.is_empty()).then_some(search), 0, 0)?.1;
    let mut conn = ctx.pool.get_for_listing()?;
    let cursor = after.map(|c| (c.id, c.username_normalized));
    let mut query = users::table
        .inner_join(profiles::table)
        .select((User::as_select(), Profile::as_select()))
        .into_boxed();
    if !term.is_empty() {
        let pattern = format!("%{}%", crate::services::directory::escape_like(&term));
        query = query.filter(users::username_normalized.like(pattern).escape('\\'));
    }
    if let Some((id, name)) = cursor {
        query = match order {
            Order::IdAscending => query.filter(users::id.gt(id)),
            Order::IdDescending => query.filter(users::id.lt(id)),
            Order::UsernameAscending => query.filter(
                users::username_normalized
                    .gt(name.clone())
                    .or(users::username_normalized.eq(name).and(users::id.gt(id))),
            ),
            Order::UsernameDescending => query.filter(
                users::username_normalized
                    .lt(name.clone())
                    .or(users::username_normalized.eq(name).and(users::id.lt(id))),
            ),
        };
    }
    query = match order {
        Order::IdAscending => query.order(users::id.asc()),
        Order::IdDescending => query.order(users::id.desc()),
        Order::UsernameAscending => {
            query.order((users::username_normalized.asc(), users::id.asc()))
        }
        Order::UsernameDescending => {
            query.order((users::username_normalized.desc(), users::id.desc()))
        }
    };
    let mut rows: Vec<(User, Profile)> = query.limit(limit + 1).load(&mut *conn)?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole_and_never_empty() {
        let token = new_csrf_token();
        assert_eq!(token.len(), 64);
        assert!(same_token(&token, &token.clone()));
        assert!(!same_token(&token, &token[..63]));
        assert!(!same_token("", ""));
        assert_ne!(hash(&token), token);
    }
}
