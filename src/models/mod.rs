//! Rows as diesel reads and writes them: `Queryable + Selectable` structs
//! for reading, separate `Insertable`/`AsChangeset` structs for writing,
//! the UNIQUE constraints that guard them, and the few queries that are
//! asked in several places (a user with its profile, a user's profile),
//! kept once beside their model. No validation (that is `domain/`), no
//! JSON shape (that is `api/`), no rule (that is `services/`).

pub mod picture;
pub mod profile;
pub mod tokens;
pub mod user;

pub use profile::{NewProfile, Profile};
pub use tokens::{EmailToken, RefreshToken};
pub use user::{NewUser, User, UserChanges, UserWithProfile};
