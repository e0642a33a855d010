//! The failed sign-in throttle. Failures count per (client, account) and
//! per client across all accounts, each within LOGIN_LOCKOUT_SECONDS: past
//! LOGIN_MAX_FAILURES for one account, or LOGIN_MAX_FAILURES_PER_CLIENT in
//! all, further attempts get 429 until the window ends. An IPv6 client
//! counts per /64 (one host owns a whole /64). An attempt is counted the
//! moment it is let through ([`LoginThrottle::begin`]), under one lock,
//! so concurrent wrong guesses cannot all pass a check made before any of
//! them is recorded; a success takes its count back.
//!
//! Memory is bounded whatever is sent: accounts are keyed by a 64-bit hash
//! of the normalised username (never the text), expired entries are pruned
//! and, at the cap, the oldest entry goes. In memory, per process: a
//! restart forgives. No HTTP here: the caller says who the client is.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Entries (of both kinds) kept at most: about 64 bytes each.
const MAX_ENTRIES: usize = 100_000;

/// Who the throttle counts: an IPv4 address, or an IPv6 /64.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ClientKey(IpAddr);

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    Self(IpAddr::V6(Ipv6Addr::from(prefix)))
                }
            },
            v4 => Self(v4),
        }
    }
}

#[derive(Clone, Copy)]
struct Window {
    count: u32,
    started: Instant,
}

impl Window {
    fn current(&mut self, now: Instant, length: Duration) -> &mut Self {
        if now.duration_since(self.started) >= length {
            *self = Window {
                count: 0,
                started: now,
            };
        }
        self
    }

    fn retry_after(&self, now: Instant, length: Duration) -> Duration {
        length.saturating_sub(now.duration_since(self.started))
    }
}

struct State {
    accounts: HashMap<(ClientKey, u64), Window>,
    clients: HashMap<ClientKey, Window>,
}

pub struct LoginThrottle {
    max_entries: usize,
    per_account: u32,
    per_client: u32,
    window: Duration,
    hasher: RandomState,
    state: Mutex<State>,
}

/// An attempt let through and already counted as a failure; call
/// [`Attempt::succeeded`] when the credentials were right.
#[must_use]
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    client: ClientKey,
    account: u64,
}

impl LoginThrottle {
    pub fn new(per_account: u32, per_client: u32, window: Duration) -> Self {
        Self::with_capacity(per_account, per_client, window, MAX_ENTRIES)
    }

