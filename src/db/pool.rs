//! The connection pool, and the one queue for the database: every caller
//! (handlers, uploads, the CLI) checks a connection out through
//! [`DbPool::get`], which first waits its turn for a permit, in arrival
//! order, then takes the connection; the permit lives inside the returned
//! guard and goes back with the connection. r2d2's own wait lets a newcomer
//! take a connection a waiter was woken for, which under load starved some
//! requests for over a second; here a released permit is handed straight
//! to the longest waiter. Waiting longer than DATABASE_TIMEOUT is
//! [`DbError::Busy`].
//!
//! List and search queries first wait in a second, smaller queue (the
//! listing share, DATABASE_LIST_CONNECTIONS): however many clients page
//! the directory, some connections stay for point reads and writes.
//!
//! Work for a request whose client has gone is not started: a waiter
//! whose request was abandoned ([`abandoned`]) leaves the queue.
//!
//! Connection health: a connection that came back less than 500 ms ago
//! is lent without a `SELECT 1`; idle ones are checked first. A query that
//! finds its connection gone (seen by a diesel instrumentation hook, so no
//! caller has to report it) drops that connection and makes every other
//! one be checked before its next use.
//! Everything here blocks; it knows nothing of HTTP or business rules.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use diesel::connection::InstrumentationEvent;
use diesel::connection::TransactionManager;
use diesel::r2d2::{self, ManageConnection};

use super::{establish_watched, ping, AnyConnection, DbError};
use crate::settings::DatabaseUrl;

/// The pool and its queue. Cheap to clone.
#[derive(Clone)]
pub struct DbPool {
    connections: r2d2::Pool<ConnectionManager>,
    queue: Arc<FairQueue>,
    listing: Arc<FairQueue>,
    timeout: Duration,
}

impl DbPool {
    /// Builds the pool. The first connection is opened here so a bad URL
    /// fails the start with its real cause.
    pub fn build(
        url: &DatabaseUrl,
        size: u32,
        listing_share: u32,
        timeout: Duration,
    ) -> Result<Self, DbError> {
        drop(super::establish(url)?);
        let connections = r2d2::Pool::builder()
            .max_size(size)
            // No connection is opened in the background to keep a spare:
            // one still in its TLS handshake when a short process (the CLI,
            // a test binary) exits races OpenSSL's exit-time cleanup and
            // crashes the process. Connections are opened on demand and
            // stay pooled while in use.
            .min_idle(Some(0))
            .connection_timeout(timeout)
            // `is_valid` decides whether a checkout needs a round trip.
            .test_on_check_out(url.is_postgres())
            .build_unchecked(ConnectionManager {
                url: url.clone(),
                losses: Arc::new(AtomicU64::new(0)),
            });
        Ok(Self {
            connections,
            queue: Arc::new(FairQueue::new(size as usize)),
            listing: Arc::new(FairQueue::new(listing_share.min(size) as usize)),
            timeout,
        })
    }

    /// Waits its turn (at most DATABASE_TIMEOUT in all) and lends a
    /// connection; it goes back, with its permit, when the guard drops.
    pub fn get(&self) -> Result<PooledConnection, DbError> {
        self.get_by(Instant::now() + self.timeout, None)
    }

    /// As [`DbPool::get`], for list and search queries: first a turn in the
    /// listing share, then in the common queue, within one deadline.
    pub fn get_for_listing(&self) -> Result<PooledConnection, DbError> {
        let deadline = Instant::now() + self.timeout;
        let listing = self.listing.acquire(deadline)?;
        self.get_by(deadline, Some(listing))
    }

    fn get_by(
        &self,
        deadline: Instant,
        listing: Option<Permit>,
    ) -> Result<PooledConnection, DbError> {
        let started = Instant::now();
        let permit = self.queue.acquire(deadline);
        crate::metrics::metrics().db_waited(started.elapsed());
        let permit = permit?;
        // A permit is a connection that is free or may be opened: r2d2
        // waits here only while a connection is being (re)established.
        let remaining = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let conn = self.connections.get_timeout(remaining)?;
        Ok(PooledConnection {
            conn,
            _permit: permit,
            _listing: listing,
        })
    }

    /// How many callers are waiting for a connection right now.
    pub fn waiting(&self) -> usize {
        self.queue.lock().waiters.len()
    }

    /// How many connections are lent out right now.
    pub fn in_use(&self) -> usize {
        self.queue.permits - self.queue.lock().free
    }
}

/// A connection lent by the pool; it derefs to the `AnyConnection` that
/// diesel queries run on. Dropped, the connection goes back first, then
/// the permit, so the next in line finds it free.
pub struct PooledConnection {
    conn: r2d2::PooledConnection<ConnectionManager>,
    _permit: Permit,
    _listing: Option<Permit>,
}

impl Deref for PooledConnection {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.conn.conn
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.conn.conn
    }
}

