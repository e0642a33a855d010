//! argon2id hashing and verification. Slow on purpose (tens of ms): call it
//! off the async workers. Verification is constant-time (argon2's own
//! comparison); an unknown user is checked against a dummy hash so that
//! timing does not tell which usernames exist.

use std::sync::{Condvar, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use argon2::Argon2;

pub struct PasswordHasher {
    argon2: Argon2<'static>,
    dummy_hash: String,
    permits: Permits,
}

/// At most one argon2 computation per core at a time: each needs 19 MiB,
/// and more at once only thrash the caches. Only the hashing itself waits,
/// not the database work around it.
struct Permits {
    free: Mutex<usize>,
    returned: Condvar,
}

impl Permits {
    fn new(count: usize) -> Self {
        Self {
            free: Mutex::new(count.max(1)),
            returned: Condvar::new(),
        }
    }

    fn run<T>(&self, work: impl FnOnce() -> T) -> T {
        {
            let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
            while *free == 0 {
                free = self.returned.wait(free).unwrap_or_else(|p| p.into_inner());
            }
            *free -= 1;
        }
        let result = work();
        *self.free.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.returned.notify_one();
        result
    }
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self::new()
    }
}

impl PasswordHasher {
    /// argon2id with the crate's defaults (19 MiB, 2 passes, 1 lane: the
    /// OWASP recommendation).
    pub fn new() -> Self {
        let argon2 = Argon2::default();
        let salt = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2
            .hash_password(b"portrait-dummy-password", &salt)
            .expect("argon2 hashes with default parameters")
            .to_string();
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Self {
            argon2,
            dummy_hash,
            permits: Permits::new(cores),
        }
    }

    pub fn hash(&self, password: &str) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut OsRng);
        self.permits.run(|| {
            Ok(self
                .argon2
                .hash_password(password.as_bytes(), &salt)?
                .to_string())
        })
    }

    /// True when `password` matches `hash`; a malformed hash never matches.
    pub fn verify(&self, password: &str, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        self.permits.run(|| {
            self.argon2
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
    }

    /// Spends the same time as a real verification, for unknown users.
    pub fn verify_dummy(&self, password: &str) {
        let _ = self.verify(password, &self.dummy_hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let hasher = PasswordHasher::new();
        let a = hasher.hash("correct horse").unwrap();
        let b = hasher.hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b);
        assert!(hasher.verify("correct horse", &a));
        assert!(!hasher.verify("wrong horse", &a));
        assert!(!hasher.verify("correct horse", "not a hash"));
    }
}
