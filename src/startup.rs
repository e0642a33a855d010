//! The one composition root: `build_context` applies migrations, builds
//! the pool, the store, the signals with
//! their receivers, the token keys, the password hasher with its queue and
//! the CPU permits. `serve`, every CLI command and the tests use it;
//! nothing else wires these by hand. Then the actix `App` and its server:
//! tests bind port 0 and may connect receivers of their own. Start-up
//! failures are returned with their cause, never panicked.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::{middleware, web, App, HttpServer};
use tokio::sync::Semaphore;

use crate::api;
use crate::api::error::ApiError;
use crate::auth::jwt::JwtKeys;
use crate::auth::password::{HashQueue, PasswordHasher};
use crate::auth::throttle::LoginThrottle;
use crate::context::AppContext;
use crate::db::{self, DbError, DbPool};
use crate::mail::Mailer;
use crate::rates::{EmailRates, RateThrottle};
use crate::receivers;
use crate::services::mailing::Outbox;
use crate::services::pictures;
use crate::services::sign_in_throttle::{SharedThrottle, SignInThrottle};
use crate::settings::{cores, Settings};
use crate::signals::Signals;
use crate::storage::{self, Storage};
use crate::yielding::Yielding;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("cannot prepare MEDIA_ROOT: {0}")]
    Media(std::io::Error),
    #[error("cannot use the object store {place}: {reason}")]
    ObjectStore { place: String, reason: String },
    #[error("cannot listen on BIND_ADDR: {0}")]
    Bind(std::io::Error),
    #[error("cannot listen on METRICS_ADDR: {0}")]
    Metrics(std::io::Error),
    #[error("cannot set up email: {0}")]
    Mail(String),
    #[error("cannot make the default picture's renditions: {0}")]
    DefaultPicture(String),
    #[error("cannot start the listing threads: {0}")]
    Threads(std::io::Error),
}

/// Receivers to connect at start; `receivers::connect_default_receivers`
/// outside tests.
pub type ConnectReceivers = fn(&mut Signals, Arc<dyn Storage>);

/// Temp files of an interrupted save older than this are leftovers; a
/// younger one may be another process's save in flight.
const LEFTOVER_AGE: Duration = Duration::from_secs(3600);

/// Initialises OpenSSL (libpq's TLS, email's STARTTLS and SMTPS) the way
/// the `openssl` crates do, without an exit-time cleanup. Whoever
/// initialises it first decides: libpq would register OpenSSL's cleanup
/// at exit, and a thread still in a TLS handshake when the process exits
/// (the outbox opening a connection for a late email, a pool growing)
/// then finds OpenSSL freed under it: SIGSEGV at exit. Call it before the
/// first connection; calling it again does nothing.
pub fn init_tls() {
    openssl_sys::init();
}

/// An error and its causes on one line (object_store's errors nest the
/// HTTP status under several layers).
fn one_line(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line.replace(['\n', '\r'], " ")
}

/// Everything but the HTTP server, with portrait's own receivers.
pub fn build_default_context(settings: Settings) -> Result<AppContext, StartError> {
    build_context(settings, receivers::connect_default_receivers)
}