/// How often a waiting thread looks whether its request was abandoned.
const ABANDON_CHECK: Duration = Duration::from_millis(20);

thread_local! {
    /// Set while this thread works for a request: true once its client left.
    static REQUEST_GONE: std::cell::RefCell<Option<Arc<AtomicBool>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `work` on this thread for a request: once `gone` is set (its
/// client disconnected), queue waits on this thread give up with
/// [`DbError::Abandoned`] instead of starting work nobody will read.
pub fn for_request<T>(gone: Arc<AtomicBool>, work: impl FnOnce() -> T) -> T {
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            REQUEST_GONE.with(|slot| *slot.borrow_mut() = None);
        }
    }
    REQUEST_GONE.with(|slot| *slot.borrow_mut() = Some(gone));
    let _clear = Clear;
    work()
}

/// Whether the request this thread works for was abandoned by its client.
fn abandoned() -> bool {
    REQUEST_GONE.with(|slot| {
        slot.borrow()
            .as_ref()
            .is_some_and(|gone| gone.load(Ordering::Relaxed))
    })
}

/// A counting semaphore whose waiters are served strictly in arrival
/// order: a released permit is handed to the first waiter, never left for
/// a newcomer to grab. Blocking, for the threads that run database work.
struct FairQueue {
    permits: usize,
    state: Mutex<QueueState>,
}

struct QueueState {
    free: usize,
    waiters: VecDeque<Arc<Waiter>>,
}

struct Waiter {
    granted: AtomicBool,
    thread: Thread,
}

struct Permit(Arc<FairQueue>);

