//! Rate throttles as Django REST framework's (`UserRateThrottle`,
//! `AnonRateThrottle`): at most N requests per period for one key (a user,
//! a client address), past that 429 with how long to wait. A rate is
//! written as DRF writes it, `N/sec`, `N/min`, `N/hour`, `N/day`, or `off`.
//!
//! Each key keeps one instant (the generic cell rate algorithm: requests
//! are spaced period/N apart with a burst of N), so memory is bounded by
//! the number of keys, itself capped. In memory, per process. No HTTP here.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept at most (a key and an instant each).
const MAX_KEYS: usize = 100_000;

/// N requests per period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub requests: u32,
    pub period: Duration,
}

impl Rate {
    /// `N/sec|min|hour|day` (DRF's spelling; only the first letter of the
    /// unit counts), or `off` for none.
    pub fn parse(raw: &str) -> Result<Option<Rate>, String> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("off") || raw.eq_ignore_ascii_case("none") {
            return Ok(None);
        }
        let bad = || format!("expected N/sec, N/min, N/hour, N/day or off, got {raw:?}");
        let (count, unit) = raw.split_once('/').ok_or_else(bad)?;
        let requests: u32 = count.trim().parse().map_err(|_| bad())?;
        let seconds = match unit.trim().chars().next().map(|c| c.to_ascii_lowercase()) {
            Some('s') => 1,
            Some('m') => 60,
            Some('h') => 3600,
            Some('d') => 86400,
            _ => return Err(bad()),
        };
        if requests == 0 {
            return Err(bad());
        }
        Ok(Some(Rate {
            requests,
            period: Duration::from_secs(seconds),
        }))
    }
}

pub struct RateThrottle<K> {
    rate: Option<Rate>,
    max_keys: usize,
    /// When each key's next request would be on schedule.
    next_due: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Copy> RateThrottle<K> {
    pub fn new(rate: Option<Rate>) -> Self {
        Self::with_capacity(rate, MAX_KEYS)
    }

    fn with_capacity(rate: Option<Rate>, max_keys: usize) -> Self {
        Self {
            rate,
            max_keys,
            next_due: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a request for `key`; `Err(wait)` when it is over the rate.
    pub fn allow(&self, key: K) -> Result<(), Duration> {
        let Some(rate) = self.rate else {
            return Ok(());
        };
        let interval = rate.period / rate.requests;
        let now = Instant::now();
        let mut next_due = self.next_due.lock().unwrap_or_else(|p| p.into_inner());
        if next_due.len() >= self.max_keys && !next_due.contains_key(&key) {
            // Keys whose schedule has caught up with now hold no debt.
            next_due.retain(|_, due| *due > now);
            if next_due.len() >= self.max_keys {
                if let Some(oldest) = next_due
                    .iter()
                    .min_by_key(|(_, due)| **due)
                    .map(|(k, _)| *k)
                {
                    next_due.remove(&oldest);
                }
            }
        }
        let due = next_due.get(&key).copied().unwrap_or(now).max(now);
        let after = due + interval;
        // A burst of `requests` fits in one period.
        if after.duration_since(now) > rate.period {
            return Err(after.duration_since(now) - rate.period);
        }
        next_due.insert(key, after);
        Ok(())
    }
}

/// The two throttles of requests that send email (a password reset, a new
/// verification link): per client, and per address whoever asks. The
/// address is counted whether or not a user has it, so a 429 tells
/// nothing about who is registered. Addresses are kept as keyed 64-bit
/// hashes: memory stays bounded whatever is sent.
pub struct EmailRates {
    per_client: RateThrottle<crate::auth::throttle::ClientKey>,
    per_address: RateThrottle<u64>,
    hasher: RandomState,
}

impl EmailRates {
    pub fn new(per_client: Option<Rate>, per_address: Option<Rate>) -> Self {
        Self {
            per_client: RateThrottle::new(per_client),
            per_address: RateThrottle::new(per_address),
            hasher: RandomState::new(),
        }
    }

    /// Counts a request from `client` for `address` (normalised).
    pub fn allow(
        &self,
        client: crate::auth::throttle::ClientKey,
        address: &str,
    ) -> Result<(), Duration> {
        self.per_client.allow(client)?;
        self.per_address.allow(self.hasher.hash_one(address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_read_as_drf_writes_them() {
        assert_eq!(
            Rate::parse("60/min").unwrap(),
            Some(Rate {
                requests: 60,
                period: Duration::from_secs(60)
            })
        );
        assert_eq!(
            Rate::parse("100/hour").unwrap().unwrap().period,
            Duration::from_secs(3600)
        );
        assert_eq!(Rate::parse("5/s").unwrap().unwrap().requests, 5);
        assert_eq!(
            Rate::parse("1000/day").unwrap().unwrap().period,
            Duration::from_secs(86400)
        );
        assert_eq!(Rate::parse("off").unwrap(), None);
        for bad in ["", "60", "x/min", "0/min", "60/fortnight"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_of_n_passes_then_the_next_waits() {
        let throttle = RateThrottle::new(Rate::parse("3/min").unwrap());
        for _ in 0..3 {
            assert!(throttle.allow(1u64).is_ok());
        }
        let wait = throttle.allow(1u64).unwrap_err();
        assert!(
            wait > Duration::from_secs(15) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(throttle.allow(2u64).is_ok(), "keys are counted apart");
        assert!(RateThrottle::new(None).allow(1u64).is_ok());
    }

    #[test]
    fn memory_is_bounded_by_the_key_cap() {
        let throttle = RateThrottle::with_capacity(Rate::parse("1/day").unwrap(), 100);
        for key in 0..110u64 {
            let _ = throttle.allow(key);
        }
        assert!(throttle.next_due.lock().unwrap().len() <= 100);
    }
}
