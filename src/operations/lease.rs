//! The worker side of an operation (sql/30_claim.sql, 40_heartbeat.sql, 50_finish.sql): claim, then
//! heartbeat and finish under a [`Lease`] — the fencing triple (operation, worker, attempt) that every
//! call presents. A call from a stale lease changes nothing and answers "stop".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::PgExecutor;

use crate::{Error, Result, operations::StoredParams};

/// The fencing token of one attempt at one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub operation_id: String,
    pub worker_id: String,
    pub attempt: i32,
}

/// An operation handed to a worker by [`claim`].
#[derive(Debug, Clone)]
pub struct ClaimedOperation {
    pub lease: Lease,
    pub operation_type: String,
    /// The stored params, or why they cannot be read (e.g. nested deeper than the JSON decoder
    /// allows). Decoded per operation, so one unreadable row fails alone instead of the whole batch.
    pub params: std::result::Result<Value, String>,
    pub max_attempts: i32,
    pub lease_expires_at: DateTime<Utc>,
}

/// Progress reported with a heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Progress {
    pub percent: f32,
    pub message: Option<String>,
    /// Structured details (epoch, loss, bar …) for dashboards and `--follow`.
    pub details: Option<Value>,
}

/// What a heartbeat tells the worker to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatVerdict {
    Continue,
    /// A cancel was requested: stop computing and call [`Lease::mark_cancelled`].
    Cancel,
    /// This attempt is stale: abandon the operation without writing anything more.
    Stop,
}

/// Answer of a fenced completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FenceVerdict {
    Ok,
    Stop,
}

/// Answer of [`Lease::fail`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOutcome {
    /// Attempts were left: the operation is pending again for any worker.
    Retrying,
    Failed,
    Stop,
}

/// How an attempt ended, as it is reported to the database: each maps to one fenced call. It is
/// what a worker's outbox stores while the database is away, so it serializes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Completed(Value),
    /// Retried elsewhere when `retryable` and attempts are left.
    Failed {
        message: String,
        retryable: bool,
    },
    /// Stopped by a cancel or by its worker's shutdown.
    Cancelled {
        message: Option<String>,
    },
    /// Handed back to the queue (graceful shutdown with `--on-shutdown requeue`).
    Released {
        message: String,
    },
}

/// How the database took a reported [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reported {
    Completed,
    Failed,
    /// Failed with attempts left: pending again for any worker.
    Retrying,
    Cancelled,
    Released,
    /// The attempt is stale; nothing was written.
    Stale,
}

/// Claims up to `limit` pending operations of `types` for `worker_id`, highest priority first, then
/// oldest; each gets a lease of `lease_seconds`. The params come as text and are decoded here, one
/// by one: a row whose params cannot be decoded is still handed out (it is claimed, so the caller
/// must end it) with the reason in place of its params.
pub async fn claim(
    executor: impl PgExecutor<'_>,
    worker_id: &str,
    types: &[String],
    limit: i32,
    lease_seconds: f64,
) -> Result<Vec<ClaimedOperation>> {
    let rows: Vec<(String, String, String, i32, i32, DateTime<Utc>)> = sqlx::query_as(
        "SELECT operation_id, operation_type, params::text, attempt, max_attempts, lease_expires_at
         FROM ktrdr.claim_operations($1, $2, $3, $4)",
    )
    .bind(worker_id)
    .bind(types)
    .bind(limit)
    .bind(lease_seconds)
    .fetch_all(executor)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(operation_id, operation_type, params, attempt, max_attempts, lease_expires_at)| {
                ClaimedOperation {
                    lease: Lease {
                        operation_id,
                        worker_id: worker_id.to_string(),
                        attempt,
                    },
                    operation_type,
                    params: StoredParams::from(params).into_result(),
                    max_attempts,
                    lease_expires_at,
                }
            },
        )
        .collect())
}

