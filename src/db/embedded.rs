//! The project-local PostgreSQL cluster used when no `DATABASE_URL` is set.
//!
//! It lives under `.ktrdr/` (or `$KTRDR_HOME`): `pgdata/` (the cluster), `postgres.log`, `port`.
//! It is created with the machine's own `initdb` and run with `pg_ctl`, listening on 127.0.0.1 only,
//! with trust authentication for the `ktrdr` superuser and a `ktrdr` database. Creating and starting
//! are serialised by a file lock, so several processes starting together set it up once. PostgreSQL
//! refuses to run as root; when we are root, the server runs as the `postgres` system user.

use std::{
    ffi::CString,
    fs::{self, File},
    io::{Read, Seek, SeekFrom},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use crate::{Error, Result};

/// Name of the project-local directory that holds the cluster.
pub const HOME_DIR_NAME: &str = ".ktrdr";
const SUPERUSER: &str = "ktrdr";
const DATABASE: &str = "ktrdr";
const INITIALIZED_MARKER: &str = "initialized";

/// How a restart stops the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// Running transactions are rolled back, a checkpoint is written.
    Fast,
    /// Processes quit at once without a checkpoint, as in a crash; the start runs crash recovery.
    Immediate,
}

#[derive(Debug, Clone)]
pub struct EmbeddedCluster {
    home: PathBuf,
    bin_dir: PathBuf,
    ephemeral: bool,
}

/// What `status()` reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterState {
    NotInitialized,
    Stopped,
    Running,
}

impl EmbeddedCluster {
    /// The cluster of this project: `$KTRDR_HOME`, else the nearest `.ktrdr/` in the working directory
    /// or one of its parents, else `./.ktrdr`.
    pub fn locate() -> Result<Self> {
        Self::at(project_home()?)
    }

    /// A cluster kept under `home`.
    pub fn at(home: PathBuf) -> Result<Self> {
        Ok(Self {
            home,
            bin_dir: find_server_binaries()?,
            ephemeral: false,
        })
    }

    /// A throw-away cluster for tests: no fsync, so it is quick to create and fast to write, and
    /// loses its data in a machine crash (never in a `pg_ctl restart`).
    pub fn ephemeral(home: PathBuf) -> Result<Self> {
        Ok(Self {
            ephemeral: true,
            ..Self::at(home)?
        })
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home.join("pgdata")
    }

    pub fn log_file(&self) -> PathBuf {
        self.home.join("postgres.log")
    }

    /// The port chosen when the cluster was created.
    pub fn port(&self) -> Result<u16> {
        let path = self.home.join("port");
        let text = fs::read_to_string(&path).map_err(|_| {
            Error::Embedded(format!(
                "no cluster at {} yet (run `ktrdr db up`)",
                self.home.display()
            ))
        })?;
        text.trim()
            .parse()
            .map_err(|_| Error::Embedded(format!("{} does not hold a port number", path.display())))
    }

