//! Settings: every knob portrait has, read once at start from the
//! environment (and a `.env` file), with the names and defaults of the
//! contract. A bad value stops the start with one line naming the setting.
//! Nothing else in the code reads the environment; this module must not
//! log or print a secret.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Which database a `DATABASE_URL` selects, decided by its scheme.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A path for SQLite (`sqlite://path`, `sqlite:///abs/path` or a bare path).
    Sqlite(String),
    /// A libpq connection URL (`postgres://` or `postgresql://`).
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        let path = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
            .unwrap_or(raw);
        if path.is_empty() {
            return Err("an SQLite URL needs a file path".into());
        }
        if path.contains(":memory:") || path.contains("mode=memory") {
            // Every pooled connection would see its own empty database.
            return Err("an in-memory SQLite database cannot be shared by a pool".into());
        }
        if path.contains("://") {
            return Err("expected sqlite://PATH, postgres://… or postgresql://…".into());
        }
        Ok(Self::Sqlite(path.to_owned()))
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }
}

impl fmt::Debug for DatabaseUrl {
    // A PostgreSQL URL can carry a password: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite://{path}"),
            Self::Postgres(_) => write!(f, "postgres://…"),
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Clone)]
pub struct Settings {
    pub database_url: DatabaseUrl,
    pub database_pool_size: u32,
    /// How many pooled connections list and search queries may hold at
    /// once; the rest stay for point reads and writes.
    pub database_list_connections: u32,
    /// The nice value of the threads that build pages of the directory
    /// (0: the same priority as everything else).
    pub list_niceness: i32,
    pub database_timeout: Duration,
    pub bind_addr: SocketAddr,
    pub media_root: PathBuf,
    pub media_url: String,
    /// Where pictures are stored (MEDIA_STORAGE with the AWS_* settings).
    pub media_storage: crate::storage::MediaStorage,
    /// `None` when JWT_SECRET is unset: a random one is made at start.
    pub jwt_secret: Option<String>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub max_upload_bytes: usize,
    pub max_image_pixels: u64,
    /// The most decoding one picture may allocate.
    pub max_decode_bytes: u64,
    /// The longest one picture's processing may take before a 422.
    pub picture_timeout: Duration,
    /// The longest a request body may take to arrive before a 408.
    pub client_body_timeout: Duration,
    /// Longest URL (path and query) before a 414.
    pub max_url_bytes: usize,
    /// Most bytes of request headers before a 431.
    pub max_header_bytes: usize,
    pub avatar_size: u32,
    /// The renditions' square boxes, ascending, without repeats.
    pub avatar_sizes: Vec<u32>,
    pub jpeg_quality: u8,
    pub webp_quality: u8,
    pub cors_allowed_origins: Vec<String>,
    pub max_json_bytes: usize,
    pub max_password_length: usize,
    pub login_max_failures: u32,
    /// Failed sign-ins one client may make across all accounts per window.
    pub login_max_failures_per_client: u32,
    pub login_lockout: Duration,
    /// Picture writes per user (`None`: off).
    pub upload_rate: Option<crate::rates::Rate>,
    /// Registrations per client address (`None`: off).
    pub register_rate: Option<crate::rates::Rate>,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Requests that may wait for argon2 beyond those hashing; more are
    /// refused at once with 503.
    pub password_hash_queue: usize,
    pub workers: usize,
    /// Threads each worker may run blocking work on (database, pictures,
    /// argon2, files).
    pub blocking_threads: usize,
    /// How long in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_timeout: Duration,
    pub log_format: LogFormat,
    /// Where email goes (EMAIL_URL).
    pub email_url: EmailUrl,
    /// The sender of every email (DEFAULT_FROM_EMAIL), a valid mailbox.
    pub default_from_email: String,
    /// Front-end page templates holding `{token}`.
    pub password_reset_url: String,
    pub email_verification_url: String,
    /// How long a password-reset or verification link works.
    pub email_token_ttl: Duration,
    /// Whether an unverified user's sign-in is refused (403).
    pub require_verified_email: bool,
    /// Password-reset and verification emails asked for by one client.
    pub email_rate_per_client: Option<crate::rates::Rate>,
    /// Password-reset and verification emails asked for one address.
    pub email_rate_per_address: Option<crate::rates::Rate>,
    /// Emails that may wait to be sent; more are dropped with a log line.
    pub email_queue: usize,
    /// Where /metrics is served (`None`: nowhere).
    pub metrics_addr: Option<SocketAddr>,
    /// How long an admin session lasts (ADMIN_SESSION_TTL).
    pub admin_session_ttl: Duration,
}

