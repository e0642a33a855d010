//! portrait: user accounts, their one-to-one profiles and their profile
//! pictures, as a JSON REST API. A tour, from the edge inwards:
//! `api` (HTTP) → `services` (rules, transactions, signals) → `db` and
//! `models` (diesel, SQLite or PostgreSQL), with `domain` (validated
//! inputs), `auth`, `signals`/`receivers`, `imaging` (pure picture work) and
//! `storage` (files) beside them. `startup` puts it together, once, for
//! the server, the CLI and the tests; `cli` is what `main` runs.
//! docs/architecture.md walks through it.
//!
//! Public modules are what the binary, the tests and the benchmarks use;
//! the HTTP layer, models, validated inputs and the clock are internal.

pub mod admin;
mod api;
pub mod auth;
pub mod cli;
mod clock;
pub mod context;
pub mod db;
mod domain;
pub mod error;
pub mod imaging;
pub mod mail;
pub mod metrics;
mod models;
pub mod rates;
pub mod receivers;
pub mod services;
pub mod settings;
pub mod signals;
pub mod startup;
pub mod storage;
pub mod telemetry;
pub mod yielding;
