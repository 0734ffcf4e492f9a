//! Command-line flags and environment of the worker, validated once at start-up.

use std::time::Duration;

use anyhow::bail;
use clap::Parser;

use crate::outbox::Outbox;
use ktrdr::config::{LeaseSettings, TickerSettings};

/// ktrdr worker: claims operations of its types from PostgreSQL, computes, heartbeats and reports.
#[derive(Debug, Parser)]
#[command(name = "ktrdr-worker", version)]
pub struct Args {
    /// Operation types to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "dummy")]
    pub types: Vec<String>,
    /// Operations run at the same time.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// Operations claimed ahead of free slots, at most: a slot that frees up starts the next one
    /// without a round trip. Only short jobs are buffered (see the worker's claim_ahead docs); 0
    /// claims only for free slots.
    #[arg(long, env = "KTRDR_PREFETCH", default_value_t = 300,
          value_parser = clap::value_parser!(u16).range(0..=10_000))]
    pub prefetch: u16,
    /// Name in the workers table (default: host-pid-random).
    #[arg(long, env = "KTRDR_WORKER_ID")]
    pub worker_id: Option<String>,
    /// How often to look for work when no notification arrives, in milliseconds.
    #[arg(long, env = "KTRDR_POLL_INTERVAL_MS", default_value_t = 2000,
          value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    pub poll_interval_ms: u64,
    /// Do not apply migrations on start.
    #[arg(long)]
    pub no_migrate: bool,
    /// Do not run the maintenance ticker in this worker (e.g. when pg_cron or `ktrdr ticker` does).
    #[arg(long)]
    pub no_ticker: bool,
    /// What SIGTERM/SIGINT does to running operations after their shutdown checkpoint: mark them
    /// cancelled (resume them with `ktrdr resume`), or requeue them for another worker. Operations
    /// without a checkpoint, or with attempts left, are always requeued.
    #[arg(long, value_enum, default_value_t = OnShutdown::Cancel)]
    pub on_shutdown: OnShutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OnShutdown {
    Cancel,
    Requeue,
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub worker_id: String,
    pub types: Vec<String>,
    pub concurrency: usize,
    /// `--prefetch`: most operations claimed ahead of free slots.
    pub prefetch: usize,
    pub poll_interval: Duration,
    pub lease: LeaseSettings,
    /// Settings of the in-process ticker; `None` with `--no-ticker`.
    pub ticker: Option<TickerSettings>,
    /// KTRDR_TORCH_THREADS: libtorch's intra-op threads (default: libtorch's own choice). Fix it for
    /// bit-identical training across machines.
    pub torch_threads: Option<i32>,
    /// Where outcomes wait while the database is unreachable.
    pub outbox: Outbox,
    pub on_shutdown: OnShutdown,
    /// How long to wait for the database at start-up.
    pub startup_timeout: Duration,
    /// How long a graceful shutdown may take before the worker exits anyway.
    pub shutdown_timeout: Duration,
}

impl WorkerSettings {
    pub fn from_args(args: &Args) -> anyhow::Result<Self> {
        let ticker = TickerSettings::from_env()?;
        let lease = ticker.lease;
        for directory in ["KTRDR_ARTIFACTS_PATH", "CHECKPOINT_ARTIFACTS_PATH"] {
            ktrdr::config::ensure_directory_setting(directory)?;
        }
        crate::jobs::research_commands::check().map_err(anyhow::Error::msg)?;
        let mut types = Vec::new();
        for wanted in &args.types {
            let wanted = wanted.trim();
            if !crate::jobs::TYPES.contains(&wanted) {
                bail!(
                    "--types: this worker cannot run '{wanted}' (supported: {})",
                    crate::jobs::TYPES.join(", ")
                );
            }
            if !types.iter().any(|t| t == wanted) {
                types.push(wanted.to_string());
            }
        }
        let worker_id = match &args.worker_id {
            Some(id) if !id.trim().is_empty() => id.trim().to_string(),
            Some(_) => bail!("--worker-id must not be empty"),
            None => default_worker_id(),
        };
        Ok(Self {
            worker_id,
            types,
            concurrency: usize::from(args.concurrency),
            prefetch: usize::from(args.prefetch),
            poll_interval: Duration::from_millis(args.poll_interval_ms),
            lease,
            ticker: (!args.no_ticker).then_some(ticker),
            outbox: Outbox::locate()?,
            on_shutdown: args.on_shutdown,
            torch_threads: match std::env::var("KTRDR_TORCH_THREADS") {
                Ok(raw) if !raw.trim().is_empty() => Some(ktrdr::config::parse_number(
                    "KTRDR_TORCH_THREADS",
                    raw.trim(),
                    1..=256,
                )?),
                _ => None,
            },
            startup_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(25),
        })
    }

    pub fn heartbeat_interval(&self) -> Duration {
        Duration::from_secs_f64(self.lease.heartbeat_interval_seconds)
    }
}

fn default_worker_id() -> String {
    let host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "worker".into());
    format!("{host}-{}-{:04x}", std::process::id(), rand_u16())
}

fn rand_u16() -> u16 {
    // The id only needs to differ between restarts of the same pid; the clock's nanoseconds do.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u16)
        .unwrap_or(0)
}