/// EMAIL_URL: an SMTP server, or a directory that receives .eml files.
#[derive(Clone, PartialEq, Eq)]
pub enum EmailUrl {
    Smtp {
        host: String,
        port: u16,
        /// `smtps://`: TLS from the first byte; `smtp://`: STARTTLS when
        /// the server offers it.
        implicit_tls: bool,
        credentials: Option<(String, String)>,
    },
    File(PathBuf),
}

impl EmailUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw.strip_prefix("file://") {
            if path.is_empty() {
                return Err("file:// needs a directory, such as file://./outbox".into());
            }
            return Ok(Self::File(PathBuf::from(path)));
        }
        let url = url::Url::parse(raw)
            .map_err(|_| "expected smtp://[user:pass@]host[:port], smtps://… or file://DIR")?;
        let implicit_tls = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            _ => return Err("expected smtp://, smtps:// or file://".into()),
        };
        let host = url
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or("an SMTP URL needs a host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let decode = |part: &str| {
            percent_decode(part).ok_or_else(|| "the user or password is not valid UTF-8".to_owned())
        };
        let credentials = if url.username().is_empty() {
            None
        } else {
            Some((
                decode(url.username())?,
                decode(url.password().unwrap_or(""))?,
            ))
        };
        Ok(Self::Smtp {
            host,
            // Django's EMAIL_PORT is 25; SMTPS listens on 465.
            port: url.port().unwrap_or(if implicit_tls { 465 } else { 25 }),
            implicit_tls,
            credentials,
        })
    }
}

impl fmt::Debug for EmailUrl {
    // The URL can carry a password: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Smtp {
                host,
                port,
                implicit_tls,
                ..
            } => {
                let scheme = if *implicit_tls { "smtps" } else { "smtp" };
                write!(f, "{scheme}://{host}:{port}")
            }
            Self::File(dir) => write!(f, "file://{}", dir.display()),
        }
    }
}

