//! `ServiceError`: what went wrong in a use case, in business terms. The
//! services return it; the HTTP edge (`api::error`) and the CLI each render
//! it their own way. No HTTP here, and no database text meant for a client:
//! causes are kept for the log only. A unique violation is not guessed
//! here: the service that made the write maps its constraint by name.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::db::DbError;

/// Field name → messages, as Django REST framework reports them.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    #[error("not authenticated: {0}")]
    Unauthenticated(&'static str),
    /// Right credentials, but REQUIRE_VERIFIED_EMAIL and the address is not.
    #[error("email not verified")]
    EmailNotVerified,
    /// `If-Match` names another version than the current one.
    #[error("precondition failed")]
    PreconditionFailed,
    /// A request that cannot be carried out as sent (a bad email token).
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("validation failed")]
    Invalid(FieldErrors),
    #[error("conflict")]
    Conflict(FieldErrors),
    #[error("too many failed attempts")]
    Throttled { retry_after: Duration },
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The client left before the work began; nobody reads the answer.
    #[error("abandoned by the client")]
    Abandoned,
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// One field's one message: a 422 for `Invalid`, a 409 for `Conflict`.
    pub fn field(field: &str, message: impl Into<String>) -> FieldErrors {
        BTreeMap::from([(field.to_owned(), vec![message.into()])])
    }
}

impl From<diesel::result::Error> for ServiceError {
    fn from(error: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match error {
            Error::NotFound => Self::NotFound("No such object."),
            Error::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                info,
            ) => Self::Unavailable(info.message().to_owned()),
            other => Self::internal(other),
        }
    }
}

impl From<DbError> for ServiceError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::Setup(error) => error.into(),
            DbError::Migrate(cause) => Self::Internal(cause),
            DbError::Abandoned => Self::Abandoned,
            unavailable => Self::Unavailable(unavailable.to_string()),
        }
    }
}
