//! Reading JSON request bodies the contract's way: a body that is not JSON,
//! or not a JSON object, is 400; a well-formed object whose fields are
//! wrong is 422 with every field's messages at once (as DRF reports them).
//! Only `application/json` (or `…+json`) is read; anything else is 415.
//! A body still arriving after CLIENT_BODY_TIMEOUT is cut off with 408.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use serde_json::{Map, Value};

use crate::api::error::{ApiError, FieldErrors};

/// A request body that parsed as a JSON object.
pub struct JsonObject(pub Map<String, Value>);

impl FromRequest for JsonObject {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = is_json_content_type(req);
        let body = web::Bytes::from_request(req, payload);
        let time_limit = body_time_limit(req);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "Send the body as application/json.",
                ));
            }
            let bytes = tokio::time::timeout(time_limit, body)
                .await
                .map_err(|_| body_too_slow())?
                .map_err(|error| {
                    let status = error.as_response_error().status_code();
                    if status == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::new(status, "The request body is too large.")
                    } else {
                        ApiError::bad_request("The request body could not be read.")
                    }
                })?;
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(map)) => Ok(JsonObject(map)),
                Ok(_) => Err(ApiError::bad_request(
                    "The request body must be a JSON object.",
                )),
                Err(error) => Err(ApiError::bad_request(format!("JSON parse error: {error}."))),
            }
        })
    }
}

/// How long a request body may take to arrive (CLIENT_BODY_TIMEOUT).
pub fn body_time_limit(req: &HttpRequest) -> std::time::Duration {
    req.app_data::<web::Data<crate::context::AppContext>>()
        .map_or(std::time::Duration::from_secs(30), |ctx| {
            ctx.settings.client_body_timeout
        })
}

/// The answer to a body that arrives too slowly; the connection is closed.
pub fn body_too_slow() -> ApiError {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "The request body arrived too slowly.",
    )
}

fn is_json_content_type(req: &HttpRequest) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Takes fields out of a JSON object, collecting every problem before
/// answering, so a client sees all its mistakes in one 422.
pub struct Fields {
    object: Map<String, Value>,
    errors: FieldErrors,
}

impl Fields {
    pub fn new(JsonObject(object): JsonObject) -> Self {
        Self {
            object,
            errors: FieldErrors::new(),
        }
    }

    /// A string field that must be present.
    pub fn required_string(&mut self, name: &str) -> Option<String> {
        if !self.object.contains_key(name) {
            self.error(name, "This field is required.");
            return None;
        }
        self.optional_string(name)
    }

    /// A string field that may be absent (but not null).
    pub fn optional_string(&mut self, name: &str) -> Option<String> {
        match self.object.remove(name)? {
            Value::String(value) => Some(value),
            Value::Null => {
                self.error(name, "This field may not be null.");
                None
            }
            _ => {
                self.error(name, "Not a valid string.");
                None
            }
        }
    }

    /// A boolean field that may be absent (but not null).
    pub fn optional_bool(&mut self, name: &str) -> Option<bool> {
        match self.object.remove(name)? {
            Value::Bool(value) => Some(value),
            Value::Null => {
                self.error(name, "This field may not be null.");
                None
            }
            _ => {
                self.error(name, "Must be a valid boolean.");
                None
            }
        }
    }

    /// Runs a domain parser on a value that was read, recording its message.
    pub fn parse<T>(
        &mut self,
        name: &str,
        value: Option<String>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(&value?) {
            Ok(parsed) => Some(parsed),
            Err(message) => {
                self.error(name, message);
                None
            }
        }
    }

    pub fn error(&mut self, name: &str, message: impl Into<String>) {
        self.errors
            .entry(name.to_owned())
            .or_default()
            .push(message.into());
    }

    /// 422 with every collected message, or Ok when there were none.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.errors))
        }
    }
}

/// An id from the path: a positive integer that fits, else 404.
pub fn path_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    let not_found = || ApiError::not_found(format!("No {what} with this id."));
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(not_found());
    }
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::path_id;

    #[test]
    fn ids_are_positive_integers_or_not_found() {
        assert_eq!(path_id("42", "user").unwrap(), 42);
        assert_eq!(path_id("007", "user").unwrap(), 7);
        for bad in [
            "0",
            "-1",
            "+1",
            "1.0",
            "abc",
            "",
            "99999999999999999999",
            " 1",
        ] {
            assert_eq!(
                path_id(bad, "user").unwrap_err().problem.status,
                404,
                "{bad}"
            );
        }
    }
}
