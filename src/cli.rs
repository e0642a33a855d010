//! The command line: `serve` (the default), `migrate`, `createsuperuser`,
//! `openapi`. Each command loads settings, does one thing and exits with a
//! status a script can trust (0 success, 1 failure, 2 bad settings or
//! usage). Every command that needs the application builds it through
//! `startup::build_default_context`, as `serve` does, so the CLI's database
//! work queues in the same pool. A superuser is created through the same
//! save path as the API's registration, so its profile comes from the same
//! signal.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::context::AppContext;
use crate::domain::{Email, Password, Username};
use crate::error::ServiceError;
use crate::settings::Settings;
use crate::startup::{build_default_context, Application};
use crate::{services, telemetry};

#[derive(Parser)]
#[command(
    name = "portrait",
    version,
    about = "User accounts, profiles and profile pictures over a JSON API."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Apply pending migrations, put default.jpg into MEDIA_ROOT, and serve (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Create a superuser; the password comes from PORTRAIT_SUPERUSER_PASSWORD or a prompt.
    Createsuperuser {
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: String,
    },
    /// Print the OpenAPI document that GET /openapi.json serves.
    Openapi,
    /// Report users without a profile, profiles whose picture is missing and stray picture files;
    /// exit 0 only when all is consistent.
    Check {
        /// Repair what can be repaired safely.
        #[arg(long)]
        fix: bool,
        /// Unreferenced files younger than this many seconds are uploads in flight, not strays.
        #[arg(long, default_value_t = 3600)]
        grace: u64,
    },
    /// Exit 0 when the server at BIND_ADDR answers GET /healthz with 200 (for container health checks).
    Healthcheck,
    /// Remove spent, revoked and expired refresh tokens and used or expired email tokens.
    Flushexpiredtokens,
}

pub fn main() -> ExitCode {
    crate::startup::init_tls();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            print!("{}", crate::api::docs::openapi_json());
            ExitCode::SUCCESS
        }
        command => {
            let settings = match Settings::from_env() {
                Ok(settings) => settings,
                Err(error) => {
                    eprintln!("portrait: {error}");
                    return ExitCode::from(2);
                }
            };
            telemetry::init(settings.log_format);
            let outcome = match command {
                Command::Serve => serve(settings),
                Command::Migrate => migrate(settings),
                Command::Createsuperuser { username, email } => {
                    create_superuser(settings, &username, &email)
                }
                Command::Healthcheck => healthcheck(&settings),
                Command::Check { fix, grace } => check(settings, fix, grace),
                Command::Flushexpiredtokens => flush_expired_tokens(settings),
                Command::Openapi => unreachable!("handled above"),
            };
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("portrait: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn serve(settings: Settings) -> Result<(), String> {
    if settings.database_url.is_postgres() && settings.jwt_secret.is_none() {
        // Replicas share one database: a secret of this process's own
        // would sign tokens the others refuse.
        return Err(
            "invalid setting JWT_SECRET: required with PostgreSQL (replicas must share it)".into(),
        );
    }
    let bind_addr = settings.bind_addr;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).map_err(|e| e.to_string())?;
        tracing::info!(%bind_addr, port = app.port(), "portrait is serving");
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

/// GET /healthz over a plain socket: the container image needs no curl.
fn healthcheck(settings: &Settings) -> Result<(), String> {
    use std::io::{Read, Write};
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
    use std::time::Duration;

    let bind = settings.bind_addr;
    let ip = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let timeout = Duration::from_secs(3);
    let mut stream = TcpStream::connect_timeout(&SocketAddr::new(ip, bind.port()), timeout)
        .map_err(|e| format!("cannot reach {ip}:{}: {e}", bind.port()))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).map_err(|e| e.to_string())?;
    if head.starts_with(b"HTTP/1.") && &head[9..12] == b"200" {
        println!("healthy");
        Ok(())
    } else {
        Err(format!("unhealthy: {}", String::from_utf8_lossy(&head)))
    }
}

fn context(settings: Settings) -> Result<AppContext, String> {
    build_default_context(settings).map_err(|e| e.to_string())
}

fn check(settings: Settings, fix: bool, grace_seconds: u64) -> Result<(), String> {
    let ctx = context(settings)?;
    let mut conn = ctx.pool.get().map_err(|e| e.to_string())?;
    let grace = std::time::Duration::from_secs(grace_seconds);
    let mut run = |fix: bool| {
        services::consistency::check(&mut conn, &ctx, grace, fix).map_err(|e| e.to_string())
    };
    let mut report = run(fix)?;
    for line in report.lines() {
        println!("{line}");
    }
    if fix {
        // What the repair left is what counts.
        report = run(false)?;
        for line in report.lines().iter().filter(|l| l.starts_with("found")) {
            println!("{line}");
        }
    }
    if report.is_consistent() {
        println!("consistent");
        Ok(())
    } else {
        Err("inconsistent".into())
    }
}

fn flush_expired_tokens(settings: Settings) -> Result<(), String> {
    let ctx = context(settings)?;
    let flushed = services::sessions::flush_expired_tokens(&ctx).map_err(|e| e.to_string())?;
    println!(
        "Removed {} refresh tokens and {} email tokens.",
        flushed.refresh_tokens, flushed.email_tokens
    );
    if flushed.admin_sessions > 0 {
        println!("Removed {} expired admin sessions.", flushed.admin_sessions);
    }
    if flushed.sign_in_failures > 0 {
        println!(
            "Removed {} ended sign-in throttle windows.",
            flushed.sign_in_failures
        );
    }
    Ok(())
}

/// Building the context applies pending migrations (and logs how many).
fn migrate(settings: Settings) -> Result<(), String> {
    context(settings)?;
    println!("The database is up to date.");
    Ok(())
}

fn create_superuser(settings: Settings, username: &str, email: &str) -> Result<(), String> {
    let username = Username::parse(username).map_err(|e| format!("username: {e}"))?;
    let email = Email::parse(email).map_err(|e| format!("email: {e}"))?;
    let raw_password = superuser_password()?;
    let password = Password::parse(
        &raw_password,
        username.as_str(),
        settings.max_password_length,
    )
    .map_err(|problems| format!("password: {}", problems.join(" ")))?;

    let ctx = context(settings)?;
    let registration = services::users::Registration {
        username,
        email,
        password,
        is_staff: true,
        is_superuser: true,
        email_verified: true,
    };
    match services::users::register(&ctx, registration) {
        Ok((user, _)) => {
            println!("Superuser {} created (id {}).", user.username, user.id);
            Ok(())
        }
        Err(ServiceError::Conflict(errors)) => {
            Err(errors.into_values().flatten().collect::<Vec<_>>().join(" "))
        }
        Err(other) => Err(other.to_string()),
    }
}

fn superuser_password() -> Result<String, String> {
    if let Ok(password) = std::env::var("PORTRAIT_SUPERUSER_PASSWORD") {
        if !password.is_empty() {
            return Ok(password);
        }
    }
    if !std::io::stdin().is_terminal() {
        return Err("set PORTRAIT_SUPERUSER_PASSWORD, or run in a terminal to be prompted".into());
    }
    let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
    let again = rpassword::prompt_password("Password (again): ").map_err(|e| e.to_string())?;
    if first != again {
        return Err("the two passwords differ".into());
    }
    Ok(first)
}
