//! The failed sign-in throttle every sign-in path shares (POST /auth/token,
//! a password change's current password), in one of two places:
//! - `Local`: process memory (`auth::throttle`), for SQLite, where one
//!   machine serves.
//! - `Shared`: the `login_failures` table, for PostgreSQL, where any
//!   number of replicas serve: five failures spread over three replicas
//!   lock an account as five on one do. An attempt is counted and checked
//!   in one upsert per key under the row's lock, inside one transaction
//!   that is rolled back when either limit is passed, so concurrent
//!   guesses on every replica cannot pass a check made before any of them
//!   is recorded, and a refused attempt leaves nothing behind.
//!
//! A replica also remembers the lockouts the table told it of, so that a
//! locked-out client is refused before it waits for argon2 (`check`)
//! without a database round trip. Accounts are keyed by a hash of the
//! normalised username, never its text. No HTTP here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Integer, Text};
use sha2::{Digest, Sha256};

use crate::auth::throttle::{self, ClientKey, LoginThrottle};
use crate::db::{AnyConnection, DbPool};
use crate::error::ServiceError;

/// Lockouts a replica remembers at most (each about 100 bytes).
const MAX_KNOWN_LOCKOUTS: usize = 10_000;

pub enum SignInThrottle {
    Local(LoginThrottle),
    Shared(SharedThrottle),
}

/// An attempt let through and already counted as a failure; call
/// [`Attempt::succeeded`] when the credentials were right, or
/// [`Attempt::cancelled`] when they could not be judged.
#[must_use]
pub enum Attempt<'a> {
    Local(throttle::Attempt<'a>),
    Shared {
        throttle: &'a SharedThrottle,
        client: String,
        account: String,
    },
}

pub struct SharedThrottle {
    pool: DbPool,
    per_account: u32,
    per_client: u32,
    window: Duration,
    /// Keys the table refused, until when.
    known: Mutex<HashMap<String, Instant>>,
}

impl SignInThrottle {
    /// Refuses at once what this process knows to be locked out; counts
    /// nothing. `begin` decides.
    pub fn check(&self, client: IpAddr, username: &str) -> Result<(), Duration> {
        match self {
            Self::Local(local) => local.check(client, username),
            Self::Shared(shared) => shared.check(client, username),
        }
    }

    /// Lets an attempt through, counting it now; a `Throttled` error while
    /// either limit is reached.
    pub fn begin(&self, client: IpAddr, username: &str) -> Result<Attempt<'_>, ServiceError> {
        let throttled = |retry_after| ServiceError::Throttled { retry_after };
        match self {
            Self::Local(local) => local
                .begin(client, username)
                .map(Attempt::Local)
                .map_err(throttled),
            Self::Shared(shared) => shared.begin(client, username),
        }
    }
}

impl Attempt<'_> {
    /// The credentials were right: this client's count for this account is
    /// cleared, and this attempt no longer counts against the client.
    pub fn succeeded(self) {
        match self {
            Self::Local(attempt) => attempt.succeeded(),
            Self::Shared {
                throttle,
                client,
                account,
            } => throttle.give_back(&client, &account, true),
        }
    }

    /// The attempt could not be judged: it is not a failure.
    pub fn cancelled(self) {
        match self {
            Self::Local(attempt) => attempt.cancelled(),
            Self::Shared {
                throttle,
                client,
                account,
            } => throttle.give_back(&client, &account, false),
        }
    }
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = Integer)]
    failures: i32,
    #[diesel(sql_type = BigInt)]
    remaining: i64,
}

/// Why a shared attempt was not let through.
enum Refusal {
    Throttled { key: String, retry_after: Duration },
    Database(diesel::result::Error),
}

impl From<diesel::result::Error> for Refusal {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(error)
    }
}

/// Counts one failure for `key` (a new window once the old one ended) and
/// returns the count and the seconds the window has left.
const COUNT: &str = "\
INSERT INTO login_failures AS f (key, failures, window_started) VALUES ($1, 1, now()) \
ON CONFLICT (key) DO UPDATE SET \
  failures = CASE WHEN f.window_started + make_interval(secs => $2) <= now() \
             THEN 1 ELSE f.failures + 1 END, \
  window_started = CASE WHEN f.window_started + make_interval(secs => $2) <= now() \
                   THEN now() ELSE f.window_started END \
RETURNING failures, \
  CAST(CEIL(EXTRACT(EPOCH FROM (window_started + make_interval(secs => $2) - now()))) AS BIGINT) \
  AS remaining";

impl SharedThrottle {
    pub fn new(pool: DbPool, per_account: u32, per_client: u32, window: Duration) -> Self {
        Self {
            pool,
            per_account,
            per_client,
            window,
            known: Mutex::new(HashMap::new()),
        }
    }

    fn keys(client: IpAddr, username: &str) -> (String, String) {
        let client = format!("{:?}", ClientKey::from(client));
        let account = hex::encode(&Sha256::digest(username.as_bytes())[..16]);
        (format!("c:{client}"), format!("a:{client}:{account}"))
    }

