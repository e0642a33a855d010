//! The `profiles` row: one per user (UNIQUE user_id, ON DELETE CASCADE in
//! the database itself). `image` is a name relative to MEDIA_ROOT, never a
//! path a client chose.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::schema::profiles;
use crate::db::AnyConnection;

/// The stored name of the shipped default picture, relative to MEDIA_ROOT.
pub const DEFAULT_IMAGE: &str = "default.jpg";
/// The default picture's size; the migrations use the same numbers.
pub const DEFAULT_IMAGE_SIZE: (i32, i32) = (300, 300);

#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = profiles)]
pub struct Profile {
    pub id: i64,
    pub user_id: i64,
    pub image: String,
    pub image_width: i32,
    pub image_height: i32,
    pub bio: String,
    pub updated_at: NaiveDateTime,
    /// What every rendition's name starts with (`models::picture`).
    pub image_stem: String,
    /// The renditions' sizes, `64x48,128x96,…`; empty for the default
    /// picture and for a picture stored before renditions.
    pub image_variants: String,
    pub image_thumbhash: Option<String>,
}

impl Profile {
    pub fn has_default_image(&self) -> bool {
        self.image == DEFAULT_IMAGE
    }

    /// The profile of `user_id`, locked until the transaction ends, for a
    /// change that depends on what it held (which file to delete after).
    /// PostgreSQL locks the row; SQLite's write transactions
    /// (`BEGIN IMMEDIATE`) already run one at a time.
    pub fn of_user_for_update(
        conn: &mut AnyConnection,
        user_id: i64,
    ) -> Result<Option<Profile>, diesel::result::Error> {
        match conn {
            AnyConnection::Postgresql(pg) => profiles::table
                .filter(profiles::user_id.eq(user_id))
                .select(Profile::as_select())
                .for_update()
                .first(pg)
                .optional(),
            AnyConnection::Sqlite(sqlite) => profiles::table
                .filter(profiles::user_id.eq(user_id))
                .select(Profile::as_select())
                .first(sqlite)
                .optional(),
        }
    }

    /// The profile of `user_id`, if it has one.
    pub fn of_user(
        conn: &mut AnyConnection,
        user_id: i64,
    ) -> Result<Option<Profile>, diesel::result::Error> {
        profiles::table
            .filter(profiles::user_id.eq(user_id))
            .select(Profile::as_select())
            .first(conn)
            .optional()
    }
}

#[derive(Insertable)]
#[diesel(table_name = profiles)]
pub struct NewProfile<'a> {
    pub user_id: i64,
    pub image: &'a str,
    pub image_width: i32,
    pub image_height: i32,
    pub bio: &'a str,
    pub updated_at: NaiveDateTime,
}
