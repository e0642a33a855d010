//! Limit/offset pagination in Django REST framework's shape: a `limit` over
//! the maximum is capped (as DRF's `max_limit`), absolute `next`/`previous`
//! links keep the request's other query parameters and are built from
//! `client::origin` (forwarded headers only from TRUSTED_PROXIES). Unlike DRF, a `limit`
//! or `offset` that is not a whole number in range is a 400, as the OpenAPI
//! document declares, rather than silently replaced.

use actix_web::HttpRequest;
use url::form_urlencoded;

use crate::api::client;
use crate::api::error::ApiError;
use crate::context::AppContext;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

pub struct PageRequest {
    pub limit: i64,
    pub offset: i64,
    pub params: Vec<(String, String)>,
}

impl PageRequest {
    pub fn from_request(req: &HttpRequest) -> Result<Self, ApiError> {
        let params: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect();
        let number =
            |name: &str, minimum: i64, default: i64| match params.iter().find(|(k, _)| k == name) {
                None => Ok(default),
                Some((_, raw)) => raw
                    .parse::<i64>()
                    .ok()
                    .filter(|value| *value >= minimum)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "{name} must be a whole number of at least {minimum}."
                        ))
                    }),
            };
        let limit = number("limit", 1, DEFAULT_LIMIT)?.min(MAX_LIMIT);
        let offset = number("offset", 0, 0)?;
        Ok(Self {
            limit,
            offset,
            params,
        })
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// (next, previous) for a result of `count` items.
    pub fn links(&self, req: &HttpRequest, count: i64) -> (Option<String>, Option<String>) {
        // Saturating: an offset near i64::MAX must not overflow.
        let next_offset = self.offset.saturating_add(self.limit);
        let next = (next_offset < count).then(|| self.url(req, Some(next_offset)));
        let previous = (self.offset > 0).then(|| {
            let previous_offset = self.offset - self.limit;
            self.url(req, (previous_offset > 0).then_some(previous_offset))
        });
        (next, previous)
    }

    fn url(&self, req: &HttpRequest, offset: Option<i64>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &self.params {
            if key != "limit" && key != "offset" {
                query.append_pair(key, value);
            }
        }
        query.append_pair("limit", &self.limit.to_string());
        if let Some(offset) = offset {
            query.append_pair("offset", &offset.to_string());
        }
        let trusted = req
            .app_data::<actix_web::web::Data<AppContext>>()
            .map(|ctx| ctx.settings.trusted_proxies.clone())
            .unwrap_or_default();
        format!(
            "{}{}?{}",
            client::origin(req, &trusted),
            req.path(),
            query.finish()
        )
    }
}
