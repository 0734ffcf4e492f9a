//! Claiming ahead, with real `ktrdr-worker` processes: operations a worker claimed beyond its free
//! slots (buffered, not started) are settled like running ones when the worker is killed, go back
//! to pending at once on SIGTERM, and are cancelled without starting; many workers that claim
//! ahead still complete every operation exactly once.

mod support;

use std::time::Duration;

use ktrdr::operations::{self, NewOperation, Status};
use ktrdr_testkit::{TestDatabase, count_rows, wait_for};
use serde_json::json;
use sqlx::PgPool;
use support::{WorkerProcess, spawn_named_worker, wait_for_op_within};

const LIMIT: Duration = Duration::from_secs(60);

/// A 12 s lease with heartbeats every 4 s: a buffered operation waits at most 2 s for a slot — long
/// enough to look at it, short enough to wait for orphan detection.
const LEASES: &[(&str, &str)] = &[
    ("ORPHAN_TIMEOUT_SECONDS", "12"),
    ("HEARTBEAT_INTERVAL_SECONDS", "4"),
    ("ORPHAN_CHECK_INTERVAL_SECONDS", "1"),
];

/// Heartbeats every 10 s: buffered operations wait up to 5 s, so a test that acts on them does so
/// well before they would be released for waiting too long, even on a loaded machine.
const LONG_LEASES: &[(&str, &str)] = &[
    ("ORPHAN_TIMEOUT_SECONDS", "30"),
    ("HEARTBEAT_INTERVAL_SECONDS", "10"),
];

const ORPHAN_MESSAGE: &str = "Operation was RUNNING but no worker claimed it";

/// Starts `worker_id` (one slot, up to 5 claimed ahead, no ticker, `leases`), teaches it that jobs
/// are short (20 no-op dummies), then submits 6 long dummies and waits until it holds all 6 and
/// the first submitted runs: the other five wait in its buffer. Returns the worker and the 6 ids
/// in submission order.
async fn worker_holding_five_ahead(
    test_db: &TestDatabase,
    worker_id: &str,
    leases: &[(&str, &str)],
) -> (WorkerProcess, Vec<String>) {
    let pool = &test_db.pool;
    let args = ["--concurrency", "1", "--prefetch", "5", "--no-ticker"];
    let worker = spawn_named_worker(test_db.url(), worker_id, &args, leases);
    let no_op = NewOperation::new("dummy").with_params(json!({"steps": 1, "step_ms": 0}));
    let short = operations::submit_many(pool, &ktrdr_trading::kinds::ALL, &no_op, 20)
        .await
        .unwrap();
    for id in &short {
        wait_for_op_within(pool, id, "completed", LIMIT, |op| {
            op.status == Status::Completed
        })
        .await;
    }
    let long = NewOperation::new("dummy").with_params(json!({"steps": 600, "step_ms": 100}));
    let ids = operations::submit_many(pool, &ktrdr_trading::kinds::ALL, &long, 6)
        .await
        .unwrap();
    let held = format!("{worker_id} to hold all 6 long operations");
    wait_for(&held, LIMIT, || async {
        let held = held_by(pool, worker_id, &ids).await;
        (held == 6).then_some(())
    })
    .await;
    // Held in the database is not yet started: the worker may not have taken the claim's answer in.
    // The first one's progress (written half a second in) says it runs.
    wait_for("the first long operation to run", LIMIT, || async {
        ever_progressed(pool, &ids[0]).await.then_some(())
    })
    .await;
    assert_eq!(held_by(pool, worker_id, &ids).await, 6, "still all held");
    (worker, ids)
}

/// How many of `ids` are running under `worker_id`'s lease.
async fn held_by(pool: &PgPool, worker_id: &str, ids: &[String]) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM ktrdr.operations
         WHERE operation_id = ANY($1) AND status = 'running' AND worker_id = $2",
    )
    .bind(ids)
    .bind(worker_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Whether the operation's job ever reported progress (a buffered one never ran).
async fn ever_progressed(pool: &PgPool, id: &str) -> bool {
    let op = operations::get(pool, id).await.unwrap();
    op.progress_message.is_some()
}

#[tokio::test]
async fn buffered_operations_of_a_killed_worker_are_settled_like_running_ones() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let (victim, ids) = worker_holding_five_ahead(&test_db, "victim", LEASES).await;
    victim.signal(libc::SIGKILL);
    // The rescuer only runs the ticker for this test: it takes no dummies.
    let _rescuer = spawn_named_worker(test_db.url(), "rescuer", &["--types", "training"], LEASES);
    for id in &ids {
        let op = wait_for_op_within(pool, id, "settled", LIMIT, |op| op.status.is_terminal()).await;
        assert_eq!(op.status, Status::Failed, "{id}");
        assert_eq!(op.error_message.as_deref(), Some(ORPHAN_MESSAGE), "{id}");
    }
    for id in &ids[1..] {
        assert!(
            !ever_progressed(pool, id).await,
            "{id} was buffered, not run"
        );
    }
    Ok(())
}

