//! The one clock: UTC, truncated to microseconds so that what PostgreSQL
//! stores, what SQLite stores and what a response shows are the same
//! instant. Formatting for clients (RFC 3339 with `Z`) lives here too.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, SubsecRound, Utc};

pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// RFC 3339 in UTC, as `2026-11-24T21:00:00.123456Z`.
pub fn rfc3339(at: NaiveDateTime) -> String {
    DateTime::<Utc>::from_naive_utc_and_offset(at, Utc).to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc3339_utc_with_z() {
        let at = DateTime::parse_from_rfc3339("2026-11-24T21:00:00Z")
            .unwrap()
            .naive_utc();
        assert_eq!(rfc3339(at), "2026-11-24T21:00:00Z");
    }
}
