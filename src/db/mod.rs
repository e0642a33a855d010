//! The data layer's plumbing: one connection type for both backends
//! (`AnyConnection`, diesel's `MultiConnection`), the r2d2 pool, SQLite's
//! per-connection pragmas, embedded migrations and write transactions.
//! Everything here blocks: call it from `web::block` or a CLI command, never
//! from an async worker. No business rule lives here.

pub mod schema;

use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::pg::PgConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::settings::DatabaseUrl;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = r2d2::Pool<ConnectionManager>;
pub type PooledConnection = r2d2::PooledConnection<ConnectionManager>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// How long an SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] diesel::ConnectionError),
    #[error("cannot prepare the database connection: {0}")]
    Setup(#[from] diesel::result::Error),
    #[error("cannot apply migrations: {0}")]
    Migrate(String),
    #[error("cannot build the connection pool: {0}")]
    Pool(#[from] r2d2::PoolError),
}

/// Opens one connection of the kind the URL names. The derive's own
/// `establish` tries every backend in turn and hides the real cause of a
/// failure, so the variant is built here.
pub fn establish(url: &DatabaseUrl) -> Result<AnyConnection, DbError> {
    match url {
        DatabaseUrl::Postgres(url) => Ok(AnyConnection::Postgresql(PgConnection::establish(url)?)),
        DatabaseUrl::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(path)?;
            // foreign_keys makes ON DELETE CASCADE real; WAL and busy_timeout
            // let readers and writers share the file without "database is locked".
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS};
                 PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;"
            ))?;
            Ok(AnyConnection::Sqlite(conn))
        }
    }
}

/// Applies the pending migrations of the connection's backend; returns how
/// many were applied.
pub fn run_migrations(conn: &mut AnyConnection) -> Result<usize, DbError> {
    let applied = match conn {
        AnyConnection::Postgresql(conn) => conn.run_pending_migrations(POSTGRES_MIGRATIONS),
        AnyConnection::Sqlite(conn) => conn.run_pending_migrations(SQLITE_MIGRATIONS),
    };
    applied
        .map(|versions| versions.len())
        .map_err(|error| DbError::Migrate(error.to_string()))
}

/// Builds the pool. The first connection is opened here so a bad URL fails
/// the start with its real cause.
pub fn build_pool(url: &DatabaseUrl, max_size: u32, timeout: Duration) -> Result<DbPool, DbError> {
    drop(establish(url)?);
    Ok(r2d2::Pool::builder()
        .max_size(max_size)
        .min_idle(Some(1))
        .connection_timeout(timeout)
        // A PostgreSQL connection can die with the server or the network;
        // an SQLite one is a file handle in this process and cannot.
        .test_on_check_out(url.is_postgres())
        .build_unchecked(ConnectionManager { url: url.clone() }))
}

/// r2d2's manager for `AnyConnection`, built on [`establish`].
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = AnyConnection;
    type Error = DbError;

    fn connect(&self) -> Result<AnyConnection, DbError> {
        establish(&self.url)
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), DbError> {
        diesel::sql_query("SELECT 1").execute(conn)?;
        Ok(())
    }

    fn has_broken(&self, conn: &mut AnyConnection) -> bool {
        AnyConnection::is_broken_transaction_manager(conn)
    }
}

/// Runs a diesel query on the backend's own connection type. Queries sent
/// through `AnyConnection` itself are prepared anew each time (the multi
/// backend does not reuse prepared statements); on the inner connection
/// each backend's statement cache applies. For hot read paths.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, |$inner:ident| $query:expr) => {
        match $conn {
            $crate::db::AnyConnection::Postgresql($inner) => $query,
            $crate::db::AnyConnection::Sqlite($inner) => $query,
        }
    };
}

/// Runs `work` in a transaction meant to write. On SQLite it begins with
/// `BEGIN IMMEDIATE`: a deferred transaction that reads and then writes can
/// fail at once with SQLITE_BUSY (the busy timeout does not apply to it).
/// Nested `conn.transaction` calls inside `work` become savepoints.
pub fn write_transaction<T, E>(
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
