//! The computations a worker runs. A job gets its params and a [`JobContext`] (report progress, learn
//! that it must stop) and ends with a [`JobOutcome`]; it never touches the database itself — the
//! attempt around it (see `attempt.rs`) does all fenced writes.

pub(crate) mod backtesting;
pub(crate) mod checkpointing;
mod dummy;
pub(crate) mod training;

use chrono::{DateTime, Utc};
use ktrdr::{
    market_data::{self, Bar, Timeframe},
    operations::{Lease, Progress},
};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::watch;

/// Why a job is asked to stop early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    None,
    /// The user cancelled the operation.
    Cancel,
    /// The worker is shutting down.
    Shutdown,
}

pub enum JobOutcome {
    Completed(Value),
    Failed {
        message: String,
        retryable: bool,
    },
    Stopped(StopRequest),
    /// Stopped after saving a checkpoint to resume from.
    StoppedAtCheckpoint(StopRequest),
}

impl JobOutcome {
    /// A failure that trying again cannot mend (bad params, corrupt input).
    pub fn fatal(message: impl Into<String>) -> Self {
        JobOutcome::Failed {
            message: message.into(),
            retryable: false,
        }
    }

    /// A failure from the library: retryable when the error may heal by itself (the database
    /// away), fatal otherwise.
    pub fn from_error(context: &str, err: ktrdr::Error) -> Self {
        JobOutcome::Failed {
            message: format!("{context}: {err}"),
            retryable: err.is_transient(),
        }
    }
}

/// The bars an operation runs on, or the outcome to end with: none stored in the range, or the
/// database could not be read.
pub async fn load_bars(
    ctx: &JobContext,
    symbol: &str,
    timeframe: Timeframe,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Result<Vec<Bar>, JobOutcome> {
    match market_data::load(&ctx.pool, symbol, timeframe, start, end).await {
        Ok(bars) if bars.is_empty() => Err(JobOutcome::fatal(market_data::no_bars_message(
            symbol, timeframe,
        ))),
        Ok(bars) => Ok(bars),
        Err(err) => Err(JobOutcome::from_error("cannot load market data", err)),
    }
}

pub struct JobContext {
    /// The attempt's fencing token, for fenced writes such as checkpoints.
    pub lease: Lease,
    /// For jobs that read inputs (market data, models) or write artifacts.
    pub pool: PgPool,
    progress: watch::Sender<Progress>,
    stop: watch::Receiver<StopRequest>,
}

impl JobContext {
    pub fn new(
        lease: Lease,
        pool: PgPool,
        progress: watch::Sender<Progress>,
        stop: watch::Receiver<StopRequest>,
    ) -> Self {
        Self {
            lease,
            pool,
            progress,
            stop,
        }
    }

    pub fn report(&self, progress: Progress) {
        self.progress.send_replace(progress);
    }

    /// A handle for reporting progress from a blocking thread.
    pub fn progress_sender(&self) -> watch::Sender<Progress> {
        self.progress.clone()
    }

    /// Resolves when the job is asked to stop, with the reason.
    pub async fn stop_requested(&mut self) -> StopRequest {
        match self
            .stop
            .wait_for(|request| *request != StopRequest::None)
            .await
        {
            Ok(request) => *request,
            // The attempt dropped its sender: nobody is waiting for this job any more.
            Err(_) => StopRequest::Shutdown,
        }
    }
}

/// Operation types this build can run: the arms of [`run`].
pub const TYPES: &[&str] = &["dummy", "training", "backtesting"];

/// Runs the job for `operation_type` (one of [`TYPES`]: the worker claims no other).
pub async fn run(operation_type: &str, params: &Value, ctx: JobContext) -> JobOutcome {
    match operation_type {
        "dummy" => dummy::run(params, ctx).await,
        "training" => training::run(params, ctx).await,
        "backtesting" => backtesting::run(params, ctx).await,
        other => JobOutcome::Failed {
            message: format!("this worker cannot run operations of type '{other}'"),
            retryable: true,
        },
    }
}
