//! The user directory: pages of users (limit/offset and keyset), search by
//! a substring of the username, and the exact count, each costing the same
//! at a thousand users as at a million:
//! - the unfiltered `count` is one row kept by triggers in the transaction
//!   of every insert and delete (`user_count`); a search's count reads
//!   `users` alone, through the search index, never the join;
//! - an OFFSET page first picks its ids from the primary key (a deferred
//!   join), then joins profiles for those ids only;
//! - a search of three characters or more goes through a trigram index
//!   (PostgreSQL's pg_trgm GIN index under `LIKE`, SQLite's FTS5 trigram
//!   table `users_search`); shorter terms scan, and answer the same.
//!
//! Listing waits for the pool's smaller listing share, so pages and
//! searches never hold every connection that point reads need. Reads
//! only; nothing here knows HTTP.

use diesel::dsl::sql;
use diesel::expression::{SqlLiteral, UncheckedBind};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};

use crate::context::AppContext;
use crate::db::schema::{profiles, user_count, users};
use crate::db::AnyConnection;
use crate::domain::{normalize_username, MAX_USERNAME_CHARS};
use crate::error::ServiceError;
use crate::models::{Profile, User, UserWithProfile};

/// One page of users ordered by id, with their profiles, and the exact
/// number of users matching.
pub fn list(
    ctx: &AppContext,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<UserWithProfile>, i64), ServiceError> {
    let Some(term) = Term::parse(search) else {
        return Ok((Vec::new(), 0));
    };
    let mut conn = ctx.pool.get_for_listing()?;
    let filter = term.map(|t| t.filter(&conn));
    let (page, count) = crate::on_backend!(&mut *conn, |inner| {
        let mut ids = users::table
            .select(users::id)
            .order(users::id.asc())
            .limit(limit)
            .offset(offset)
            .into_boxed();
        if let Some(filter) = filter.clone() {
            ids = ids.filter(filter);
        }
        let page = users::table
            .inner_join(profiles::table)
            .filter(users::id.eq_any(ids))
            .select((User::as_select(), Profile::as_select()))
            .order(users::id.asc())
            .load(inner)?;
        let count: i64 = match filter {
            Some(filter) => users::table.filter(filter).count().get_result(inner)?,
            None => user_count::table
                .select(user_count::n)
                .first(inner)
                .optional()?
                .unwrap_or(0),
        };
        Ok::<_, diesel::result::Error>((page, count))
    })?;
    Ok((page, count))
}

/// A page of users by keyset on id (cursor pagination), in id order.
pub struct KeysetPage {
    pub rows: Vec<UserWithProfile>,
    /// Items lie after the last one on this page.
    pub more_after: bool,
    /// Items lie before the first one on this page.
    pub more_before: bool,
}

/// One page of users matching `search`: the `limit` after id `from` going
/// forward (from the start when `None`), or the `limit` before it going
/// back. One indexed range query, whatever the depth.
pub fn list_by_position(
    ctx: &AppContext,
    search: Option<&str>,
    limit: i64,
    from: Option<i64>,
    backward: bool,
) -> Result<KeysetPage, ServiceError> {
    let Some(term) = Term::parse(search) else {
        return Ok(KeysetPage {
            rows: Vec::new(),
            more_after: false,
            more_before: false,
        });
    };
    let mut conn = ctx.pool.get_for_listing()?;
    let filter = term.map(|t| t.filter(&conn));
    let mut rows: Vec<UserWithProfile> = crate::on_backend!(&mut *conn, |inner| {
        let mut query = users::table.inner_join(profiles::table).into_boxed();
        if let Some(filter) = filter {
            query = query.filter(filter);
        }
        query = match (from, backward) {
            (Some(from), false) => query.filter(users::id.gt(from)).order(users::id.asc()),
            (Some(from), true) => query.filter(users::id.lt(from)).order(users::id.desc()),
            (None, _) => query.order(users::id.asc()),
        };
        query
            .select((User::as_select(), Profile::as_select()))
            .limit(limit + 1)
            .load(inner)
    })?;
    let beyond = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    if backward && from.is_some() {
        rows.reverse();
        Ok(KeysetPage {
            rows,
            more_after: true,
            more_before: beyond,
        })
    } else {
        Ok(KeysetPage {
            rows,
            more_after: beyond,
            more_before: from.is_some(),
        })
    }
}

/// A search term, normalised as usernames are (NFKC, lower case).
struct Term(String);

/// The SQL condition a search adds: one fragment with one bound text, so
/// both backends' forms are the same type.
type SearchFilter = SqlLiteral<
    Bool,
    UncheckedBind<SqlLiteral<Bool>, <String as diesel::expression::AsExpression<Text>>::Expression>,
>;

/// Trigram indexes see terms of this many characters or more.
const INDEXED_TERM_CHARS: usize = 3;

impl Term {
    /// `Some(None)`: no search. `None`: no username can match, so no query
    /// is made (SQLite refuses a pattern of 50,000 characters, PostgreSQL a
    /// NUL byte).
    fn parse(search: Option<&str>) -> Option<Option<Term>> {
        let term = search
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(normalize_username);
        match term {
            Some(term) if !could_be_in_a_username(&term) => None,
            term => Some(term.map(Term)),
        }
    }

    fn filter(&self, conn: &AnyConnection) -> SearchFilter {
        let indexed = self.0.chars().count() >= INDEXED_TERM_CHARS;
        if indexed && matches!(conn, AnyConnection::Sqlite(_)) {
            // A quoted FTS5 phrase over trigrams matches exactly the rows
            // holding the term as a substring; `"` is doubled inside it.
            let phrase = format!("\"{}\"", self.0.replace('"', "\"\""));
            sql::<Bool>("users.id IN (SELECT rowid FROM users_search WHERE users_search MATCH ")
                .bind::<Text, _>(phrase)
                .sql(")")
        } else {
            // PostgreSQL's pg_trgm index serves this LIKE; on SQLite a
            // term too short for trigrams scans.
            sql::<Bool>("users.username_normalized LIKE ")
                .bind::<Text, _>(format!("%{}%", escape_like(&self.0)))
                .sql(" ESCAPE '\\'")
        }
    }
}

/// Whether `term` could be part of a (normalised) username at all.
fn could_be_in_a_username(term: &str) -> bool {
    !term.contains('\0') && term.chars().count() <= 2 * MAX_USERNAME_CHARS
}

fn escape_like(term: &str) -> String {
    let mut escaped = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '\\' | '%' | '_') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_wildcards_in_a_search_are_literal() {
        assert_eq!(escape_like(r"a_b%c\d"), r"a\_b\%c\\d");
    }
}
