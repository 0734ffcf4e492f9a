//! Cancelling pending, running and finished operations.

use ktrdr::{
    Error,
    notify::{self, Wakeup},
    operations::{self, CancelOutcome, FenceVerdict, HeartbeatVerdict, Progress, Status},
};
use ktrdr_testkit::{self, TestDatabase};

#[tokio::test]
async fn cancelling_a_pending_operation_cancels_it_at_once() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let id = ktrdr_testkit::pending_dummy(pool).await?;
    assert_eq!(
        operations::request_cancel(pool, &id, Some("not needed")).await?,
        CancelOutcome::Cancelled
    );
    let op = operations::get(pool, &id).await?;
    assert_eq!(op.status, Status::Cancelled);
    assert_eq!(op.cancel_reason.as_deref(), Some("not needed"));
    ktrdr_testkit::assert_no_dummy_to_claim(pool).await?;
    Ok(())
}

#[tokio::test]
async fn cancelling_a_running_operation_flags_it_and_notifies_its_worker() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let claimed = ktrdr_testkit::running_dummy(pool, "w", 30.0).await?;
    let id = claimed.lease.operation_id.clone();
    let (mut wakeups, listener) = ktrdr_testkit::listening(pool, &[notify::CANCEL_REQUESTED]).await;

    let outcome = operations::request_cancel(pool, &id, None).await?;
    assert_eq!(outcome, CancelOutcome::Requested(Status::Running));
    let heard = ktrdr_testkit::next_wakeup(&mut wakeups).await;
    assert_eq!(heard, Some(Wakeup::CancelRequested(id.clone())));
    listener.abort();

    // The worker's next heartbeat learns it; it stops and reports the cancellation.
    let verdict = claimed
        .lease
        .heartbeat(pool, 30.0, &Progress::default())
        .await?;
    assert_eq!(verdict, HeartbeatVerdict::Cancel);
    assert_eq!(
        claimed.lease.mark_cancelled(pool, None).await?,
        FenceVerdict::Ok
    );
    let op = operations::get(pool, &id).await?;
    assert_eq!(op.status, Status::Cancelled);
    Ok(())
}

#[tokio::test]
async fn cancelling_a_finished_operation_is_refused_and_changes_nothing() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let claimed = ktrdr_testkit::running_dummy(pool, "w", 30.0).await?;
    let id = claimed.lease.operation_id.clone();
    claimed.lease.complete(pool, serde_json::json!({})).await?;
    let err = operations::request_cancel(pool, &id, None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("operation {id} already ended: it is COMPLETED")
    );
    assert_eq!(operations::get(pool, &id).await?.status, Status::Completed);
    Ok(())
}

#[tokio::test]
async fn a_submission_notifies_listeners_with_the_id() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let (mut wakeups, listener) =
        ktrdr_testkit::listening(pool, &[notify::OPERATION_PENDING]).await;
    let id = ktrdr_testkit::pending_dummy(pool).await?;
    let heard = ktrdr_testkit::next_wakeup(&mut wakeups).await;
    assert_eq!(heard, Some(Wakeup::OperationPending(id)));
    listener.abort();
    Ok(())
}
