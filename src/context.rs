//! `AppContext`: everything a request's work needs (settings, the pool and
//! its queue, the signals with their receivers, storage, token keys, the
//! password hasher and its queue, the login throttle, the pictures' CPU
//! permits, the email outbox, the listing threads), built once at start by `startup::build_context` and shared. Cheap to clone (all `Arc`s).
//! It holds no per-request state.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::auth::jwt::JwtKeys;
use crate::auth::password::{HashQueue, PasswordHasher};
use crate::auth::throttle::ClientKey;
use crate::db::DbPool;
use crate::rates::{EmailRates, RateThrottle};
use crate::services::mailing::Outbox;
use crate::services::pictures::DefaultPicture;
use crate::services::sign_in_throttle::SignInThrottle;
use crate::settings::Settings;
use crate::signals::Signals;
use crate::storage::Storage;
use crate::yielding::Yielding;

#[derive(Clone)]
pub struct AppContext {
    pub settings: Arc<Settings>,
    pub pool: DbPool,
    pub signals: Arc<Signals>,
    pub storage: Arc<dyn Storage>,
    pub jwt: Arc<JwtKeys>,
    pub passwords: Arc<PasswordHasher>,
    /// argon2's own bounded queue, in front of `passwords`.
    pub hash_queue: Arc<HashQueue>,
    pub throttle: Arc<SignInThrottle>,
    /// UPLOAD_RATE, per user id.
    pub upload_rate: Arc<RateThrottle<i64>>,
    /// REGISTER_RATE, per client.
    pub register_rate: Arc<RateThrottle<ClientKey>>,
    /// EMAIL_RATE_PER_CLIENT and EMAIL_RATE_PER_ADDRESS.
    pub email_rates: Arc<EmailRates>,
    /// The default picture's renditions and ThumbHash, made at start.
    pub default_picture: Arc<DefaultPicture>,
    /// Email waiting to be sent, after its transaction and off the
    /// request's path.
    pub outbox: Arc<Outbox>,
    /// Caps concurrent picture processing (decode, resize, encode only) at
    /// about one per core: more at once only thrashes caches and memory.
    pub cpu_permits: Arc<Semaphore>,
    /// Threads at a lower priority for pages of the directory
    /// (LIST_NICENESS), so that paging yields the cores to point reads.
    pub listing: Arc<Yielding>,
}