/// Completes several operations of one worker in one statement; returns the ids refused as stale.
pub async fn complete_batch(
    executor: impl PgExecutor<'_>,
    worker_id: &str,
    completions: &[(Lease, Value)],
) -> Result<Vec<String>> {
    let ids: Vec<&str> = completions
        .iter()
        .map(|(lease, _)| lease.operation_id.as_str())
        .collect();
    let attempts: Vec<i32> = completions.iter().map(|(lease, _)| lease.attempt).collect();
    let results: Vec<&Value> = completions.iter().map(|(_, result)| result).collect();
    let refused = sqlx::query_scalar("SELECT ktrdr.complete_operations($1, $2, $3, $4)")
        .bind(worker_id)
        .bind(ids)
        .bind(attempts)
        .bind(results)
        .fetch_all(executor)
        .await?;
    Ok(refused)
}

/// A reconnecting worker presents the attempts it still runs; each gets a verdict (see
/// `ktrdr.reclaim_operations`): operations in pending_reconciliation are running again.
pub async fn reclaim(
    executor: impl PgExecutor<'_>,
    worker_id: &str,
    attempts: &[(String, i32)],
    lease_seconds: f64,
) -> Result<Vec<(String, HeartbeatVerdict)>> {
    let presented: Vec<Value> = attempts
        .iter()
        .map(|(id, attempt)| serde_json::json!({ "operation_id": id, "attempt": attempt }))
        .collect();
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT operation_id, verdict FROM ktrdr.reclaim_operations($1, $2, $3)")
            .bind(worker_id)
            .bind(Value::Array(presented))
            .bind(lease_seconds)
            .fetch_all(executor)
            .await?;
    rows.into_iter()
        .map(|(id, verdict)| Ok((id, heartbeat_verdict("reclaim_operations", &verdict)?)))
        .collect()
}

impl Lease {
    /// Reports how the attempt ended, with the one fenced call that fits `outcome`.
    pub async fn report(
        &self,
        executor: impl PgExecutor<'_>,
        outcome: &Outcome,
    ) -> Result<Reported> {
        let stale_or = |verdict: FenceVerdict, reported: Reported| match verdict {
            FenceVerdict::Ok => reported,
            FenceVerdict::Stop => Reported::Stale,
        };
        Ok(match outcome {
            Outcome::Completed(result) => stale_or(
                self.complete(executor, result.clone()).await?,
                Reported::Completed,
            ),
            Outcome::Failed { message, retryable } => {
                match self.fail(executor, message, *retryable).await? {
                    FailOutcome::Failed => Reported::Failed,
                    FailOutcome::Retrying => Reported::Retrying,
                    FailOutcome::Stop => Reported::Stale,
                }
            }
            Outcome::Cancelled { message } => stale_or(
                self.mark_cancelled(executor, message.as_deref()).await?,
                Reported::Cancelled,
            ),
            Outcome::Released { message } => stale_or(
                self.release(executor, Some(message)).await?,
                Reported::Released,
            ),
        })
    }

    /// Renews the lease for `lease_seconds` and stores `progress`.
    pub async fn heartbeat(
        &self,
        executor: impl PgExecutor<'_>,
        lease_seconds: f64,
        progress: &Progress,
    ) -> Result<HeartbeatVerdict> {
        self.beat(executor, Beat::Heartbeat, lease_seconds, progress)
            .await
    }

    /// A heartbeat whose progress is a milestone (a training's epoch end): also kept, in order, for
    /// followers ([`progress_since`](super::progress_since)).
    pub async fn record_progress(
        &self,
        executor: impl PgExecutor<'_>,
        lease_seconds: f64,
        progress: &Progress,
    ) -> Result<HeartbeatVerdict> {
        self.beat(executor, Beat::Milestone, lease_seconds, progress)
            .await
    }