fn percent_decode(raw: &str) -> Option<String> {
    url::form_urlencoded::parse(format!("x={}", raw.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
}

/// AVATAR_SIZES: comma-separated square sizes, 16 to 4096 pixels.
fn parse_sizes(raw: &str) -> Result<Vec<u32>, String> {
    let bad = || {
        format!(
            "expected comma-separated sizes from 16 to 4096, such as 64,128,300,600; got {raw:?}"
        )
    };
    let mut sizes: Vec<u32> = raw
        .split(',')
        .map(|part| part.trim().parse::<u32>().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    if sizes.is_empty() || sizes.len() > 16 || sizes.iter().any(|s| !(16..=4096).contains(s)) {
        return Err(bad());
    }
    sizes.sort_unstable();
    sizes.dedup();
    Ok(sizes)
}

/// A link template must say where the token goes.
fn token_template(raw: &str) -> Result<String, String> {
    if !raw.contains("{token}") {
        return Err("must contain {token}, where the link's token goes".into());
    }
    url::Url::parse(&raw.replace("{token}", "t"))
        .map_err(|_| "must be an absolute URL, such as https://app.example/reset?token={token}")?;
    Ok(raw.to_owned())
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &self.database_url)
            .field("bind_addr", &self.bind_addr)
            .field("media_root", &self.media_root)
            .field("media_url", &self.media_url)
            .field("media_storage", &self.media_storage)
            .field("jwt_secret", &self.jwt_secret.as_ref().map(|_| "…"))
            .finish_non_exhaustive()
    }
}

/// A setting that could not be used: the one line a failed start prints.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting {name}: {reason}")]
pub struct SettingError {
    pub name: &'static str,
    pub reason: String,
}

const MIN_JWT_SECRET_LEN: usize = 32;

impl Settings {
    /// Reads the process environment, after loading `.env` if there is one.
    pub fn from_env() -> Result<Self, SettingError> {
        // A missing .env is normal; a malformed one is not silently ignored.
        if let Err(error) = dotenvy::dotenv() {
            if !error.not_found() {
                return Err(SettingError {
                    name: ".env",
                    reason: error.to_string(),
                });
            }
        }
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds settings from any source of named values (tests pass a map).
    pub fn from_map(values: &HashMap<&str, String>) -> Result<Self, SettingError> {
        Self::from_lookup(|name| values.get(name).cloned())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingError> {
        let get = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let reader = Reader { get: &get };

        let database_url = reader.parse("DATABASE_URL", "sqlite://portrait.sqlite3", |raw| {
            DatabaseUrl::parse(raw)
        })?;
        // PostgreSQL: two connections per core. More only queue inside the
        // database: on 2 cores, 10 connections served no more requests than
        // 4 and their p99 went from 3 ms to over 50 ms (bench/README.md).
        let default_pool = if database_url.is_postgres() {
            (2 * cores() as u32).max(4)
        } else {
            8
        };
        let media_url = reader.parse("MEDIA_URL", "/media/", |raw| {
            if raw.ends_with('/') {
                Ok(raw.to_owned())
            } else {
                Err("must end with a slash, as Django requires".into())
            }
        })?;
        // Unset or empty: a random secret. White space alone is a mistake
        // (a quoted blank in a .env file), not a secret.
        let jwt_secret = match lookup("JWT_SECRET").filter(|secret| !secret.is_empty()) {
            Some(secret) if secret.trim().len() < MIN_JWT_SECRET_LEN => {
                return Err(SettingError {
                    name: "JWT_SECRET",
                    reason: format!(
                        "must be at least {MIN_JWT_SECRET_LEN} bytes long, not counting white space"
                    ),
                })
            }
            other => other,
        };
        let cors_allowed_origins = get("CORS_ALLOWED_ORIGINS")
            .map(|raw| {
                raw.split(',')
                    .map(|origin| origin.trim().trim_end_matches('/').to_owned())
                    .filter(|origin| !origin.is_empty())
                    .collect()
            })
            .unwrap_or_default();

        let database_pool_size = reader.number("DATABASE_POOL_SIZE", default_pool, 1, 1000)?;
        Ok(Self {
            database_pool_size,
            database_list_connections: reader.number(
                "DATABASE_LIST_CONNECTIONS",
                (database_pool_size / 2).max(1),
                1,
                u64::from(database_pool_size),
            )?,
            // Pages and searches yield the cores to point reads: under
            // contention a thread at nice 19 weighs 15 against a normal
            // thread's 1024, and it gets every core when nothing else
            // runs. 10 left reads at 64-77% of their rate alone while 4
            // clients paged; 19 at 79-88% (docs/performance.md).
            list_niceness: reader.number("LIST_NICENESS", 19, 0, 19)?,
            database_timeout: Duration::from_secs(reader.number("DATABASE_TIMEOUT", 5, 1, 600)?),
            database_url,
            bind_addr: reader.parse("BIND_ADDR", "127.0.0.1:8000", |raw| {
                raw.parse::<SocketAddr>()
                    .map_err(|_| "expected HOST:PORT, such as 127.0.0.1:8000".into())
            })?,
            media_root: PathBuf::from(get("MEDIA_ROOT").unwrap_or_else(|| "./media".into())),
            media_url,
            media_storage: media_storage(&reader, &get)?,
            jwt_secret,
            access_token_ttl: Duration::from_secs(reader.number(
                "ACCESS_TOKEN_TTL",
                15 * 60,
                1,
                u32::MAX as u64,
            )?),
            refresh_token_ttl: Duration::from_secs(reader.number(
                "REFRESH_TOKEN_TTL",
                7 * 24 * 3600,
                1,
                u32::MAX as u64,
            )?),
            max_upload_bytes: reader.number("MAX_UPLOAD_BYTES", 10 * 1024 * 1024, 1, 1 << 32)?,
            max_image_pixels: reader.number("MAX_IMAGE_PIXELS", 40_000_000, 1, 1 << 32)?,
            max_decode_bytes: reader.number("MAX_DECODE_BYTES", 256 << 20, 1 << 20, 1 << 40)?,
            picture_timeout: Duration::from_secs(reader.number("PICTURE_TIMEOUT", 5, 1, 3600)?),
            max_url_bytes: reader.number("MAX_URL_BYTES", 65536, 256, 98304)?,
            max_header_bytes: reader.number("MAX_HEADER_BYTES", 16384, 1024, 98304)?,
            client_body_timeout: Duration::from_secs(reader.number(
                "CLIENT_BODY_TIMEOUT",
                30,
                1,
                3600,
            )?),
            avatar_size: reader.number("AVATAR_SIZE", 300, 16, 4096)?,
            avatar_sizes: reader.parse("AVATAR_SIZES", "64,128,300,600", parse_sizes)?,
            jpeg_quality: reader.number("JPEG_QUALITY", 85, 1, 100)?,
            webp_quality: reader.number("WEBP_QUALITY", 80, 0, 100)?,
            cors_allowed_origins,
            max_json_bytes: reader.number("MAX_JSON_BYTES", 64 * 1024, 256, 1 << 24)?,
            max_password_length: reader.number(
                "MAX_PASSWORD_LENGTH",
                crate::domain::DEFAULT_MAX_PASSWORD_CHARS,
                crate::domain::MIN_PASSWORD_CHARS as u64,
                65536,
            )?,
            login_max_failures: reader.number("LOGIN_MAX_FAILURES", 5, 1, 1_000_000)?,
            login_max_failures_per_client: reader.number(
                "LOGIN_MAX_FAILURES_PER_CLIENT",
                100,
                1,
                1_000_000,
            )?,
            trusted_proxies: reader.parse("TRUSTED_PROXIES", "", parse_networks)?,
            upload_rate: reader.parse("UPLOAD_RATE", "60/min", crate::rates::Rate::parse)?,
            register_rate: reader.parse("REGISTER_RATE", "100/hour", crate::rates::Rate::parse)?,
            login_lockout: Duration::from_secs(reader.number(
                "LOGIN_LOCKOUT_SECONDS",
                15 * 60,
                1,
                30 * 24 * 3600,
            )?),
            password_hash_queue: reader.number(
                "PASSWORD_HASH_QUEUE",
                32 * cores(),
                0,
                1_000_000,
            )?,
            workers: reader.number("WORKERS", cores(), 1, 1024)?,
            // Few and busy beats many and cold: with tokio's default of 512
            // the blocking work of a request landed on a different,
            // cache-cold thread each time; 2 per core served 10-15% more
            // reads on both backends (docs/performance.md).
            blocking_threads: reader.number("BLOCKING_THREADS", (2 * cores()).max(4), 1, 1024)?,
            shutdown_timeout: Duration::from_secs(reader.number(
                "SHUTDOWN_TIMEOUT",
                30,
                1,
                3600,
            )?),
            log_format: reader.parse("LOG_FORMAT", "human", |raw| {
                match raw.to_ascii_lowercase().as_str() {
                    "human" | "text" | "pretty" => Ok(LogFormat::Human),
                    "json" => Ok(LogFormat::Json),
                    _ => Err("expected human or json".into()),
                }
            })?,
            email_url: reader.parse("EMAIL_URL", "file://./outbox", EmailUrl::parse)?,
            default_from_email: reader.parse(
                "DEFAULT_FROM_EMAIL",
                "portrait@localhost",
                |raw| {
                    raw.parse::<lettre::message::Mailbox>()
                        .map(|_| raw.to_owned())
                        .map_err(|_| {
                            "expected an address, such as Portrait <no-reply@example.com>".into()
                        })
                },
            )?,
            password_reset_url: reader.parse(
                "PASSWORD_RESET_URL",
                "http://localhost:3000/reset?token={token}",
                token_template,
            )?,
            email_verification_url: reader.parse(
                "EMAIL_VERIFICATION_URL",
                "http://localhost:3000/verify?token={token}",
                token_template,
            )?,
            email_token_ttl: Duration::from_secs(reader.number(
                "EMAIL_TOKEN_TTL",
                3600,
                60,
                30 * 24 * 3600,
            )?),
            require_verified_email: reader.parse("REQUIRE_VERIFIED_EMAIL", "false", parse_bool)?,
            email_rate_per_client: reader.parse(
                "EMAIL_RATE_PER_CLIENT",
                "20/hour",
                crate::rates::Rate::parse,
            )?,
            email_rate_per_address: reader.parse(
                "EMAIL_RATE_PER_ADDRESS",
                "5/hour",
                crate::rates::Rate::parse,
            )?,
            email_queue: reader.number("EMAIL_QUEUE", 1000, 1, 1_000_000)?,
            admin_session_ttl: Duration::from_secs(reader.number(
                "ADMIN_SESSION_TTL",
                1_209_600,
                60,
                31_536_000,
            )?),
            metrics_addr: match get("METRICS_ADDR") {
                None => None,
                Some(raw) => Some(raw.trim().parse::<SocketAddr>().map_err(|_| SettingError {
                    name: "METRICS_ADDR",
                    reason: "expected HOST:PORT, such as 127.0.0.1:9100".into(),
                })?),
            },
        })
    }
}

/// MEDIA_STORAGE: `file`, or `s3://BUCKET[/PREFIX]` with the usual AWS_*
/// variables (AWS_ENDPOINT_URL for a store other than Amazon's).
fn media_storage(
    reader: &Reader<'_>,
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<crate::storage::MediaStorage, SettingError> {
    use crate::storage::{MediaStorage, S3Location};
    let kind = reader.parse("MEDIA_STORAGE", "file", |raw| {
        if raw == "file" {
            Ok(None)
        } else {
            S3Location::parse(raw).map(Some)
        }
    })?;
    let Some((bucket, prefix)) = kind else {
        return Ok(MediaStorage::File);
    };
    let endpoint = reader.parse("AWS_ENDPOINT_URL", "", |raw| {
        if raw.is_empty() {
            Ok(None)
        } else if raw.starts_with("http://") || raw.starts_with("https://") {
            Ok(Some(raw.trim_end_matches('/').to_owned()))
        } else {
            Err("expected an http:// or https:// address".into())
        }
    })?;
    let access_key_id = get("AWS_ACCESS_KEY_ID");
    let secret_access_key = get("AWS_SECRET_ACCESS_KEY");
    if access_key_id.is_some() != secret_access_key.is_some() {
        return Err(SettingError {
            name: "AWS_SECRET_ACCESS_KEY",
            reason: "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together".into(),
        });
    }
    Ok(MediaStorage::S3(S3Location {
        bucket,
        prefix,
        endpoint,
        region: get("AWS_REGION").or_else(|| get("AWS_DEFAULT_REGION")),
        access_key_id,
        secret_access_key,
    }))
}

/// The cores this process may use; the defaults of several limits scale
/// with it.
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

/// Comma-separated addresses or CIDR ranges (`10.0.0.0/8`, `::1`).
fn parse_networks(raw: &str) -> Result<Vec<ipnet::IpNet>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| format!("{part:?} is not an address or a CIDR range"))
        })
        .collect()
}

