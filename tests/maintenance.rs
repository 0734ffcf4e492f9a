//! Maintenance passes called directly: orphan detection, outage reconciliation, reclaiming.

use std::time::Duration;

use ktrdr::{
    config::{LeaseSettings, TickerSettings},
    job_kinds::JobKinds,
    maintenance,
    operations::{self, ClaimedOperation, HeartbeatVerdict, NewOperation, Progress, Status},
};
use ktrdr_testkit::{TestDatabase, wait_for};
use sqlx::PgPool;

const SETTINGS: TickerSettings = TickerSettings {
    lease: LeaseSettings {
        orphan_timeout_seconds: 60.0,
        heartbeat_interval_seconds: 20.0,
    },
    check_interval_seconds: 15.0,
    checkpoint_cleanup_interval_hours: 24.0,
    checkpoint_max_age_days: 30.0,
};

/// Submits and claims one operation with a lease of 0.2 s, then waits until the lease lapsed.
async fn lapsed_operation(pool: &PgPool, max_attempts: i32) -> ClaimedOperation {
    let op = NewOperation {
        max_attempts,
        ..NewOperation::new("dummy")
    };
    operations::submit(pool, &JobKinds::BUILT_IN, &op)
        .await
        .unwrap();
    let claimed = operations::claim(pool, "gone", &["dummy".into()], 1, 0.2)
        .await
        .unwrap()
        .remove(0);
    wait_for("the lease to lapse", Duration::from_secs(10), || async {
        let lapsed: bool = sqlx::query_scalar(
            "SELECT lease_expires_at < now() FROM ktrdr.operations WHERE operation_id = $1",
        )
        .bind(&claimed.lease.operation_id)
        .fetch_one(pool)
        .await
        .ok()?;
        lapsed.then_some(())
    })
    .await;
    claimed
}

#[tokio::test]
async fn an_operation_whose_lease_lapsed_fails_with_the_orphan_message() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let claimed = lapsed_operation(pool, 1).await;
    let report = maintenance::run_once(pool, "t", &SETTINGS).await?;
    assert_eq!((report.orphans_failed, report.orphans_requeued), (1, 0));
    let op = operations::get(pool, &claimed.lease.operation_id).await?;
    assert_eq!(op.status, Status::Failed);
    assert_eq!(
        op.error_message.as_deref(),
        Some("Operation was RUNNING but no worker claimed it")
    );
    // The dead worker's late heartbeat is refused.
    let verdict = claimed
        .lease
        .heartbeat(pool, 60.0, &Progress::default())
        .await?;
    assert_eq!(verdict, HeartbeatVerdict::Stop);
    Ok(())
}

#[tokio::test]
async fn an_orphan_with_attempts_left_is_requeued_and_a_cancelled_one_cancelled()
-> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let retry = lapsed_operation(pool, 2).await;
    let cancel = lapsed_operation(pool, 2).await;
    operations::request_cancel(pool, &cancel.lease.operation_id, None).await?;
    let report = maintenance::run_once(pool, "t", &SETTINGS).await?;
    assert_eq!((report.orphans_requeued, report.orphans_cancelled), (1, 1));
    assert_eq!(
        operations::get(pool, &retry.lease.operation_id)
            .await?
            .status,
        Status::Pending
    );
    assert_eq!(
        operations::get(pool, &cancel.lease.operation_id)
            .await?
            .status,
        Status::Cancelled
    );
    let again = operations::claim(pool, "new", &["dummy".into()], 5, 60.0).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].lease.attempt, 2);
    Ok(())
}

#[tokio::test]
async fn healthy_and_late_operations_are_left_alone_and_counted() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    operations::submit_many(pool, &JobKinds::BUILT_IN, &NewOperation::new("dummy"), 2).await?;
    let claimed = operations::claim(pool, "w", &["dummy".into()], 2, 60.0).await?;
    // One worker is late: its last heartbeat was 40 s into a 60 s lease.
    sqlx::query(
        "UPDATE ktrdr.operations SET heartbeat_at = now() - interval '40 seconds',
                 lease_expires_at = now() + interval '20 seconds' WHERE operation_id = $1",
    )
    .bind(&claimed[0].lease.operation_id)
    .execute(pool)
    .await?;
    let report = maintenance::run_once(pool, "t", &SETTINGS).await?;
    assert!(!report.changed_anything());
    assert_eq!(report.potential_orphans_count, 1);
    assert!(report.next_due.is_some());
    let health = ktrdr::health::read(pool).await?;
    assert_eq!(health.orphan_detector.potential_orphans_count, 1);
    assert_eq!(health.orphan_detector.leader.as_deref(), Some("t"));
    Ok(())
}

