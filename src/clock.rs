//! The one clock: UTC, truncated to microseconds so that what PostgreSQL
//! stores, what SQLite stores and what a response shows are the same
//! instant. Formatting for clients (RFC 3339 with `Z`) lives here too.

use std::fmt::Write;

use chrono::{Datelike, NaiveDateTime, SubsecRound, Timelike, Utc};

pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

/// RFC 3339 in UTC, as `2026-11-24T21:00:00.123456Z`: fractional digits as
/// chrono's `SecondsFormat::AutoSi` (none, 3, 6 or 9). Written by hand: a
/// page of users formats dozens of these, and chrono's formatter parses
/// its format description on every call.
pub fn rfc3339(at: NaiveDateTime) -> String {
    let mut text = String::with_capacity(30);
    let _ = write!(
        text,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let nanos = at.nanosecond() % 1_000_000_000;
    let _ = match nanos {
        0 => Ok(()),
        n if n % 1_000_000 == 0 => write!(text, ".{:03}", n / 1_000_000),
        n if n % 1_000 == 0 => write!(text, ".{:06}", n / 1_000),
        n => write!(text, ".{n:09}"),
    };
    text.push('Z');
    text
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, SecondsFormat};

    use super::*;

    #[test]
    fn formats_as_chrono_does_with_auto_si_and_z() {
        for raw in [
            "2026-11-24T21:00:00Z",
            "2026-11-24T21:00:00.5Z",
            "2026-01-02T03:04:05.123456Z",
            "0999-12-31T23:59:59.000001Z",
            "2026-11-24T21:00:00.123456789Z",
        ] {
            let at = DateTime::parse_from_rfc3339(raw)
                .unwrap()
                .with_timezone(&Utc);
            assert_eq!(
                rfc3339(at.naive_utc()),
                at.to_rfc3339_opts(SecondsFormat::AutoSi, true),
                "{raw}"
            );
        }
    }
}
