//! The life of one claimed operation on this worker: run its job, heartbeat the lease (renewing it and
//! storing progress), turn a cancel or shutdown into a clean stop, and finish with the fenced call
//! that fits the outcome. A database outage does not stop the computation: heartbeats are retried on
//! their timer and the final report is retried with backoff until the database answers. When the
//! database says this attempt is stale, the job is dropped and nothing more is written.

use std::{sync::Arc, time::Duration};

use ktrdr::operations::{
    ClaimedOperation, FailOutcome, FenceVerdict, HeartbeatVerdict, Lease, Progress,
};
use sqlx::PgPool;
use tokio::sync::{Notify, watch};

use crate::{
    jobs::{self, JobContext, JobOutcome, StopRequest},
    settings::WorkerSettings,
};

/// How often progress is written when it changes between heartbeats.
const PROGRESS_FLUSH_INTERVAL: Duration = Duration::from_millis(500);

/// Runs `claimed` to its end. `check_now` is poked when a cancel notification names the operation
/// (heartbeat at once to learn the verdict); `shutdown` turns true when the worker is stopping.
pub async fn run(
    pool: PgPool,
    settings: Arc<WorkerSettings>,
    claimed: ClaimedOperation,
    check_now: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let lease = claimed.lease.clone();
    let (progress_tx, mut progress_rx) = watch::channel(Progress::default());
    let (stop_tx, stop_rx) = watch::channel(StopRequest::None);
    let mut job = tokio::spawn({
        let operation_type = claimed.operation_type.clone();
        let params = claimed.params.clone();
        async move {
            jobs::run(
                &operation_type,
                &params,
                JobContext::new(progress_tx, stop_rx),
            )
            .await
        }
    });

    let lease_seconds = settings.lease.orphan_timeout_seconds;
    let mut heartbeat = tokio::time::interval(settings.heartbeat_interval());
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    heartbeat.tick().await; // the claim itself just started the lease
    let mut flush = tokio::time::interval(PROGRESS_FLUSH_INTERVAL);
    let mut progress_dirty = false;

    let outcome = loop {
        let send_heartbeat = tokio::select! {
            outcome = &mut job => break outcome,
            _ = heartbeat.tick() => true,
            _ = check_now.notified() => true,
            _ = flush.tick() => std::mem::take(&mut progress_dirty),
            Ok(()) = progress_rx.changed() => { progress_dirty = true; false }
            Ok(()) = shutdown.changed(), if *stop_tx.borrow() == StopRequest::None => {
                let _ = stop_tx.send(StopRequest::Shutdown);
                false
            }
        };
        if !send_heartbeat {
            continue;
        }
        let progress = progress_rx.borrow_and_update().clone();
        match lease.heartbeat(&pool, lease_seconds, &progress).await {
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
            Err(err) => tracing::warn!(
                operation_id = %lease.operation_id,
                "heartbeat failed (will retry, the operation keeps running): {err}"
            ),
        }
    };

    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(panic) => JobOutcome::Failed {
            message: format!("the job crashed: {panic}"),
            retryable: true,
        },
    };
    report(&pool, &lease, outcome).await;
}

/// Writes the outcome with the fitting fenced call, retrying with backoff while the database is away.
async fn report(pool: &PgPool, lease: &Lease, outcome: JobOutcome) {
    let id = &lease.operation_id;
    match outcome {
        JobOutcome::Completed(result) => {
            match retry(id, || lease.complete(pool, result.clone())).await {
                Some(FenceVerdict::Ok) => tracing::info!(operation_id = %id, "completed"),
                Some(FenceVerdict::Stop) => stale(lease, "completion"),
                None => {}
            }
        }
        JobOutcome::Failed { message, retryable } => {
            match retry(id, || lease.fail(pool, &message, retryable)).await {
                Some(FailOutcome::Failed) => {
                    tracing::warn!(operation_id = %id, "failed: {message}")
                }
                Some(FailOutcome::Retrying) => {
                    tracing::warn!(operation_id = %id, "failed, will be retried: {message}")
                }
                Some(FailOutcome::Stop) => stale(lease, "failure"),
                None => {}
            }
        }
        JobOutcome::Stopped(request) => {
            let message = match request {
                StopRequest::Shutdown => Some("Worker shutdown"),
                _ => None,
            };
            match retry(id, || lease.mark_cancelled(pool, message)).await {
                Some(FenceVerdict::Ok) => tracing::info!(operation_id = %id, "cancelled"),
                Some(FenceVerdict::Stop) => stale(lease, "cancellation"),
                None => {}
            }
        }
    }
}

fn stale(lease: &Lease, what: &str) {
    tracing::warn!(
        operation_id = %lease.operation_id, attempt = lease.attempt,
        "{what} refused: this attempt is stale (the operation moved on); abandoning it"
    );
}

/// Retries `call` while it fails transiently (1 s doubling to 30 s); `None` after a permanent error.
async fn retry<T, F, Fut>(operation_id: &str, mut call: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ktrdr::Result<T>>,
{
    let mut delay = Duration::from_secs(1);
    loop {
        match call().await {
            Ok(value) => return Some(value),
            Err(err) if err.is_transient() => {
                tracing::warn!(%operation_id, "cannot report to the database ({err}); retrying in {delay:?}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(30));
            }
            Err(err) => {
                tracing::error!(%operation_id, "cannot report the outcome: {err}");
                return None;
            }
        }
    }
}
