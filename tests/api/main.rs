//! One test binary for the whole HTTP contract: each module drives the real
//! application over HTTP, with its own database and MEDIA_ROOT. Helpers
//! live in `support/`.

mod admin;
mod auth;
mod cli;
mod docs;
mod email;
mod errors;
mod hostile;
mod metrics;
mod ops;
mod pictures;
mod profiles;
mod reliability;
mod renditions;
mod s3;
mod sessions;
mod signals;
mod support;
mod users;
