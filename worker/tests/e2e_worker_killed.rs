//! Seed M2: a worker running a long operation is killed with -9. Its lease lapses and the ticker (in
//! another worker) fails the operation with the orphan message moments after the timeout.

mod support;

use ktrdr_testkit::TestDatabase;
use support::e2e::*;

#[tokio::test]
async fn killed_worker_operation_fails_as_orphan_within_the_timeout() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let (_victim, _keeper, id) =
        signal_a_busy_worker(&test_db, ("victim", "keeper"), 600, 1, libc::SIGKILL).await;
    assert_failed_as_orphan(pool, &id).await;

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