    async fn beat(
        &self,
        executor: impl PgExecutor<'_>,
        beat: Beat,
        lease_seconds: f64,
        progress: &Progress,
    ) -> Result<HeartbeatVerdict> {
        let (function, sql) = match beat {
            Beat::Heartbeat => (
                "heartbeat",
                "SELECT ktrdr.heartbeat($1, $2, $3, $4, $5, $6, $7)",
            ),
            Beat::Milestone => (
                "record_progress",
                "SELECT ktrdr.record_progress($1, $2, $3, $4, $5, $6, $7)",
            ),
        };
        let verdict: String = sqlx::query_scalar(sql)
            .bind(&self.operation_id)
            .bind(&self.worker_id)
            .bind(self.attempt)
            .bind(lease_seconds)
            .bind(progress.percent)
            .bind(&progress.message)
            .bind(&progress.details)
            .fetch_one(executor)
            .await?;
        heartbeat_verdict(function, &verdict)
    }

    /// running → completed with `result`.
    pub async fn complete(
        &self,
        executor: impl PgExecutor<'_>,
        result: Value,
    ) -> Result<FenceVerdict> {
        self.fenced(executor, "complete_operation", result).await
    }

    /// The attempt failed with `error`; retried elsewhere when `retryable` and attempts are left.
    pub async fn fail(
        &self,
        executor: impl PgExecutor<'_>,
        error: &str,
        retryable: bool,
    ) -> Result<FailOutcome> {
        let verdict: String = sqlx::query_scalar("SELECT ktrdr.fail_operation($1, $2, $3, $4, $5)")
            .bind(&self.operation_id)
            .bind(&self.worker_id)
            .bind(self.attempt)
            .bind(error)
            .bind(retryable)
            .fetch_one(executor)
            .await?;
        match verdict.as_str() {
            "retrying" => Ok(FailOutcome::Retrying),
            "failed" => Ok(FailOutcome::Failed),
            "stop" => Ok(FailOutcome::Stop),
            other => Err(unexpected("fail_operation", other)),
        }
    }

    /// The worker stopped this attempt (cancel requested, or its own shutdown) → cancelled.
    pub async fn mark_cancelled(
        &self,
        executor: impl PgExecutor<'_>,
        message: Option<&str>,
    ) -> Result<FenceVerdict> {
        self.fenced(executor, "mark_cancelled", message.map(str::to_owned))
            .await
    }

    /// Gives the attempt back: pending again for any worker (graceful shutdown with requeue).
    pub async fn release(
        &self,
        executor: impl PgExecutor<'_>,
        message: Option<&str>,
    ) -> Result<FenceVerdict> {
        self.fenced(executor, "release_operation", message.map(str::to_owned))
            .await
    }

    /// Calls `ktrdr.{function}(operation, worker, attempt, argument)`, which answers 'ok' or 'stop'.
    async fn fenced<T>(
        &self,
        executor: impl PgExecutor<'_>,
        function: &str,
        argument: T,
    ) -> Result<FenceVerdict>
    where
        T: for<'q> sqlx::Encode<'q, sqlx::Postgres> + sqlx::Type<sqlx::Postgres> + Send,
    {
        let sql = format!("SELECT ktrdr.{function}($1, $2, $3, $4)");
        let verdict: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(&self.operation_id)
            .bind(&self.worker_id)
            .bind(self.attempt)
            .bind(argument)
            .fetch_one(executor)
            .await?;
        fence_verdict(function, &verdict)
    }
}

/// Which heartbeat function a beat calls.
#[derive(Clone, Copy)]
enum Beat {
    Heartbeat,
    Milestone,
}

fn heartbeat_verdict(function: &str, verdict: &str) -> Result<HeartbeatVerdict> {
    match verdict {
        "continue" => Ok(HeartbeatVerdict::Continue),
        "cancel" => Ok(HeartbeatVerdict::Cancel),
        "stop" => Ok(HeartbeatVerdict::Stop),
        other => Err(unexpected(function, other)),
    }
}

fn fence_verdict(function: &str, verdict: &str) -> Result<FenceVerdict> {
    match verdict {
        "ok" => Ok(FenceVerdict::Ok),
        "stop" => Ok(FenceVerdict::Stop),
        other => Err(unexpected(function, other)),
    }
}

fn unexpected(function: &str, verdict: &str) -> Error {
    Error::Migration(format!(
        "ktrdr.{function} answered '{verdict}': the database functions do not match this build (run `ktrdr migrate`)"
    ))
}
