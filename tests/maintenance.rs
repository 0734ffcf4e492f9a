//! The maintenance services, one pass at a time (each service's `run_once` called directly), the
//! all-in-one `ktrdr.run_maintenance` of pg_cron, and the ticker that schedules the services.

use std::time::Duration;

use chrono::TimeDelta;
use ktrdr::{
    artifacts::ArtifactStore,
    checkpoints::{self, CheckpointKind, NewCheckpoint},
    job_kinds::JobKinds,
    maintenance::{
        CheckpointCleaner, CheckpointCleanerConfig, OrphanDetector, OrphanDetectorConfig,
        ReconciliationExpirer, ReconciliationExpirerConfig,
    },
    operations::{self, ClaimedOperation, HeartbeatVerdict, NewOperation, Progress, Status},
    ticker::Ticker,
};
use ktrdr_testkit::{TestDatabase, wait_for};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::watch;

const ORPHAN_MESSAGE: &str = "Operation was RUNNING but no worker claimed it";

/// The defaults: orphan timeout 60 s, check interval 15 s.
fn detector() -> OrphanDetector {
    OrphanDetector::new("t", OrphanDetectorConfig::default()).unwrap()
}

/// A detector whose orphan timeout — and so the grace period after an outage — is 1 s.
fn detector_with_short_grace() -> OrphanDetector {
    let config = OrphanDetectorConfig {
        orphan_timeout: Duration::from_secs(1),
        ..OrphanDetectorConfig::default()
    };
    OrphanDetector::new("t", config).unwrap()
}

fn expirer() -> ReconciliationExpirer {
    ReconciliationExpirer::new(ReconciliationExpirerConfig::default()).unwrap()
}

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

/// Makes the next orphan pass find that no pass ran for five minutes: the database (or every
/// ticker) was away.
async fn pretend_an_outage(pool: &PgPool) {
    sqlx::query("UPDATE ktrdr.maintenance_state SET last_check = now() - interval '5 minutes'")
        .execute(pool)
        .await
        .unwrap();
}

async fn status(pool: &PgPool, id: &str) -> Status {
    operations::get(pool, id).await.unwrap().status
}

#[tokio::test]
async fn an_operation_whose_lease_lapsed_fails_with_the_orphan_message() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let claimed = lapsed_operation(pool, 1).await;
    let report = detector().run_once(pool, None).await?;
    assert_eq!((report.orphans_failed, report.orphans_requeued), (1, 0));
    let op = operations::get(pool, &claimed.lease.operation_id).await?;
    assert_eq!(op.status, Status::Failed);
    assert_eq!(op.error_message.as_deref(), Some(ORPHAN_MESSAGE));
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
    let pool = &TestDatabase::create().await?.pool;
    let retry = lapsed_operation(pool, 2).await;
    let cancel = lapsed_operation(pool, 2).await;
    operations::request_cancel(pool, &cancel.lease.operation_id, None).await?;
    let report = detector().run_once(pool, None).await?;
    assert_eq!((report.orphans_requeued, report.orphans_cancelled), (1, 1));
    assert_eq!(
        status(pool, &retry.lease.operation_id).await,
        Status::Pending
    );
    assert_eq!(
        status(pool, &cancel.lease.operation_id).await,
        Status::Cancelled
    );
    let again = operations::claim(pool, "new", &["dummy".into()], 5, 60.0).await?;
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].lease.attempt, 2);
    Ok(())
}

#[tokio::test]
async fn healthy_and_late_operations_are_left_alone_and_counted() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
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
    let report = detector().run_once(pool, None).await?;
    assert!(!report.changed_anything());
    assert_eq!(report.potential_orphans_count, 1);
    // The earliest expiry is 20 s away, beyond the check interval: the next pass is due after that.
    assert_eq!(report.next_due, report.checked_at + TimeDelta::seconds(15));
    let health = ktrdr::health::read(pool).await?;
    assert_eq!(health.orphan_detector.potential_orphans_count, 1);
    assert!(health.orphan_detector.last_check.is_some());
    // Only a leader lease names a leader (sql/82_leadership.sql); a pass run by hand names none.
    assert_eq!(health.orphan_detector.leader, None);
    assert!(!health.orphan_detector.running);
    Ok(())
}

#[tokio::test]
async fn the_orphan_detector_is_due_just_after_the_earliest_lease_expiry() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let soon = ktrdr_testkit::running_dummy(pool, "w", 5.0).await?;
    ktrdr_testkit::running_dummy(pool, "w", 10.0).await?;
    let report = detector().run_once(pool, None).await?;
    let expiry = operations::get(pool, &soon.lease.operation_id)
        .await?
        .lease_expires_at
        .unwrap();
    assert_eq!(report.next_due, expiry + TimeDelta::milliseconds(20));
    Ok(())
}

