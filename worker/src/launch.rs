//! What both worker binaries do once started: logging, settings from the flags and environment
//! (one line naming what is wrong), the database (waited for, migrated unless `--no-migrate`),
//! then the claim loop with the binary's [`Jobs`] until SIGTERM/SIGINT.
//!
//! `ktrdr-worker` runs the kinds that need no libtorch and starts in milliseconds; asked for a
//! training or backtesting type it becomes `ktrdr-worker-torch` (see [`exec_torch_worker`]), so
//! that a plain `ktrdr-worker --types training` works as it always did.

use std::{os::unix::process::CommandExt, path::PathBuf, process::ExitCode};

use anyhow::Context;

use crate::{
    jobs::{Jobs, TYPES},
    runner,
    settings::{Args, WorkerSettings},
};

/// The binary that runs the libtorch kinds, looked for beside `ktrdr-worker`.
pub const TORCH_WORKER: &str = "ktrdr-worker-torch";

/// Runs a worker binary: `jobs` are the kinds it can run; `before_start` sees the validated
/// settings before anything connects (the libtorch binary sets its thread count there).
pub fn main(args: Args, jobs: Jobs, before_start: impl FnOnce(&WorkerSettings)) -> ExitCode {
    if let Err(err) = ktrdr::logging::init("info,sqlx=warn,refinery_core=warn") {
        return ktrdr::logging::exit_code(Err(err));
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => return ktrdr::logging::exit_code(Err(err)),
    };
    ktrdr::logging::exit_code(runtime.block_on(run(args, jobs, before_start)))
}

async fn run(
    args: Args,
    jobs: Jobs,
    before_start: impl FnOnce(&WorkerSettings),
) -> anyhow::Result<()> {
    let settings = WorkerSettings::from_args(&args)?;
    before_start(&settings);
    let url = ktrdr::db::resolve_database_url()?;
    if ktrdr::config::database_url_from_env().is_none() {
        tracing::info!(
            "using the embedded PostgreSQL cluster ({}); set DATABASE_URL for another server",
            ktrdr::RedactedUrl(&url)
        );
    }
    let pool = ktrdr::db::wait_until_reachable(&url, settings.startup_timeout).await?;
    if !args.no_migrate {
        ktrdr::db::migrate(&pool).await?;
    }
    runner::run(pool, settings, jobs).await
}

/// Whether `args` ask for a worker type that `jobs`, this binary's, do not run: one that only
/// [`TORCH_WORKER`] runs. (A type no worker runs is refused by the settings, here.)
pub fn needs_torch(args: &Args, jobs: &Jobs) -> bool {
    args.types
        .iter()
        .any(|t| TYPES.contains(&t.as_str()) && !jobs.runs(t))
}

/// Replaces this process with [`TORCH_WORKER`] from this binary's directory, with the same
/// arguments and environment (same pid, so signals and supervisors see no difference). Returns
/// only when that fails.
pub fn exec_torch_worker() -> anyhow::Error {
    let torch_worker = match torch_worker_path() {
        Ok(path) => path,
        Err(err) => return err,
    };
    let err = std::process::Command::new(&torch_worker)
        .args(std::env::args_os().skip(1))
        .exec();
    anyhow::anyhow!(
        "training and backtesting run in {TORCH_WORKER}, which could not be started from {}: {err} \
         (build it with `cargo build -p ktrdr-worker-torch`, and keep it beside ktrdr-worker)",
        torch_worker.display()
    )
}

fn torch_worker_path() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating ktrdr-worker's own binary")?;
    Ok(exe.with_file_name(TORCH_WORKER))
}
