//! `AppContext`: everything a request's work needs (settings, the pool,
//! the signals with their receivers, storage, token keys, the login
//! throttle), built once at start and shared. Cheap to clone (all `Arc`s).
//! It holds no per-request state.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::PasswordHasher;
use crate::auth::throttle::LoginThrottle;
use crate::db::DbPool;
use crate::media::LocalMediaStorage;
use crate::settings::Settings;
use crate::signals::Signals;

#[derive(Clone)]
pub struct AppContext {
    pub settings: Arc<Settings>,
    pub pool: DbPool,
    pub signals: Arc<Signals>,
    pub media: Arc<LocalMediaStorage>,
    pub jwt: Arc<JwtKeys>,
    pub passwords: Arc<PasswordHasher>,
    pub throttle: Arc<LoginThrottle>,
    /// Caps concurrent picture processing at about one per core: more at
    /// once only thrashes caches and memory (argon2 has its own permits).
    pub cpu_permits: Arc<Semaphore>,
    /// One permit per pooled connection: database work waits here, in
    /// arrival order, rather than in r2d2 (see `api::db_bound`).
    pub db_permits: Arc<Semaphore>,
}