#[tokio::test]
async fn after_an_outage_lapsed_leases_are_reconciled_not_failed() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let detector = detector_with_short_grace();
    detector.run_once(pool, None).await?;
    let kept = lapsed_operation(pool, 1).await;
    let abandoned = lapsed_operation(pool, 1).await;
    pretend_an_outage(pool).await;
    let report = detector.run_once(pool, None).await?;
    assert!(report.outage_detected);
    assert_eq!(
        (report.moved_to_reconciliation, report.orphans_failed),
        (2, 0)
    );
    for id in [&kept.lease.operation_id, &abandoned.lease.operation_id] {
        assert_eq!(status(pool, id).await, Status::PendingReconciliation);
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
        status(pool, &kept.lease.operation_id).await,
        Status::Running
    );

    // Nobody reclaims `abandoned` before the deadline (the grace period, here 1 s): the
    // reconciliation service fails it.
    let expirer = expirer();
    let report = wait_for(
        "the reconciliation deadline to pass",
        Duration::from_secs(30),
        || async {
            let report = expirer.run_once(pool, None).await.ok()?;
            (report.expired() > 0).then_some(report)
        },
    )
    .await;
    assert_eq!(report.failed, 1);
    let op = operations::get(pool, &abandoned.lease.operation_id).await?;
    assert_eq!(op.status, Status::Failed);
    assert!(op.error_message.unwrap().starts_with(ORPHAN_MESSAGE));
    assert_eq!(
        status(pool, &kept.lease.operation_id).await,
        Status::Running
    );
    Ok(())
}

#[tokio::test]
async fn an_expired_reconciliation_is_settled_by_its_attempts_and_cancel_and_counted()
-> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    detector().run_once(pool, None).await?;
    let fails = lapsed_operation(pool, 1).await.lease.operation_id;
    let retries = lapsed_operation(pool, 2).await.lease.operation_id;
    let cancels = lapsed_operation(pool, 2).await.lease.operation_id;
    let waits = lapsed_operation(pool, 1).await.lease.operation_id;
    operations::request_cancel(pool, &cancels, None).await?;
    pretend_an_outage(pool).await;
    assert_eq!(
        detector()
            .run_once(pool, None)
            .await?
            .moved_to_reconciliation,
        4
    );
    // Three deadlines passed; the fourth is 5 s away.
    sqlx::query(
        "UPDATE ktrdr.operations
         SET reconcile_deadline = CASE WHEN operation_id = $1 THEN now() + interval '5 seconds'
                                       ELSE now() - interval '1 second' END
         WHERE status = 'pending_reconciliation'",
    )
    .bind(&waits)
    .execute(pool)
    .await?;

    let report = expirer().run_once(pool, None).await?;
    assert_eq!(
        (report.failed, report.requeued, report.cancelled),
        (1, 1, 1)
    );
    assert_eq!(status(pool, &fails).await, Status::Failed);
    assert_eq!(status(pool, &retries).await, Status::Pending);
    assert_eq!(status(pool, &cancels).await, Status::Cancelled);
    let waiting = operations::get(pool, &waits).await?;
    assert_eq!(waiting.status, Status::PendingReconciliation);
    assert_eq!(
        report.next_due,
        waiting.reconcile_deadline.unwrap() + TimeDelta::milliseconds(20)
    );
    let message = operations::get(pool, &fails).await?.error_message.unwrap();
    assert_eq!(
        message,
        format!("{ORPHAN_MESSAGE} (not reclaimed after a database outage)")
    );
    assert_eq!(
        expirer().run_once(pool, None).await?.expired(),
        0,
        "settled once"
    );
    Ok(())
}

#[tokio::test]
async fn a_heartbeat_takes_back_an_operation_in_reconciliation() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    detector().run_once(pool, None).await?;
    let claimed = lapsed_operation(pool, 1).await;
    pretend_an_outage(pool).await;
    detector().run_once(pool, None).await?;
    let id = &claimed.lease.operation_id;
    assert_eq!(status(pool, id).await, Status::PendingReconciliation);
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

/// A cancelled operation with a checkpoint whose artifact is in `store`, 40 days old.
async fn old_checkpoint(pool: &PgPool, store: &ArtifactStore) -> anyhow::Result<String> {
    let claimed = ktrdr_testkit::running_dummy(pool, "w", 30.0).await?;
    let id = claimed.lease.operation_id.clone();
    let artifact = store
        .put(&format!("checkpoints/{id}/a.ot"), b"weights")
        .await?;
    let checkpoint = NewCheckpoint {
        kind: CheckpointKind::Cancellation,
        unit: "epoch",
        unit_value: 3,
        state: json!({"epoch": 3}),
        artifact: Some(artifact),
    };
    checkpoints::save(pool, &claimed.lease, &checkpoint).await?;
    claimed.lease.mark_cancelled(pool, None).await?;
    sqlx::query(
        "UPDATE ktrdr.checkpoints SET created_at = now() - interval '40 days'
         WHERE operation_id = $1",
    )
    .bind(&id)
    .execute(pool)
    .await?;
    Ok(id)
}

