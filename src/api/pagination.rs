//! Pagination in Django REST framework's two shapes: limit/offset (a
//! `limit` over the maximum is capped, as DRF's `max_limit`), and, when the
//! request has a `cursor` parameter (empty for the first page), cursor
//! pages as DRF's CursorPagination: signed opaque cursors (`cursor.rs`),
//! no count, every page the same cost however deep. Absolute
//! `next`/`previous` links keep the request's other query parameters and
//! are built from `client::origin` (forwarded headers only from
//! TRUSTED_PROXIES). Unlike DRF, a `limit` or `offset` that is not a whole
//! number in range is a 400, as the OpenAPI document declares, rather
//! than silently replaced; so is a cursor this service did not sign.

use actix_web::HttpRequest;
use url::form_urlencoded;

use crate::api::client;
use crate::api::cursor::Position;
use crate::api::error::ApiError;
use crate::context::AppContext;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

pub struct PageRequest {
    pub limit: i64,
    pub offset: i64,
    /// `Some` in cursor mode: `Some(None)` for the first page.
    pub cursor: Option<Option<Position>>,
    pub params: Vec<(String, String)>,
    /// Where links point: the origin the client sees and the path.
    base: String,
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
        let ctx = req
            .app_data::<actix_web::web::Data<AppContext>>()
            .ok_or_else(ApiError::internal)?;
        let cursor = match params.iter().find(|(k, _)| k == "cursor") {
            None => None,
            Some((_, raw)) if raw.is_empty() => Some(None),
            Some((_, raw)) => {
                let key = *ctx.jwt.cursor_key();
                let position = Position::decode(raw, &key)
                    .ok_or_else(|| ApiError::bad_request("Invalid cursor."))?;
                Some(Some(position))
            }
        };
        let origin = client::origin(req, &ctx.settings.trusted_proxies);
        Ok(Self {
            limit,
            offset,
            cursor,
            params,
            base: format!("{origin}{}", req.path()),
        })
    }

    /// (next, previous) of a cursor page whose items have ids `first` to
    /// `last`: `more_after`/`more_before` say whether items lie beyond.
    pub fn cursor_links(
        &self,
        key: &[u8; 32],
        (first, last): (Option<i64>, Option<i64>),
        more_after: bool,
        more_before: bool,
    ) -> (Option<String>, Option<String>) {
        let from = self.cursor.flatten();
        let link = |position: Position| self.cursor_url(&position.encode(key));
        // An empty page still links back to where it was asked from.
        let next = more_after.then(|| {
            let id = last.or(from.map(|p| p.id - 1)).unwrap_or(0);
            link(Position {
                id,
                backward: false,
            })
        });
        let previous = more_before.then(|| {
            let id = first.or(from.map(|p| p.id + 1)).unwrap_or(i64::MAX);
            link(Position { id, backward: true })
        });
        (next, previous)
    }

    fn cursor_url(&self, cursor: &str) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &self.params {
            if !matches!(key.as_str(), "limit" | "offset" | "cursor") {
                query.append_pair(key, value);
            }
        }
        query.append_pair("limit", &self.limit.to_string());
        query.append_pair("cursor", cursor);
        self.absolute(&query.finish())
    }

    fn absolute(&self, query: &str) -> String {
        format!("{}?{}", self.base, query)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// (next, previous) for a result of `count` items.
    pub fn links(&self, count: i64) -> (Option<String>, Option<String>) {
        // Saturating: an offset near i64::MAX must not overflow.
        let next_offset = self.offset.saturating_add(self.limit);
        let next = (next_offset < count).then(|| self.url(Some(next_offset)));
        let previous = (self.offset > 0).then(|| {
            let previous_offset = self.offset - self.limit;
            self.url((previous_offset > 0).then_some(previous_offset))
        });
        (next, previous)
    }

    fn url(&self, offset: Option<i64>) -> String {
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
        self.absolute(&query.finish())
    }
}
