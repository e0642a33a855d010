//! The stored side of tokens: a refresh token by its id and family, an
//! email token by the SHA-256 of its text. No token itself is ever a
//! column here. Row locks for the changes that depend on what a row holds
//! live here too, once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{email_tokens, refresh_tokens};
use crate::db::AnyConnection;

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct RefreshToken {
    pub jti: String,
    pub family: String,
    pub user_id: i64,
    pub issued_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub spent_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
}

impl RefreshToken {
    /// The row of `jti`, locked until the transaction ends: two refreshes
    /// of one token cannot both find it unspent. PostgreSQL locks the row;
    /// SQLite's write transactions (`BEGIN IMMEDIATE`) run one at a time.
    pub fn find_for_update(
        conn: &mut AnyConnection,
        jti: &str,
    ) -> Result<Option<Self>, diesel::result::Error> {
        match conn {
            AnyConnection::Postgresql(pg) => refresh_tokens::table
                .find(jti)
                .select(Self::as_select())
                .for_update()
                .first(pg)
                .optional(),
            AnyConnection::Sqlite(sqlite) => refresh_tokens::table
                .find(jti)
                .select(Self::as_select())
                .first(sqlite)
                .optional(),
        }
    }
}

#[derive(Queryable, Selectable, Insertable)]
#[diesel(table_name = email_tokens)]
pub struct EmailToken {
    pub token_hash: String,
    pub user_id: i64,
    pub purpose: String,
    pub email_normalized: String,
    pub token_version: i64,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

impl EmailToken {
    /// The row of `token_hash`, locked until the transaction ends (one
    /// redemption wins).
    pub fn find_for_update(
        conn: &mut AnyConnection,
        token_hash: &str,
    ) -> Result<Option<Self>, diesel::result::Error> {
        match conn {
            AnyConnection::Postgresql(pg) => email_tokens::table
                .find(token_hash)
                .select(Self::as_select())
                .for_update()
                .first(pg)
                .optional(),
            AnyConnection::Sqlite(sqlite) => email_tokens::table
                .find(token_hash)
                .select(Self::as_select())
                .first(sqlite)
                .optional(),
        }
    }
}
