//! A PostgreSQL server of a test's own: initdb in a temp dir, its own port
//! and socket dir, so a test may stop and start it without touching the
//! shared server at 5432.

use std::path::PathBuf;
use std::process::Command;

use tempfile::TempDir;

pub struct PrivatePostgres {
    dir: TempDir,
    bin: PathBuf,
    as_root: bool,
    port: u16,
    pub url: String,
}

impl PrivatePostgres {
    /// `None` when this machine has no PostgreSQL server binaries.
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .find(|bin| bin.join("initdb").exists())?;
        let as_root = Command::new("id")
            .arg("-u")
            .output()
            .ok()
            .is_some_and(|o| o.stdout.starts_with(b"0\n"));
        let dir = tempfile::tempdir().ok()?;
        if as_root {
            // initdb refuses to run as root: the server runs as `postgres`.
            let owned = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .ok()?;
            assert!(owned.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let server = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            bin,
            as_root,
            port,
        };
        let data = server.data_dir();
        assert!(server
            .run(
                "initdb",
                &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]
            )
            .success());
        server.restart();
        Some(server)
    }

    fn data_dir(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::process::ExitStatus {
        let program = self.bin.join(tool);
        let mut command = if self.as_root {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&program);
            command
        } else {
            Command::new(&program)
        };
        command
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("PostgreSQL tools run")
    }

    pub fn restart(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        assert!(self
            .run(
                "pg_ctl",
                &[
                    "-D",
                    &self.data_dir(),
                    "-o",
                    &options,
                    "-l",
                    &log,
                    "-w",
                    "start"
                ]
            )
            .success());
    }

    /// An abrupt stop, as a crash or a network cut looks to the service.
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"],
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
