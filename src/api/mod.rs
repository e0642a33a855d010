//! The HTTP edge: routes, handlers and the JSON shapes. A handler extracts
//! its inputs, calls one service on the blocking pool (`db_bound` for
//! database work, `cpu_bound` for pictures: no diesel, pool or image work on
//! an async worker) and maps the result to a DTO. No business rule is
//! decided here.

pub mod auth;
pub mod body;
pub mod docs;
pub mod dto;
pub mod errors;
pub mod health;
pub mod media;
pub mod pagination;
pub mod pictures;
pub mod profiles;
pub mod request_log;
pub mod users;

use std::sync::Arc;

use actix_web::web;
use tokio::sync::OwnedSemaphorePermit;

use crate::context::AppContext;
use crate::error::{ApiError, ServiceError};

/// Runs CPU-heavy blocking work (picture processing) on the blocking pool
/// once one of the CPU permits is free. `work` gets its own handle on the
/// context.
pub async fn cpu_bound<T: Send + 'static>(
    ctx: &web::Data<AppContext>,
    work: impl FnOnce(&AppContext) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let permit = Arc::clone(&ctx.cpu_permits)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal())?;
    run_holding(permit, ctx, work).await
}

/// Runs blocking database work on the blocking pool, at most one task per
/// pooled connection at a time. Waiting happens here, on a fair (FIFO)
/// semaphore: r2d2's own wait lets a newcomer take a connection a waiter
/// was woken for, which under load starved some requests for a second or
/// more (p99 over 1 s on PostgreSQL with 32 clients). Waiting longer than
/// DATABASE_TIMEOUT is a 503, as a pool timeout is.
pub async fn db_bound<T: Send + 'static>(
    ctx: &web::Data<AppContext>,
    work: impl FnOnce(&AppContext) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let permit = tokio::time::timeout(
        ctx.settings.database_timeout,
        Arc::clone(&ctx.db_permits).acquire_owned(),
    )
    .await
    .map_err(|_| {
        ApiError::from(ServiceError::Unavailable(
            "timed out waiting for a database connection".into(),
        ))
    })?
    .map_err(|_| ApiError::internal())?;
    run_holding(permit, ctx, work).await
}

/// `work` on the blocking pool; the permit is given back when it ends.
async fn run_holding<T: Send + 'static>(
    permit: OwnedSemaphorePermit,
    ctx: &web::Data<AppContext>,
    work: impl FnOnce(&AppContext) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let ctx = ctx.clone();
    Ok(web::block(move || {
        let _permit = permit;
        work(&ctx)
    })
    .await?)
}

/// Registers every route of the contract.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/token").route(web::post().to(auth::token)))
        .service(web::resource("/auth/refresh").route(web::post().to(auth::refresh)))
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
