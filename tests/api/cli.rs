//! The command line: createsuperuser, migrate, a bad setting, the
//! container's commands, PostgreSQL over TLS.

use std::process::Command;

use serde_json::Value;

use crate::support::{spawn_app, PASSWORD};

#[tokio::test]
async fn createsuperuser_makes_a_staff_superuser_with_a_profile() {
    let app = spawn_app().await;
    let output = app
        .command()
        .args([
            "createsuperuser",
            "--username",
            "root",
            "--email",
            "root@example.com",
        ])
        .env("PORTRAIT_SUPERUSER_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        app.count_rows("SELECT COUNT(*) AS n FROM users WHERE is_staff AND is_superuser"),
        1
    );
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM profiles"), 1);

    let tokens: Value = app.login("root", PASSWORD).await.json().await.unwrap();
    let me: Value = app
        .get_json("/profile", tokens["access_token"].as_str())
        .await;
    assert_eq!(me["username"], "root");

    let again = app
        .command()
        .args([
            "createsuperuser",
            "--username",
            "ROOT",
            "--email",
            "other@example.com",
        ])
        .env("PORTRAIT_SUPERUSER_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM users"), 1);
}

#[tokio::test]
async fn createsuperuser_refuses_a_weak_password_and_no_password() {
    let app = spawn_app().await;
    let weak = app
        .command()
        .args([
            "createsuperuser",
            "--username",
            "root",
            "--email",
            "root@example.com",
        ])
        .env("PORTRAIT_SUPERUSER_PASSWORD", "123")
        .output()
        .unwrap();
    assert!(!weak.status.success());
    let none = app
        .command()
        .args([
            "createsuperuser",
            "--username",
            "root",
            "--email",
            "root@example.com",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("PORTRAIT_SUPERUSER_PASSWORD"));
    assert_eq!(app.count_rows("SELECT COUNT(*) AS n FROM users"), 0);
}

#[test]
fn a_bad_setting_stops_the_start_with_one_line_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_portrait"))
        .args(["migrate"])
        .env("MAX_UPLOAD_BYTES", "lots")
        .env("DATABASE_URL", "sqlite:///nonexistent-dir/x.db")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("MAX_UPLOAD_BYTES"));
}

#[test]
fn migrate_reports_the_real_cause_of_a_connection_failure() {
    let output = Command::new(env!("CARGO_BIN_EXE_portrait"))
        .args(["migrate"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot connect") && stderr.contains("127.0.0.1"),
        "{stderr}"
    );
}

#[test]
fn the_containers_commands_are_the_ones_the_binary_has() {
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    assert!(dockerfile.contains(r#"CMD ["serve"]"#));
    assert!(dockerfile.contains(r#"CMD ["portrait", "healthcheck"]"#));
    let help = Command::new(env!("CARGO_BIN_EXE_portrait"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for command in [
        "serve",
        "migrate",
        "createsuperuser",
        "openapi",
        "healthcheck",
    ] {
        assert!(help.contains(command), "{command} missing from --help");
    }
}

/// libpq is built with OpenSSL: managed databases that demand TLS work.
/// Runs on the PostgreSQL pass (the server here has ssl = on).
#[tokio::test]
async fn postgres_over_tls_works_when_the_database_is_postgres() {
    let app = spawn_app().await;
    if !app.database_url.starts_with("postgres") {
        return;
    }
    let separator = if app.database_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let output = Command::new(env!("CARGO_BIN_EXE_portrait"))
        .arg("migrate")
        .env(
            "DATABASE_URL",
            format!("{}{separator}sslmode=require", app.database_url),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Replicas share one database: a per-process random secret would sign
/// tokens the others refuse, so PostgreSQL without JWT_SECRET does not
/// serve.
#[test]
fn serving_postgres_needs_a_shared_jwt_secret() {
    let output = Command::new(env!("CARGO_BIN_EXE_portrait"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("JWT_SECRET") && stderr.contains("PostgreSQL"),
        "{stderr}"
    );
}

/// Three replicas starting at once on one empty PostgreSQL database: the
/// migrations are applied once, under an advisory lock, and all three
/// start. Runs on the PostgreSQL pass.
#[test]
fn replicas_starting_together_apply_the_migrations_once() {
    use diesel::{Connection, RunQueryDsl};
    let Ok(admin) = std::env::var("TEST_DATABASE_URL") else {
        return;
    };
    if !admin.starts_with("postgres") {
        return;
    }
    portrait::startup::init_tls();
    let name = format!("portrait_replicas_{}", std::process::id());
    let mut conn = diesel::pg::PgConnection::establish(&admin).unwrap();
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .unwrap();
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    let dir = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_portrait"))
                .arg("migrate")
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("DATABASE_URL", url.as_str())
                .env("MEDIA_ROOT", dir.path().join("media"))
                .env("EMAIL_URL", format!("file://{}", dir.path().display()))
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect();
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .unwrap()
        .count() as i64;
    let applied = {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut replica = diesel::pg::PgConnection::establish(url.as_str()).unwrap();
        diesel::sql_query("SELECT COUNT(*) AS n FROM __diesel_schema_migrations")
            .load::<Count>(&mut replica)
            .unwrap()[0]
            .n
    };
    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .unwrap();
    for output in outputs {
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(applied, migrations);
}
