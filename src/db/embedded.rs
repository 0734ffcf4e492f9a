//! The project-local PostgreSQL cluster used when no `DATABASE_URL` is set.
//!
//! It lives under `.ktrdr/` (or `$KTRDR_HOME`): `pgdata/` (the cluster), `postgres.log`, `port`,
//! `password`. It is created with the machine's own `initdb` and run with `pg_ctl`, listening on
//! 127.0.0.1 only, with password (SCRAM-SHA-256) authentication for the `ktrdr` superuser and a
//! `ktrdr` database. The password is generated at creation and kept in `password`, which only its
//! owner can read (mode 0600); the cluster's URL carries it. A cluster made before passwords (trust
//! authentication in `pg_hba.conf`) is converted on its next start. Creating and starting are
//! serialised by a file lock, so several processes starting together set it up once. PostgreSQL
//! refuses to run as root; when we are root, the server runs as the `postgres` system user.

use std::{
    ffi::CString,
    fs::{self, File, OpenOptions},
    io::{Read, Seek, SeekFrom, Write},
    net::TcpListener,
    os::unix::fs::OpenOptionsExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use rand::{Rng, distr::Alphanumeric};

use crate::{Error, Result};

/// Name of the project-local directory that holds the cluster.
pub const HOME_DIR_NAME: &str = ".ktrdr";
const SUPERUSER: &str = "ktrdr";
const DATABASE: &str = "ktrdr";
const INITIALIZED_MARKER: &str = "initialized";
const PASSWORD_FILE: &str = "password";
/// Length of the generated password: 32 letters and digits, about 190 bits.
const PASSWORD_LENGTH: usize = 32;

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

    /// The file holding the superuser's password (mode 0600).
    pub fn password_file(&self) -> PathBuf {
        self.home.join(PASSWORD_FILE)
    }

    /// URL of the `ktrdr` database, with the password (percent-encoded) once the cluster has one.
    pub fn url(&self) -> Result<String> {
        let mut url = url::Url::parse(&format!(
            "postgres://{SUPERUSER}@127.0.0.1:{}/{DATABASE}",
            self.port()?
        ))
        .expect("a valid URL");
        if let Some(password) = self.password()? {
            url.set_password(Some(&password))
                .expect("a URL with a host takes a password");
        }
        Ok(url.to_string())
    }

    /// The password in [`Self::password_file`], `None` for a cluster made before passwords.
    fn password(&self) -> Result<Option<String>> {
        let path = self.password_file();
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.lines().next().unwrap_or_default().to_string())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(Error::Embedded(format!(
                "cannot read {}: {err}",
                path.display()
            ))),
        }
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
        if self.trusts_logins()? {
            self.convert_to_passwords()?;
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
        let password = self.write_new_password()?;
        // initdb reads the password from a file; when it runs as postgres, from a copy postgres
        // owns (the password file stays readable by its owner only), removed again at once.
        let pwfile = if running_as_root() {
            let copy = self.home.join("password.initdb");
            write_private_file(&copy, &password)?;
            let owner = postgres_system_user()?;
            std::os::unix::fs::chown(&copy, Some(owner.0), Some(owner.1)).map_err(|err| {
                Error::Embedded(format!("cannot hand {} to postgres: {err}", copy.display()))
            })?;
            copy
        } else {
            self.password_file()
        };
        let pwfile_arg = format!("--pwfile={}", pwfile.display());
        let mut args = vec![
            "-D",
            data_dir.to_str().expect("utf-8 path"),
            "-U",
            SUPERUSER,
            "--auth=scram-sha-256",
            &pwfile_arg,
            "--encoding=UTF8",
            "--locale=C",
        ];
        if self.ephemeral {
            args.push("--no-sync");
        }
        let output = self.run("initdb", &args);
        if pwfile != self.password_file() {
            let _ = fs::remove_file(&pwfile);
        }
        let output = output?;
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

    /// Generates a password and writes it to [`Self::password_file`], created with mode 0600 (never
    /// readable by others, not even for a moment).
    fn write_new_password(&self) -> Result<String> {
        let password: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(PASSWORD_LENGTH)
            .map(char::from)
            .collect();
        write_private_file(&self.password_file(), &password)?;
        Ok(password)
    }

    /// Whether `pg_hba.conf` lets anyone in without a password: a cluster made before passwords.
    fn trusts_logins(&self) -> Result<bool> {
        let hba = self.data_dir().join("pg_hba.conf");
        let text = fs::read_to_string(&hba)
            .map_err(|err| Error::Embedded(format!("cannot read {}: {err}", hba.display())))?;
        Ok(text.lines().any(|line| hba_method(line) == Some("trust")))
    }

    /// Converts a running cluster made with trust authentication: gives the superuser a password
    /// (the one in the password file, generated if there is none), switches `pg_hba.conf` to
    /// SCRAM-SHA-256 and restarts the server, which drops its connections. Each step can be
    /// repeated, so a conversion cut short is finished on the next start.
    fn convert_to_passwords(&self) -> Result<()> {
        let password = match self.password()? {
            Some(password) => password,
            None => self.write_new_password()?,
        };
        eprintln!(
            "ktrdr: converting the embedded cluster in {} from trust to password authentication (password in {}); its open connections are dropped",
            self.home.display(),
            self.password_file().display()
        );
        let port = self.port()?.to_string();
        let sql = format!(
            "SET password_encryption = 'scram-sha-256';
ALTER ROLE {SUPERUSER} PASSWORD '{}';
",
            password.replace('\'', "''")
        );
        let args = [
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            SUPERUSER,
            "-d",
            "postgres",
            "-f",
            "-",
        ];
        let output = self.run_client("psql", &args, None, Some(&sql))?;
        if !output.status.success() {
            return Err(Error::Embedded(format!(
                "cannot set the superuser's password: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let hba = self.data_dir().join("pg_hba.conf");
        let text = fs::read_to_string(&hba)
            .map_err(|err| Error::Embedded(format!("cannot read {}: {err}", hba.display())))?;
        let converted: String = text
            .lines()
            .map(|line| match hba_method(line) {
                Some("trust") => {
                    let at = line.rfind("trust").expect("the method is on the line");
                    format!(
                        "{}scram-sha-256{}\n",
                        &line[..at],
                        &line[at + "trust".len()..]
                    )
                }
                _ => format!("{line}\n"),
            })
            .collect();
        fs::write(&hba, converted)
            .map_err(|err| Error::Embedded(format!("cannot write {}: {err}", hba.display())))?;
        self.pg_ctl_checked(&["restart", "-w", "-m", "fast", "-l", &self.log_file_arg()])
    }

    fn create_database(&self) -> Result<()> {
        let port = self.port()?.to_string();
        let password = self.password()?;
        let output = self.run_client(
            "createdb",
            &["-h", "127.0.0.1", "-p", &port, "-U", SUPERUSER, DATABASE],
            password.as_deref(),
            None,
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

    /// Runs a client program (psql, createdb) as ourselves, with `password` in `PGPASSWORD` and
    /// `input` on its standard input.
    fn run_client(
        &self,
        program: &str,
        args: &[&str],
        password: Option<&str>,
        input: Option<&str>,
    ) -> Result<Output> {
        let binary = self.bin_dir.join(program);
        let cannot_run = |err: std::io::Error| {
            Error::Embedded(format!("cannot run {}: {err}", binary.display()))
        };
        let mut command = Command::new(&binary);
        command
            .args(args)
            .env_remove("PGPASSWORD")
            .env_remove("PGPASSFILE")
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(password) = password {
            command.env("PGPASSWORD", password);
        }
        let mut child = command.spawn().map_err(cannot_run)?;
        if let Some(input) = input {
            let mut stdin = child.stdin.take().expect("piped stdin");
            stdin.write_all(input.as_bytes()).map_err(cannot_run)?;
        }
        child.wait_with_output().map_err(cannot_run)
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

/// Writes `text` and a newline to a new file at `path` that only its owner can read: created with
/// mode 0600 (an older file is removed first, so the mode is never a left-over one).
fn write_private_file(path: &Path, text: &str) -> Result<()> {
    let cannot =
        |err: std::io::Error| Error::Embedded(format!("cannot write {}: {err}", path.display()));
    match fs::remove_file(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(cannot(err)),
        _ => {}
    }
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(cannot)?;
    file.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(cannot)
}

/// The authentication method of a `pg_hba.conf` line, `None` for comments, blank lines and
/// includes. The method follows the address (host lines) or the user (local lines); options may
/// follow it.
fn hba_method(line: &str) -> Option<&str> {
    let fields: Vec<&str> = line.split('#').next()?.split_whitespace().collect();
    let method_at = match *fields.first()? {
        "local" => 3,
        kind if kind.starts_with("host") => {
            // An address with a separate netmask takes two fields.
            if fields.get(3).is_some_and(|address| !address.contains('/'))
                && fields
                    .get(4)
                    .is_some_and(|mask| mask.parse::<std::net::IpAddr>().is_ok())
            {
                5
            } else {
                4
            }
        }
        _ => return None,
    };
    fields.get(method_at).copied()
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
