//! The user directory: pages of users (limit/offset and keyset), search by
//! a substring of the username, and the exact count, each costing the same
//! at a thousand users as at a million:
//! - the unfiltered `count` is one row kept by triggers in the transaction
//!   of every insert and delete (`user_count`); a search's count reads
//!   `users` alone, through the search index, never the join;
//! - an OFFSET page first picks its ids from the primary key (a deferred
//!   join), then joins profiles for those ids only;
//! - a search of three characters or more goes through an index. A term
//!   of five characters or more is one range of `username_fivegrams`
//!   (that of its rarest five-character piece, rechecked when the term is
//!   longer), its count one row of `username_fivegram_counts`. A term of
//!   three or four characters goes through SQLite's FTS5 trigram table
//!   `users_search`; on PostgreSQL, through one range of
//!   `username_trigrams` and one row of `username_trigram_counts` for
//!   three characters, and pg_trgm's GIN index under `LIKE` for four.
//!   Shorter terms scan, and answer the same.
//!
//! Listing waits for the pool's smaller listing share, so pages and
//! searches never hold every connection that point reads need. Reads
//! only; nothing here knows HTTP.

use diesel::dsl::sql;
use diesel::expression::AsExpression;
use diesel::expression::{SqlLiteral, UncheckedBind};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};

use crate::context::AppContext;
use crate::db::schema::{
    profiles, user_count, username_fivegram_counts, username_fivegrams, username_trigram_counts,
    username_trigrams, users,
};
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
    if let Some(term) = &term {
        if let Matches::Fts(phrase) = term.matches(&conn) {
            return fts_page_and_count(&mut conn, term, phrase, limit, offset);
        }
    }
    let rows = page(&mut conn, term.as_ref(), Window::Offset { limit, offset })?;
    let count = count(&mut conn, term.as_ref())?;
    Ok((rows, count))
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
    // One more than asked: whether it exists says if a page lies beyond.
    let window = match (from, backward) {
        (Some(from), true) => Window::Before {
            from,
            limit: limit + 1,
        },
        (from, _) => Window::After {
            from,
            limit: limit + 1,
        },
    };
    let mut rows = page(&mut conn, term.as_ref(), window)?;
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

/// Which ids of the matching users a page holds.
#[derive(Clone, Copy)]
enum Window {
    /// `limit` from `offset`, in id order.
    Offset { limit: i64, offset: i64 },
    /// The first `limit` with an id above `from` (from the start: `None`).
    After { from: Option<i64>, limit: i64 },
    /// The last `limit` with an id below `from`, in descending id order.
    Before { from: i64, limit: i64 },
}

/// The users with their profiles that `$filter` keeps, in the order of
/// `$window` (descending for a window before a cursor), loaded on `$inner`.
macro_rules! in_window_order {
    ($inner:expr, $window:expr, $filter:expr) => {{
        let query = users::table
            .inner_join(profiles::table)
            .select((User::as_select(), Profile::as_select()))
            .filter($filter)
            .into_boxed();
        match $window {
            Window::Before { .. } => query.order(users::id.desc()),
            _ => query.order(users::id.asc()),
        }
        .load($inner)
    }};
}

/// The users of one window with their profiles: first the window's ids
/// from an index (the primary key, or the search index), then the join
/// for those ids only (a deferred join), so the join never walks the
/// rows a deep page skips.
fn page(
    conn: &mut AnyConnection,
    term: Option<&Term>,
    window: Window,
) -> Result<Vec<UserWithProfile>, ServiceError> {
    let Some(term) = term else {
        return unfiltered_page(conn, window);
    };
    let like = match term.matches(conn) {
        Matches::Trigram(trigram) => return trigram_page(conn, trigram, window),
        Matches::Fts(phrase) => return fts_page(conn, phrase, window),
        Matches::Fivegrams(term) => return fivegram_page(conn, &term, window),
        Matches::Like(like) => like,
    };
    let rows = crate::on_backend!(conn, |inner| {
        let ids = users::table.select(users::id).filter(like).into_boxed();
        let ids = match window {
            Window::Offset { limit, offset } => {
                ids.order(users::id.asc()).limit(limit).offset(offset)
            }
            Window::After { from, limit } => ids
                .filter(users::id.gt(from.unwrap_or(0)))
                .order(users::id.asc())
                .limit(limit),
            Window::Before { from, limit } => ids
                .filter(users::id.lt(from))
                .order(users::id.desc())
                .limit(limit),
        };
        in_window_order!(inner, window, users::id.eq_any(ids))
    })?;
    Ok(rows)
}

