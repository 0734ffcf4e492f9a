//! Seed M2: a worker running a long operation is killed with -9. Its lease lapses and the ticker (in
//! another worker) fails the operation with the orphan message moments after the timeout.

mod support;

use ktrdr::operations::Status;
use ktrdr_testkit::TestDatabase;
use support::e2e::*;
use support::spawn_worker;

#[tokio::test]
async fn killed_worker_operation_fails_as_orphan_within_the_timeout() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let victim = spawn_worker(
        test_db.url(),
        &["--worker-id", "victim", "--no-ticker"],
        SHORT_TIMEOUTS,
    );
    let id = submit_long(pool, 600, 1).await;
    wait_for_op(pool, &id, "running on victim", running_on("victim")).await;
    let _keeper = spawn_worker(test_db.url(), &["--worker-id", "keeper"], SHORT_TIMEOUTS);

    victim.signal(libc::SIGKILL);
    let op = wait_for_op(pool, &id, "failed", |op| op.status.is_terminal()).await;
    assert_eq!(op.status, Status::Failed);
    assert_eq!(
        op.error_message.as_deref(),
        Some("Operation was RUNNING but no worker claimed it")
    );

    // On the server's clock: from the last heartbeat to the failure.
    let silent_seconds: f64 = sqlx::query_scalar(
        "SELECT extract(epoch FROM e.at - o.heartbeat_at)::float8
         FROM ktrdr.operation_events e JOIN ktrdr.operations o USING (operation_id)
         WHERE e.operation_id = $1 AND e.to_status = 'failed'",
    )
    .bind(&id)
    .fetch_one(pool)
    .await?;
    let after_timeout = silent_seconds - ORPHAN_TIMEOUT_SECONDS;
    eprintln!(
        "M2: orphan detected {silent_seconds:.3} s after the last heartbeat = timeout + {after_timeout:.3} s"
    );
    assert!(after_timeout >= 0.0, "failed before the lease lapsed");
    assert!(
        after_timeout < 2.0,
        "detected timeout + {after_timeout:.3} s"
    );
    Ok(())
}
