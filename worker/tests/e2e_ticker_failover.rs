//! The ticker leader is killed: another process takes over leadership within a check interval and
//! still detects orphans — including the dead leader's own operation.

mod support;

use std::time::Instant;

use ktrdr::operations::Status;
use ktrdr_testkit::{TestDatabase, wait_for};
use support::e2e::*;
use support::spawn_worker;

async fn leader(pool: &sqlx::PgPool) -> Option<String> {
    sqlx::query_scalar("SELECT leader_id FROM ktrdr.orphan_detector WHERE running")
        .fetch_optional(pool)
        .await
        .ok()
        .flatten()
        .flatten()
}

#[tokio::test]
async fn another_process_takes_over_and_detects_orphans() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let first = spawn_worker(test_db.url(), &["--worker-id", "first"], SHORT_TIMEOUTS);
    let id = submit_long(pool, 600, 1).await;
    wait_for_op(pool, &id, "running on first", running_on("first")).await;
    wait_for("first to lead", LIMIT, || async {
        leader(pool).await.filter(|l| l == "first")
    })
    .await;
    let _second = spawn_worker(test_db.url(), &["--worker-id", "second"], SHORT_TIMEOUTS);
    wait_for("second to register", LIMIT, || async {
        let active: i64 = sqlx::query_scalar("SELECT count(*) FROM ktrdr.workers_overview WHERE worker_id = 'second' AND status = 'active'")
            .fetch_one(pool).await.ok()?;
        (active == 1).then_some(())
    })
    .await;

    first.signal(libc::SIGKILL);
    let killed_at = Instant::now();
    wait_for("second to lead", LIMIT, || async {
        leader(pool).await.filter(|l| l == "second")
    })
    .await;
    let takeover = killed_at.elapsed();
    let op = wait_for_op(pool, &id, "failed", |op| op.status.is_terminal()).await;
    assert_eq!(op.status, Status::Failed);
    assert_eq!(
        op.error_message.as_deref(),
        Some("Operation was RUNNING but no worker claimed it")
    );
    eprintln!(
        "ticker takeover: {:.3} s after kill -9 of the leader (check interval 1 s)",
        takeover.as_secs_f64()
    );
    Ok(())
}
