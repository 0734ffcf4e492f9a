//! A real `ktrdr-worker` process against a real database: running, progress, cancel, failure, bad
//! params, notifications, graceful shutdown and bad settings.

mod support;

use std::time::Duration;

use ktrdr::operations::{self, Operation, Status};
use ktrdr_testkit::{TestDatabase, wait_for};
use serde_json::json;
use sqlx::PgPool;
use support::{long_operation_running_on, spawn_named_worker, spawn_worker, wait_for_op_within};

const LIMIT: Duration = Duration::from_secs(60);

/// Waits, at most a minute, until the operation's status is `wanted`.
async fn wait_for_status(pool: &PgPool, id: &str, wanted: Status) -> Operation {
    let what = format!("to become {wanted}");
    wait_for_op_within(pool, id, &what, LIMIT, |op| op.status == wanted).await
}

/// Submits a `dummy` operation with `params`.
async fn submit(pool: &PgPool, params: serde_json::Value) -> String {
    support::submit(pool, "dummy", params).await
}

#[tokio::test]
async fn worker_runs_operations_and_reports_progress() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let _worker = spawn_worker(test_db.url(), &["--concurrency", "3"], &[]);
    let ids: Vec<String> =
        futures::future::join_all((0..6).map(|_| submit(pool, json!({"steps": 4, "step_ms": 50}))))
            .await;
    for id in &ids {
        let op = wait_for_status(pool, id, Status::Completed).await;
        assert_eq!(op.result, Some(json!({"steps": 4, "step_ms": 50})));
        assert_eq!(op.progress_percent, 100.0);
        assert_eq!(op.attempt, 1);
    }
    let registered = ktrdr_testkit::count_rows(
        pool,
        "SELECT count(*) FROM ktrdr.workers_overview WHERE status = 'active' AND concurrency = 3",
    )
    .await?;
    assert_eq!(registered, 1);
    Ok(())
}

#[tokio::test]
async fn progress_is_visible_while_an_operation_runs() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let _worker = spawn_named_worker(test_db.url(), "w", &[], &[]);
    let op = long_operation_running_on(pool, "w", 100, 1).await;
    assert!(op.progress_percent < 100.0, "{}", op.progress_percent);
    assert!(op.progress_message.unwrap().starts_with("step "));
    operations::request_cancel(pool, &op.operation_id, None).await?;
    Ok(())
}

#[tokio::test]
async fn notification_wakes_an_idle_worker_without_waiting_for_the_poll() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    // The poll would only fire after an hour: a pickup proves the notification woke the worker.
    let _worker = spawn_worker(test_db.url(), &["--poll-interval-ms", "3600000"], &[]);
    wait_for("the worker to LISTEN", LIMIT, || async {
        let listening = ktrdr_testkit::count_rows(
            pool,
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND query LIKE '%LISTEN%ktrdr_operation_pending%'",
        );
        (listening.await.ok()? > 0).then_some(())
    })
    .await;
    // The worker also claims once right after subscribing; let that claim find nothing first.
    wait_for("the worker's first idle claim", LIMIT, || async {
        let idle: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                            AND query LIKE '%claim_operations%' AND state = 'idle')",
        )
        .fetch_one(pool)
        .await
        .ok()?;
        idle.then_some(())
    })
    .await;
    let id = submit(pool, json!({"steps": 1, "step_ms": 1})).await;
    let op = wait_for_status(pool, &id, Status::Completed).await;
    assert_eq!(op.attempt, 1);
    Ok(())
}

#[tokio::test]
async fn cancel_stops_a_running_operation() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let _worker = spawn_named_worker(test_db.url(), "w", &[], &[]);
    let id = long_operation_running_on(pool, "w", 1000, 1)
        .await
        .operation_id;
    operations::request_cancel(pool, &id, Some("changed my mind")).await?;
    let op = wait_for_status(pool, &id, Status::Cancelled).await;
    assert!(op.progress_percent < 100.0);
    assert_eq!(op.cancel_reason.as_deref(), Some("changed my mind"));
    Ok(())
}

