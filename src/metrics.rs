//! What the people who run portrait watch, in the Prometheus text format:
//! requests by route and status with their latency, the database queue
//! (wait time, connections in use, callers waiting), picture processing
//! (time, uploads waiting for a core), argon2's queue and storage errors.
//! One process-wide registry; gauges of queues are read when scraped.
//! Served only on METRICS_ADDR (off by default), a listener of its own, so
//! it is never public by accident. Labels are bounded: a route is its
//! pattern (`/users/{id}`), never the path a client sent.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::context::AppContext;

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    db_wait: Histogram,
    db_in_use: IntGauge,
    db_waiting: IntGauge,
    picture_seconds: Histogram,
    picture_waiting: IntGauge,
    hash_waiting: IntGauge,
    storage_errors: IntCounterVec,
}

/// Latency buckets, seconds: 0.5 ms to 10 s.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Self {
        let registry =
            Registry::new_custom(Some("portrait".into()), None).unwrap_or_else(|_| Registry::new());
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests answered, by route pattern, method and status",
            ),
            &["route", "method", "status"],
        )
        .unwrap_or_else(|_| unreachable!("static metric definitions are valid"));
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "Time to answer, by route pattern and method",
            )
            .buckets(BUCKETS.to_vec()),
            &["route", "method"],
        )
        .unwrap_or_else(|_| unreachable!("static metric definitions are valid"));
        let db_wait = Histogram::with_opts(
            HistogramOpts::new(
                "db_pool_wait_seconds",
                "Time spent waiting for a pooled database connection",
            )
            .buckets(BUCKETS.to_vec()),
        )
        .unwrap_or_else(|_| unreachable!("static metric definitions are valid"));
        let db_in_use = IntGauge::new("db_pool_connections_in_use", "Pooled connections lent out")
            .unwrap_or_else(|_| unreachable!("static metric definitions are valid"));
        let db_waiting =
            IntGauge::new("db_pool_waiting", "Callers waiting for a pooled connection")
                .unwrap_or_else(|_| unreachable!("static metric definitions are valid"));
        let picture_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "picture_processing_seconds",
                "Time to decode, resize and encode one upload's renditions",
            )
            .buckets(BUCKETS.to_vec()),
        )
        .unwrap_or_else(|_| unreachable!("static metric definitions are valid"));
        let picture_waiting =
            IntGauge::new("picture_queue_depth", "Uploads waiting for a CPU permit")
                .unwrap_or_else(|_| unreachable!("static metric definitions are valid"));
        let hash_waiting = IntGauge::new(
            "password_hash_queue_depth",
            "Sign-ins, registrations and password changes waiting for argon2",
        )
        .unwrap_or_else(|_| unreachable!("static metric definitions are valid"));
        let storage_errors = IntCounterVec::new(
            Opts::new(
                "storage_errors_total",
                "Failed picture store operations, by operation",
            ),
            &["operation"],
        )
        .unwrap_or_else(|_| unreachable!("static metric definitions are valid"));
        // Zero from the start, so a dashboard sees the series before the
        // first error.
        for operation in ["save", "delete", "open"] {
            storage_errors.with_label_values(&[operation]);
        }
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(db_wait.clone()),
            Box::new(db_in_use.clone()),
            Box::new(db_waiting.clone()),
            Box::new(picture_seconds.clone()),
            Box::new(picture_waiting.clone()),
            Box::new(hash_waiting.clone()),
            Box::new(storage_errors.clone()),
        ] {
            let _ = registry.register(collector);
        }
        Self {
            registry,
            requests,
            latency,
            db_wait,
            db_in_use,
            db_waiting,
            picture_seconds,
            picture_waiting,
            hash_waiting,
            storage_errors,
        }
    }

    /// One answered request.
    pub fn request(&self, route: &str, method: &str, status: u16, took: Duration) {
        // Any token is a method to HTTP: only the standard ones are labels.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        self.requests
            .with_label_values(&[route, method, status_label(status)])
            .inc();
        self.latency
            .with_label_values(&[route, method])
            .observe(took.as_secs_f64());
    }

    /// A wait for a pooled connection that ended (with one or not).
    pub fn db_waited(&self, took: Duration) {
        self.db_wait.observe(took.as_secs_f64());
    }

    /// One upload's processing that ended.
    pub fn picture_processed(&self, took: Duration) {
        self.picture_seconds.observe(took.as_secs_f64());
    }

    /// An upload started or stopped waiting for a CPU permit.
    pub fn picture_waiting(&self, delta: i64) {
        self.picture_waiting.add(delta);
    }

    /// A store operation failed.
    pub fn storage_error(&self, operation: &'static str) {
        self.storage_errors.with_label_values(&[operation]).inc();
    }

    /// The text a scrape gets, with the queues' gauges read now.
    pub fn render(&self, ctx: &AppContext) -> String {
        self.db_in_use.set(ctx.pool.in_use() as i64);
        self.db_waiting.set(ctx.pool.waiting() as i64);
        self.hash_waiting.set(ctx.hash_queue.waiting() as i64);
        let mut text = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(text).unwrap_or_default()
    }
}

/// Statuses as they are: there are few of them.
fn status_label(status: u16) -> &'static str {
    const LABELS: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];
    match status {
        200 => "200",
        201 => "201",
        202 => "202",
        204 => "204",
        301 => "301",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        408 => "408",
        409 => "409",
        412 => "412",
        413 => "413",
        414 => "414",
        415 => "415",
        422 => "422",
        429 => "429",
        431 => "431",
        499 => "499",
        500 => "500",
        503 => "503",
        other => LABELS[((other / 100) as usize).saturating_sub(1).min(5)],
    }
}
