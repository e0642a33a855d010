//! One log line per request (method, path, status, latency) inside a span
//! that carries a request id, which is also returned as `X-Request-Id` so a
//! client's report can be matched to the server's log. Only the path is
//! logged: never the query, headers (Authorization!) or body. The same
//! place counts the request for /metrics, by its route's pattern.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;
use rand::RngCore;
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub async fn log_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = new_request_id();
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %req.method(),
        path = %req.path(),
    );
    let started = Instant::now();
    let method = req.method().clone();
    let mut response = next.call(req).instrument(span.clone()).await?;
    let took = started.elapsed();
    let latency_ms = took.as_secs_f64() * 1000.0;
    let status = response.status().as_u16();
    let route = response.request().match_pattern();
    crate::metrics::metrics().request(
        route.as_deref().unwrap_or("unmatched"),
        method.as_str(),
        status,
        took,
    );
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = format!("{latency_ms:.2}"),
            "request finished"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

fn new_request_id() -> String {
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
