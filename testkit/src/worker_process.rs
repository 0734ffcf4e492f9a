//! A real `ktrdr-worker` process for a test: its output goes to a log file, printed when the test
//! fails; the process is killed when the value is dropped.

use std::{
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use crate::wait_for;

pub struct WorkerProcess {
    child: Child,
    log: PathBuf,
}

impl WorkerProcess {
    /// Starts the worker binary `program` (a test's `env!("CARGO_BIN_EXE_ktrdr-worker")`) on
    /// `database_url` with `args` and extra environment `env`.
    pub fn spawn(program: &str, database_url: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!("ktrdr-worker-{:016x}.log", rand_suffix()));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(program)
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("KTRDR_LOG", "info,sqlx=warn,refinery_core=warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .expect("the worker binary starts");
        Self { child, log }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid());
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let log = self.log();
        let child = &mut self.child;
        wait_for(
            &format!("the worker to exit; its log:\n{log}"),
            limit,
            || {
                let status = child.try_wait().expect("try_wait");
                async move { status }
            },
        )
        .await
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- worker log ---\n{}", self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id()) << 32
}
