//! Queue shortcuts for any crate's tests: submitting and claiming `dummy` operations, listening for
//! notifications, and reading back what happened.

use std::time::Duration;

use ktrdr::{
    Result,
    job_kinds::JobKinds,
    notify::{self, Wakeup},
    operations::{self, ClaimedOperation, NewOperation},
};
use sqlx::PgPool;
use tokio::{sync::mpsc::UnboundedReceiver, task::JoinHandle};

/// Submits a `dummy` operation and claims it as `worker_id` with a lease of `lease_seconds`: an
/// operation in `running` with its attempt's lease, for tests of the fenced calls.
pub async fn running_dummy(
    pool: &PgPool,
    worker_id: &str,
    lease_seconds: f64,
) -> Result<ClaimedOperation> {
    submit_and_claim(pool, &NewOperation::new("dummy"), worker_id, lease_seconds).await
}

/// Submits `op` (of a built-in kind) and claims it as `worker_id` with a lease of `lease_seconds`.
pub async fn submit_and_claim(
    pool: &PgPool,
    op: &NewOperation,
    worker_id: &str,
    lease_seconds: f64,
) -> Result<ClaimedOperation> {
    let id = submit_dummy(pool, op).await?;
    let types = [op.operation_type.clone()];
    let claimed = operations::claim(pool, worker_id, &types, 1, lease_seconds).await?;
    Ok(claimed
        .into_iter()
        .find(|c| c.lease.operation_id == id)
        .expect("submit_and_claim needs a queue with no other pending operation of its type"))
}

/// Claims the next pending operation of `operation_type` as `worker_id` with a 30 s lease, if any.
pub async fn claim_next(
    pool: &PgPool,
    worker_id: &str,
    operation_type: &str,
) -> Result<Option<ClaimedOperation>> {
    let types = [operation_type.to_string()];
    let claimed = operations::claim(pool, worker_id, &types, 1, 30.0).await?;
    Ok(claimed.into_iter().next())
}

/// Asserts that no pending `dummy` operation is left for a worker to claim.
pub async fn assert_no_dummy_to_claim(pool: &PgPool) -> Result<()> {
    let claimed = claim_next(pool, "w", "dummy").await?;
    assert!(claimed.is_none(), "left to claim: {claimed:?}");
    Ok(())
}

/// Submits `op` checked as the queue's built-in kinds (`dummy`) only.
pub async fn submit_dummy(pool: &PgPool, op: &NewOperation) -> Result<String> {
    operations::submit(pool, &JobKinds::BUILT_IN, op).await
}

/// Submits a plain `dummy` operation (no params, priority 0, one attempt) and returns its id.
pub async fn pending_dummy(pool: &PgPool) -> Result<String> {
    submit_dummy(pool, &NewOperation::new("dummy")).await
}

/// A plain `dummy` operation that may be attempted `max_attempts` times.
pub fn dummy_with_attempts(max_attempts: i32) -> NewOperation {
    NewOperation {
        max_attempts,
        ..NewOperation::new("dummy")
    }
}

/// Submits `count` plain `dummy` operations in one call and returns their ids.
pub async fn submit_dummies(pool: &PgPool, count: i32) -> Result<Vec<String>> {
    operations::submit_many(
        pool,
        &JobKinds::BUILT_IN,
        &NewOperation::new("dummy"),
        count,
    )
    .await
}

/// Submits an operation straight through SQL, past the job kinds' checks, and returns its id.
pub async fn submit_through_sql(
    pool: &PgPool,
    operation_type: &str,
    params: serde_json::Value,
) -> Result<String> {
    Ok(sqlx::query_scalar("SELECT ktrdr.submit_operation($1, $2)")
        .bind(operation_type)
        .bind(params)
        .fetch_one(pool)
        .await?)
}

/// Starts a listener on `channels` and waits until it has subscribed (its first wakeup).
pub async fn listening(
    pool: &PgPool,
    channels: &'static [&'static str],
) -> (UnboundedReceiver<Wakeup>, JoinHandle<()>) {
    let (mut wakeups, listener) = notify::spawn_listener(pool.clone(), channels);
    assert_eq!(wakeups.recv().await, Some(Wakeup::Reconnected));
    (wakeups, listener)
}

/// The next wakeup a listener hears, waiting at most 30 s; `None` when the listener is gone.
pub async fn next_wakeup(wakeups: &mut UnboundedReceiver<Wakeup>) -> Option<Wakeup> {
    tokio::time::timeout(Duration::from_secs(30), wakeups.recv())
        .await
        .expect("a wakeup within 30 s")
}

/// (to_status, attempt, worker) of every event of the operation, oldest first.
pub async fn event_history(
    pool: &PgPool,
    operation_id: &str,
) -> Result<Vec<(String, i32, Option<String>)>> {
    Ok(operations::events(pool, operation_id)
        .await?
        .into_iter()
        .map(|event| {
            (
                event.to_status.as_str().to_string(),
                event.attempt,
                event.worker_id,
            )
        })
        .collect())
}

/// The params of every operation in the queue, in no particular order.
pub async fn submitted_params(pool: &PgPool) -> Result<Vec<serde_json::Value>> {
    Ok(sqlx::query_scalar("SELECT params FROM ktrdr.operations")
        .fetch_all(pool)
        .await?)
}

/// Asserts that the queue holds no operation at all; `what` names what would have been submitted.
pub async fn assert_nothing_submitted(pool: &PgPool, what: &str) -> Result<()> {
    let submitted = submitted_params(pool).await?;
    assert!(submitted.is_empty(), "{what} was submitted: {submitted:?}");
    Ok(())
}

/// The id of the ticker's leader (the holder of a live leader lease), if there is one.
pub async fn ticker_leader(pool: &PgPool) -> Option<String> {
    let detector = ktrdr::health::read(pool).await.ok()?.orphan_detector;
    detector
        .leader
        .filter(|_| detector.scheduler.as_deref() == Some("ticker"))
}

/// Runs `query`, a `SELECT count(*) …`, and returns the count.
pub async fn count_rows(pool: &PgPool, query: &'static str) -> Result<i64> {
    Ok(sqlx::query_scalar(query).fetch_one(pool).await?)
}