/// A window of a search through SQLite's FTS5 table: its doclists are in
/// rowid order, so the window's ids come straight from the search index.
fn fts_page(
    conn: &mut AnyConnection,
    phrase: String,
    window: Window,
) -> Result<Vec<UserWithProfile>, ServiceError> {
    let ids = match window {
        Window::Offset { limit, offset } => sql::<Bool>(FTS_IDS)
            .bind::<Text, _>(phrase)
            .sql(" ORDER BY rowid LIMIT ")
            .bind::<BigInt, _>(limit)
            .sql(" OFFSET ")
            .bind::<BigInt, _>(offset)
            .sql(")"),
        Window::After { from, limit } => sql::<Bool>(FTS_IDS)
            .bind::<Text, _>(phrase)
            .sql(" AND rowid > ")
            .bind::<BigInt, _>(from.unwrap_or(0))
            .sql(" ORDER BY rowid LIMIT ")
            .bind::<BigInt, _>(limit)
            .sql(")"),
        Window::Before { from, limit } => sql::<Bool>(FTS_IDS)
            .bind::<Text, _>(phrase)
            .sql(" AND rowid < ")
            .bind::<BigInt, _>(from)
            .sql(" ORDER BY rowid DESC LIMIT ")
            .bind::<BigInt, _>(limit)
            .sql(")"),
    };
    let rows = crate::on_backend!(conn, |inner| in_window_order!(inner, window, ids))?;
    Ok(rows)
}

/// The users of one window over an ordered source of ids (`$ids`, a
/// query selecting its id column `$id`), with their profiles. Written
/// without boxing or SQL text, so that each backend keeps the statement
/// prepared: PostgreSQL spends longer planning this join than running it.
macro_rules! window_of {
    ($inner:expr, $window:expr, $ids:expr, $id:expr) => {{
        let joined = users::table
            .inner_join(profiles::table)
            .select((User::as_select(), Profile::as_select()));
        match $window {
            Window::Offset { limit, offset } => joined
                .filter(users::id.eq_any($ids.order($id.asc()).limit(limit).offset(offset)))
                .order(users::id.asc())
                .load($inner),
            Window::After { from, limit } => joined
                .filter(
                    users::id.eq_any(
                        $ids.filter($id.gt(from.unwrap_or(0)))
                            .order($id.asc())
                            .limit(limit),
                    ),
                )
                .order(users::id.asc())
                .load($inner),
            Window::Before { from, limit } => joined
                .filter(users::id.eq_any($ids.filter($id.lt(from)).order($id.desc()).limit(limit)))
                .order(users::id.desc())
                .load($inner),
        }
    }};
}

/// A page of the whole directory, its ids from the primary key.
fn unfiltered_page(
    conn: &mut AnyConnection,
    window: Window,
) -> Result<Vec<UserWithProfile>, ServiceError> {
    // The ids come from a second `users` in the same statement.
    let (window_users, id) = {
        let page_users = diesel::alias!(users as page_users);
        (page_users, page_users.field(users::id))
    };
    let ids = window_users.select(id);
    let rows = crate::on_backend!(conn, |inner| window_of!(inner, window, ids, id))?;
    Ok(rows)
}