#[tokio::test]
async fn failing_and_malformed_operations_fail_and_the_worker_keeps_running() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let mut worker = spawn_worker(test_db.url(), &[], &[]);
    let failing = submit(pool, json!({"steps": 5, "step_ms": 10, "fail_at": 3})).await;
    // Malformed params that bypassed the CLI's validation (written straight through SQL).
    let malformed =
        ktrdr_testkit::submit_through_sql(pool, "dummy", json!({"steps": "lots"})).await?;
    let op = wait_for_status(pool, &failing, Status::Failed).await;
    assert_eq!(
        op.error_message.as_deref(),
        Some("dummy operation failed at step 3 of 5 (fail_at)")
    );
    let op = wait_for_status(pool, &malformed, Status::Failed).await;
    assert!(
        op.error_message
            .as_deref()
            .unwrap()
            .starts_with("invalid params for dummy: invalid type"),
        "{:?}",
        op.error_message
    );
    support::assert_new_work_completes(pool).await;
    assert!(worker.is_running());
    Ok(())
}

#[tokio::test]
async fn an_operation_whose_params_cannot_be_read_fails_alone_and_for_good() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let op = operations::NewOperation {
        max_attempts: 3,
        ..operations::NewOperation::new("dummy").with_params(json!({"steps": 1, "step_ms": 0}))
    };
    let ids = operations::submit_many(pool, &ktrdr_trading::kinds::ALL, &op, 3).await?;
    // Nested deeper than the decoder allows, as a hand-written UPDATE may store them.
    let poison = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
    sqlx::query("UPDATE ktrdr.operations SET params = $2::jsonb WHERE operation_id = $1")
        .bind(&ids[1])
        .bind(poison)
        .execute(pool)
        .await?;
    let _worker = spawn_worker(test_db.url(), &["--concurrency", "4"], &[]);
    // (Read without the params: the library cannot decode them either.)
    let (status, attempt, message): (String, i32, String) =
        wait_for("the bad one to end", LIMIT, || async {
            sqlx::query_as(
                "SELECT status, attempt, error_message FROM ktrdr.operations
             WHERE operation_id = $1 AND status IN ('completed', 'failed', 'cancelled')",
            )
            .bind(&ids[1])
            .fetch_optional(pool)
            .await
            .unwrap()
        })
        .await;
    assert_eq!(status, "failed");
    assert_eq!(
        attempt, 1,
        "not retried: another attempt reads the same row"
    );
    assert!(
        message.starts_with("the stored params cannot be read: recursion limit"),
        "{message}"
    );
    for good in [&ids[0], &ids[2]] {
        wait_for_status(pool, good, Status::Completed).await;
    }
    Ok(())
}

#[tokio::test]
async fn a_second_worker_under_a_live_workers_id_is_refused_at_start() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let mut first = spawn_named_worker(test_db.url(), "twin", &[], &[]);
    let first_pid = first.pid();
    wait_for("twin registered", LIMIT, || async {
        let pid: Option<i32> =
            sqlx::query_scalar("SELECT pid FROM ktrdr.workers WHERE worker_id = 'twin'")
                .fetch_optional(pool)
                .await
                .unwrap();
        (pid == Some(first_pid)).then_some(())
    })
    .await;
    let mut second = spawn_named_worker(test_db.url(), "twin", &[], &[]);
    let status = second.wait_exit(LIMIT).await;
    assert!(!status.success(), "{status:?}");
    let log = second.log();
    assert!(
        log.contains("worker id 'twin' is in use by a live worker") && log.contains("--worker-id"),
        "{log}"
    );
    // The first keeps its row and runs on.
    let pid: i32 = sqlx::query_scalar("SELECT pid FROM ktrdr.workers WHERE worker_id = 'twin'")
        .fetch_one(pool)
        .await?;
    assert_eq!(pid, first_pid);
    assert!(first.is_running());
    support::assert_new_work_completes(pool).await;
    Ok(())
}

