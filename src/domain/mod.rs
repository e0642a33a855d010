//! Validated inputs as newtypes: once a `Username` exists it is valid, so
//! the layers below never check again (the Zero To Production way). Pure
//! functions of their input: no database, no HTTP. Messages are written for
//! the client, in Django's words where Django has them.

mod bio;
mod email;
mod password;
mod username;

pub use bio::{Bio, MAX_BIO_CHARS};
pub use email::Email;
pub use password::Password;
pub use username::{normalize as normalize_username, Username};