/// A page of the users whose username holds a three-character term, its
/// ids from one range of `username_trigrams` (PostgreSQL): an index-only
/// scan, in id order, exact.
fn trigram_page(
    conn: &mut AnyConnection,
    trigram: String,
    window: Window,
) -> Result<Vec<UserWithProfile>, ServiceError> {
    let ids = username_trigrams::table
        .select(username_trigrams::user_id)
        .filter(username_trigrams::trigram.eq(trigram));
    let id = username_trigrams::user_id;
    let rows = crate::on_backend!(conn, |inner| window_of!(inner, window, ids, id))?;
    Ok(rows)
}

/// The candidates of one five-character piece (bound) whose username holds
/// the term (its `LIKE` pattern, bound), after the start `$start` of a
/// query over `username_fivegrams g JOIN users c`.
macro_rules! rechecked {
    ($st:ty, $start:expr, $piece:expr, $like:expr) => {
        sql::<$st>($start)
            .bind::<Text, _>($piece.clone())
            .sql(" AND c.username_normalized LIKE ")
            .bind::<Text, _>($like.clone())
            .sql(" ESCAPE '\\'")
    };
}

/// A window of a search of five characters or more. Its ids
/// come from the one range of `username_fivegrams` that the term's rarest
/// five-character piece holds: for a term of five characters that range
/// is the answer (index-only and exact); a longer term's candidates are
/// rechecked against their usernames.
fn fivegram_page(
    conn: &mut AnyConnection,
    term: &str,
    window: Window,
) -> Result<Vec<UserWithProfile>, ServiceError> {
    let Some((piece, _)) = rarest_fivegram(conn, term)? else {
        return Ok(Vec::new());
    };
    if piece == term {
        let ids = username_fivegrams::table
            .select(username_fivegrams::user_id)
            .filter(username_fivegrams::fivegram.eq(piece));
        let id = username_fivegrams::user_id;
        let rows = crate::on_backend!(conn, |inner| window_of!(inner, window, ids, id))?;
        return Ok(rows);
    }
    let like = format!("%{}%", escape_like(term));
    let ids = match window {
        Window::Offset { limit, offset } => rechecked!(Bool, FIVEGRAM_IDS, piece, like)
            .sql(" ORDER BY g.user_id LIMIT ")
            .bind::<BigInt, _>(limit)
            .sql(" OFFSET ")
            .bind::<BigInt, _>(offset)
            .sql(")"),
        Window::After { from, limit } => rechecked!(Bool, FIVEGRAM_IDS, piece, like)
            .sql(" AND g.user_id > ")
            .bind::<BigInt, _>(from.unwrap_or(0))
            .sql(" ORDER BY g.user_id LIMIT ")
            .bind::<BigInt, _>(limit)
            .sql(")"),
        Window::Before { from, limit } => rechecked!(Bool, FIVEGRAM_IDS, piece, like)
            .sql(" AND g.user_id < ")
            .bind::<BigInt, _>(from)
            .sql(" ORDER BY g.user_id DESC LIMIT ")
            .bind::<BigInt, _>(limit)
            .sql(")"),
    };
    let rows = crate::on_backend!(conn, |inner| in_window_order!(inner, window, ids))?;
    Ok(rows)
}

/// "The id is among the rechecked candidates", to be closed by a window.
const FIVEGRAM_IDS: &str = "users.id IN (SELECT g.user_id FROM username_fivegrams g \
     JOIN users c ON c.id = g.user_id WHERE g.fivegram = ";
/// How many rechecked candidates there are, to be closed by `)`.
const FIVEGRAM_COUNT: &str = "(SELECT COUNT(*) FROM username_fivegrams g \
     JOIN users c ON c.id = g.user_id WHERE g.fivegram = ";

/// The rarest five-character piece of `term` and how many users hold it;
/// `None` when one of its pieces is held by nobody, for then nobody holds
/// the term.
fn rarest_fivegram(
    conn: &mut AnyConnection,
    term: &str,
) -> Result<Option<(String, i64)>, ServiceError> {
    let pieces = fivegrams_of(term);
    let held: Vec<(String, i64)> = crate::on_backend!(conn, |inner| {
        username_fivegram_counts::table
            .filter(username_fivegram_counts::fivegram.eq_any(&pieces))
            .select((
                username_fivegram_counts::fivegram,
                username_fivegram_counts::n,
            ))
            .load(inner)
    })?;
    if held.len() < pieces.len() {
        return Ok(None);
    }
    Ok(held.into_iter().min_by_key(|(_, holders)| *holders))
}