#[tokio::test]
async fn the_checkpoint_cleanup_reports_what_it_deleted() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let store = ArtifactStore::Database(pool.clone());
    let old = old_checkpoint(pool, &store).await?;
    let kept = old_checkpoint(pool, &store).await?;
    sqlx::query("UPDATE ktrdr.checkpoints SET created_at = now() WHERE operation_id = $1")
        .bind(&kept)
        .execute(pool)
        .await?;
    let stray = store.put("checkpoints/op_gone/stray.ot", b"stray").await?;
    let config = CheckpointCleanerConfig {
        sweep_min_age: Duration::ZERO,
        ..CheckpointCleanerConfig::default()
    };
    let cleaner = CheckpointCleaner::new(config, store.clone())?;

    let report = cleaner.run_once(pool, None).await?;
    assert_eq!(report.removed.checkpoints_deleted, 1);
    assert_eq!(report.removed.artifacts_deleted, 1);
    assert_eq!(report.removed.unreferenced_artifacts_swept, 1, "the stray");
    assert_eq!(report.next_due, report.checked_at + TimeDelta::hours(24));
    assert!(checkpoints::get(pool, &old).await?.is_none());
    assert!(checkpoints::get(pool, &kept).await?.is_some());
    assert!(store.get(&stray).await.is_err());
    let again = cleaner.run_once(pool, None).await?;
    assert_eq!(again.removed, checkpoints::CleanupReport::default());
    Ok(())
}

#[tokio::test]
async fn run_maintenance_runs_orphan_detection_and_reconciliation_expiry_in_one_call()
-> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    detector().run_once(pool, None).await?;
    let reconciling = lapsed_operation(pool, 1).await.lease.operation_id;
    pretend_an_outage(pool).await;
    detector().run_once(pool, None).await?;
    // The outage is long over and nobody took the operation back.
    sqlx::query(
        "UPDATE ktrdr.maintenance_state SET outage_detected_at = now() - interval '1 hour'",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "UPDATE ktrdr.operations SET reconcile_deadline = now() - interval '1 second'
         WHERE status = 'pending_reconciliation'",
    )
    .execute(pool)
    .await?;
    let orphan = lapsed_operation(pool, 1).await.lease.operation_id;

    let result: serde_json::Value =
        sqlx::query_scalar("SELECT ktrdr.run_maintenance('pg_cron', 60, 60)")
            .fetch_one(pool)
            .await?;
    assert_eq!(result["orphans_failed"], 2, "{result}");
    assert_eq!(result["outage_detected"], false, "{result}");
    assert_eq!(status(pool, &orphan).await, Status::Failed);
    assert_eq!(status(pool, &reconciling).await, Status::Failed);
    let recorded: serde_json::Value =
        sqlx::query_scalar("SELECT last_result FROM ktrdr.orphan_detector")
            .fetch_one(pool)
            .await?;
    assert_eq!(recorded, result);
    Ok(())
}

/// A ticker named `id` with a 0.2 s check interval and a 1 s orphan timeout, running until the
/// returned sender says stop.
fn spawn_ticker(
    test_db: &TestDatabase,
    id: &str,
) -> anyhow::Result<(watch::Sender<bool>, tokio::task::JoinHandle<()>)> {
    let settings = ktrdr_testkit::fast_ticker_settings();
    let ticker = Ticker::new(test_db.pool.clone(), id, &settings)?;
    let (stop, shutdown) = watch::channel(false);
    Ok((stop, tokio::spawn(ticker.run(shutdown))))
}

#[tokio::test]
async fn the_ticker_leader_runs_every_service_and_a_follower_takes_over() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let old = old_checkpoint(pool, &ArtifactStore::for_checkpoints(pool)?).await?;
    let first_orphan = lapsed_operation(pool, 1).await.lease.operation_id;
    let mut tickers = vec![spawn_ticker(&test_db, "a")?, spawn_ticker(&test_db, "b")?];
    let limit = Duration::from_secs(30);

    let first_leader = wait_for("a leader", limit, || ktrdr_testkit::ticker_leader(pool)).await;
    wait_for("the orphan to fail", limit, || async {
        operations::get(pool, &first_orphan)
            .await
            .ok()
            .filter(|op| op.status == Status::Failed)
    })
    .await;
    wait_for("the old checkpoint to be cleaned up", limit, || async {
        checkpoints::get(pool, &old)
            .await
            .ok()
            .and_then(|found| found.is_none().then_some(()))
    })
    .await;

    let leading = if first_leader == "a" { 0 } else { 1 };
    let (stop, task) = tickers.remove(leading);
    stop.send(true)?;
    task.await?;
    let second_leader = wait_for("the follower to take over", limit, || async {
        ktrdr_testkit::ticker_leader(pool)
            .await
            .filter(|l| *l != first_leader)
    })
    .await;
    assert!(["a", "b"].contains(&second_leader.as_str()));
    // Not `lapsed_operation`: the leader may settle this one before a test could see it lapse.
    let second_orphan = ktrdr_testkit::running_dummy(pool, "gone", 0.3)
        .await?
        .lease
        .operation_id;
    wait_for(
        "the new leader to fail the second orphan",
        limit,
        || async {
            operations::get(pool, &second_orphan)
                .await
                .ok()
                .filter(|op| op.status == Status::Failed)
        },
    )
    .await;

    for (stop, task) in tickers {
        stop.send(true)?;
        task.await?;
    }
    Ok(())
}