    /// URL of the `ktrdr` database.
    pub fn url(&self) -> Result<String> {
        Ok(format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{DATABASE}",
            self.port()?
        ))
    }

    pub fn status(&self) -> Result<ClusterState> {
        if !self.data_dir().join("PG_VERSION").exists() {
            return Ok(ClusterState::NotInitialized);
        }
        let output = self.run("pg_ctl", &["status", "-D", &self.data_dir_arg()])?;
        // pg_ctl status: 0 running, 3 not running.
        Ok(if output.status.success() {
            ClusterState::Running
        } else {
            ClusterState::Stopped
        })
    }

    /// Creates the cluster if needed, starts it if stopped, and returns the database URL.
    pub fn ensure_running(&self) -> Result<String> {
        fs::create_dir_all(&self.home).map_err(|err| {
            Error::Embedded(format!("cannot create {}: {err}", self.home.display()))
        })?;
        let _lock = self.lock()?;
        if self.status()? == ClusterState::NotInitialized {
            self.initialize()?;
        }
        if self.status()? != ClusterState::Running {
            self.pg_ctl_checked(&["start", "-w", "-t", "60", "-l", &self.log_file_arg()])?;
        }
        if !self.home.join(INITIALIZED_MARKER).exists() {
            self.create_database()?;
        }
        self.url()
    }

    /// Stops the server (fast shutdown: running transactions are rolled back).
    pub fn stop(&self) -> Result<()> {
        let _lock = self.lock()?;
        if self.status()? == ClusterState::Running {
            self.pg_ctl_checked(&["stop", "-w", "-m", "fast"])?;
        }
        Ok(())
    }

    /// Restarts the server (`pg_ctl restart`); every connection is dropped.
    pub fn restart(&self, shutdown: Shutdown) -> Result<()> {
        let _lock = self.lock()?;
        let mode = match shutdown {
            Shutdown::Fast => "fast",
            Shutdown::Immediate => "immediate",
        };
        self.pg_ctl_checked(&["restart", "-w", "-m", mode, "-l", &self.log_file_arg()])
    }

    fn initialize(&self) -> Result<()> {
        let data_dir = self.data_dir();
        fs::create_dir_all(&data_dir).map_err(|err| {
            Error::Embedded(format!("cannot create {}: {err}", data_dir.display()))
        })?;
        fs::write(self.log_file(), b"").map_err(|err| {
            Error::Embedded(format!(
                "cannot create {}: {err}",
                self.log_file().display()
            ))
        })?;
        if running_as_root() {
            let owner = postgres_system_user()?;
            for path in [&data_dir, &self.log_file()] {
                std::os::unix::fs::chown(path, Some(owner.0), Some(owner.1)).map_err(|err| {
                    Error::Embedded(format!("cannot hand {} to postgres: {err}", path.display()))
                })?;
            }
        }
        let mut args = vec![
            "-D",
            data_dir.to_str().expect("utf-8 path"),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ];
        if self.ephemeral {
            args.push("--no-sync");
        }
        let output = self.run("initdb", &args)?;
        if !output.status.success() {
            return Err(Error::Embedded(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let port = choose_port(&self.home)?;
        let mut settings = format!(
            "\n# ktrdr embedded cluster\nport = {port}\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\nmax_connections = 200\n"
        );
        if self.ephemeral {
            settings.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        }
        let conf = data_dir.join("postgresql.conf");
        let mut current = fs::read_to_string(&conf)
            .map_err(|err| Error::Embedded(format!("cannot read {}: {err}", conf.display())))?;
        current.push_str(&settings);
        fs::write(&conf, current)
            .and_then(|_| fs::write(self.home.join("port"), port.to_string()))
            .map_err(|err| Error::Embedded(format!("cannot write cluster settings: {err}")))?;
        Ok(())
    }

    fn create_database(&self) -> Result<()> {
        let port = self.port()?.to_string();
        let output = self.run(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", SUPERUSER, DATABASE],
        )?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() && !stderr.contains("already exists") {
            return Err(Error::Embedded(format!(
                "createdb failed: {}",
                stderr.trim()
            )));
        }
        fs::write(self.home.join(INITIALIZED_MARKER), b"")
            .map_err(|err| Error::Embedded(format!("cannot write marker: {err}")))
    }

    fn pg_ctl_checked(&self, args: &[&str]) -> Result<()> {
        let mut full = vec![args[0], "-D"];
        let data_dir = self.data_dir_arg();
        full.push(&data_dir);
        full.extend_from_slice(&args[1..]);
        let output = self.run("pg_ctl", &full)?;
        if output.status.success() {
            return Ok(());
        }
        Err(Error::Embedded(format!(
            "pg_ctl {} failed: {}\n--- last lines of {} ---\n{}",
            args[0],
            String::from_utf8_lossy(&output.stderr).trim(),
            self.log_file().display(),
            tail_of(&self.log_file(), 2000)
        )))
    }

    /// Runs a server binary, as the `postgres` system user when we are root.
    fn run(&self, program: &str, args: &[&str]) -> Result<Output> {
        let binary = self.bin_dir.join(program);
        let mut command = if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&binary);
            command
        } else {
            Command::new(&binary)
        };
        command
            .args(args)
            .output()
            .map_err(|err| Error::Embedded(format!("cannot run {}: {err}", binary.display())))
    }

    fn lock(&self) -> Result<File> {
        let path = self.home.join("lock");
        let file = File::create(&path)
            .map_err(|err| Error::Embedded(format!("cannot open {}: {err}", path.display())))?;
        file.lock()
            .map_err(|err| Error::Embedded(format!("cannot lock {}: {err}", path.display())))?;
        Ok(file)
    }

    fn data_dir_arg(&self) -> String {
        self.data_dir().to_string_lossy().into_owned()
    }

    fn log_file_arg(&self) -> String {
        self.log_file().to_string_lossy().into_owned()
    }
}