#[tokio::test]
async fn sigterm_returns_the_buffer_to_pending_at_once() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let (mut worker, ids) = worker_holding_five_ahead(&test_db, "w", LONG_LEASES).await;
    worker.signal(libc::SIGTERM);
    let status = worker.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}\n{}", worker.log());
    for id in &ids {
        let op = operations::get(pool, id).await?;
        assert_eq!(op.status, Status::Pending, "{id}");
        assert_eq!(op.attempt, 1, "{id}");
        assert_eq!(
            op.max_attempts, 2,
            "{id}: the released attempt is given back"
        );
    }
    let released_unstarted = count_rows(
        pool,
        "SELECT count(*) FROM ktrdr.operation_events
         WHERE from_status = 'running' AND to_status = 'pending'
           AND reason = 'Graceful shutdown - requeued (not started)'",
    )
    .await?;
    assert_eq!(released_unstarted, 5);
    Ok(())
}

#[tokio::test]
async fn a_buffered_operation_is_cancelled_without_starting() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let (_worker, ids) = worker_holding_five_ahead(&test_db, "w", LONG_LEASES).await;
    let last = &ids[5];
    operations::request_cancel(pool, last, Some("not needed")).await?;
    let op = wait_for_op_within(pool, last, "cancelled", LIMIT, |op| op.status.is_terminal()).await;
    assert_eq!(op.status, Status::Cancelled);
    assert!(!ever_progressed(pool, last).await, "it never ran");
    let running = operations::get(pool, &ids[0]).await?;
    assert_eq!(running.status, Status::Running, "the running one goes on");
    Ok(())
}

#[tokio::test]
async fn eight_workers_claiming_ahead_complete_each_operation_exactly_once() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let no_op = NewOperation::new("dummy").with_params(json!({"steps": 1, "step_ms": 0}));
    let ids = operations::submit_many(pool, &ktrdr_trading::kinds::ALL, &no_op, 4000).await?;
    let _workers: Vec<WorkerProcess> = (0..8)
        .map(|n| {
            let id = format!("w{n}");
            spawn_named_worker(test_db.url(), &id, &["--concurrency", "1"], &[])
        })
        .collect();
    wait_for(
        "4000 operations completed",
        Duration::from_secs(120),
        || async {
            let left = count_rows(
                pool,
                "SELECT count(*) FROM ktrdr.operations WHERE status <> 'completed'",
            )
            .await
            .unwrap();
            (left == 0).then_some(())
        },
    )
    .await;
    let completions: Vec<(String, i64)> = sqlx::query_as(
        "SELECT operation_id, count(*) FROM ktrdr.operation_events
         WHERE to_status = 'completed' GROUP BY 1",
    )
    .fetch_all(pool)
    .await?;
    assert_eq!(completions.len(), ids.len());
    assert!(
        completions.iter().all(|(_, n)| *n == 1),
        "each exactly once"
    );
    let claims = count_rows(
        pool,
        "SELECT count(*) FROM ktrdr.operation_events WHERE to_status = 'running'",
    )
    .await?;
    assert_eq!(
        claims, 4000,
        "each claimed once: nothing was released or retried"
    );
    // One slot each, yet claims handed out several operations: they claimed ahead.
    let largest_claim = count_rows(
        pool,
        "SELECT max(n) FROM (SELECT count(*) AS n FROM ktrdr.operations
                             GROUP BY worker_id, started_at) claims",
    )
    .await?;
    assert!(largest_claim > 1, "largest claim {largest_claim}");
    let workers = count_rows(
        pool,
        "SELECT count(DISTINCT worker_id) FROM ktrdr.operations",
    )
    .await?;
    assert!(workers > 1, "the work was shared ({workers} workers)");
    Ok(())
}
