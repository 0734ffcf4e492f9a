//! Pruning of finished work (`Pruner::run_once`, `ktrdr.prune_operations`, pg_cron's
//! `ktrdr.run_pruning`) and its one setting, KTRDR_RETENTION_DAYS. Ages are set with UPDATEs of
//! `completed_at` (and the workers' heartbeat and lease) in each test's setup.

use std::{process::Command, time::Duration};

use chrono::{TimeDelta, Utc};
use ktrdr::{
    artifacts::ArtifactStore,
    checkpoints::{self, CheckpointKind, NewCheckpoint},
    config::TickerSettings,
    maintenance::{Pruner, PrunerConfig, pruning},
    operations::{self, NewOperation, Progress},
    workers::{self, WorkerIdentity},
};
use ktrdr_testkit::{TestDatabase, count_rows, pending_dummy, running_dummy, submit_dummy};
use serde_json::json;
use sqlx::PgPool;

/// The default service: retention 30 days, batches of 1000.
fn pruner() -> Pruner {
    Pruner::new(PrunerConfig::default()).unwrap()
}

/// Makes the operation look finished `days` ago (its status is whatever the test gave it).
async fn finished_days_ago(pool: &PgPool, operation_id: &str, days: i32) {
    sqlx::query(
        "UPDATE ktrdr.operations SET completed_at = now() - make_interval(days => $2)
         WHERE operation_id = $1",
    )
    .bind(operation_id)
    .bind(days)
    .execute(pool)
    .await
    .unwrap();
}

/// A completed operation with one kept milestone, finished `days` ago.
async fn completed(pool: &PgPool, days: i32) -> String {
    let claimed = running_dummy(pool, "w", 30.0).await.unwrap();
    let milestone = Progress {
        percent: 100.0,
        ..Progress::default()
    };
    claimed
        .lease
        .record_progress(pool, 30.0, &milestone)
        .await
        .unwrap();
    claimed.lease.complete(pool, json!({})).await.unwrap();
    finished_days_ago(pool, &claimed.lease.operation_id, days).await;
    claimed.lease.operation_id
}

/// A failed operation (its only attempt failed), finished `days` ago.
async fn failed(pool: &PgPool, days: i32) -> String {
    let claimed = running_dummy(pool, "w", 30.0).await.unwrap();
    claimed.lease.fail(pool, "boom", false).await.unwrap();
    finished_days_ago(pool, &claimed.lease.operation_id, days).await;
    claimed.lease.operation_id
}

/// A pending operation cancelled `days` ago.
async fn cancelled(pool: &PgPool, days: i32) -> String {
    let id = pending_dummy(pool).await.unwrap();
    operations::request_cancel(pool, &id, None).await.unwrap();
    finished_days_ago(pool, &id, days).await;
    id
}

async fn exists(pool: &PgPool, operation_id: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM ktrdr.operations WHERE operation_id = $1)")
        .bind(operation_id)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn event_count(pool: &PgPool, operation_id: &str) -> i64 {
    operations::events(pool, operation_id).await.unwrap().len() as i64
}

