//! The business rules. Each public function is one use case: it checks
//! permissions, owns its transaction (`atomic`), sends signals and returns
//! models or a `ServiceError`. Services block (diesel, argon2, files): the
//! HTTP layer calls them through `web::block`. They know nothing of HTTP.

pub mod auth;
pub mod consistency;
pub mod pictures;
pub mod profiles;
pub mod users;

use crate::context::AppContext;
use crate::db::{self, AnyConnection, PooledConnection};
use crate::error::ServiceError;

/// A transaction in progress and the work to run once it commits (Django's
/// `transaction.on_commit`): files are touched only after the database
/// has said yes.
pub struct UnitOfWork<'a> {
    pub conn: &'a mut AnyConnection,
    after_commit: Vec<Box<dyn FnOnce() + Send>>,
}

impl UnitOfWork<'_> {
    pub fn on_commit(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(hook));
    }
}

/// Runs `work` in one write transaction; after it commits, runs the hooks
/// registered with `on_commit`. On error nothing is committed and no hook runs.
pub fn atomic<T>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut UnitOfWork<'_>) -> Result<T, ServiceError>,
) -> Result<T, ServiceError> {
    let mut hooks = Vec::new();
    let value = db::write_transaction(conn, |conn| {
        let mut unit = UnitOfWork {
            conn,
            after_commit: Vec::new(),
        };
        let value = work(&mut unit)?;
        hooks = std::mem::take(&mut unit.after_commit);
        Ok::<_, ServiceError>(value)
    })?;
    for hook in hooks {
        hook();
    }
    Ok(value)
}

/// A pooled connection, or `Unavailable` when the pool times out.
pub fn connection(ctx: &AppContext) -> Result<PooledConnection, ServiceError> {
    Ok(db::checkout(&ctx.pool)?)
}
