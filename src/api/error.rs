//! The HTTP edge's errors: `ApiError`, its one rendering as
//! `application/problem+json` (RFC 9457, the `Problem` body), the mapping
//! from the services' `ServiceError`, and the middleware that rewrites the
//! framework's own errors (unknown route, wrong method, oversized or
//! unreadable body, a panic's 500) into the same shape. A 500 logs its
//! cause and answers a generic body: no database or I/O text ever reaches
//! a client.

use std::time::Duration;

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub use crate::error::FieldErrors;
use crate::error::ServiceError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The problem type of a sign-in refused because REQUIRE_VERIFIED_EMAIL
/// is on and the user's address is not verified (a client tells it from
/// a 403 for other reasons by this).
pub const EMAIL_NOT_VERIFIED: &str = "urn:portrait:problem:email-not-verified";

/// The body of every error response.
// Each response's own example is set by `docs::ProblemExamples`.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Problem {
    /// `about:blank` (`title` is then the status's own phrase), except
    /// `urn:portrait:problem:email-not-verified` on a sign-in refused
    /// because the user's email address is not verified yet.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Present on validation errors (422) and conflicts (409): field name → messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<std::collections::HashMap<String, Vec<String>>>, nullable = false)]
    pub errors: Option<FieldErrors>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank".into(),
            title: status.canonical_reason().unwrap_or("Error").into(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: None,
        }
    }

    pub fn into_response(self) -> HttpResponse {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        HttpResponse::build(status)
            .insert_header((header::CONTENT_TYPE, PROBLEM_JSON))
            .body(body)
    }
}

/// An error as the HTTP edge answers it.
#[derive(Debug)]
pub struct ApiError {
    pub problem: Box<Problem>,
    retry_after: Option<Duration>,
    bearer_challenge: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            problem: Box::new(Problem::new(status, detail)),
            retry_after: None,
            bearer_challenge: status == StatusCode::UNAUTHORIZED,
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub fn validation(errors: FieldErrors) -> Self {
        let mut error = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The request body has invalid fields.",
        );
        error.problem.errors = Some(errors);
        error
    }

    /// 429 with `Retry-After`: a throttle refused the request.
    pub fn too_many(detail: impl Into<String>, retry_after: Duration) -> Self {
        Self::retry_later(StatusCode::TOO_MANY_REQUESTS, detail, retry_after)
    }

    /// 503 with `Retry-After`: a queue is full; try again shortly.
    pub fn busy(detail: impl Into<String>, retry_after: Duration) -> Self {
        Self::retry_later(StatusCode::SERVICE_UNAVAILABLE, detail, retry_after)
    }

    fn retry_later(status: StatusCode, detail: impl Into<String>, retry_after: Duration) -> Self {
        let mut error = Self::new(status, detail);
        error.retry_after = Some(retry_after);
        error
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "An unexpected error occurred.",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.problem.status, self.problem.detail)
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound(detail) => Self::not_found(detail),
            ServiceError::Forbidden(detail) => Self::new(StatusCode::FORBIDDEN, detail),
            ServiceError::Unauthenticated(detail) => Self::unauthorized(detail),
            ServiceError::EmailNotVerified => {
                let mut error = Self::new(
                    StatusCode::FORBIDDEN,
                    "Verify your email address before signing in: follow the link we sent you.",
                );
                error.problem.kind = EMAIL_NOT_VERIFIED.into();
                error.problem.title = "Email address not verified".into();
                error
            }
            ServiceError::BadRequest(detail) => Self::bad_request(detail),
            ServiceError::PreconditionFailed => Self::new(
                StatusCode::PRECONDITION_FAILED,
                "The profile has changed since you read it (If-Match). Read it again, then retry.",
            ),
            ServiceError::Invalid(errors) => Self::validation(errors),
            ServiceError::Conflict(errors) => {
                let detail = errors
                    .values()
                    .flatten()
                    .next()
                    .cloned()
                    .unwrap_or_else(|| "Conflict.".into());
                let mut api = Self::new(StatusCode::CONFLICT, detail);
                api.problem.errors = Some(errors);
                api
            }
            ServiceError::Throttled { retry_after } => Self::too_many(
                "Too many failed login attempts. Try again later.",
                retry_after,
            ),
            ServiceError::Unavailable(cause) => {
                tracing::error!(%cause, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is not answering. Try again shortly.",
                )
            }
            // nginx's "client closed request": only logs ever see it.
            ServiceError::Abandoned => Self::new(
                StatusCode::from_u16(499).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                "The client closed the request.",
            ),
            ServiceError::UnsupportedMediaType(detail) => {
                Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail)
            }
            ServiceError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                Self::internal()
            }
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(_: actix_web::error::BlockingError) -> Self {
        tracing::error!("blocking task was cancelled or panicked");
        Self::internal()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = Problem {
            kind: self.problem.kind.clone(),
            title: self.problem.title.clone(),
            status: self.problem.status,
            detail: self.problem.detail.clone(),
            errors: self.problem.errors.clone(),
        }
        .into_response();
        let headers = response.headers_mut();
        if self.bearer_challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(retry_after) = self.retry_after {
            // Rounded up: a client that waits exactly this long is let in.
            let seconds = retry_after
                .as_secs()
                .saturating_add(u64::from(retry_after.subsec_nanos() > 0))
                .max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        if self.problem.status == StatusCode::REQUEST_TIMEOUT.as_u16() {
            // The rest of a slow body is not waited for: the connection ends.
            response
                .head_mut()
                .set_connection_type(actix_web::http::ConnectionType::Close);
        }
        response
    }
}

/// Our own `ApiError`s are already problem+json and pass through untouched,
/// as do the admin site's HTML pages.
pub fn problem_json_for_every_error<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(rewrite_as_problem)
}

fn rewrite_as_problem<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    // The admin site's pages are HTML, errors included (its own 403, 404
    // and 500 pages): they pass through too.
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| {
            value.as_bytes().starts_with(PROBLEM_JSON.as_bytes())
                || (value.as_bytes().starts_with(b"text/html")
                    && response.request().path().starts_with("/admin/"))
        });
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