#[tokio::test]
async fn sigterm_requeues_an_operation_without_checkpoint_and_deregisters() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let mut worker = spawn_named_worker(test_db.url(), "w-term", &[], &[]);
    let id = long_operation_running_on(pool, "w-term", 1000, 1)
        .await
        .operation_id;
    worker.signal(libc::SIGTERM);
    let status = worker.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}\n{}", worker.log());
    // A dummy has no checkpoint to resume from: cancelling it would throw it away, so it is
    // handed back to the queue, its attempt not counted.
    let op = operations::get(pool, &id).await?;
    assert_eq!(op.status, Status::Pending);
    assert_eq!(op.max_attempts, 2, "the released attempt is given back");
    let last = operations::events(pool, &id).await?.pop().expect("events");
    assert_eq!(last.to_status, Status::Pending);
    assert_eq!(last.reason.as_deref(), Some("Graceful shutdown - requeued"));
    let worker_status: String =
        sqlx::query_scalar("SELECT status FROM ktrdr.workers_overview WHERE worker_id = 'w-term'")
            .fetch_one(pool)
            .await?;
    assert_eq!(worker_status, "stopped");
    Ok(())
}

#[tokio::test]
async fn short_completions_are_summed_up_and_a_long_one_gets_its_own_line() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let mut worker = spawn_worker(test_db.url(), &["--concurrency", "4"], &[]);
    let short: Vec<String> =
        futures::future::join_all((0..20).map(|_| submit(pool, json!({"steps": 1, "step_ms": 0}))))
            .await;
    let long = submit(pool, json!({"steps": 12, "step_ms": 100})).await;
    for id in short.iter().chain([&long]) {
        wait_for_status(pool, id, Status::Completed).await;
    }
    worker.signal(libc::SIGTERM);
    let status = worker.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status:?}");
    let log = worker.log();
    let own_lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" INFO ") && l.contains("operation_id="))
        .collect();
    assert_eq!(
        own_lines.len(),
        2,
        "the long operation's two lines only: {log}"
    );
    assert!(
        own_lines[0].contains(" running ") && own_lines[0].contains(&long),
        "{log}"
    );
    assert!(
        own_lines[1].contains(" reported ") && own_lines[1].contains(&long),
        "{log}"
    );
    let summary = log
        .lines()
        .find(|l| l.contains("operations completed since the last summary"))
        .unwrap_or_else(|| panic!("no summary line: {log}"));
    assert!(summary.ends_with("completed=20"), "{summary}");
    Ok(())
}

#[tokio::test]
async fn a_store_it_cannot_write_stops_the_worker_before_it_claims_anything() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let waiting = submit(pool, json!({"steps": 1, "step_ms": 1})).await;
    // sysfs refuses new files to everyone, root included (for whom a chmod'ed directory would
    // not do).
    let unwritable = "/sys";
    assert!(
        std::path::Path::new(unwritable).is_dir(),
        "this test needs {unwritable}"
    );
    for (variable, store) in [
        ("KTRDR_ARTIFACTS_PATH", "artifacts"),
        ("CHECKPOINT_ARTIFACTS_PATH", "checkpoint"),
        ("KTRDR_OUTBOX_DIR", "outbox"),
    ] {
        let mut worker = spawn_worker(test_db.url(), &[], &[(variable, unwritable)]);
        let status = worker.wait_exit(LIMIT).await;
        assert!(!status.success());
        let log = worker.log();
        let last = log.lines().last().unwrap_or_default();
        assert!(
            last.starts_with(&format!(
                "error: {store} directory {unwritable} is not writable: "
            )) && last.ends_with(&format!("; fix its permissions or set {variable}")),
            "{log}"
        );
        assert_eq!(log.lines().count(), 1, "{log}");
    }
    let op = operations::get(pool, &waiting).await?;
    assert_eq!((op.status, op.attempt), (Status::Pending, 0), "claimed");
    let registered: i64 = sqlx::query_scalar("SELECT count(*) FROM ktrdr.workers")
        .fetch_one(pool)
        .await?;
    assert_eq!(registered, 0, "a worker registered");
    Ok(())
}