async fn milestone_count(pool: &PgPool, operation_id: &str) -> usize {
    operations::progress_since(pool, operation_id, 0, 100)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn finished_operations_older_than_the_retention_go_with_their_events_and_younger_ones_stay()
-> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let old = [
        completed(pool, 31).await,
        failed(pool, 31).await,
        cancelled(pool, 400).await,
    ];
    let young = [completed(pool, 29).await, cancelled(pool, 0).await];
    let mut old_events = 0;
    for id in &old {
        old_events += event_count(pool, id).await;
    }
    let young_events = [
        event_count(pool, &young[0]).await,
        event_count(pool, &young[1]).await,
    ];
    assert!(young_events.iter().all(|&n| n > 0), "{young_events:?}");

    let report = pruner().run_once(pool, None).await?;
    assert_eq!(report.operations_deleted, 3, "{report:?}");
    assert_eq!(report.events_deleted, old_events, "{report:?}");
    assert_eq!(report.batches, 1);
    assert_eq!(report.retention_days, 30.0);
    for id in &old {
        assert!(!exists(pool, id).await, "{id} was kept");
        assert_eq!(event_count(pool, id).await, 0, "events of {id} were kept");
        assert_eq!(milestone_count(pool, id).await, 0, "progress of {id} kept");
    }
    for (id, events) in young.iter().zip(young_events) {
        assert!(exists(pool, id).await, "{id} was pruned");
        assert_eq!(event_count(pool, id).await, events);
    }
    assert_eq!(milestone_count(pool, &young[0]).await, 1);
    // Nothing is left to prune: the next pass deletes nothing and is due after the interval.
    let again = pruner().run_once(pool, None).await?;
    assert!(!again.deleted_anything(), "{again:?}");
    assert_eq!(again.next_due, again.checked_at + TimeDelta::hours(1));
    Ok(())
}

#[tokio::test]
async fn active_operations_are_never_pruned_however_old() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let running = running_dummy(pool, "w", 30.0).await?.lease.operation_id;
    let reconciling = running_dummy(pool, "w", 30.0).await?.lease.operation_id;
    let pending = pending_dummy(pool).await?;
    sqlx::query(
        "UPDATE ktrdr.operations SET status = 'pending_reconciliation',
                reconcile_deadline = now() + interval '1 minute'
         WHERE operation_id = $1",
    )
    .bind(&reconciling)
    .execute(pool)
    .await?;
    // A completed_at from long ago — say, left over from before a resume by a hand-written UPDATE —
    // must not make an active operation look finished.
    for id in [&pending, &running, &reconciling] {
        sqlx::query(
            "UPDATE ktrdr.operations SET created_at = now() - interval '400 days',
                    completed_at = now() - interval '400 days'
             WHERE operation_id = $1",
        )
        .bind(id)
        .execute(pool)
        .await?;
    }
    let report = pruner().run_once(pool, None).await?;
    assert!(!report.deleted_anything(), "{report:?}");
    for id in [&pending, &running, &reconciling] {
        assert!(exists(pool, id).await, "{id} was pruned");
        assert!(event_count(pool, id).await > 0);
    }
    Ok(())
}

#[tokio::test]
async fn an_operation_with_a_checkpoint_stays_resumable_until_its_checkpoint_is_gone()
-> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let store = ArtifactStore::Database(pool.clone());
    let claimed = running_dummy(pool, "w", 30.0).await?;
    let id = claimed.lease.operation_id.clone();
    let checkpoint = NewCheckpoint {
        kind: CheckpointKind::Cancellation,
        unit: "epoch",
        unit_value: 3,
        state: json!({"epoch": 3}),
        artifact: None,
    };
    checkpoints::save(pool, &claimed.lease, &checkpoint).await?;
    claimed.lease.mark_cancelled(pool, None).await?;
    finished_days_ago(pool, &id, 90).await;

    let report = pruner().run_once(pool, None).await?;
    assert_eq!(report.operations_deleted, 0, "{report:?}");
    assert!(checkpoints::get(pool, &id).await?.is_some());
    // Still resumable, and kept when it ends again; once its checkpoint is deleted (by hand or by
    // the checkpoint cleanup), it ages like any other.
    operations::resume(pool, &id).await?;
    let claimed = ktrdr_testkit::claim_next(pool, "w", "dummy")
        .await?
        .unwrap();
    claimed.lease.mark_cancelled(pool, None).await?;
    finished_days_ago(pool, &id, 90).await;
    assert_eq!(pruner().run_once(pool, None).await?.operations_deleted, 0);
    checkpoints::delete(pool, &store, &id).await?;
    assert_eq!(pruner().run_once(pool, None).await?.operations_deleted, 1);
    assert!(!exists(pool, &id).await);
    Ok(())
}

