//! Rows as diesel reads and writes them: `Queryable + Selectable` structs
//! for reading, separate `Insertable`/`AsChangeset` structs for writing.
//! Plain data only: no validation (that is `domain/`), no JSON shape (that
//! is `api/`), no queries (that is `services/`).

pub mod profile;
pub mod user;

pub use profile::{NewProfile, Profile};
pub use user::{NewUser, User, UserChanges};
