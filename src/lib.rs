//! portrait: user accounts, their one-to-one profiles and their profile
//! pictures, as a JSON REST API. A tour, from the edge inwards:
//! `api` (HTTP) → `services` (rules, transactions, signals) → `db` and
//! `models` (diesel, SQLite or PostgreSQL), with `domain` (validated
//! inputs), `auth`, `signals`/`receivers`, `media` (files) beside them.
//! `startup` puts it together; `cli` is what `main` runs.

pub mod api;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod context;
pub mod db;
pub mod domain;
pub mod error;
pub mod imaging;
pub mod media;
pub mod models;
pub mod receivers;
pub mod services;
pub mod settings;
pub mod signals;
pub mod startup;
pub mod telemetry;