/// The distinct five-character substrings of `term`, characters counted,
/// not bytes (as the triggers count them).
fn fivegrams_of(term: &str) -> Vec<String> {
    let chars: Vec<char> = term.chars().collect();
    let mut pieces: Vec<String> = chars
        .windows(FIVEGRAM_CHARS)
        .map(|piece| piece.iter().collect())
        .collect();
    pieces.sort_unstable();
    pieces.dedup();
    pieces
}

/// An OFFSET page of a search through SQLite's FTS5 table, and its count.
/// FTS5 checks the trigrams' positions on every walk of a phrase: a rare
/// term's walk for the page's ids already goes to the end of its matches,
/// so when nothing lies after the page its count is known (what lies
/// before it and on it) and the index is not walked again. Otherwise the
/// walk stopped early, and the count is taken separately (FTS5 counts
/// without reading rows).
fn fts_page_and_count(
    conn: &mut AnyConnection,
    term: &Term,
    phrase: String,
    limit: i64,
    offset: i64,
) -> Result<(Vec<UserWithProfile>, i64), ServiceError> {
    #[derive(QueryableByName)]
    struct Match {
        #[diesel(sql_type = BigInt)]
        rowid: i64,
    }
    let AnyConnection::Sqlite(inner) = &mut *conn else {
        return Err(ServiceError::internal("FTS5 is SQLite's"));
    };
    let mut ids: Vec<i64> = diesel::sql_query(
        "SELECT rowid FROM users_search WHERE users_search MATCH ? \
         ORDER BY rowid LIMIT ? OFFSET ?",
    )
    .bind::<Text, _>(phrase)
    // One more than the page: whether it exists says if the walk ended.
    .bind::<BigInt, _>(limit.saturating_add(1))
    .bind::<BigInt, _>(offset)
    .load::<Match>(inner)?
    .into_iter()
    .map(|found| found.rowid)
    .collect();
    let found = ids.len() as i64;
    let walked_to_the_end = found <= limit && (found > 0 || offset == 0);
    ids.truncate(limit.max(0) as usize);
    let rows = users::table
        .inner_join(profiles::table)
        .select((User::as_select(), Profile::as_select()))
        .filter(users::id.eq_any(ids))
        .order(users::id.asc())
        .load(inner)?;
    let count = if walked_to_the_end {
        offset + found
    } else {
        count(conn, Some(term))?
    };
    Ok((rows, count))
}

/// The start of the condition "the id is among the search index's
/// matches for the bound phrase" (SQLite).
const FTS_IDS: &str = "users.id IN (SELECT rowid FROM users_search WHERE users_search MATCH ";

/// The exact number of users matching: one row for no search (kept by
/// triggers), the search index alone for a search, never the join.
fn count(conn: &mut AnyConnection, term: Option<&Term>) -> Result<i64, ServiceError> {
    let matches = term.map(|term| term.matches(conn));
    let rarest = match &matches {
        Some(Matches::Fivegrams(term)) => rarest_fivegram(conn, term)?,
        _ => None,
    };
    let count = crate::on_backend!(conn, |inner| match matches {
        Some(Matches::Trigram(trigram)) => username_trigram_counts::table
            .find(trigram)
            .select(username_trigram_counts::n)
            .first(inner)
            .optional()
            .map(Option::unwrap_or_default),
        Some(Matches::Fts(phrase)) => diesel::select(
            sql::<BigInt>("(SELECT COUNT(*) FROM users_search WHERE users_search MATCH ")
                .bind::<Text, _>(phrase)
                .sql(")"),
        )
        .get_result(inner),
        Some(Matches::Like(like)) => users::table.filter(like).count().get_result(inner),
        // The piece's holders are the term's when it is the whole term.
        Some(Matches::Fivegrams(term)) => match &rarest {
            None => Ok(0),
            Some((piece, holders)) if *piece == term => Ok(*holders),
            Some((piece, _)) => {
                let like = format!("%{}%", escape_like(&term));
                diesel::select(rechecked!(BigInt, FIVEGRAM_COUNT, piece, like).sql(")"))
                    .get_result(inner)
            }
        },
        None => user_count::table
            .select(user_count::n)
            .first(inner)
            .optional()
            .map(Option::unwrap_or_default),
    })?;
    Ok(count)
}

