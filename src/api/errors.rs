//! The framework's own errors (unknown route, wrong method, oversized or
//! unreadable body, a panic's 500) rewritten as problem+json, so that every
//! 4xx and 5xx a client sees has the one shape. Our own `ApiError`s are
//! already problem+json and pass through untouched.

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpResponse, Result};

use crate::error::{Problem, PROBLEM_JSON};

pub fn problem_json_for_every_error<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(rewrite_as_problem)
}

fn rewrite_as_problem<B>(response: ServiceResponse<B>) -> Result<ErrorHandlerResponse<B>> {
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let status = response.status();
    let detail = match status.as_u16() {
        404 => "No route matches this URL.".to_owned(),
        405 => "This method is not allowed on this URL.".to_owned(),
        413 => "The request body is too large.".to_owned(),
        500..=599 => "An unexpected error occurred.".to_owned(),
        _ => status.canonical_reason().unwrap_or("Error").to_owned(),
    };
    let (request, old) = response.into_parts();
    let mut problem: HttpResponse<BoxBody> = Problem::new(status, detail).into_response();
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            problem.headers_mut().insert(name.clone(), value.clone());
        }
    }
    let rewritten: ServiceResponse<EitherBody<B>> =
        ServiceResponse::new(request, problem).map_into_right_body();
    Ok(ErrorHandlerResponse::Response(rewritten))
}
