//! Seed M1: PostgreSQL goes away for longer than the lease while an operation runs. When it is back,
//! the same operation is running on the same worker again (reconciled, not failed) and completes.
//! And a result finished while the database was away waits in the worker's outbox and is reported.

mod support;

use std::time::{Duration, Instant};

use ktrdr::operations::Status;
use ktrdr_testkit::TempCluster;
use support::{e2e::*, long_operation_running_on, spawn_named_worker};

#[tokio::test]
async fn operation_is_reconciled_to_its_worker_after_an_outage() -> anyhow::Result<()> {
    let server = TempCluster::start()?;
    let pool = server.migrated_pool().await?;
    let worker = spawn_named_worker(
        &server.url,
        "steady",
        &["--poll-interval-ms", "200"],
        SHORT_TIMEOUTS,
    );
    let id = long_operation_running_on(&pool, "steady", 120, 1)
        .await
        .operation_id;
    pool.close().await;

    // Down for longer than the 3 s lease: every lease lapses while nobody can heartbeat.
    server.stop_server().await?;
    tokio::time::sleep(Duration::from_secs_f64(ORPHAN_TIMEOUT_SECONDS + 1.0)).await;
    server.start_server().await?;
    let back_at = Instant::now();

    let pool = server.reachable_pool().await?;
    wait_for_op(
        &pool,
        &id,
        "running again on steady, with fresh progress",
        |op| {
            op.status == Status::Running
                && op.worker_id.as_deref() == Some("steady")
                && op
                    .heartbeat_at
                    .is_some_and(|at| at > chrono::Utc::now() - chrono::Duration::seconds(2))
        },
    )
    .await;
    let reconciled = back_at.elapsed();
    let op = wait_for_op(&pool, &id, "completed", |op| op.status.is_terminal()).await;
    assert_eq!(op.status, Status::Completed, "{}", worker.log());
    assert_eq!(op.attempt, 1);
    let events = ktrdr_testkit::event_history(&pool, &id).await?;
    assert!(
        events
            .iter()
            .all(|(status, attempt, _)| status != "failed" && *attempt <= 1),
        "{events:?}"
    );
    eprintln!(
        "M1: running again on the same worker {:.3} s after the database was back; history {:?}",
        reconciled.as_secs_f64(),
        events
            .iter()
            .map(|(s, _, _)| s.as_str())
            .collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::test]
async fn result_finished_during_the_outage_is_delivered_from_the_outbox() -> anyhow::Result<()> {
    let server = TempCluster::start()?;
    let outbox = server.home().join("outbox");
    let pool = server.migrated_pool().await?;
    let mut env = SHORT_TIMEOUTS.to_vec();
    let outbox_dir = outbox.to_string_lossy().into_owned();
    env.push(("KTRDR_OUTBOX_DIR", &outbox_dir));
    let worker = spawn_named_worker(&server.url, "boxer", &["--poll-interval-ms", "200"], &env);
    let id = long_operation_running_on(&pool, "boxer", 15, 1)
        .await
        .operation_id;
    pool.close().await;

    server.stop_server().await?;
    // The operation (1.5 s) finishes while the database is down: its outcome goes to the outbox.
    ktrdr_testkit::wait_for("the outcome in the outbox", LIMIT, || async {
        std::fs::read_dir(&outbox)
            .ok()?
            .flatten()
            .next()
            .map(|_| ())
    })
    .await;
    server.start_server().await?;

    let pool = server.reachable_pool().await?;
    let op = wait_for_op(&pool, &id, "completed", |op| op.status.is_terminal()).await;
    assert_eq!(op.status, Status::Completed, "{}", worker.log());
    assert_eq!(
        op.result,
        Some(serde_json::json!({"steps": 15, "step_ms": 100}))
    );
    ktrdr_testkit::wait_for("the outbox to empty", LIMIT, || async {
        std::fs::read_dir(&outbox)
            .ok()?
            .next()
            .is_none()
            .then_some(())
    })
    .await;
    // Delivered once, by its own attempt (woken by the reconnect) — not also by the outbox flush
    // behind its back, which would leave the attempt's own delivery refused as stale.
    let log = worker.log();
    assert!(log.contains("reported"), "{log}");
    assert!(
        !log.contains("delivered an outcome from the outbox"),
        "{log}"
    );
    assert!(!log.contains("outcome refused"), "{log}");
    Ok(())
}
