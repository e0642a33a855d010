//! Authentication pieces: argon2id hashing (`password`), HS256 tokens bound
//! to the user's password generation (`jwt`), the failed-login throttle
//! (`throttle`) and the actix extractors that turn a Bearer header into a
//! user (`extractor`). Nothing here logs a password, hash or token.

pub mod extractor;
pub mod jwt;
pub mod password;
pub mod throttle;