/// Everything but the HTTP server: what `serve`, the CLI's commands and
/// the tests run on.
pub fn build_context(
    settings: Settings,
    connect: ConnectReceivers,
) -> Result<AppContext, StartError> {
    init_tls();
    let mut conn = db::establish(&settings.database_url)?;
    let applied = db::run_migrations(&mut conn)?;
    if applied > 0 {
        tracing::info!(applied, "applied database migrations");
    }
    drop(conn);
    let pool = DbPool::build(
        &settings.database_url,
        settings.database_pool_size,
        settings.database_list_connections,
        settings.database_timeout,
    )?;

    let storage = storage::build(
        &settings.media_storage,
        &settings.media_root,
        &settings.media_url,
    )
    .and_then(|storage| storage.prepare().map(|()| storage))
    .map_err(|error| match &settings.media_storage {
        storage::MediaStorage::File => StartError::Media(error),
        storage::MediaStorage::S3(location) => StartError::ObjectStore {
            place: location.describe(),
            reason: one_line(&error),
        },
    })?;

    let mut signals = Signals::default();
    connect(&mut signals, Arc::clone(&storage));

    if settings.jwt_secret.is_none() {
        tracing::warn!(
            "JWT_SECRET is not set: using a random secret; tokens will not survive a restart"
        );
    }
    let jwt = JwtKeys::new(
        settings.jwt_secret.as_deref(),
        settings.access_token_ttl,
        settings.refresh_token_ttl,
    );
    let passwords = Arc::new(PasswordHasher::new());
    let settings = Arc::new(settings);
    let mailer =
        Mailer::new(&settings.email_url, &settings.default_from_email).map_err(StartError::Mail)?;
    let default_picture = pictures::default_picture(&settings)
        .map_err(|e| StartError::DefaultPicture(e.to_string()))?;
    let outbox = Outbox::start(pool.clone(), Arc::clone(&settings), mailer)
        .map_err(|e| StartError::Mail(e.to_string()))?;
    // As many threads as listing could use on the blocking pools: more
    // list requests than that wait here, beyond the pool's deadline.
    let listing = Yielding::new(
        settings.workers * settings.blocking_threads,
        settings.list_niceness,
    )
    .map_err(StartError::Threads)?;
    Ok(AppContext {
        listing: Arc::new(listing),
        email_rates: Arc::new(EmailRates::new(
            settings.email_rate_per_client,
            settings.email_rate_per_address,
        )),
        outbox: Arc::new(outbox),
        default_picture: Arc::new(default_picture),
        // Replicas share one PostgreSQL: their throttle lives in it.
        throttle: Arc::new(if settings.database_url.is_postgres() {
            SignInThrottle::Shared(SharedThrottle::new(
                pool.clone(),
                settings.login_max_failures,
                settings.login_max_failures_per_client,
                settings.login_lockout,
            ))
        } else {
            SignInThrottle::Local(LoginThrottle::new(
                settings.login_max_failures,
                settings.login_max_failures_per_client,
                settings.login_lockout,
            ))
        }),
        upload_rate: Arc::new(RateThrottle::new(settings.upload_rate)),
        register_rate: Arc::new(RateThrottle::new(settings.register_rate)),
        // Two turns per core: while one request hashes, another does the
        // database work around its hash (at most one hash per core still
        // runs, in the hasher's workspaces).
        hash_queue: Arc::new(HashQueue::new(
            &passwords,
            2 * cores(),
            settings.password_hash_queue,
        )),
        settings,
        pool,
        signals: Arc::new(signals),
        storage,
        jwt: Arc::new(jwt),
        passwords,
        cpu_permits: Arc::new(Semaphore::new(cores())),
    })
}

/// What only a serving process does before it serves: make EMAIL_URL's
/// directory when email goes to files; put the default picture into the
/// store if it is missing, and sweep what interrupted saves left long ago. (`portrait check` reports these instead.)
fn prepare_to_serve(ctx: &AppContext) -> Result<(), StartError> {
    crate::mail::prepare(&ctx.settings.email_url).map_err(StartError::Mail)?;
    pictures::install_default(ctx.storage.as_ref(), &ctx.default_picture).map_err(|error| {
        match &ctx.settings.media_storage {
            storage::MediaStorage::File => StartError::Media(error),
            storage::MediaStorage::S3(location) => StartError::ObjectStore {
                place: location.describe(),
                reason: one_line(&error),
            },
        }
    })?;
    let swept = ctx
        .storage
        .sweep_leftovers(LEFTOVER_AGE)
        .map_err(StartError::Media)?;
    if swept > 0 {
        tracing::info!(swept, "removed temp files left by an interrupted upload");
    }
    Ok(())
}

pub struct Application {
    port: u16,
    server: Server,
    context: AppContext,
    /// The /metrics listener's port and server, when METRICS_ADDR is set.
    metrics: Option<(u16, Server)>,
}

impl Application {
    pub fn build(settings: Settings) -> Result<Self, StartError> {
        Self::build_with(settings, receivers::connect_default_receivers)
    }