#[tokio::test]
async fn after_an_outage_lapsed_leases_are_reconciled_not_failed() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    maintenance::run_once(pool, "t", &SETTINGS).await?;
    let kept = lapsed_operation(pool, 1).await;
    let abandoned = lapsed_operation(pool, 1).await;
    // No pass ran for longer than the orphan timeout: the database (or every ticker) was away.
    sqlx::query("UPDATE ktrdr.maintenance_state SET last_check = now() - interval '5 minutes'")
        .execute(pool)
        .await?;
    let short_grace = TickerSettings {
        lease: LeaseSettings {
            orphan_timeout_seconds: 1.0,
            heartbeat_interval_seconds: 0.3,
        },
        ..SETTINGS
    };
    let report = maintenance::run_once(pool, "t", &short_grace).await?;
    assert!(report.outage_detected);
    assert_eq!(
        (report.moved_to_reconciliation, report.orphans_failed),
        (2, 0)
    );
    for id in [&kept.lease.operation_id, &abandoned.lease.operation_id] {
        assert_eq!(
            operations::get(pool, id).await?.status,
            Status::PendingReconciliation
        );
    }

    // The worker still running `kept` comes back and presents it; an unknown attempt is told to stop.
    let verdicts = operations::reclaim(
        pool,
        "gone",
        &[
            (kept.lease.operation_id.clone(), 1),
            (abandoned.lease.operation_id.clone(), 7),
        ],
        60.0,
    )
    .await?;
    assert!(verdicts.contains(&(kept.lease.operation_id.clone(), HeartbeatVerdict::Continue)));
    assert!(verdicts.contains(&(abandoned.lease.operation_id.clone(), HeartbeatVerdict::Stop)));
    assert_eq!(
        operations::get(pool, &kept.lease.operation_id)
            .await?
            .status,
        Status::Running
    );

    // Nobody reclaims `abandoned` before the deadline (the grace period, here 1 s): it fails.
    let id = abandoned.lease.operation_id.clone();
    let op = wait_for(
        "the reconciliation deadline to pass",
        Duration::from_secs(30),
        || async {
            maintenance::run_once(pool, "t", &short_grace).await.ok()?;
            operations::get(pool, &id)
                .await
                .ok()
                .filter(|op| op.status == Status::Failed)
        },
    )
    .await;
    assert!(
        op.error_message
            .unwrap()
            .starts_with("Operation was RUNNING but no worker claimed it")
    );
    assert_eq!(
        operations::get(pool, &kept.lease.operation_id)
            .await?
            .status,
        Status::Running
    );
    Ok(())
}

#[tokio::test]
async fn a_heartbeat_takes_back_an_operation_in_reconciliation() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    maintenance::run_once(pool, "t", &SETTINGS).await?;
    let claimed = lapsed_operation(pool, 1).await;
    sqlx::query("UPDATE ktrdr.maintenance_state SET last_check = now() - interval '5 minutes'")
        .execute(pool)
        .await?;
    maintenance::run_once(pool, "t", &SETTINGS).await?;
    let id = &claimed.lease.operation_id;
    assert_eq!(
        operations::get(pool, id).await?.status,
        Status::PendingReconciliation
    );
    let verdict = claimed
        .lease
        .heartbeat(pool, 60.0, &Progress::default())
        .await?;
    assert_eq!(verdict, HeartbeatVerdict::Continue);
    let op = operations::get(pool, id).await?;
    assert_eq!(op.status, Status::Running);
    assert!(op.reconcile_deadline.is_none());
    let statuses: Vec<String> = sqlx::query_scalar(
        "SELECT to_status FROM ktrdr.operation_events WHERE operation_id = $1 ORDER BY event_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    assert_eq!(
        statuses,
        ["pending", "running", "pending_reconciliation", "running"]
    );
    Ok(())
}
