//! GET /healthz: 200 when the database answers a query, 503 otherwise.
//! For load balancers and the container's HEALTHCHECK; it does no other work.

use actix_web::{web, HttpResponse};
use diesel::RunQueryDsl;

use crate::api::db_bound;
use crate::api::dto::HealthBody;
use crate::context::AppContext;
use crate::error::{ApiError, Problem, ServiceError};

/// Whether the service and its database answer.
#[utoipa::path(
    get, path = "/healthz", tag = "meta",
    responses(
        (status = 200, description = "The database answers", body = HealthBody),
        (status = 503, description = "The database does not answer", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn healthz(ctx: web::Data<AppContext>) -> Result<HttpResponse, ApiError> {
    db_bound(&ctx, move |ctx| -> Result<(), ServiceError> {
        let mut conn = crate::services::connection(ctx)?;
        diesel::sql_query("SELECT 1")
            .execute(&mut *conn)
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        Ok(())
    })
    .await??;
    Ok(HttpResponse::Ok().json(HealthBody {
        status: "ok".into(),
    }))
}
