//! Validated inputs as newtypes: once a `Username` exists it is valid, so
//! the layers below never check again (the Zero To Production way). Pure
//! functions of their input: no database, no HTTP. Messages are written for
//! the client, in Django's words where Django has them.

mod bio;
mod email;
mod password;
mod username;

pub use bio::{Bio, MAX_BIO_CHARS};
pub use email::{Email, MAX_EMAIL_CHARS};
pub use password::{Password, DEFAULT_MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
pub use username::{is_nfkc, normalize as normalize_username, Username, MAX_USERNAME_CHARS};