impl FairQueue {
    fn new(permits: usize) -> Self {
        Self {
            permits: permits.max(1),
            state: Mutex::new(QueueState {
                free: permits.max(1),
                waiters: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn acquire(self: &Arc<Self>, deadline: Instant) -> Result<Permit, DbError> {
        if abandoned() {
            return Err(DbError::Abandoned);
        }
        let waiter = {
            let mut state = self.lock();
            if state.free > 0 && state.waiters.is_empty() {
                state.free -= 1;
                return Ok(Permit(Arc::clone(self)));
            }
            let waiter = Arc::new(Waiter {
                granted: AtomicBool::new(false),
                thread: thread::current(),
            });
            state.waiters.push_back(Arc::clone(&waiter));
            waiter
        };
        loop {
            if waiter.granted.load(Ordering::Acquire) {
                return Ok(Permit(Arc::clone(self)));
            }
            let now = Instant::now();
            let gone = abandoned();
            if now >= deadline || gone {
                let mut state = self.lock();
                // Granted meanwhile: it is ours to keep (or to give back).
                if waiter.granted.load(Ordering::Acquire) {
                    return Ok(Permit(Arc::clone(self)));
                }
                state.waiters.retain(|w| !Arc::ptr_eq(w, &waiter));
                return Err(if gone {
                    DbError::Abandoned
                } else {
                    DbError::Busy
                });
            }
            // Wakes on a grant, the deadline or spuriously, and looks at
            // its request now and then: the loop checks.
            thread::park_timeout((deadline - now).min(ABANDON_CHECK));
        }
    }

    fn release(&self) {
        let mut state = self.lock();
        match state.waiters.pop_front() {
            Some(next) => {
                next.granted.store(true, Ordering::Release);
                next.thread.unpark();
            }
            None => state.free += 1,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A connection as the pool keeps it, with what the pool knows of its
/// health.
pub struct TrackedConnection {
    conn: AnyConnection,
    returned_at: Instant,
    losses_at_check: u64,
    /// Set by the instrumentation hook when a query found this connection gone.
    lost: Arc<AtomicBool>,
}

/// A connection that came back this recently and has seen no loss since is
/// trusted without a round trip (HikariCP's "alive bypass" window): under
/// load the `SELECT 1` on every checkout cost PostgreSQL reads a third of
/// their throughput; idle connections, which a restarted server or a
/// firewall may have closed, are still checked before use.
const TRUSTED_WHILE_BUSY: Duration = Duration::from_millis(500);

/// r2d2's manager for `AnyConnection`.
pub struct ConnectionManager {
    url: DatabaseUrl,
    /// How many times a query found its connection gone in this pool.
    /// Every pooled connection is checked with a round trip once after each.
    losses: Arc<AtomicU64>,
}

impl ManageConnection for ConnectionManager {
    type Connection = TrackedConnection;
    type Error = DbError;

    fn connect(&self) -> Result<TrackedConnection, DbError> {
        let lost = Arc::new(AtomicBool::new(false));
        let watch = {
            let lost = Arc::clone(&lost);
            let losses = Arc::clone(&self.losses);
            move |event: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::FinishQuery {
                    error: Some(error), ..
                } = event
                {
                    if is_connection_loss(error) && !lost.swap(true, Ordering::AcqRel) {
                        losses.fetch_add(1, Ordering::AcqRel);
                    }
                }
            }
        };
        Ok(TrackedConnection {
            losses_at_check: self.losses.load(Ordering::Acquire),
            conn: establish_watched(&self.url, Some(watch))?,
            returned_at: Instant::now(),
            lost,
        })
    }

    /// Runs on checkout (PostgreSQL only): a round trip only for a
    /// connection that sat idle or that a loss elsewhere puts in doubt.
    fn is_valid(&self, tracked: &mut TrackedConnection) -> Result<(), DbError> {
        let losses = self.losses.load(Ordering::Acquire);
        if tracked.losses_at_check == losses && tracked.returned_at.elapsed() < TRUSTED_WHILE_BUSY {
            return Ok(());
        }
        ping(&mut tracked.conn)?;
        tracked.losses_at_check = losses;
        Ok(())
    }

    /// Runs when a connection comes back: one whose transaction broke, that
    /// was found gone, or that was out while another was found gone, is not
    /// reused.
    fn has_broken(&self, tracked: &mut TrackedConnection) -> bool {
        tracked.returned_at = Instant::now();
        AnyConnection::is_broken_transaction_manager(&mut tracked.conn)
            || tracked.lost.load(Ordering::Acquire)
            || tracked.losses_at_check != self.losses.load(Ordering::Acquire)
    }
}

fn is_connection_loss(error: &diesel::result::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error};
    matches!(
        error,
        Error::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
            _
        )
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn waiters_are_served_in_arrival_order_and_time_out() {
        let queue = Arc::new(FairQueue::new(1));
        let held = queue.acquire(Instant::now()).expect("a free permit");
        let (order_tx, order_rx) = mpsc::channel();
        let mut threads = Vec::new();
        for i in 0..5 {
            let waiter = Arc::clone(&queue);
            let order = order_tx.clone();
            threads.push(thread::spawn(move || {
                let permit = waiter.acquire(Instant::now() + Duration::from_secs(10));
                order.send(i).unwrap();
                drop(permit);
            }));
            // The next thread starts only once this one waits.
            while queue.lock().waiters.len() < i + 1 {
                thread::yield_now();
            }
        }
        // A newcomer with a free permit in sight must not overtake them.
        assert!(matches!(queue.acquire(Instant::now()), Err(DbError::Busy)));
        drop(held);
        for thread in threads {
            thread.join().unwrap();
        }
        let order: Vec<usize> = order_rx.try_iter().collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4]);
        assert_eq!(queue.lock().free, 1);
        assert!(queue.lock().waiters.is_empty());
    }

    #[test]
    fn a_waiter_that_times_out_leaves_the_queue() {
        let queue = Arc::new(FairQueue::new(1));
        let _held = queue.acquire(Instant::now()).unwrap();
        let started = Instant::now();
        assert!(matches!(
            queue.acquire(Instant::now() + Duration::from_millis(50)),
            Err(DbError::Busy)
        ));
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(queue.lock().waiters.is_empty());
    }

    #[test]
    fn list_queries_hold_at_most_their_share_of_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let url =
            DatabaseUrl::parse(&format!("sqlite://{}/t.sqlite3", dir.path().display())).unwrap();
        let pool = DbPool::build(&url, 2, 1, Duration::from_millis(100)).unwrap();
        let listing = pool.get_for_listing().unwrap();
        assert!(matches!(pool.get_for_listing(), Err(DbError::Busy)));
        let point = pool.get().expect("a point read still finds a connection");
        assert_eq!(pool.in_use(), 2);
        drop(listing);
        let again = pool.get_for_listing().expect("the share is back");
        drop((again, point));
        assert_eq!(pool.in_use(), 0);
    }

    #[test]
    fn a_waiter_whose_request_is_abandoned_leaves_the_queue() {
        let queue = Arc::new(FairQueue::new(1));
        let held = queue.acquire(Instant::now()).unwrap();
        let gone = Arc::new(AtomicBool::new(false));
        let waiter = {
            let (queue, gone) = (Arc::clone(&queue), Arc::clone(&gone));
            thread::spawn(move || {
                for_request(gone, || {
                    queue
                        .acquire(Instant::now() + Duration::from_secs(30))
                        .map(drop)
                })
            })
        };
        while queue.lock().waiters.is_empty() {
            thread::yield_now();
        }
        let started = Instant::now();
        gone.store(true, Ordering::Relaxed);
        assert!(matches!(waiter.join().unwrap(), Err(DbError::Abandoned)));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(queue.lock().waiters.is_empty());
        drop(held);
        assert_eq!(queue.lock().free, 1, "the permit was not taken");
        // Outside `for_request`, nothing is abandoned.
        assert!(queue.acquire(Instant::now()).is_ok());
    }
}