/// Which index finds a search's users.
enum Matches {
    /// SQLite's FTS5 trigram table `users_search`, for terms of three or
    /// four characters: a quoted phrase.
    Fts(String),
    /// `username_fivegrams`, for terms of five characters or more: the
    /// term.
    Fivegrams(String),
    /// PostgreSQL's `username_trigrams`, for terms of exactly three
    /// characters: the term is the trigram.
    Trigram(String),
    /// `LIKE '%term%'`: pg_trgm's GIN index for four-character terms on
    /// PostgreSQL; a scan for terms shorter than a trigram.
    Like(LikeFilter),
}

/// A search term, normalised as usernames are (NFKC, lower case).
struct Term(String);

/// Trigram indexes see terms of this many characters or more.
const INDEXED_TERM_CHARS: usize = 3;

/// `username_fivegrams` sees terms of this many characters or more.
const FIVEGRAM_CHARS: usize = 5;

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

    /// Which index serves this search on `conn`'s backend.
    fn matches(&self, conn: &AnyConnection) -> Matches {
        match (self.0.chars().count(), conn) {
            (n, _) if n < INDEXED_TERM_CHARS => Matches::Like(self.like_filter()),
            (n, _) if n >= FIVEGRAM_CHARS => Matches::Fivegrams(self.0.clone()),
            (_, AnyConnection::Sqlite(_)) => Matches::Fts(self.phrase()),
            (INDEXED_TERM_CHARS, AnyConnection::Postgresql(_)) => Matches::Trigram(self.0.clone()),
            (_, AnyConnection::Postgresql(_)) => Matches::Like(self.like_filter()),
        }
    }

    /// A quoted FTS5 phrase: over trigrams it matches exactly the rows
    /// holding the term as a substring (`"` is doubled inside it).
    fn phrase(&self) -> String {
        format!("\"{}\"", self.0.replace('"', "\"\""))
    }

    /// `LIKE '%term%'`, wildcards in the term taken literally. PostgreSQL's
    /// pg_trgm index serves it; on SQLite only terms too short for
    /// trigrams use it, and scan.
    fn like_filter(&self) -> LikeFilter {
        sql::<Bool>("users.username_normalized LIKE ")
            .bind::<Text, _>(format!("%{}%", escape_like(&self.0)))
            .sql(" ESCAPE '\\'")
    }
}

type LikeFilter =
    SqlLiteral<Bool, UncheckedBind<SqlLiteral<Bool>, <String as AsExpression<Text>>::Expression>>;

/// Whether `term` could be part of a (normalised) username at all.
pub(crate) fn could_be_in_a_username(term: &str) -> bool {
    !term.contains('\0') && term.chars().count() <= 2 * MAX_USERNAME_CHARS
}

pub(crate) fn escape_like(term: &str) -> String {
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
    use super::{escape_like, fivegrams_of};

    #[test]
    fn like_wildcards_in_a_search_are_literal() {
        assert_eq!(escape_like(r"a_b%c\d"), r"a\_b\%c\\d");
    }

    #[test]
    fn a_term_s_five_character_pieces_are_counted_in_characters_and_distinct() {
        assert_eq!(fivegrams_of("98765"), ["98765"]);
        assert_eq!(fivegrams_of("aaaaaaa"), ["aaaaa"]);
        assert_eq!(fivegrams_of("übers7"), ["bers7", "übers"]);
        assert!(fivegrams_of("abcd").is_empty());
    }
}
