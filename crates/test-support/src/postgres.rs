//! A real PostgreSQL server on 127.0.0.1 for tests: `initdb` and `postgres` from Debian's
//! `postgresql` package (`/usr/lib/postgresql/*/bin`, the newest version there), in a temporary
//! folder, on a free port, with trust authentication on loopback only. It is stopped and its
//! folder removed when the [`PgServer`] is dropped.
//!
//! PostgreSQL refuses to run as root, and CI runs as root: then the server runs as the
//! `postgres` user (which the package creates) through `setpriv`, and the folder is handed to
//! that user. A machine without PostgreSQL fails the test with what to install; it never skips.
//!
//! ```ignore
//! let server = citebot_test_support::postgres::PgServer::start();
//! let url = server.url(); // postgres://postgres@127.0.0.1:PORT/postgres
//! ```

use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The superuser the server is created with; every URL of [`PgServer`] connects as it.
pub const SUPERUSER: &str = "postgres";

/// How long the server may take to accept connections (initdb excluded).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A PostgreSQL server of the test's own, on loopback.
pub struct PgServer {
    /// Holds `data/` (the cluster), the server's log and its Unix socket.
    folder: TempDir,
    bin: PathBuf,
    port: u16,
    server: Child,
}

impl PgServer {
    /// Creates a cluster and starts a server on a free port of 127.0.0.1; panics with what to
    /// do when PostgreSQL is missing or does not start.
    pub fn start() -> PgServer {
        let bin = postgres_bin_dir();
        let as_postgres_user = running_as_root();
        let folder = tempfile::Builder::new()
            .prefix("citebot-pg-")
            .tempdir()
            .unwrap_or_else(|error| panic!("cannot make a folder for PostgreSQL: {error}"));
        if as_postgres_user {
            run_checked(Command::new("chown").arg("postgres:").arg(folder.path()));
        }
        let data = folder.path().join("data");
        let mut initdb = command_as(as_postgres_user, &bin.join("initdb"));
        initdb
            .arg("--pgdata")
            .arg(&data)
            .args(["--username", SUPERUSER, "--auth", "trust"])
            .args(["--encoding", "UTF8", "--no-locale", "--no-sync"]);
        run_checked(&mut initdb);

        // A free port can be taken by someone else before the server binds it: try a few.
        let mut last_log = String::new();
        for _attempt in 0..3 {
            let port = free_port();
            let log = folder.path().join(format!("server-{port}.log"));
            let log_file = fs::File::create(&log)
                .unwrap_or_else(|error| panic!("cannot create {}: {error}", log.display()));
            if as_postgres_user {
                run_checked(Command::new("chown").arg("postgres:").arg(&log));
            }
            let mut postgres = command_as(as_postgres_user, &bin.join("postgres"));
            postgres
                .arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string()])
                // Loopback only, the socket in the test's folder (not /var/run/postgresql).
                .args(["-c", "listen_addresses=127.0.0.1"])
                .arg("-c")
                .arg(format!(
                    "unix_socket_directories={}",
                    folder.path().display()
                ))
                // A throwaway cluster: durability costs time and buys nothing.
                .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
                .args(["-c", "full_page_writes=off"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log_file);
            let mut server = postgres
                .spawn()
                .unwrap_or_else(|error| panic!("cannot start {}: {error}", bin.display()));
            match wait_until_ready(&bin, port, &mut server, &log) {
                Ok(()) => {
                    return PgServer {
                        folder,
                        bin,
                        port,
                        server,
                    }
                }
                Err(log_text) => {
                    last_log = log_text;
                    stop_server(&mut server);
                }
            }
        }
        panic!("PostgreSQL did not start on 127.0.0.1; its log:\n{last_log}");
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`: the superuser on the default database.
    pub fn url(&self) -> String {
        self.database_url(SUPERUSER)
    }

    /// The URL of another database on this server (see [`PgServer::create_database`]).
    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Creates an empty database and returns its URL, so tests sharing one server keep apart.
    pub fn create_database(&self, name: &str) -> String {
        self.psql(&format!("CREATE DATABASE \"{name}\""));
        self.database_url(name)
    }

    /// Runs SQL through `psql` as the superuser on the default database and returns what it
    /// printed (unaligned, tuples only); panics with psql's message when it fails.
    pub fn psql(&self, sql: &str) -> String {
        let output = run_checked(
            Command::new(self.bin.join("psql"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args(["-U", SUPERUSER, "-d", "postgres"])
                .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql]),
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }

    /// Ends every client connection (what a database restart or a network cut does to a
    /// client), so tests can check that connections are opened again.
    pub fn drop_connections(&self) {
        self.psql(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()",
        );
    }

    /// The server's log so far, for a failure message.
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.folder.path().join(format!("server-{}.log", self.port))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        stop_server(&mut self.server);
        // The folder (a TempDir) is removed after this, as the fields drop.
    }
}

/// Waits until the server accepts connections; else returns its log.
fn wait_until_ready(bin: &Path, port: u16, server: &mut Child, log: &Path) -> Result<(), String> {
    let log_text = || fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.try_wait() {
            return Err(format!("(exited with {status})\n{}", log_text()));
        }
        let ready = Command::new(bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
            .args(["-U", SUPERUSER])
            .status()
            .is_ok_and(|status| status.success());
        if ready {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "(not ready after {START_TIMEOUT:?})\n{}",
        log_text()
    ))
}

/// Fast shutdown (SIGINT: clients are disconnected, the server exits cleanly), then a kill if
/// it has not exited within ten seconds. Only this server's own process id is signalled.
fn stop_server(server: &mut Child) {
    if let Ok(Some(_)) = server.try_wait() {
        return;
    }
    // The shell's own `kill`: no procps needed on a minimal machine.
    let _ = Command::new("sh")
        .args(["-c", "kill -INT \"$0\"", &server.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = server.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.kill();
    let _ = server.wait();
}

/// The newest `/usr/lib/postgresql/VERSION/bin` that has `initdb`.
fn postgres_bin_dir() -> PathBuf {
    let root = Path::new("/usr/lib/postgresql");
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    match versions.pop() {
        Some((_, bin)) => bin,
        None => panic!(
            "PostgreSQL is not installed: no initdb under /usr/lib/postgresql/*/bin. Install it with \
             `apt-get install -y --no-install-recommends postgresql` (Debian; .ci/run does this), \
             then run the tests again"
        ),
    }
}

fn running_as_root() -> bool {
    let output = Command::new("id")
        .arg("-u")
        .output()
        .unwrap_or_else(|error| panic!("cannot run `id -u`: {error}"));
    String::from_utf8_lossy(&output.stdout).trim() == "0"
}

/// `program`, run as the `postgres` user when the test runs as root. `setpriv` execs the
/// program itself (no intermediate process), so the child's id is the server's.
fn command_as(as_postgres_user: bool, program: &Path) -> Command {
    if !as_postgres_user {
        return Command::new(program);
    }
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid=postgres",
            "--regid=postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
    command
}

fn run_checked(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .unwrap_or_else(|error| panic!("no free port on 127.0.0.1: {error}"))
}
