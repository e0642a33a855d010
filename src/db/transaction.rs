//! Transactions as Django's `transaction.atomic` and `on_commit` give them:
//! [`atomic`] runs work in one write transaction and, only once it has
//! committed, the hooks the work registered on its [`UnitOfWork`] (files
//! are touched only after the database has said yes). On SQLite a write
//! transaction begins with `BEGIN IMMEDIATE`. Generic over the caller's
//! error type: this module knows no business rule.

use diesel::connection::{AnsiTransactionManager, TransactionManager};

use super::AnyConnection;

/// A transaction in progress and the work to run once it commits.
pub struct UnitOfWork<'a> {
    pub conn: &'a mut AnyConnection,
    after_commit: Vec<Box<dyn FnOnce() + Send>>,
}

impl UnitOfWork<'_> {
    /// Runs `hook` after the transaction commits; never if it rolls back.
    pub fn on_commit(&mut self, hook: impl FnOnce() + Send + 'static) {
        self.after_commit.push(Box::new(hook));
    }
}

/// Runs `work` in one write transaction; after it commits, runs the hooks
/// registered with `on_commit`. On error nothing is committed and no hook
/// runs. Nested `conn.transaction` calls inside `work` become savepoints.
pub fn atomic<T, E>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut UnitOfWork<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    let mut hooks = Vec::new();
    let value = write_transaction(conn, |conn| {
        let mut unit = UnitOfWork {
            conn,
            after_commit: Vec::new(),
        };
        let value = work(&mut unit)?;
        hooks = std::mem::take(&mut unit.after_commit);
        Ok::<_, E>(value)
    })?;
    for hook in hooks {
        hook();
    }
    Ok(value)
}

/// Runs `work` in a transaction meant to write. On SQLite it begins with
/// `BEGIN IMMEDIATE`: a deferred transaction that reads and then writes can
/// fail at once with SQLITE_BUSY (the busy timeout does not apply to it).
fn write_transaction<T, E>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    match conn {
        AnyConnection::Sqlite(inner) => {
            AnsiTransactionManager::begin_transaction_sql(inner, "BEGIN IMMEDIATE")?;
        }
        AnyConnection::Postgresql(_) => AnyConnection::begin_transaction(conn)?,
    }
    match work(conn) {
        Ok(value) => {
            AnyConnection::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            // The work's own error is the one worth reporting.
            let _ = AnyConnection::rollback_transaction(conn);
            Err(error)
        }
    }
}
