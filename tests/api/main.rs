//! One test binary for the whole HTTP contract: each module drives the real
//! application over HTTP, with its own database and MEDIA_ROOT.

mod auth;
mod cli;
mod docs;
mod errors;
mod helpers;
mod images;
mod ops;
mod pictures;
mod private_pg;
mod profiles;
mod reliability;
mod signals;
mod users;
