//! One argon2id hash with portrait's parameters: the median of many, in ms.
//! POST /auth/token can do at most (cores ÷ this) sign-ins per second.
//! Usage: cargo run --release --features bench-tools --bin hash_time

use std::time::Instant;

use portrait::auth::password::PasswordHasher;

fn main() {
    let hasher = PasswordHasher::new();
    let hash = hasher.hash("benchmark password 1").unwrap();
    let mut times: Vec<f64> = (0..40)
        .map(|_| {
            let started = Instant::now();
            assert!(hasher.verify("benchmark password 1", &hash));
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("{:.3}", times[times.len() / 2]);
}
