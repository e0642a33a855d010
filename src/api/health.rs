//! GET /healthz: 200 when the database answers a query and the store can
//! be written to, 503 otherwise. For load balancers and the container's
//! HEALTHCHECK; it does no other work.

use actix_web::{web, HttpResponse};

use crate::api::blocking;
use crate::api::dto::HealthBody;
use crate::api::error::{ApiError, Problem};
use crate::context::AppContext;
use crate::db;
use crate::error::ServiceError;

/// Whether the service, its database and its store answer.
#[utoipa::path(
    get, path = "/healthz", operation_id = "healthz_retrieve", tag = "meta",
    responses(
        (status = 200, description = "The database and the store answer", body = HealthBody),
        (status = 503, description = "The database or the store does not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn healthz(ctx: web::Data<AppContext>) -> Result<HttpResponse, ApiError> {
    blocking(&ctx, move |ctx| -> Result<(), ServiceError> {
        let mut conn = ctx.pool.get()?;
        db::ping(&mut conn)?;
        ctx.storage
            .health()
            .map_err(|e| ServiceError::Unavailable(format!("storage: {e}")))
    })
    .await??;
    Ok(HttpResponse::Ok().json(HealthBody {
        status: "ok".into(),
    }))
}