    pub fn build_with(settings: Settings, connect: ConnectReceivers) -> Result<Self, StartError> {
        let listener = TcpListener::bind(settings.bind_addr).map_err(StartError::Bind)?;
        let port = listener.local_addr().map_err(StartError::Bind)?.port();
        let metrics_listener = match settings.metrics_addr {
            Some(addr) => Some(TcpListener::bind(addr).map_err(StartError::Metrics)?),
            None => None,
        };
        let context = build_context(settings, connect)?;
        prepare_to_serve(&context)?;
        let server = serve(listener, context.clone()).map_err(StartError::Bind)?;
        let metrics = match metrics_listener {
            Some(listener) => {
                let port = listener.local_addr().map_err(StartError::Metrics)?.port();
                let server =
                    serve_metrics(listener, context.clone()).map_err(StartError::Metrics)?;
                Some((port, server))
            }
            None => None,
        };
        Ok(Self {
            port,
            server,
            context,
            metrics,
        })
    }

    /// The port /metrics is served on, when METRICS_ADDR is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn context(&self) -> &AppContext {
        &self.context
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            // Both stop on SIGTERM/SIGINT; the API's answer is the one that counts.
            Some((_, metrics)) => {
                let (served, _) = tokio::join!(self.server, metrics);
                served
            }
            None => self.server.await,
        }
    }
}

fn serve(listener: TcpListener, context: AppContext) -> std::io::Result<Server> {
    let workers = context.settings.workers;
    let blocking_threads = context.settings.blocking_threads;
    let json_limit = context.settings.max_json_bytes;
    let cors_origins = context.settings.cors_allowed_origins.clone();
    let media_url = context.settings.media_url.clone();
    let shutdown_timeout = context.settings.shutdown_timeout.as_secs();
    let data = web::Data::new(context);
    let server = HttpServer::new(move || {
        // Wrapped last runs first: the request log sees the final answer,
        // CORS headers and nosniff included.
        App::new()
            .wrap(middleware::from_fn(api::head::answer_head_as_get))
            .wrap(middleware::from_fn(api::limits::refuse_oversized_heads))
            .wrap(api::error::problem_json_for_every_error())
            .wrap(cors(&cors_origins))
            .wrap(middleware::DefaultHeaders::new().add(("X-Content-Type-Options", "nosniff")))
            .wrap(middleware::from_fn(api::request_log::log_requests))
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(json_limit))
            .configure(api::routes)
            .configure(|cfg| crate::admin::routes(cfg, &media_url))
            .default_service(web::to(unknown_route))
    })
    .workers(workers)
    .worker_max_blocking_threads(blocking_threads)
    // A client that closes its side is gone: its request's future is
    // dropped, so queued database work is abandoned (`api::blocking`)
    // instead of running for nobody. (Half-closing after sending a
    // request, which almost no HTTP client does, gets no answer.)
    .h1_allow_half_closed(false)
    // SIGTERM/SIGINT: stop accepting, let requests in flight (uploads
    // included) finish within the timeout, then drop the pool.
    .shutdown_timeout(shutdown_timeout)
    .listen(listener)?
    .run();
    Ok(server)
}

/// GET /metrics alone, on its own listener (METRICS_ADDR): one worker,
/// nothing else routed there, the API's routes never.
fn serve_metrics(listener: TcpListener, context: AppContext) -> std::io::Result<Server> {
    let data = web::Data::new(context);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(metrics_text))
    })
    .workers(1)
    .listen(listener)?
    .run();
    Ok(server)
}

async fn metrics_text(ctx: web::Data<AppContext>) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::metrics().render(&ctx))
}

/// CORS for the exact origins of CORS_ALLOWED_ORIGINS (none by default).
/// Bearer tokens travel in a header, so credentials (cookies) are never
/// allowed. Requests from other origins are served without CORS headers
/// (the browser then withholds the answer) rather than refused.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::ACCEPT,
            header::IF_MATCH,
        ])
        .expose_headers([
            header::ETAG,
            header::LOCATION,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            api::request_log::REQUEST_ID,
        ])
        .max_age(3600)
        .block_on_origin_mismatch(false);
    for origin in origins {
        cors = cors.allowed_origin(origin);
    }
    cors
}

async fn unknown_route() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("No route matches this URL."))
}
