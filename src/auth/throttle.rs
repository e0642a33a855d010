//! The failed-login throttle: after LOGIN_MAX_FAILURES failures for one
//! (client address, username) within LOGIN_LOCKOUT_SECONDS, further
//! attempts get 429 until the window ends. In memory, per process: a
//! restart forgives. The map is pruned so it cannot grow without bound.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Pruning starts when the map holds this many keys.
const PRUNE_AT: usize = 10_000;

struct Failures {
    count: u32,
    window_start: Instant,
}

pub struct LoginThrottle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<(IpAddr, String), Failures>>,
}

impl LoginThrottle {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` while the key is locked out.
    pub fn check(&self, client: IpAddr, username: &str) -> Result<(), Duration> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        match failures.get(&(client, username.to_owned())) {
            Some(entry) if entry.count >= self.max_failures => {
                let elapsed = entry.window_start.elapsed();
                if elapsed < self.window {
                    Err(self.window - elapsed)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, client: IpAddr, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() >= PRUNE_AT {
            let window = self.window;
            failures.retain(|_, entry| entry.window_start.elapsed() < window);
        }
        let now = Instant::now();
        let entry = failures
            .entry((client, username.to_owned()))
            .or_insert(Failures {
                count: 0,
                window_start: now,
            });
        if now.duration_since(entry.window_start) >= self.window {
            *entry = Failures {
                count: 0,
                window_start: now,
            };
        }
        entry.count += 1;
    }

    pub fn reset(&self, client: IpAddr, username: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.remove(&(client, username.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_per_client_and_username() {
        let throttle = LoginThrottle::new(3, Duration::from_secs(60));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(throttle.check(ip, "alice").is_ok());
            throttle.record_failure(ip, "alice");
        }
        let retry = throttle.check(ip, "alice").unwrap_err();
        assert!(retry <= Duration::from_secs(60) && retry > Duration::from_secs(50));
        assert!(throttle.check(ip, "bob").is_ok());
        assert!(throttle.check("10.0.0.1".parse().unwrap(), "alice").is_ok());
        throttle.reset(ip, "alice");
        assert!(throttle.check(ip, "alice").is_ok());
    }
}