    fn with_capacity(
        per_account: u32,
        per_client: u32,
        window: Duration,
        max_entries: usize,
    ) -> Self {
        Self {
            max_entries,
            per_account,
            per_client,
            window,
            hasher: RandomState::new(),
            state: Mutex::new(State {
                accounts: HashMap::new(),
                clients: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn account_key(&self, username: &str) -> u64 {
        self.hasher.hash_one(username)
    }

    /// Whether an attempt would be let through now, without counting it:
    /// for refusing a throttled client before it queues for argon2.
    pub fn check(&self, client: IpAddr, username: &str) -> Result<(), Duration> {
        let client = ClientKey::from(client);
        let account = self.account_key(username);
        self.refusal(&self.lock(), client, account, Instant::now())
    }

    /// `Err(retry_after)` while either limit is reached. Reads only: a
    /// refused attempt leaves nothing behind.
    fn refusal(
        &self,
        state: &State,
        client: ClientKey,
        account: u64,
        now: Instant,
    ) -> Result<(), Duration> {
        let live = |window: Option<&Window>| {
            window
                .copied()
                .filter(|w| now.duration_since(w.started) < self.window)
        };
        if let Some(window) = live(state.clients.get(&client)) {
            if window.count >= self.per_client {
                return Err(window.retry_after(now, self.window));
            }
        }
        if let Some(window) = live(state.accounts.get(&(client, account))) {
            if window.count >= self.per_account {
                return Err(window.retry_after(now, self.window));
            }
        }
        Ok(())
    }

    /// Lets an attempt for `username` from `client` through, counting it
    /// now; `Err(retry_after)` while either limit is reached.
    pub fn begin(&self, client: IpAddr, username: &str) -> Result<Attempt<'_>, Duration> {
        let client = ClientKey::from(client);
        let account = self.account_key(username);
        let now = Instant::now();
        let mut state = self.lock();
        self.refusal(&state, client, account, now)?;
        make_room(&mut state, now, self, 2);
        let fresh = Window {
            count: 0,
            started: now,
        };
        state
            .clients
            .entry(client)
            .or_insert(fresh)
            .current(now, self.window)
            .count += 1;
        state
            .accounts
            .entry((client, account))
            .or_insert(fresh)
            .current(now, self.window)
            .count += 1;
        Ok(Attempt {
            throttle: self,
            client,
            account,
        })
    }

    #[cfg(test)]
    fn entries(&self) -> usize {
        let state = self.lock();
        state.accounts.len() + state.clients.len()
    }
}

impl Attempt<'_> {
    /// The credentials were right: this client's count for this account is
    /// cleared, and this attempt no longer counts against the client.
    pub fn succeeded(self) {
        let mut state = self.throttle.lock();
        state.accounts.remove(&(self.client, self.account));
        if let Some(window) = state.clients.get_mut(&self.client) {
            window.count = window.count.saturating_sub(1);
        }
    }

    /// The attempt could not be judged (the database did not answer): it
    /// is not a failure, so its count is given back.
    pub fn cancelled(self) {
        let mut state = self.throttle.lock();
        if let Some(window) = state.accounts.get_mut(&(self.client, self.account)) {
            window.count = window.count.saturating_sub(1);
        }
        if let Some(window) = state.clients.get_mut(&self.client) {
            window.count = window.count.saturating_sub(1);
        }
    }
}

/// Makes room for `incoming` new entries: expired ones go first, then the
/// oldest that are not at their limit (a few failures forgotten), and only
/// when every entry is a live lockout, the oldest of those. So a flood of
/// new names cannot push out the lockouts it is trying to escape.
fn make_room(state: &mut State, now: Instant, throttle: &LoginThrottle, incoming: usize) {
    let cap = throttle.max_entries;
    let len = |state: &State| state.accounts.len() + state.clients.len();
    if len(state) + incoming <= cap {
        return;
    }
    let live = |w: &Window| now.duration_since(w.started) < throttle.window;
    state.accounts.retain(|_, w| live(w));
    state.clients.retain(|_, w| live(w));
    while len(state) + incoming > cap {
        let oldest_account = |limited: bool| {
            state
                .accounts
                .iter()
                .filter(|(_, w)| limited || w.count < throttle.per_account)
                .min_by_key(|(_, w)| w.started)
                .map(|(key, w)| (*key, w.started))
        };
        let oldest_client = |limited: bool| {
            state
                .clients
                .iter()
                .filter(|(_, w)| limited || w.count < throttle.per_client)
                .min_by_key(|(_, w)| w.started)
                .map(|(key, w)| (*key, w.started))
        };
        let (account, client) = match (oldest_account(false), oldest_client(false)) {
            (None, None) => (oldest_account(true), oldest_client(true)),
            pair => pair,
        };
        match (account, client) {
            (Some((key, a)), Some((_, c))) if a <= c => {
                state.accounts.remove(&key);
            }
            (_, Some((key, _))) => {
                state.clients.remove(&key);
            }
            (Some((key, _)), None) => {
                state.accounts.remove(&key);
            }
            (None, None) => break,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn locks_after_max_failures_per_client_and_account() {
        let throttle = LoginThrottle::new(3, 100, Duration::from_secs(60));
        for _ in 0..3 {
            drop(throttle.begin(ip("127.0.0.1"), "alice").unwrap());
        }
        let retry = throttle.begin(ip("127.0.0.1"), "alice").err().unwrap();
        assert!(retry <= Duration::from_secs(60) && retry > Duration::from_secs(50));
        assert!(throttle.begin(ip("127.0.0.1"), "bob").is_ok());
        assert!(throttle.begin(ip("10.0.0.1"), "alice").is_ok());
    }

    #[test]
    fn a_success_clears_that_account_and_does_not_count_against_the_client() {
        let throttle = LoginThrottle::new(3, 3, Duration::from_secs(60));
        drop(throttle.begin(ip("127.0.0.1"), "alice").unwrap());
        drop(throttle.begin(ip("127.0.0.1"), "alice").unwrap());
        throttle
            .begin(ip("127.0.0.1"), "alice")
            .unwrap()
            .succeeded();
        // Two failures still count against the client: one more is allowed.
        throttle
            .begin(ip("127.0.0.1"), "alice")
            .unwrap()
            .succeeded();
        drop(throttle.begin(ip("127.0.0.1"), "bob").unwrap());
        assert!(throttle.begin(ip("127.0.0.1"), "carol").is_err());
    }

    #[test]
    fn one_client_is_limited_across_accounts_and_an_ipv6_client_per_64() {
        let throttle = LoginThrottle::new(5, 10, Duration::from_secs(60));
        for i in 0..10 {
            let address = ip(&format!("2001:db8:1:2::{i:x}"));
            drop(throttle.begin(address, &format!("user{i}")).unwrap());
        }
        assert!(throttle
            .begin(ip("2001:db8:1:2:ffff::1"), "another")
            .is_err());
        assert!(throttle.begin(ip("2001:db8:1:3::1"), "another").is_ok());
    }

    #[test]
    fn concurrent_wrong_guesses_never_pass_the_limit() {
        let throttle = std::sync::Arc::new(LoginThrottle::new(5, 100, Duration::from_secs(60)));
        let passed: usize = (0..40)
            .map(|_| {
                let throttle = throttle.clone();
                std::thread::spawn(move || throttle.begin(ip("127.0.0.1"), "alice").is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| usize::from(t.join().unwrap()))
            .sum();
        assert_eq!(passed, 5);
    }

    #[test]
    fn memory_stays_bounded_whatever_is_sent() {
        let cap = 1_000;
        let throttle = LoginThrottle::with_capacity(5, u32::MAX, Duration::from_secs(60), cap);
        // Keys are hashes: a username's length costs nothing kept.
        let long = "x".repeat(60_000);
        for i in 0..(cap + 500) {
            let client = IpAddr::from((i as u32).to_be_bytes());
            drop(throttle.begin(client, &format!("{long}{i}")));
        }
        assert!(throttle.entries() <= cap);
        // The newest are kept: the latest client is still counted.
        let last = IpAddr::from(((cap + 499) as u32).to_be_bytes());
        assert_eq!(throttle.lock().clients[&ClientKey::from(last)].count, 1);
    }

    #[test]
    fn a_flood_of_new_names_cannot_push_out_a_lockout() {
        let cap = 100;
        let throttle = LoginThrottle::with_capacity(3, u32::MAX, Duration::from_secs(60), cap);
        let attacker = ip("203.0.113.1");
        for _ in 0..3 {
            drop(throttle.begin(attacker, "alice").unwrap());
        }
        assert!(throttle.begin(attacker, "alice").is_err());
        for i in 0..(cap * 3) {
            let other = IpAddr::from((i as u32 + 1).to_be_bytes());
            drop(throttle.begin(other, &format!("name{i}")));
            // Refused attempts leave nothing behind.
            assert!(throttle.begin(attacker, "alice").is_err());
        }
        assert!(throttle.entries() <= cap);
    }

    #[test]
    fn a_cancelled_attempt_is_not_a_failure() {
        let throttle = LoginThrottle::new(2, 100, Duration::from_secs(60));
        for _ in 0..5 {
            throttle
                .begin(ip("127.0.0.1"), "alice")
                .unwrap()
                .cancelled();
        }
        assert!(throttle.check(ip("127.0.0.1"), "alice").is_ok());
    }
}
