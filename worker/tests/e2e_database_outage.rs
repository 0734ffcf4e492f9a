//! Seed M1: PostgreSQL goes away for longer than the lease while an operation runs. When it is back,
//! the same operation is running on the same worker again (reconciled, not failed) and completes.
//! The outage is logged once, not by every retry. And a result finished while the database was away waits in the worker's outbox and is reported;
//! one the database refuses is kept there too, counted in the registry, and delivered later.

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
    // Heartbeats, claims, the listener and the ticker all failed, and retried, for seconds: the
    // outage is one warning, and its end one line.
    let log = worker.log();
    let warnings: Vec<&str> = log.lines().filter(|line| line.contains(" WARN ")).collect();
    assert_eq!(warnings.len(), 1, "{log}");
    assert!(warnings[0].contains("database unreachable ("), "{log}");
    assert_eq!(
        log.matches("database reachable again after").count(),
        1,
        "{log}"
    );
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

#[tokio::test]
async fn an_outcome_the_database_refuses_is_kept_counted_and_delivered_later() -> anyhow::Result<()>
{
    let test_db = ktrdr_testkit::TestDatabase::create().await?;
    let pool = &test_db.pool;
    let outbox = std::env::temp_dir().join(format!("ktrdr-refused-{}", std::process::id()));
    let outbox_dir = outbox.to_string_lossy().into_owned();
    let env = [
        ("KTRDR_OUTBOX_DIR", outbox_dir.as_str()),
        ("HEARTBEAT_INTERVAL_SECONDS", "0.5"),
    ];
    // Not an outage: the database refuses every completion (as it would with a revoked privilege).
    sqlx::raw_sql(
        "CREATE FUNCTION public.refuse_completion() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'completions are refused by this test'; END $$;
         CREATE TRIGGER refuse_completion BEFORE UPDATE ON ktrdr.operations FOR EACH ROW
             WHEN (NEW.status = 'completed') EXECUTE FUNCTION public.refuse_completion();",
    )
    .execute(pool)
    .await?;
    let mut worker = spawn_named_worker(test_db.url(), "refused", &[], &env);
    let id = support::submit(pool, "dummy", serde_json::json!({"steps": 1, "step_ms": 0})).await;
    ktrdr_testkit::wait_for("the outcome in the outbox", LIMIT, || async {
        let files = std::fs::read_dir(&outbox).ok()?.flatten().count();
        (files == 1).then_some(())
    })
    .await;
    ktrdr_testkit::wait_for("the registry to count it", LIMIT, || async {
        let undelivered: i32 = sqlx::query_scalar(
            "SELECT undelivered_outcomes FROM ktrdr.workers_overview WHERE worker_id = 'refused'",
        )
        .fetch_one(pool)
        .await
        .ok()?;
        (undelivered == 1).then_some(())
    })
    .await;
    let log = worker.log();
    assert!(log.contains("it is kept in the outbox"), "{log}");
    assert!(
        log.contains("completions are refused by this test"),
        "{log}"
    );
    assert_eq!(operations_status(pool, &id).await, "running");

    // Once the database takes it again, the next start delivers the kept result.
    sqlx::raw_sql("DROP TRIGGER refuse_completion ON ktrdr.operations")
        .execute(pool)
        .await?;
    worker.signal(libc::SIGTERM);
    worker.wait_exit(LIMIT).await;
    let _again = spawn_named_worker(test_db.url(), "refused-again", &[], &env);
    let op = wait_for_op(pool, &id, "completed", |op| op.status.is_terminal()).await;
    assert_eq!(op.status, Status::Completed);
    assert_eq!(
        op.result,
        Some(serde_json::json!({"steps": 1, "step_ms": 0}))
    );
    let _ = std::fs::remove_dir_all(&outbox);
    Ok(())
}

async fn operations_status(pool: &sqlx::PgPool, id: &str) -> String {
    sqlx::query_scalar("SELECT status FROM ktrdr.operations WHERE operation_id = $1")
        .bind(id)
        .fetch_one(pool)
        .await
        .unwrap()
}