#[tokio::test]
async fn a_parent_goes_after_its_children_and_children_of_an_active_parent_stay()
-> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let child_of = |parent: &str| NewOperation {
        parent_id: Some(parent.to_string()),
        ..NewOperation::new("dummy")
    };
    // An active parent (a research still running) with an old finished child.
    let active_parent = pending_dummy(pool).await?;
    let kept_child = submit_dummy(pool, &child_of(&active_parent)).await?;
    operations::request_cancel(pool, &kept_child, None).await?;
    finished_days_ago(pool, &kept_child, 60).await;
    // An old finished parent whose child is still running.
    let waiting_parent = cancelled(pool, 60).await;
    let running_child = submit_dummy(pool, &child_of(&waiting_parent)).await?;
    // Claims both pending operations: the running child and the active parent.
    let claimed = operations::claim(pool, "w", &["dummy".into()], 5, 30.0).await?;
    assert_eq!(claimed.len(), 2);
    // An old finished parent with an old finished child: both go, the child first.
    let done_parent = cancelled(pool, 60).await;
    let done_child = submit_dummy(pool, &child_of(&done_parent)).await?;
    operations::request_cancel(pool, &done_child, None).await?;
    finished_days_ago(pool, &done_child, 50).await;
    assert_eq!(
        operations::get(pool, &running_child).await?.status,
        operations::Status::Running
    );

    let first = pruner().run_once(pool, None).await?;
    assert_eq!(first.operations_deleted, 1, "{first:?}");
    assert!(!exists(pool, &done_child).await);
    assert!(exists(pool, &done_parent).await);
    let second = pruner().run_once(pool, None).await?;
    assert_eq!(second.operations_deleted, 1, "{second:?}");
    assert!(!exists(pool, &done_parent).await);

    for id in [&active_parent, &kept_child, &waiting_parent, &running_child] {
        assert!(exists(pool, id).await, "{id} was pruned");
    }
    assert_eq!(
        operations::get(pool, &running_child)
            .await?
            .parent_id
            .as_deref(),
        Some(waiting_parent.as_str())
    );
    Ok(())
}

/// 35 operations cancelled 40 days ago, in one UPDATE.
async fn thirty_five_old_operations(pool: &PgPool) -> anyhow::Result<()> {
    ktrdr_testkit::submit_dummies(pool, 35).await?;
    sqlx::query(
        "UPDATE ktrdr.operations SET status = 'cancelled', completed_at = now() - interval '40 days'",
    )
    .execute(pool)
    .await?;
    Ok(())
}

#[tokio::test]
async fn batches_of_ten_delete_all_thirty_five_old_operations_in_four_calls() -> anyhow::Result<()>
{
    let pool = &TestDatabase::create().await?.pool;
    thirty_five_old_operations(pool).await?;
    let events = count_rows(pool, "SELECT count(*) FROM ktrdr.operation_events").await?;
    let config = PrunerConfig {
        batch_size: 10,
        ..PrunerConfig::default()
    };
    let report = Pruner::new(config)?.run_once(pool, None).await?;
    assert_eq!(report.batches, 4, "{report:?}");
    assert_eq!(report.operations_deleted, 35);
    assert_eq!(report.events_deleted, events);
    assert_eq!(
        count_rows(pool, "SELECT count(*) FROM ktrdr.operations").await?,
        0
    );
    assert_eq!(
        count_rows(pool, "SELECT count(*) FROM ktrdr.operation_events").await?,
        0
    );
    Ok(())
}

#[tokio::test]
async fn a_pass_stops_at_its_batch_limit_and_is_due_again_at_once() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    thirty_five_old_operations(pool).await?;
    let config = PrunerConfig {
        batch_size: 10,
        max_batches: 2,
        ..PrunerConfig::default()
    };
    let pruner = Pruner::new(config)?;
    let before = Utc::now();
    let first = pruner.run_once(pool, None).await?;
    assert_eq!((first.batches, first.operations_deleted), (2, 20));
    let backlog_wait = TimeDelta::from_std(pruning::BACKLOG_WAIT)?;
    assert!(
        first.next_due <= Utc::now() + backlog_wait && first.next_due >= before + backlog_wait,
        "{first:?}"
    );
    let second = pruner.run_once(pool, None).await?;
    assert_eq!((second.batches, second.operations_deleted), (2, 15));
    assert_eq!(second.next_due, second.checked_at + TimeDelta::hours(1));
    Ok(())
}

