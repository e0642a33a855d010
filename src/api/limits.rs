//! Request heads within limits: a URL longer than MAX_URL_BYTES is 414, and
//! headers that add up to more than MAX_HEADER_BYTES are 431, both as
//! problem+json like every other error. (A head over the framework's own
//! 128 KiB buffer, or with more than 96 headers, never reaches the app:
//! the framework answers 431 itself, with no body.)

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError};

use crate::api::error::ApiError;
use crate::context::AppContext;

pub async fn refuse_oversized_heads(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let (max_url, max_headers) = req
        .app_data::<web::Data<AppContext>>()
        .map_or((65536, 16384), |ctx| {
            (ctx.settings.max_url_bytes, ctx.settings.max_header_bytes)
        });
    let url_bytes = req
        .uri()
        .path_and_query()
        .map_or(0, |path| path.as_str().len());
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    let refusal = if url_bytes > max_url {
        Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            format!("The URL is longer than {max_url} bytes."),
        ))
    } else if header_bytes > max_headers {
        Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            format!("The request headers are larger than {max_headers} bytes."),
        ))
    } else {
        None
    };
    match refusal {
        Some(error) => {
            let response = error.error_response();
            Ok(req.into_response(response).map_into_right_body())
        }
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}
