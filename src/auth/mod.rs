//! Authentication pieces that know nothing of HTTP: argon2id hashing with
//! its own bounded queue (`password`), HS256 tokens bound to the user's
//! password generation (`jwt`) and the failed-login throttle (`throttle`).
//! The extractors that turn a Bearer header into a user are HTTP code and
//! live in `api::extract`. Nothing here logs a password, hash or token.

pub mod jwt;
pub mod password;
pub mod throttle;
