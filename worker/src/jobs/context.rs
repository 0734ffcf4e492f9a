//! What a running job is given: its lease (for fenced writes such as checkpoints), the pool (to read
//! inputs), the stores to write artifacts and checkpoints to, two progress channels (the latest
//! progress, written at most every half second, and milestones, each written and kept), and the
//! stop request of a cancel or shutdown.

use ktrdr::operations::{Lease, Progress};
use ktrdr_trading::market_data::{self, Bar, BarRange};
use sqlx::PgPool;
use tokio::sync::{mpsc, watch};

use super::{JobEnd, JobResult};
use crate::stores::Stores;

/// Why a job is asked to stop early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    None,
    /// The user cancelled the operation.
    Cancel,
    /// The worker is shutting down.
    Shutdown,
}

pub struct JobContext {
    /// The attempt's fencing token, for fenced writes such as checkpoints.
    pub lease: Lease,
    /// For jobs that read inputs (market data, models).
    pub pool: PgPool,
    /// Where models and checkpoint artifacts go (checked writable when the worker started).
    pub stores: Stores,
    progress: watch::Sender<Progress>,
    milestones: mpsc::UnboundedSender<Progress>,
    stop: watch::Receiver<StopRequest>,
}

impl JobContext {
    pub fn new(
        lease: Lease,
        pool: PgPool,
        stores: Stores,
        progress: watch::Sender<Progress>,
        milestones: mpsc::UnboundedSender<Progress>,
        stop: watch::Receiver<StopRequest>,
    ) -> Self {
        Self {
            lease,
            pool,
            stores,
            progress,
            milestones,
            stop,
        }
    }

    /// The latest progress: only the newest is written, with the heartbeats and at most every
    /// half second, none for an operation that ends sooner.
    pub fn report(&self, progress: Progress) {
        self.progress.send_replace(progress);
    }

    /// A handle for reporting milestones (a training's epochs) from a blocking thread: each one is
    /// written as it comes, in order, and kept in `ktrdr.operation_progress`, so that followers
    /// see every one.
    pub fn milestone_sender(&self) -> MilestoneSender {
        MilestoneSender {
            latest: self.progress.clone(),
            kept: self.milestones.clone(),
        }
    }

    /// The stop request standing now, without waiting.
    pub fn stop_request(&self) -> StopRequest {
        *self.stop.borrow()
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

/// The bars an operation runs on; none stored in the range fails it for good, a database that
/// cannot be read retryably.
pub async fn load_bars(ctx: &JobContext, range: &BarRange<'_>) -> JobResult<Vec<Bar>> {
    match market_data::load(&ctx.pool, range).await {
        Ok(bars) if bars.is_empty() => Err(JobEnd::fatal(market_data::no_bars_message(
            range.symbol,
            range.timeframe,
        ))),
        Ok(bars) => Ok(bars),
        Err(err) => Err(JobEnd::from_error("cannot load market data", err)),
    }
}

/// Reports milestones from any thread.
pub struct MilestoneSender {
    latest: watch::Sender<Progress>,
    kept: mpsc::UnboundedSender<Progress>,
}

impl MilestoneSender {
    /// `milestone` is kept, and is the latest progress too: the heartbeats that follow repeat it
    /// rather than an older one.
    pub fn send(&self, milestone: Progress) {
        self.latest.send_replace(milestone.clone());
        // Refused only when the attempt was abandoned: nobody reads it then.
        let _ = self.kept.send(milestone);
    }
}
