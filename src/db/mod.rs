//! The data layer's plumbing: one connection type for both backends
//! (`AnyConnection`, diesel's `MultiConnection`), the r2d2 pool and what it
//! knows of each connection's health, SQLite's per-connection pragmas,
//! embedded migrations and write transactions.
//! Everything here blocks: call it from `web::block` or a CLI command, never
//! from an async worker. No business rule lives here.

pub mod schema;

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
        // `is_valid` decides whether a checkout needs a round trip.
        .test_on_check_out(url.is_postgres())
        .build_unchecked(ConnectionManager { url: url.clone() }))
}

/// Takes a connection from the pool, waiting at most the pool's timeout.
pub fn checkout(pool: &DbPool) -> Result<PooledConnection, r2d2::PoolError> {
    pool.get().map(PooledConnection)
}

/// A connection lent by the pool; it derefs to the `AnyConnection` that
/// diesel queries run on and goes back to the pool when dropped.
pub struct PooledConnection(r2d2::PooledConnection<ConnectionManager>);

impl Deref for PooledConnection {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.0.conn
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.0.conn
    }
}

/// A connection as the pool keeps it, with what the pool knows of its
/// health.
pub struct TrackedConnection {
    conn: AnyConnection,
    returned_at: Instant,
    losses_at_check: u64,
}

/// How many times a query found its connection gone, in this process.
/// Every pooled connection is checked with a round trip once after each.
static CONNECTION_LOSSES: AtomicU64 = AtomicU64::new(0);

/// A connection that came back this recently and has seen no loss since is
/// trusted without a round trip (HikariCP's "alive bypass" window): under
/// load the `SELECT 1` on every checkout cost PostgreSQL reads a third of
/// their throughput; idle connections, which a restarted server or a
/// firewall may have closed, are still checked before use.
const TRUSTED_WHILE_BUSY: Duration = Duration::from_millis(500);

/// Called when a query fails because its connection is gone (the server
/// restarted, the network dropped): every pooled connection is checked
/// before its next use, and the one that failed is dropped when it comes
/// back.
pub fn note_connection_lost() {
    CONNECTION_LOSSES.fetch_add(1, Ordering::AcqRel);
}

/// r2d2's manager for `AnyConnection`, built on [`establish`].
pub struct ConnectionManager {
    url: DatabaseUrl,
}

impl ManageConnection for ConnectionManager {
    type Connection = TrackedConnection;
    type Error = DbError;

    fn connect(&self) -> Result<TrackedConnection, DbError> {
        Ok(TrackedConnection {
            losses_at_check: CONNECTION_LOSSES.load(Ordering::Acquire),
            conn: establish(&self.url)?,
            returned_at: Instant::now(),
        })
    }

    /// Runs on checkout (PostgreSQL only): a round trip only for a
    /// connection that sat idle or that a loss elsewhere puts in doubt.
    fn is_valid(&self, tracked: &mut TrackedConnection) -> Result<(), DbError> {
        let losses = CONNECTION_LOSSES.load(Ordering::Acquire);
        if tracked.losses_at_check == losses && tracked.returned_at.elapsed() < TRUSTED_WHILE_BUSY {
            return Ok(());
        }
        diesel::sql_query("SELECT 1").execute(&mut tracked.conn)?;
        tracked.losses_at_check = losses;
        Ok(())
    }

    /// Runs when a connection comes back: one whose transaction broke, or
    /// that was out while a connection was found gone, is not reused.
    fn has_broken(&self, tracked: &mut TrackedConnection) -> bool {
        tracked.returned_at = Instant::now();
        AnyConnection::is_broken_transaction_manager(&mut tracked.conn)
            || tracked.losses_at_check != CONNECTION_LOSSES.load(Ordering::Acquire)
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