struct Reader<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl Reader<'_> {
    fn parse<T>(
        &self,
        name: &'static str,
        default: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, SettingError> {
        let raw = (self.get)(name).unwrap_or_else(|| default.to_owned());
        parse(raw.trim()).map_err(|reason| SettingError { name, reason })
    }

    fn number<T>(
        &self,
        name: &'static str,
        default: T,
        min: u64,
        max: u64,
    ) -> Result<T, SettingError>
    where
        T: TryFrom<u64>,
    {
        let Some(raw) = (self.get)(name) else {
            return Ok(default);
        };
        let reason = || format!("expected a whole number from {min} to {max}, got {raw:?}");
        let value: u64 = raw.trim().parse().map_err(|_| SettingError {
            name,
            reason: reason(),
        })?;
        if !(min..=max).contains(&value) {
            return Err(SettingError {
                name,
                reason: reason(),
            });
        }
        T::try_from(value).map_err(|_| SettingError {
            name,
            reason: reason(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&'static str, &str)]) -> Result<Settings, SettingError> {
        let map: HashMap<&str, String> = pairs.iter().map(|(k, v)| (*k, v.to_string())).collect();
        Settings::from_map(&map)
    }

    #[test]
    fn media_storage_is_a_local_directory_or_an_s3_bucket_with_a_prefix() {
        use crate::storage::{MediaStorage, S3Location};
        assert_eq!(settings(&[]).unwrap().media_storage, MediaStorage::File);
        let s3 = settings(&[
            ("MEDIA_STORAGE", "s3://portrait-media/tenant/pics/"),
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000/"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_ACCESS_KEY_ID", "key"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
        ])
        .unwrap();
        assert_eq!(
            s3.media_storage,
            MediaStorage::S3(S3Location {
                bucket: "portrait-media".into(),
                prefix: "tenant/pics".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                region: Some("eu-west-1".into()),
                access_key_id: Some("key".into()),
                secret_access_key: Some("secret".into()),
            })
        );
        assert!(!format!("{s3:?}").contains("secret\""), "{s3:?}");
        for (name, value) in [
            ("MEDIA_STORAGE", "disk"),
            ("MEDIA_STORAGE", "s3://"),
            ("MEDIA_STORAGE", "s3://Upper_Case"),
            ("MEDIA_STORAGE", "s3://bucket/../up"),
        ] {
            assert_eq!(
                settings(&[(name, value)]).unwrap_err().name,
                "MEDIA_STORAGE"
            );
        }
        let bad_endpoint = settings(&[
            ("MEDIA_STORAGE", "s3://bucket"),
            ("AWS_ENDPOINT_URL", "127.0.0.1:9000"),
        ]);
        assert_eq!(bad_endpoint.unwrap_err().name, "AWS_ENDPOINT_URL");
        let half_credentials = settings(&[
            ("MEDIA_STORAGE", "s3://bucket"),
            ("AWS_ACCESS_KEY_ID", "key"),
        ]);
        assert_eq!(half_credentials.unwrap_err().name, "AWS_SECRET_ACCESS_KEY");
    }

    #[test]
    fn defaults_are_the_contracts() {
        let s = settings(&[]).unwrap();
        assert_eq!(
            s.database_url,
            DatabaseUrl::Sqlite("portrait.sqlite3".into())
        );
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(s.media_root, PathBuf::from("./media"));
        assert_eq!(s.media_url, "/media/");
        assert!(s.jwt_secret.is_none());
        assert_eq!(s.access_token_ttl, Duration::from_secs(900));
        assert_eq!(s.refresh_token_ttl, Duration::from_secs(604800));
        assert_eq!(s.max_upload_bytes, 10485760);
        assert_eq!(s.max_image_pixels, 40_000_000);
        assert_eq!(s.avatar_size, 300);
        assert!(s.cors_allowed_origins.is_empty());
    }

    #[test]
    fn database_url_scheme_selects_the_backend() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:///var/lib/p.db").unwrap(),
            DatabaseUrl::Sqlite("/var/lib/p.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("data.db").unwrap(),
            DatabaseUrl::Sqlite("data.db".into())
        );
        assert!(DatabaseUrl::parse("postgresql://u@h/db")
            .unwrap()
            .is_postgres());
        assert!(DatabaseUrl::parse("postgres://u@h/db")
            .unwrap()
            .is_postgres());
        assert!(DatabaseUrl::parse("sqlite://:memory:").is_err());
        assert!(DatabaseUrl::parse("mysql://u@h/db").is_err());
    }

    #[test]
    fn a_bad_value_names_its_setting() {
        let error = settings(&[("MAX_UPLOAD_BYTES", "lots")]).unwrap_err();
        assert_eq!(error.name, "MAX_UPLOAD_BYTES");
        assert!(error
            .to_string()
            .starts_with("invalid setting MAX_UPLOAD_BYTES"));
        assert_eq!(
            settings(&[("BIND_ADDR", "nowhere")]).unwrap_err().name,
            "BIND_ADDR"
        );
        assert_eq!(
            settings(&[("MEDIA_URL", "/media")]).unwrap_err().name,
            "MEDIA_URL"
        );
        assert_eq!(
            settings(&[("JWT_SECRET", "short")]).unwrap_err().name,
            "JWT_SECRET"
        );
        assert_eq!(
            settings(&[("AVATAR_SIZE", "0")]).unwrap_err().name,
            "AVATAR_SIZE"
        );
        let blank = " ".repeat(64);
        assert_eq!(
            settings(&[("JWT_SECRET", &blank)]).unwrap_err().name,
            "JWT_SECRET"
        );
        for (name, value) in [
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("UPLOAD_RATE", "60/fortnight"),
            ("REGISTER_RATE", "lots"),
        ] {
            assert_eq!(settings(&[(name, value)]).unwrap_err().name, name);
        }
    }

    #[test]
    fn round_2_limits_have_the_contracts_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.picture_timeout, Duration::from_secs(5));
        assert_eq!(s.max_decode_bytes, 268_435_456);
        assert_eq!(s.login_max_failures_per_client, 100);
        assert_eq!(s.client_body_timeout, Duration::from_secs(30));
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.upload_rate.unwrap().requests, 60);
        assert_eq!(s.register_rate.unwrap().period, Duration::from_secs(3600));
        assert_eq!(s.avatar_sizes, vec![64, 128, 300, 600]);
        assert_eq!((s.jpeg_quality, s.webp_quality), (85, 80));
        assert_eq!(
            settings(&[("AVATAR_SIZES", "600, 64,64,300")])
                .unwrap()
                .avatar_sizes,
            vec![64, 300, 600]
        );
        for bad in ["64,x", "8", "64,5000", ","] {
            assert_eq!(
                settings(&[("AVATAR_SIZES", bad)])
                    .map(|_| ())
                    .unwrap_err()
                    .name,
                "AVATAR_SIZES",
                "{bad}"
            );
        }
        let proxied = settings(&[("TRUSTED_PROXIES", "10.0.0.0/8, ::1")]).unwrap();
        assert_eq!(proxied.trusted_proxies.len(), 2);
        assert!(settings(&[("UPLOAD_RATE", "off")])
            .unwrap()
            .upload_rate
            .is_none());
    }

    #[test]
    fn email_settings_have_the_contracts_defaults_and_hide_passwords() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.email_url, EmailUrl::File(PathBuf::from("./outbox")));
        assert_eq!(s.default_from_email, "portrait@localhost");
        assert_eq!(
            s.password_reset_url,
            "http://localhost:3000/reset?token={token}"
        );
        assert_eq!(s.email_token_ttl, Duration::from_secs(3600));
        assert!(!s.require_verified_email);
        let smtp = EmailUrl::parse("smtp://me%40x:p%3Ass@mail.example:587").unwrap();
        assert_eq!(
            smtp,
            EmailUrl::Smtp {
                host: "mail.example".into(),
                port: 587,
                implicit_tls: false,
                credentials: Some(("me@x".into(), "p:ss".into())),
            }
        );
        assert_eq!(format!("{smtp:?}"), "smtp://mail.example:587");
        assert!(matches!(
            EmailUrl::parse("smtps://mail.example").unwrap(),
            EmailUrl::Smtp {
                port: 465,
                implicit_tls: true,
                ..
            }
        ));
        for (name, value) in [
            ("EMAIL_URL", "http://mail.example"),
            ("EMAIL_URL", "file://"),
            ("DEFAULT_FROM_EMAIL", "not an address"),
            ("PASSWORD_RESET_URL", "https://app.example/reset"),
            ("EMAIL_VERIFICATION_URL", "/verify?token={token}"),
            ("REQUIRE_VERIFIED_EMAIL", "maybe"),
            ("EMAIL_TOKEN_TTL", "5"),
        ] {
            assert_eq!(settings(&[(name, value)]).unwrap_err().name, name);
        }
    }

    #[test]
    fn cors_origins_are_a_comma_separated_list() {
        let s = settings(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://a.example, https://b.example/",
        )])
        .unwrap();
        assert_eq!(
            s.cors_allowed_origins,
            vec!["https://a.example", "https://b.example"]
        );
    }
}