#[tokio::test]
async fn a_retention_of_zero_keeps_everything() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    thirty_five_old_operations(pool).await?;
    let config = PrunerConfig {
        retention_days: 0.0,
        ..PrunerConfig::default()
    };
    let report = Pruner::new(config)?.run_once(pool, None).await?;
    assert_eq!(report.batches, 0, "{report:?}");
    assert!(!report.deleted_anything());
    // pg_cron's function keeps everything at a retention of zero too.
    let batch: serde_json::Value = sqlx::query_scalar("SELECT ktrdr.run_pruning(interval '0', 10)")
        .fetch_one(pool)
        .await?;
    assert_eq!(batch["operations_deleted"], 0, "{batch}");
    assert_eq!(
        count_rows(pool, "SELECT count(*) FROM ktrdr.operations").await?,
        35
    );
    Ok(())
}

#[tokio::test]
async fn a_negative_retention_or_empty_batch_is_refused_by_the_sql() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    for call in [
        "SELECT ktrdr.prune_operations(interval '-1 day', 10)",
        "SELECT ktrdr.prune_operations(interval '1 day', 0)",
    ] {
        let err = sqlx::query(call).execute(pool).await.unwrap_err();
        let code = err.as_database_error().and_then(|e| e.code());
        assert_eq!(code.as_deref(), Some("22023"), "{call}: {err}");
    }
    Ok(())
}

/// Registers `worker_id` and makes its last heartbeat `days` ago with a lease that lapsed a minute
/// later; `stopped` deregisters it first.
async fn worker_heard_from_days_ago(pool: &PgPool, worker_id: &str, days: i32, stopped: bool) {
    let identity = WorkerIdentity {
        worker_id: worker_id.into(),
        types: vec!["dummy".into()],
        host: "h".into(),
        pid: 1,
        concurrency: 1,
        capabilities: json!({}),
    };
    workers::register(pool, &identity, 30.0).await.unwrap();
    if stopped {
        workers::deregister(pool, worker_id).await.unwrap();
    }
    sqlx::query(
        "UPDATE ktrdr.workers SET heartbeat_at = now() - make_interval(days => $2),
                lease_expires_at = now() - make_interval(days => $2) + interval '1 minute'
         WHERE worker_id = $1",
    )
    .bind(worker_id)
    .bind(days)
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn workers_silent_longer_than_the_retention_are_pruned_and_live_ones_kept()
-> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let live = WorkerIdentity {
        worker_id: "live".into(),
        types: vec!["dummy".into()],
        host: "h".into(),
        pid: 1,
        concurrency: 1,
        capabilities: json!({}),
    };
    workers::register(pool, &live, 30.0).await?;
    worker_heard_from_days_ago(pool, "lost-yesterday", 1, false).await;
    worker_heard_from_days_ago(pool, "lost-long-ago", 45, false).await;
    worker_heard_from_days_ago(pool, "stopped-long-ago", 45, true).await;
    let statuses: Vec<(String, workers::WorkerStatus)> = workers::list(pool)
        .await?
        .into_iter()
        .map(|w| (w.worker_id, w.status))
        .collect();
    assert!(
        statuses.contains(&("lost-long-ago".into(), workers::WorkerStatus::Lost)),
        "{statuses:?}"
    );

    let report = pruner().run_once(pool, None).await?;
    assert_eq!(report.workers_deleted, 2, "{report:?}");
    let mut left: Vec<String> = workers::list(pool)
        .await?
        .into_iter()
        .map(|w| w.worker_id)
        .collect();
    left.sort();
    assert_eq!(left, ["live", "lost-yesterday"]);
    // A pruned worker that comes back is told to register again, and can.
    assert!(!workers::heartbeat(pool, "lost-long-ago", 30.0, None).await?);
    Ok(())
}

