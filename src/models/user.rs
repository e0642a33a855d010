//! The `users` row. `password_hash` lives here and nowhere near a response:
//! `User` deliberately implements neither `Serialize` nor a `Debug` that
//! shows the hash.

use std::fmt;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::{profiles, users};
use crate::db::{AnyConnection, UniqueConstraint};
use crate::models::Profile;

/// A user with the profile the signal made for it.
pub type UserWithProfile = (User, Profile);

/// Usernames are unique regardless of case (the normalised column).
pub const UNIQUE_USERNAME: UniqueConstraint = UniqueConstraint {
    name: "users_username_unique",
    sqlite_columns: "users.username_normalized",
};
/// Emails are unique regardless of case (the normalised column).
pub const UNIQUE_EMAIL: UniqueConstraint = UniqueConstraint {
    name: "users_email_unique",
    sqlite_columns: "users.email_normalized",
};

#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub username_normalized: String,
    pub email: String,
    pub email_normalized: String,
    pub password_hash: String,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: NaiveDateTime,
    pub last_login: Option<NaiveDateTime>,
    /// Bumped on every password change; tokens carry it, so older ones die.
    pub token_version: i64,
    /// A link sent to `email` was followed.
    pub email_verified: bool,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("is_staff", &self.is_staff)
            .field("is_superuser", &self.is_superuser)
            .finish_non_exhaustive()
    }
}

impl User {
    /// The user `id` with its profile, in one query; `None` when either is
    /// missing. On each backend's own connection: a hot read path.
    pub fn with_profile(
        conn: &mut AnyConnection,
        id: i64,
    ) -> Result<Option<UserWithProfile>, diesel::result::Error> {
        crate::on_backend!(conn, |inner| users::table
            .inner_join(profiles::table)
            .filter(users::id.eq(id))
            .select((User::as_select(), Profile::as_select()))
            .first(inner)
            .optional())
    }

    /// The user `id`, on each backend's own connection (every
    /// authenticated request asks it).
    pub fn find(conn: &mut AnyConnection, id: i64) -> Result<Option<User>, diesel::result::Error> {
        crate::on_backend!(conn, |inner| users::table
            .find(id)
            .select(User::as_select())
            .first(inner)
            .optional())
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub username: &'a str,
    pub username_normalized: &'a str,
    pub email: &'a str,
    pub email_normalized: &'a str,
    pub password_hash: &'a str,
    pub is_active: bool,
    pub is_staff: bool,
    pub is_superuser: bool,
    pub date_joined: NaiveDateTime,
    pub email_verified: bool,
}

/// A partial update of a user; `None` leaves a column as it is.
#[derive(AsChangeset, Default)]
#[diesel(table_name = users)]
pub struct UserChanges {
    pub username: Option<String>,
    pub username_normalized: Option<String>,
    pub email: Option<String>,
    pub email_normalized: Option<String>,
    pub password_hash: Option<String>,
    pub is_staff: Option<bool>,
    /// Only the admin site changes it (its "active" box).
    pub is_active: Option<bool>,
    pub email_verified: Option<bool>,
}

impl UserChanges {
    pub fn is_empty(&self) -> bool {
        self.username.is_none()
            && self.email.is_none()
            && self.password_hash.is_none()
            && self.is_staff.is_none()
            && self.is_active.is_none()
    }
}