    fn known(&self) -> MutexGuard<'_, HashMap<String, Instant>> {
        self.known.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn check(&self, client: IpAddr, username: &str) -> Result<(), Duration> {
        let (client, account) = Self::keys(client, username);
        let now = Instant::now();
        let known = self.known();
        for key in [&client, &account] {
            if let Some(until) = known.get(key).filter(|until| **until > now) {
                return Err(*until - now);
            }
        }
        Ok(())
    }

    fn remember(&self, key: String, retry_after: Duration) {
        let now = Instant::now();
        let mut known = self.known();
        if known.len() >= MAX_KNOWN_LOCKOUTS {
            known.retain(|_, until| *until > now);
            if known.len() >= MAX_KNOWN_LOCKOUTS {
                // Only a shortcut: the table still refuses what is forgotten.
                known.clear();
            }
        }
        known.insert(key, now + retry_after);
    }

    fn begin(&self, client: IpAddr, username: &str) -> Result<Attempt<'_>, ServiceError> {
        let (client, account) = Self::keys(client, username);
        let mut conn = self.pool.get()?;
        let AnyConnection::Postgresql(pg) = &mut *conn else {
            return Err(ServiceError::internal(
                "the shared sign-in throttle needs PostgreSQL",
            ));
        };
        let window = self.window.as_secs_f64();
        // The client's row first, then the account's, on every replica:
        // one order, so two attempts never wait for each other's rows.
        let keys = [
            (client.as_str(), self.per_client),
            (account.as_str(), self.per_account),
        ];
        let counted = pg.transaction::<_, Refusal, _>(|pg| {
            for (key, limit) in keys {
                let row: Counted = diesel::sql_query(COUNT)
                    .bind::<Text, _>(key)
                    .bind::<Double, _>(window)
                    .get_result(pg)?;
                if row.failures > i32::try_from(limit).unwrap_or(i32::MAX) {
                    return Err(Refusal::Throttled {
                        key: key.to_owned(),
                        retry_after: Duration::from_secs(row.remaining.max(1) as u64),
                    });
                }
            }
            Ok(())
        });
        match counted {
            Ok(()) => Ok(Attempt::Shared {
                throttle: self,
                client,
                account,
            }),
            Err(Refusal::Throttled { key, retry_after }) => {
                self.remember(key, retry_after);
                Err(ServiceError::Throttled { retry_after })
            }
            Err(Refusal::Database(error)) => Err(error.into()),
        }
    }

    /// Takes an attempt's count back from the client's row, and from the
    /// account's (or, after a success, clears the account's row).
    fn give_back(&self, client: &str, account: &str, succeeded: bool) {
        let result = self
            .pool
            .get()
            .map_err(ServiceError::from)
            .and_then(|mut conn| {
                let AnyConnection::Postgresql(pg) = &mut *conn else {
                    return Ok(());
                };
                let decrement = "UPDATE login_failures SET failures = failures - 1 \
                             WHERE key = $1 AND failures > 0";
                if succeeded {
                    diesel::sql_query("DELETE FROM login_failures WHERE key = $1")
                        .bind::<Text, _>(account)
                        .execute(pg)?;
                } else {
                    diesel::sql_query(decrement)
                        .bind::<Text, _>(account)
                        .execute(pg)?;
                }
                diesel::sql_query(decrement)
                    .bind::<Text, _>(client)
                    .execute(pg)?;
                Ok(())
            });
        if let Err(error) = result {
            // The attempt stays counted as a failure: the safe side.
            tracing::warn!(%error, "cannot take back a counted sign-in attempt");
        }
        if succeeded {
            self.known().remove(account);
        }
    }
}

/// Removes the rows of windows that ended (`portrait flushexpiredtokens`);
/// nothing on SQLite, whose throttle is in memory.
pub fn flush(conn: &mut AnyConnection, window: Duration) -> Result<usize, diesel::result::Error> {
    match conn {
        AnyConnection::Postgresql(pg) => diesel::sql_query(
            "DELETE FROM login_failures \
             WHERE window_started + make_interval(secs => $1) <= now()",
        )
        .bind::<Double, _>(window.as_secs_f64())
        .execute(pg),
        AnyConnection::Sqlite(_) => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_never_hold_the_username_and_an_ipv6_client_counts_per_64() {
        let (client, account) = SharedThrottle::keys("2001:db8:1:2::7".parse().unwrap(), "alice");
        let (same_client, _) = SharedThrottle::keys("2001:db8:1:2::9".parse().unwrap(), "bob");
        assert_eq!(client, same_client);
        assert!(!account.contains("alice"));
        assert!(account.starts_with(&format!("a:{}", &client[2..])));
        let (_, other) = SharedThrottle::keys("2001:db8:1:2::7".parse().unwrap(), "alicf");
        assert_ne!(account, other);
    }
}