#[tokio::test]
async fn every_pass_is_recorded_for_health_also_from_pg_cron() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let before = ktrdr::health::read(pool).await?.pruning;
    assert!(before.last_pass.is_none(), "{before:?}");
    cancelled(pool, 31).await;
    cancelled(pool, 31).await;
    let report = pruner().run_once(pool, None).await?;
    let health = ktrdr::health::read(pool).await?.pruning;
    assert!(health.last_pass.is_some());
    assert_eq!(health.operations_deleted, Some(report.operations_deleted));
    assert_eq!(health.operations_deleted, Some(2));
    assert_eq!(health.events_deleted, Some(report.events_deleted));
    assert_eq!(health.retention_days, Some(30.0));

    cancelled(pool, 8).await;
    let batch: serde_json::Value =
        sqlx::query_scalar("SELECT ktrdr.run_pruning(interval '7 days')")
            .fetch_one(pool)
            .await?;
    assert_eq!(batch["operations_deleted"], 1, "{batch}");
    let health = ktrdr::health::read(pool).await?.pruning;
    assert_eq!(
        (health.operations_deleted, health.retention_days),
        (Some(1), Some(7.0))
    );
    Ok(())
}

/// The child half of the next test: prints what `TickerSettings::from_env` made of the
/// environment it was started with.
#[test]
#[ignore = "run by a_bad_retention_days_value_stops_start_up_naming_the_variable in a child process"]
fn print_the_retention_from_the_environment() {
    match TickerSettings::from_env() {
        Ok(settings) => println!("retention_days={}", settings.pruning.retention_days),
        Err(err) => println!("error: {err}"),
    }
}

/// KTRDR_RETENTION_DAYS is read where the other ticker settings are. Each value is read in a child
/// process (this test binary running only the test above), so no test changes the environment of
/// a process whose other threads read it.
#[test]
fn a_bad_retention_days_value_stops_start_up_naming_the_variable() -> anyhow::Result<()> {
    let read = |value: Option<&str>| -> anyhow::Result<String> {
        let mut child = Command::new(std::env::current_exe()?);
        child.args([
            "--exact",
            "print_the_retention_from_the_environment",
            "--ignored",
            "--nocapture",
        ]);
        match value {
            Some(value) => child.env("KTRDR_RETENTION_DAYS", value),
            None => child.env_remove("KTRDR_RETENTION_DAYS"),
        };
        let output = child.output()?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        Ok(stdout
            .lines()
            .find(|line| line.starts_with("retention_days=") || line.starts_with("error: "))
            .unwrap_or_else(|| panic!("no answer from the child: {stdout}"))
            .to_string())
    };
    assert_eq!(
        read(Some("-1"))?,
        "error: KTRDR_RETENTION_DAYS=-1 is invalid: expected a number from 0 to 36500"
    );
    assert_eq!(
        read(Some("a month"))?,
        "error: KTRDR_RETENTION_DAYS=a month is invalid: expected a number from 0 to 36500"
    );
    assert_eq!(read(Some("7.5"))?, "retention_days=7.5");
    assert_eq!(read(Some("0"))?, "retention_days=0");
    assert_eq!(read(None)?, "retention_days=30");
    Ok(())
}

#[tokio::test]
async fn the_ticker_runs_the_pruning_when_it_starts_leading() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let old = cancelled(pool, 31).await;
    let settings = TickerSettings {
        pruning: PrunerConfig::default(),
        ..TickerSettings::from_env()?
    };
    let ticker = ktrdr::ticker::Ticker::new(pool.clone(), "t", &settings)?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(ticker.run(shutdown));
    ktrdr_testkit::wait_for("the ticker to prune", Duration::from_secs(30), || async {
        (!exists(pool, &old).await).then_some(())
    })
    .await;
    stop.send(true)?;
    task.await?;
    Ok(())
}
