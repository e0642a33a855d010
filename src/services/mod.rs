//! The business rules. Each public function is one use case: it checks
//! permissions, owns its transaction (`db::transaction::atomic`), sends
//! signals and returns models or a `ServiceError`. Services block (diesel,
//! argon2, files): the HTTP layer calls them on the blocking pool, after
//! any queue that use case needs (argon2's, the pictures' CPU permits).
//! They know nothing of HTTP.

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod consistency;
pub mod directory;
pub mod email_tokens;
pub mod mailing;
pub mod pictures;
pub mod profiles;
pub mod sessions;
pub mod sign_in_throttle;
pub mod users;

use crate::context::AppContext;
use crate::db::PooledConnection;
use crate::error::ServiceError;

/// A pooled connection, after waiting its turn in the pool's queue;
/// `Unavailable` when DATABASE_TIMEOUT passes first.
fn connection(ctx: &AppContext) -> Result<PooledConnection, ServiceError> {
    Ok(ctx.pool.get()?)
}
