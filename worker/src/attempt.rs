//! The life of one claimed operation on this worker: run its job, heartbeat the lease (renewing it and
//! storing progress), turn a cancel or shutdown into a clean stop, and finish with the fenced call
//! that fits the outcome. A database outage does not stop the computation: heartbeats are retried on
//! their timer and the final report waits in the outbox until the database answers. When the
//! database says this attempt is stale, the job is dropped and nothing more is written.
//!
//! The job's slot is freed when the job ends, not when its outcome is written: a completion goes to
//! the [`Reporter`]'s next batch while the slot already runs the next operation.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use ktrdr::operations::{ClaimedOperation, HeartbeatVerdict, Lease, Outcome, Progress, Reported};
use sqlx::PgPool;
use tokio::{
    sync::{Notify, mpsc, watch},
    time::Instant,
};

use crate::{
    jobs::{JobContext, JobEnd, JobResult, Jobs, StopRequest},
    outbox::Report,
    reporter::Reporter,
    settings::{OnShutdown, WorkerSettings},
    stores::Stores,
};

/// Progress is written with the heartbeats, and at most this often in between when it changes —
/// the first time this long after the start, so an operation that ends sooner writes none.
const PROGRESS_MIN_INTERVAL: Duration = Duration::from_millis(500);

/// How long the last progress of a failed or stopped job may take to write.
const LAST_PROGRESS_WAIT: Duration = Duration::from_secs(2);

/// A job that ends sooner is not logged on its own at info level: it is counted in the worker's
/// periodic summary (its claim and completion are debug lines). One still running this long gets a
/// "running" line, and so its completion a "reported" line too. Two lines per operation cost a fifth of the worker's CPU
/// at thousands of short operations a second, and said little that `ktrdr ops` does not.
pub const QUIET_JOB: Duration = Duration::from_secs(1);

/// What every attempt of one worker shares.
pub struct Shared {
    pub pool: PgPool,
    pub settings: Arc<WorkerSettings>,
    pub reporter: Reporter,
    /// Where jobs write, proven writable at start.
    pub stores: Stores,
    /// The job kinds this binary runs.
    pub jobs: Jobs,
    /// Completions of jobs shorter than [`QUIET_JOB`] since the last summary line.
    pub quiet_completions: AtomicU64,
}

/// One of the worker's `--concurrency` slots, held while a job computes. Dropping it tells the claim
/// loop that the slot is free and how long the job ran.
pub struct JobSlot {
    freed: mpsc::UnboundedSender<Duration>,
    taken_at: Instant,
}

impl JobSlot {
    pub fn take(freed: &mpsc::UnboundedSender<Duration>) -> Self {
        Self {
            freed: freed.clone(),
            taken_at: Instant::now(),
        }
    }
}

impl Drop for JobSlot {
    fn drop(&mut self) {
        let _ = self.freed.send(self.taken_at.elapsed());
    }
}

