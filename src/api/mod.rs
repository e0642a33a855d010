//! The HTTP edge: routes, handlers and the JSON shapes. A handler extracts
//! its inputs, waits in the queue its use case needs (argon2's for
//! hashing, the CPU permits for picture processing; database work queues
//! in the pool's own checkout), calls one service on the blocking pool (no
//! diesel, pool or image work on an async worker; pages of the directory
//! on the lower-priority listing threads) and maps the result to a DTO. No
//! business rule is decided here.

pub mod accounts;
pub mod auth;
pub mod body;
pub mod client;
pub mod cursor;
pub mod docs;
pub mod dto;
pub mod error;
pub mod extract;
pub mod head;
pub mod health;
pub mod limits;
pub mod media;
pub mod pagination;
pub mod pictures;
pub mod profiles;
pub mod request_log;
pub mod users;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use crate::context::AppContext;
use crate::db::pool::for_request;
use error::ApiError;

/// Runs blocking work (a service: database, files) on the blocking pool.
/// Database work waits for its connection inside the pool's checkout, in
/// arrival order, so nothing is queued here. When the client disconnects
/// first, actix drops this future: the work is told (`db::pool::for_request`)
/// and gives up its place in the database queue instead of running for
/// nobody.
pub async fn blocking<T: Send + 'static>(
    ctx: &web::Data<AppContext>,
    work: impl FnOnce(&AppContext) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let ctx = ctx.clone();
    let done = watched(|gone| web::block(move || for_request(gone, || work(&ctx)))).await;
    Ok(done?)
}

/// As [`blocking`], on the listing threads, which yield the cores to
/// everything else (`yielding`): for pages of the directory, whose
/// work (the query and the JSON of every user on the page) costs many
/// point reads.
pub async fn listing<T: Send + 'static>(
    ctx: &web::Data<AppContext>,
    work: impl FnOnce(&AppContext) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let ctx = ctx.clone();
    let threads = Arc::clone(&ctx.listing);
    let done = watched(|gone| threads.run(move || for_request(gone, || work(&ctx)))).await;
    done.ok_or_else(ApiError::internal)
}

/// Awaits the work `start` hands off, given the flag that tells it its
/// client left: set if this future is dropped before the work answers.
async fn watched<F: std::future::Future>(start: impl FnOnce(Arc<AtomicBool>) -> F) -> F::Output {
    let mut watch = AbandonOnDrop::default();
    let done = start(Arc::clone(&watch.gone)).await;
    watch.finished = true;
    done
}

/// Sets `gone` when dropped before `finished`: the request's future went
/// away (its client disconnected) while the work was queued or running.
#[derive(Default)]
struct AbandonOnDrop {
    gone: Arc<AtomicBool>,
    finished: bool,
}

impl Drop for AbandonOnDrop {
    fn drop(&mut self) {
        if !self.finished {
            self.gone.store(true, Ordering::Relaxed);
        }
    }
}

/// Runs picture processing (decode, resize, encode: CPU only, no database,
/// no files) on the blocking pool once one of the CPU permits (one per
/// core) is free; when another permit is free too, the work gets it and
/// may use two threads (it is told how many). When `time_limit` passes first the answer is `None` at
/// once, but the permit goes back only when the work really ends: a
/// decode that cannot be stopped still holds its core and its memory, so
/// the number of decodes at once stays bounded whatever clients send.
pub async fn cpu_bound<T: Send + 'static>(
    ctx: &web::Data<AppContext>,
    time_limit: Duration,
    work: impl FnOnce(&AppContext, usize) -> T + Send + 'static,
) -> Result<Option<T>, ApiError> {
    let metrics = crate::metrics::metrics();
    // Counted out however the wait ends, a client hanging up included.
    struct Waiting;
    impl Drop for Waiting {
        fn drop(&mut self) {
            crate::metrics::metrics().picture_waiting(-1);
        }
    }
    metrics.picture_waiting(1);
    let waiting = Waiting;
    let permit = Arc::clone(&ctx.cpu_permits)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal())?;
    drop(waiting);
    // A second core that nobody is waiting for may take half the encodes.
    let spare = Arc::clone(&ctx.cpu_permits).try_acquire_owned().ok();
    let threads = 1 + usize::from(spare.is_some());
    let ctx = ctx.clone();
    let work = web::block(move || {
        let _permits = (permit, spare);
        let started = std::time::Instant::now();
        let done = work(&ctx, threads);
        crate::metrics::metrics().picture_processed(started.elapsed());
        done
    });
    match tokio::time::timeout(time_limit, work).await {
        Ok(done) => Ok(Some(done?)),
        Err(_) => Ok(None),
    }
}

/// How long a client refused by a full queue is told to wait.
const RETRY_AFTER_FULL_QUEUE: Duration = Duration::from_secs(1);

/// Runs a service that hashes or verifies a password, once argon2's queue
/// gives it a turn: waiting holds no thread and no connection, and a full
/// queue is a 503 with Retry-After at once.
pub async fn hashing<T: Send + 'static>(
    ctx: &web::Data<AppContext>,
    work: impl FnOnce(&AppContext) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let turn = ctx.hash_queue.turn().await.map_err(|_| {
        ApiError::busy(
            "Too many sign-ins are being processed. Try again shortly.",
            RETRY_AFTER_FULL_QUEUE,
        )
    })?;
    blocking(ctx, move |ctx| {
        let _turn = turn;
        work(ctx)
    })
    .await
}

/// Registers every route of the contract.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/token").route(web::post().to(auth::token)))
        .service(web::resource("/auth/refresh").route(web::post().to(auth::refresh)))
        .service(web::resource("/auth/logout").route(web::post().to(auth::logout)))
        .service(web::resource("/auth/logout-all").route(web::post().to(auth::logout_all)))
        .service(
            web::resource("/auth/password-reset").route(web::post().to(accounts::password_reset)),
        )
        .service(
            web::resource("/auth/password-reset/confirm")
                .route(web::post().to(accounts::password_reset_confirm)),
        )
        .service(web::resource("/auth/verify-email").route(web::post().to(accounts::verify_email)))
        .service(
            web::resource("/auth/verify-email/resend")
                .route(web::post().to(accounts::verify_email_resend)),
        )
        .service(
            web::resource("/users")
                .route(web::get().to(users::list))
                .route(web::post().to(users::register)),
        )
        .service(
            web::resource("/users/{id}")
                .route(web::get().to(users::get))
                .route(web::patch().to(users::update))
                .route(web::delete().to(users::delete)),
        )
        .service(
            web::resource("/users/{id}/profile")
                .route(web::get().to(profiles::get))
                .route(web::patch().to(profiles::update)),
        )
        .service(web::resource("/profile").route(web::get().to(profiles::own)))
        .service(
            web::resource("/profile/picture")
                .route(web::put().to(pictures::upload))
                .route(web::post().to(pictures::upload_post))
                .route(web::delete().to(pictures::reset)),
        )
        .service(web::resource("/media/{path:.*}").route(web::get().to(media::serve)))
        .service(web::resource("/healthz").route(web::get().to(health::healthz)));
    docs::routes(cfg);
}
