//! The command line: `serve` (the default), `migrate`, `createsuperuser`,
//! `openapi`. Each command loads settings, does one thing and exits with a
//! status a script can trust (0 success, 1 failure, 2 bad settings or
//! usage). A superuser is created through the same save path as the API's
//! registration, so its profile comes from the same signal.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::auth::password::PasswordHasher;
use crate::domain::{Email, Password, Username};
use crate::error::ServiceError;
use crate::media::{LocalMediaStorage, MediaStorage};
use crate::settings::Settings;
use crate::signals::Signals;
use crate::startup::Application;
use crate::{db, receivers, services, telemetry};

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
}

pub fn main() -> ExitCode {
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
                Command::Migrate => migrate(&settings),
                Command::Createsuperuser { username, email } => {
                    create_superuser(&settings, &username, &email)
                }
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
    let bind_addr = settings.bind_addr;
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).map_err(|e| e.to_string())?;
        tracing::info!(%bind_addr, port = app.port(), "portrait is serving");
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

fn migrate(settings: &Settings) -> Result<(), String> {
    let mut conn = db::establish(&settings.database_url).map_err(|e| e.to_string())?;
    let applied = db::run_migrations(&mut conn).map_err(|e| e.to_string())?;
    println!("Applied {applied} migration(s).");
    Ok(())
}

fn create_superuser(settings: &Settings, username: &str, email: &str) -> Result<(), String> {
    let username = Username::parse(username).map_err(|e| format!("username: {e}"))?;
    let email = Email::parse(email).map_err(|e| format!("email: {e}"))?;
    let raw_password = superuser_password()?;
    let password = Password::parse(
        &raw_password,
        username.as_str(),
        settings.max_password_length,
    )
    .map_err(|problems| format!("password: {}", problems.join(" ")))?;

    let mut conn = db::establish(&settings.database_url).map_err(|e| e.to_string())?;
    db::run_migrations(&mut conn).map_err(|e| e.to_string())?;
    let media: std::sync::Arc<dyn MediaStorage> = std::sync::Arc::new(LocalMediaStorage::new(
        &settings.media_root,
        &settings.media_url,
    ));
    let mut signals = Signals::default();
    receivers::connect_default_receivers(&mut signals, media);

    let hash = PasswordHasher::new()
        .hash(password.expose())
        .map_err(|e| e.to_string())?;
    let registration = services::users::Registration {
        username,
        email,
        password,
        is_staff: true,
        is_superuser: true,
    };
    match services::users::create_user(&mut conn, &signals, &registration, &hash) {
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
