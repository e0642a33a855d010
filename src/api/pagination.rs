//! Limit/offset pagination as Django REST framework's
//! `LimitOffsetPagination` does it: lenient parsing (a bad `limit` falls
//! back to the default, a large one is capped), absolute `next`/`previous`
//! links that keep the request's other query parameters.

use actix_web::HttpRequest;
use url::form_urlencoded;

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

pub struct PageRequest {
    pub limit: i64,
    pub offset: i64,
    pub params: Vec<(String, String)>,
}

impl PageRequest {
    pub fn from_request(req: &HttpRequest) -> Self {
        let params: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
            .into_owned()
            .collect();
        let value = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_owned())
        };
        let limit = value("limit")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|limit| *limit > 0)
            .map_or(DEFAULT_LIMIT, |limit| limit.min(MAX_LIMIT));
        let offset = value("offset")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|offset| *offset >= 0)
            .unwrap_or(0);
        Self {
            limit,
            offset,
            params,
        }
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// (next, previous) for a result of `count` items.
    pub fn links(&self, req: &HttpRequest, count: i64) -> (Option<String>, Option<String>) {
        let next = (self.offset + self.limit < count)
            .then(|| self.url(req, Some(self.offset + self.limit)));
        let previous = (self.offset > 0).then(|| {
            let previous_offset = self.offset - self.limit;
            self.url(req, (previous_offset > 0).then_some(previous_offset))
        });
        (next, previous)
    }

    fn url(&self, req: &HttpRequest, offset: Option<i64>) -> String {
        let info = req.connection_info();
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
        format!(
            "{}://{}{}?{}",
            info.scheme(),
            info.host(),
            req.path(),
            query.finish()
        )
    }
}