/// Runs `claimed` to its end in `slot`. `check_now` is poked when a cancel notification names the
/// operation (heartbeat at once to learn the verdict); `shutdown` turns true when the worker is
/// stopping.
pub async fn run(
    shared: Arc<Shared>,
    claimed: ClaimedOperation,
    slot: JobSlot,
    check_now: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Shared {
        pool,
        settings,
        reporter,
        stores,
        ..
    } = &*shared;
    let ClaimedOperation {
        lease,
        operation_type,
        params,
        max_attempts,
        ..
    } = claimed;
    let attempts_left = lease.attempt < max_attempts;
    let (progress_tx, mut progress_rx) = watch::channel(Progress::default());
    let (milestone_tx, mut milestone_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = watch::channel(StopRequest::None);
    let mut job = tokio::spawn({
        let ctx = JobContext::new(
            lease.clone(),
            pool.clone(),
            stores.clone(),
            progress_tx,
            milestone_tx,
            stop_rx,
        );
        let shared = shared.clone();
        async move { shared.jobs.run(&operation_type, params, ctx).await }
    });

    let lease_seconds = settings.lease.orphan_timeout_seconds;
    // The claim itself just started the lease: the first heartbeat is one interval away. (Not
    // `interval()` and a first tick: that tick waits for the timer's next millisecond, which
    // for a short job is longer than the job.)
    let period = settings.heartbeat_interval();
    let mut heartbeat = tokio::time::interval_at(Instant::now() + period, period);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut progress_dirty = false;
    let mut written_at = Instant::now();
    // One timer for the whole attempt (not one per turn of the loop): when it fires, the job is
    // a long one and gets its own log lines.
    let announce = tokio::time::sleep(QUIET_JOB);
    tokio::pin!(announce);
    let mut announced = false;

    let outcome = loop {
        let beat = tokio::select! {
            outcome = &mut job => break outcome,
            Some(milestone) = milestone_rx.recv() => Beat::Milestone(milestone),
            _ = heartbeat.tick() => Beat::Latest,
            _ = check_now.notified() => Beat::Latest,
            _ = tokio::time::sleep_until(written_at + PROGRESS_MIN_INTERVAL), if progress_dirty => Beat::Latest,
            Ok(()) = progress_rx.changed() => { progress_dirty = true; Beat::None }
            _ = &mut announce, if !announced => {
                announced = true;
                tracing::info!(operation_id = %lease.operation_id, attempt = lease.attempt, "running");
                Beat::None
            }
            Ok(()) = shutdown.changed(), if *stop_tx.borrow() == StopRequest::None => {
                let _ = stop_tx.send(StopRequest::Shutdown);
                Beat::None
            }
        };
        let verdict = match beat {
            Beat::None => continue,
            Beat::Latest => {
                let progress = progress_rx.borrow_and_update().clone();
                (progress_dirty, written_at) = (false, Instant::now());
                lease.heartbeat(pool, lease_seconds, &progress).await
            }
            Beat::Milestone(milestone) => {
                written_at = Instant::now();
                // The milestone is the latest progress too, unless the job reported since.
                if *progress_rx.borrow() == milestone {
                    progress_rx.borrow_and_update();
                    progress_dirty = false;
                }
                lease.record_progress(pool, lease_seconds, &milestone).await
            }
        };
        if verdict.is_ok() {
            ktrdr::db::outage::reached();
        }
        match verdict {
            Ok(HeartbeatVerdict::Continue) => {}
            Ok(HeartbeatVerdict::Cancel) => {
                if *stop_tx.borrow() == StopRequest::None {
                    tracing::info!(operation_id = %lease.operation_id, "cancel requested: stopping");
                    let _ = stop_tx.send(StopRequest::Cancel);
                }
            }
            Ok(HeartbeatVerdict::Stop) => {
                tracing::warn!(
                    operation_id = %lease.operation_id, attempt = lease.attempt,
                    "heartbeat refused: this attempt is stale; abandoning the operation"
                );
                job.abort();
                return;
            }
            Err(err) if err.is_transient() => {
                ktrdr::db::outage::failed("heartbeat (the operations keep running)", &err)
            }
            Err(err) => tracing::warn!(
                operation_id = %lease.operation_id,
                "heartbeat failed (will retry, the operation keeps running): {err}"
            ),
        }
    };

    drop(slot);
    let ended = outcome.unwrap_or_else(|panic| Err(JobEnd::crashed("the job", panic)));
    if let Some(last) = write_last_milestones(&lease, pool, lease_seconds, &mut milestone_rx).await
        && *progress_rx.borrow() == last
    {
        progress_rx.borrow_and_update();
        progress_dirty = false;
    }
    // A failed or stopped operation shows how far it got: write the job's last progress if it is
    // not written yet — briefly, since the outcome must not wait on a database that is away.
    let unwritten = progress_dirty || progress_rx.has_changed().unwrap_or(false);
    if unwritten && ended.is_err() {
        let progress = progress_rx.borrow_and_update().clone();
        let write = lease.heartbeat(pool, lease_seconds, &progress);
        if !matches!(
            tokio::time::timeout(LAST_PROGRESS_WAIT, write).await,
            Ok(Ok(_))
        ) {
            tracing::warn!(operation_id = %lease.operation_id, "last progress not written");
        }
    }
    let outcome = outcome_of(ended, settings.on_shutdown, attempts_left);
    // A completion goes in the next batch; if that batch is not written, it is reported alone,
    // through the outbox if need be, like every other outcome.
    if let Outcome::Completed(result) = &outcome
        && let Some(answer) = reporter.complete(&lease, result).await
    {
        // Short (never announced): counted for the summary, its own line only at debug level.
        if answer == Reported::Completed && !announced {
            shared.quiet_completions.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(operation_id = %lease.operation_id, ?answer, "reported");
            return;
        }
        return log_reported(&lease, answer);
    }
    report(pool, settings, &lease, outcome, &check_now).await;
}

/// The one report a job's end makes: its result, its failure, or — stopped — cancelled or handed
/// back to the queue.
///
/// A cancel cancels. A shutdown of this worker never throws a retry away: the operation goes back
/// to pending (its attempt not counted) unless `--on-shutdown cancel` is set and cancelling loses
/// nothing — a checkpoint to `ktrdr resume` from, and no attempt left for another worker.
fn outcome_of(
    ended: JobResult<serde_json::Value>,
    on_shutdown: OnShutdown,
    attempts_left: bool,
) -> Outcome {
    let cancel_at_shutdown = on_shutdown == OnShutdown::Cancel && !attempts_left;
    match ended {
        Ok(result) => Outcome::Completed(result),
        Err(JobEnd::Failed { message, retryable }) => Outcome::Failed { message, retryable },
        Err(
            JobEnd::Stopped(StopRequest::Cancel) | JobEnd::StoppedAtCheckpoint(StopRequest::Cancel),
        ) => Outcome::Cancelled { message: None },
        Err(JobEnd::StoppedAtCheckpoint(StopRequest::Shutdown)) if cancel_at_shutdown => {
            Outcome::Cancelled {
                message: Some("Graceful shutdown - checkpoint saved".into()),
            }
        }
        Err(JobEnd::Stopped(_) | JobEnd::StoppedAtCheckpoint(_)) => Outcome::Released {
            message: "Graceful shutdown - requeued".into(),
        },
    }
}

/// Writes the outcome with the fitting fenced call. While the database is unreachable the outcome
/// waits in the outbox (so a restart of this worker does not lose it) and delivery is retried with
/// backoff (1 s doubling to 30 s) — or at once when `check_now` is poked (the database is back).
/// An outcome the database refuses stays in the outbox for a later start or reconnection.
pub async fn report(
    pool: &PgPool,
    settings: &WorkerSettings,
    lease: &Lease,
    outcome: Outcome,
    check_now: &Notify,
) {
    let outbox = &settings.outbox;
    let report = Report {
        lease: lease.clone(),
        outcome,
    };
    let id = &lease.operation_id;
    let mut delay = Duration::from_secs(1);
    let mut in_outbox = false;
    loop {
        match lease.report(pool, &report.outcome).await {
            Ok(answer) => {
                ktrdr::db::outage::reached();
                log_reported(lease, answer);
                break;
            }
            Err(err) if err.is_transient() => {
                if !in_outbox {
                    match outbox.store(&report) {
                        Ok(()) => in_outbox = true,
                        Err(store_err) => {
                            tracing::error!(operation_id = %id, "cannot write the outbox: {store_err}")
                        }
                    }
                }
                ktrdr::db::outage::failed("reporting an outcome (kept in the outbox)", &err);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = check_now.notified() => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            Err(err) => {
                // Not an outage: the database refused the write (a revoked privilege, a trigger,
                // a result it cannot store). Retrying now cannot help, and dropping the outcome
                // would lose a finished result: it stays in the outbox, counted in the worker's
                // registry row, and is delivered again on the next start or reconnection.
                let kept = in_outbox || outbox.store(&report).is_ok();
                if kept {
                    let path = outbox.path_of(lease);
                    tracing::error!(
                        operation_id = %id, path = %path.display(),
                        "the database refused the outcome ({err}); it is kept in the outbox"
                    );
                    return;
                }
                tracing::error!(operation_id = %id, "the database refused the outcome ({err}) and the outbox cannot keep it: it is lost");
                break;
            }
        }
    }
    if in_outbox {
        outbox.remove(lease);
    }
}

fn log_reported(lease: &Lease, answer: Reported) {
    let id = &lease.operation_id;
    if answer == Reported::Stale {
        tracing::warn!(
            operation_id = %id, attempt = lease.attempt,
            "outcome refused: this attempt is stale (the operation moved on); abandoning it"
        );
    } else {
        tracing::info!(operation_id = %id, ?answer, "reported");
    }
}

/// What one turn of an attempt's loop writes.
enum Beat {
    None,
    /// A heartbeat with the job's latest progress.
    Latest,
    /// A heartbeat with a milestone, kept.
    Milestone(Progress),
}

/// Milestones the job reported just before it ended are written before its outcome, so that a
/// follower sees every epoch of a completed training — briefly: the outcome must not wait on a
/// database that is away (the rest are dropped at the first write that fails). Returns the last
/// one written.
async fn write_last_milestones(
    lease: &Lease,
    pool: &PgPool,
    lease_seconds: f64,
    milestones: &mut mpsc::UnboundedReceiver<Progress>,
) -> Option<Progress> {
    let mut written = None;
    while let Ok(milestone) = milestones.try_recv() {
        let write = lease.record_progress(pool, lease_seconds, &milestone);
        match tokio::time::timeout(LAST_PROGRESS_WAIT, write).await {
            Ok(Ok(HeartbeatVerdict::Continue | HeartbeatVerdict::Cancel)) => {
                written = Some(milestone)
            }
            _ => {
                tracing::warn!(operation_id = %lease.operation_id, "last progress not written");
                break;
            }
        }
    }
    written
}

#[cfg(test)]
mod tests {
    use ktrdr::operations::Outcome;

    use super::{JobEnd, OnShutdown, StopRequest, outcome_of};

    const REQUEUED: &str = "Graceful shutdown - requeued";

    fn shutdown(checkpoint: bool) -> JobEnd {
        if checkpoint {
            JobEnd::StoppedAtCheckpoint(StopRequest::Shutdown)
        } else {
            JobEnd::Stopped(StopRequest::Shutdown)
        }
    }

    #[test]
    fn a_shutdown_cancels_only_what_can_be_resumed_and_not_retried() {
        // (--on-shutdown, checkpoint saved, attempts left) → cancelled?
        for on_shutdown in [OnShutdown::Cancel, OnShutdown::Requeue] {
            for checkpoint in [true, false] {
                for attempts_left in [true, false] {
                    let outcome = outcome_of(Err(shutdown(checkpoint)), on_shutdown, attempts_left);
                    let cancelled =
                        on_shutdown == OnShutdown::Cancel && checkpoint && !attempts_left;
                    let expected = if cancelled {
                        Outcome::Cancelled {
                            message: Some("Graceful shutdown - checkpoint saved".into()),
                        }
                    } else {
                        Outcome::Released {
                            message: REQUEUED.into(),
                        }
                    };
                    assert_eq!(
                        outcome, expected,
                        "{on_shutdown:?}, checkpoint {checkpoint}, attempts left {attempts_left}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_cancel_cancels_and_other_ends_report_as_they_are() {
        for on_shutdown in [OnShutdown::Cancel, OnShutdown::Requeue] {
            for attempts_left in [true, false] {
                for stopped in [
                    JobEnd::Stopped(StopRequest::Cancel),
                    JobEnd::StoppedAtCheckpoint(StopRequest::Cancel),
                ] {
                    assert_eq!(
                        outcome_of(Err(stopped), on_shutdown, attempts_left),
                        Outcome::Cancelled { message: None }
                    );
                }
                let failed = JobEnd::Failed {
                    message: "boom".into(),
                    retryable: true,
                };
                assert_eq!(
                    outcome_of(Err(failed), on_shutdown, attempts_left),
                    Outcome::Failed {
                        message: "boom".into(),
                        retryable: true
                    }
                );
                let done = serde_json::json!({"ok": 1});
                assert_eq!(
                    outcome_of(Ok(done.clone()), on_shutdown, attempts_left),
                    Outcome::Completed(done)
                );
            }
        }
    }
}