/// The project's local state directory: `$KTRDR_HOME`, else the nearest `.ktrdr/` in the working
/// directory or one of its parents, else `./.ktrdr`. Holds the embedded cluster and worker outboxes.
pub fn project_home() -> Result<PathBuf> {
    if let Some(home) = std::env::var_os("KTRDR_HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(home));
    }
    let cwd = std::env::current_dir()
        .map_err(|err| Error::Embedded(format!("cannot read the working directory: {err}")))?;
    Ok(cwd
        .ancestors()
        .map(|dir| dir.join(HOME_DIR_NAME))
        .find(|candidate| candidate.is_dir())
        .unwrap_or_else(|| cwd.join(HOME_DIR_NAME)))
}

/// The path of a PostgreSQL program (pgbench, psql …) from the same installation the embedded
/// cluster uses.
pub fn server_program(name: &str) -> Result<PathBuf> {
    let path = find_server_binaries()?.join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::Embedded(format!("{} not found", path.display())))
    }
}

/// The directory holding initdb and pg_ctl: `$KTRDR_PG_BIN`, `pg_config --bindir`, the newest
/// `/usr/lib/postgresql/*/bin` (Debian), or the directory of `initdb` on PATH.
fn find_server_binaries() -> Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("KTRDR_PG_BIN").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        return if has_server(&dir) {
            Ok(dir)
        } else {
            Err(Error::Config(format!(
                "KTRDR_PG_BIN={} does not contain initdb and pg_ctl",
                dir.display()
            )))
        };
    }
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if output.status.success() && has_server(&dir) {
            return Ok(dir);
        }
    }
    let mut debian: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_server(dir))
        .collect();
    debian.sort();
    if let Some((_, dir)) = debian.pop() {
        return Ok(dir);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .find(|dir| has_server(dir))
        .ok_or_else(|| {
            Error::Embedded(
                "no PostgreSQL server binaries (initdb, pg_ctl) found: install PostgreSQL \
                 (Debian: apt-get install postgresql), set KTRDR_PG_BIN, or set DATABASE_URL"
                    .into(),
            )
        })
}

/// `$KTRDR_EMBEDDED_PORT`, or a free port derived from the cluster's path (so two projects on one
/// machine do not collide).
fn choose_port(home: &Path) -> Result<u16> {
    if let Ok(raw) = std::env::var("KTRDR_EMBEDDED_PORT") {
        return crate::config::parse_number("KTRDR_EMBEDDED_PORT", raw.trim(), 1024..=65535);
    }
    let seed = home
        .to_string_lossy()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3)
        });
    let first = 20_000 + (seed % 20_000) as u16;
    (0..200)
        .map(|offset| first + offset)
        .find(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok())
        .ok_or_else(|| Error::Embedded(format!("no free port found from {first}")))
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// (uid, gid) of the `postgres` system user.
fn postgres_system_user() -> Result<(u32, u32)> {
    let name = CString::new("postgres").expect("no NUL");
    // SAFETY: getpwnam reads a NUL-terminated name and returns a pointer to static storage or null;
    // we copy the two fields out at once.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return Err(Error::Embedded(
            "running as root, but there is no 'postgres' system user to run the server as \
             (PostgreSQL refuses root): install Debian's postgresql package or set DATABASE_URL"
                .into(),
        ));
    }
    // SAFETY: entry is non-null and points to a valid passwd record.
    Ok(unsafe { ((*entry).pw_uid, (*entry).pw_gid) })
}

/// The last `bytes` bytes of a text file, for error messages.
fn tail_of(path: &Path, bytes: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(bytes)));
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    text
}
