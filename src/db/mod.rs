//! The data layer's plumbing: one connection type for both backends
//! (`AnyConnection`, diesel's `MultiConnection`), SQLite's per-connection
//! pragmas, embedded migrations, a health ping and how a unique violation
//! names its constraint. The pool lives in `pool`, transactions in
//! `transaction`. Everything here blocks: call it from `web::block` or a
//! CLI command, never from an async worker. No business rule lives here,
//! and nothing here knows of HTTP or of the services above it.

pub mod pool;
pub mod schema;
pub mod transaction;

use diesel::connection::{Instrumentation, SimpleConnection};
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use crate::settings::DatabaseUrl;

pub use pool::{DbPool, PooledConnection};

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

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
    #[error("no database connection became free within DATABASE_TIMEOUT")]
    Busy,
    #[error("the request was abandoned by its client while waiting for a connection")]
    Abandoned,
    #[error("cannot get a database connection: {0}")]
    Pool(#[from] r2d2::Error),
}

/// Opens one connection of the kind the URL names. The derive's own
/// `establish` tries every backend in turn and hides the real cause of a
/// failure, so the variant is built here.
pub fn establish(url: &DatabaseUrl) -> Result<AnyConnection, DbError> {
    establish_watched(
        url,
        None::<fn(diesel::connection::InstrumentationEvent<'_>)>,
    )
}

/// `establish`, with `watch` seeing every query event of the connection
/// (the pool uses it to notice a connection the server dropped).
fn establish_watched(
    url: &DatabaseUrl,
    watch: Option<impl Instrumentation>,
) -> Result<AnyConnection, DbError> {
    match url {
        DatabaseUrl::Postgres(url) => {
            let mut conn = PgConnection::establish(url)?;
            if let Some(watch) = watch {
                conn.set_instrumentation(watch);
            }
            Ok(AnyConnection::Postgresql(conn))
        }
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
            if let Some(watch) = watch {
                conn.set_instrumentation(watch);
            }
            Ok(AnyConnection::Sqlite(conn))
        }
    }
}

/// The PostgreSQL advisory lock replicas take around their migrations
/// (an arbitrary number, the same in every build: "portrait" in ASCII).
const MIGRATION_LOCK: i64 = 0x706f_7274_7261_6974;

/// Applies the pending migrations of the connection's backend; returns how
/// many were applied. On PostgreSQL it holds an advisory lock meanwhile,
/// so that replicas starting together apply them once: the others wait,
/// then find nothing pending. (SQLite is one machine's file: replicas of
/// it are not a thing.)
pub fn run_migrations(conn: &mut AnyConnection) -> Result<usize, DbError> {
    let applied = match conn {
        AnyConnection::Postgresql(conn) => {
            diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
                .execute(conn)?;
            let applied = conn
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|versions| versions.len())
                .map_err(|error| error.to_string());
            // A failed migration's error is the one worth reporting; the
            // lock goes with the connection anyway.
            let _ = diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
                .execute(conn);
            return applied.map_err(DbError::Migrate);
        }
        AnyConnection::Sqlite(conn) => conn
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map(|versions| versions.len()),
    };
    applied.map_err(|error| DbError::Migrate(error.to_string()))
}

/// One round trip: whether the database answers on this connection.
pub fn ping(conn: &mut AnyConnection) -> Result<(), DbError> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}

/// A UNIQUE constraint as each backend reports its violation: PostgreSQL
/// by the constraint's name, SQLite by its `table.column`. Declared beside
/// the model it guards, matched where the write is made.
pub struct UniqueConstraint {
    pub name: &'static str,
    pub sqlite_columns: &'static str,
}

impl UniqueConstraint {
    /// Whether `error` is a violation of this constraint.
    pub fn violated_by(&self, error: &diesel::result::Error) -> bool {
        use diesel::result::{DatabaseErrorKind, Error};
        let Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) = error else {
            return false;
        };
        match info.constraint_name() {
            Some(name) => name == self.name,
            // "UNIQUE constraint failed: users.username_normalized"
            None => info
                .message()
                .rsplit(": ")
                .next()
                .is_some_and(|columns| columns == self.sqlite_columns),
        }
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
