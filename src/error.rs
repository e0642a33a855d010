//! One error type for the HTTP edge, `ApiError`, and its one rendering:
//! `application/problem+json` (RFC 9457). Services return `ServiceError`
//! (no HTTP in it); this module maps it. A 500 logs its cause and answers a
//! generic body: no database or I/O text ever reaches a client.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// Field name → messages, as Django REST framework reports them.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// The body of every error response.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
#[schema(example = json!({"type": "about:blank", "title": "Not Found", "status": 404, "detail": "No user with this id."}))]
pub struct Problem {
    /// Always `about:blank`: `title` is the status's own phrase.
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

/// What went wrong in a service, in business terms.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not authenticated: {0}")]
    Unauthenticated(&'static str),
    #[error("validation failed")]
    Invalid(FieldErrors),
    #[error("conflict")]
    Conflict(FieldErrors),
    #[error("too many failed attempts")]
    Throttled { retry_after: Duration },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(BTreeMap::from([(field.to_owned(), vec![message.into()])]))
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<diesel::result::Error> for ServiceError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => Self::NotFound("No such object."),
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                // Map by the constraint (PostgreSQL names it; SQLite names the
                // column in its message), never by a racy pre-check alone.
                let which = info.constraint_name().unwrap_or(info.message());
                match unique_field(which) {
                    Some(field) => Self::Conflict(BTreeMap::from([(
                        field.to_owned(),
                        vec![format!("A user with that {field} already exists.")],
                    )])),
                    None => Self::internal(format!("unique violation: {which}")),
                }
            }
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => {
                crate::db::note_connection_lost();
                Self::Unavailable(info.message().to_owned())
            }
            other => Self::internal(other),
        }
    }
}

fn unique_field(constraint_or_message: &str) -> Option<&'static str> {
    if constraint_or_message.contains("username") {
        Some("username")
    } else if constraint_or_message.contains("email") {
        Some("email")
    } else {
        None
    }
}

impl From<r2d2::Error> for ServiceError {
    fn from(error: r2d2::Error) -> Self {
        Self::Unavailable(error.to_string())
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
            ServiceError::Throttled { retry_after } => {
                let mut api = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many failed login attempts. Try again later.",
                );
                api.retry_after = Some(retry_after);
                api
            }
            ServiceError::Unavailable(cause) => {
                tracing::error!(%cause, "database unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is not answering. Try again shortly.",
                )
            }
            ServiceError::UnsupportedMediaType(detail) => {
                Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail)
            }
            ServiceError::PayloadTooLarge(detail) => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, detail)
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
            let seconds = retry_after.as_secs().max(1);
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                headers.insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
