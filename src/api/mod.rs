//! The HTTP edge: routes, handlers and the JSON shapes. A handler extracts
//! its inputs, calls one service on the blocking pool (`web::block`: no
//! diesel, pool or image work on an async worker) and maps the result to a
//! DTO. No business rule is decided here.

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

use crate::context::AppContext;
use crate::error::ApiError;

/// Runs CPU-heavy blocking work (picture processing) on the blocking pool
/// once one of the CPU permits is free.
pub async fn cpu_bound<T: Send + 'static>(
    ctx: &AppContext,
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let permit = Arc::clone(&ctx.cpu_permits)
        .acquire_owned()
        .await
        .map_err(|_| ApiError::internal())?;
    Ok(web::block(move || {
        let _permit = permit;
        work()
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