#[tokio::test]
async fn invalid_settings_stop_the_worker_with_one_line_naming_the_variable() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let a_file = std::env::temp_dir().join(format!("ktrdr-not-a-dir-{}", std::process::id()));
    std::fs::write(&a_file, b"")?;
    let a_file = a_file.to_str().unwrap().to_string();
    let not_a_directory = format!("CHECKPOINT_ARTIFACTS_PATH={a_file} is invalid: not a directory");
    for (name, value, expected) in [
        (
            "CHECKPOINT_ARTIFACTS_PATH",
            a_file.as_str(),
            not_a_directory.as_str(),
        ),
        (
            "KTRDR_ARTIFACTS_PATH",
            "../../etc",
            "KTRDR_ARTIFACTS_PATH=../../etc is invalid: it must be an absolute path (a relative one \
             depends on the directory each process starts in), e.g. KTRDR_ARTIFACTS_PATH=/",
        ),
        (
            "CHECKPOINT_ARTIFACTS_PATH",
            "scratch",
            "CHECKPOINT_ARTIFACTS_PATH=scratch is invalid: it must be an absolute path",
        ),
        (
            "KTRDR_OUTBOX_DIR",
            "outbox",
            "KTRDR_OUTBOX_DIR=outbox is invalid: it must be an absolute path",
        ),
        (
            "ORPHAN_TIMEOUT_SECONDS",
            "-1",
            "ORPHAN_TIMEOUT_SECONDS=-1 is invalid: expected a number from 0.5 to 86400",
        ),
        (
            "ORPHAN_TIMEOUT_SECONDS",
            "soon",
            "ORPHAN_TIMEOUT_SECONDS=soon is invalid",
        ),
        (
            "HEARTBEAT_INTERVAL_SECONDS",
            "50",
            "HEARTBEAT_INTERVAL_SECONDS=50 is invalid: expected a number from 0.1 to 30",
        ),
    ] {
        let mut worker = spawn_worker(test_db.url(), &[], &[(name, value)]);
        let status = worker.wait_exit(LIMIT).await;
        assert!(!status.success());
        let log = worker.log();
        assert_eq!(log.lines().count(), 1, "{log}");
        assert!(log.starts_with(&format!("error: {expected}")), "{log}");
    }
    let mut worker = spawn_worker(test_db.url(), &["--types", "dummy,astrology"], &[]);
    assert!(!worker.wait_exit(LIMIT).await.success());
    assert_eq!(
        worker.log().trim(),
        "error: --types: this worker cannot run 'astrology' (supported: dummy, training, backtesting, agent_design, agent_assessment)"
    );
    std::fs::remove_file(&a_file)?;
    Ok(())
}

#[tokio::test]
async fn a_login_the_server_refuses_stops_the_worker_with_one_line_saying_what_to_fix()
-> anyhow::Result<()> {
    let url = ktrdr_testkit::server_url_as(None, "ktrdr_no_such_database")?;
    let mut worker = spawn_worker(&url, &[], &[]);
    assert!(!worker.wait_exit(LIMIT).await.success());
    assert_eq!(
        worker.log(),
        format!(
            "error: cannot connect to PostgreSQL at {}: database \"ktrdr_no_such_database\" does \
             not exist — create it (createdb), or fix the database name in DATABASE_URL\n",
            ktrdr::RedactedUrl(&url)
        )
    );
    Ok(())
}

#[tokio::test]
async fn a_worker_started_before_its_database_says_why_once_and_keeps_waiting() -> anyhow::Result<()>
{
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let mut worker = spawn_worker(&url, &[], &[]);
    let expected = format!(
        "cannot connect to PostgreSQL at {url}: connection refused — is the server running? \
         (check DATABASE_URL); retrying for up to 60 s"
    );
    wait_for("the worker to say why it waits", LIMIT, || async {
        worker.log().contains(&expected).then_some(())
    })
    .await;
    // It retries (backoff from 100 ms) while it waits for the server to come up, without a line
    // each: a second of it holds several retries, and no line more.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(worker.is_running(), "{}", worker.log());
    let log = worker.log();
    assert_eq!(log.lines().count(), 1, "{log}");
    assert!(log.contains(" WARN "), "{log}");
    Ok(())
}
