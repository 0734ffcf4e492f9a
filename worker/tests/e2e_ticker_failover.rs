//! The ticker leader is killed: another process takes over leadership within a check interval and
//! still detects orphans — including the dead leader's own operation.

mod support;

use std::time::Instant;

use ktrdr_testkit::{TestDatabase, ticker_leader, wait_for};
use support::{e2e::*, long_operation_running_on, spawn_named_worker};

#[tokio::test]
async fn another_process_takes_over_and_detects_orphans() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let first = spawn_named_worker(test_db.url(), "first", &[], SHORT_TIMEOUTS);
    let id = long_operation_running_on(pool, "first", 600, 1)
        .await
        .operation_id;
    wait_for("first to lead", LIMIT, || async {
        ticker_leader(pool).await.filter(|l| l == "first")
    })
    .await;
    let _second = spawn_named_worker(test_db.url(), "second", &[], SHORT_TIMEOUTS);
    wait_for("second to register", LIMIT, || async {
        let active = ktrdr_testkit::count_rows(
            pool,
            "SELECT count(*) FROM ktrdr.workers_overview
             WHERE worker_id = 'second' AND status = 'active'",
        );
        (active.await.ok()? == 1).then_some(())
    })
    .await;

    first.signal(libc::SIGKILL);
    let killed_at = Instant::now();
    wait_for("second to lead", LIMIT, || async {
        ticker_leader(pool).await.filter(|l| l == "second")
    })
    .await;
    let takeover = killed_at.elapsed();
    assert_failed_as_orphan(pool, &id).await;
    eprintln!(
        "ticker takeover: {:.3} s after kill -9 of the leader (check interval 1 s)",
        takeover.as_secs_f64()
    );
    Ok(())
}
