//! The ticker leader is killed, or frozen: another process takes over leadership (the lease lapses,
//! a follower takes it within a check interval) and still detects orphans — including the dead
//! leader's own operation. A frozen leader that wakes up finds its lease taken and steps down.

mod support;

use std::time::{Duration, Instant};

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
    registered(pool, "second").await;

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

/// Leader epoch and id as recorded in ktrdr.maintenance_state.
async fn lease_holder(pool: &sqlx::PgPool) -> (i64, Option<String>) {
    sqlx::query_as("SELECT leader_epoch, leader_id FROM ktrdr.maintenance_state")
        .fetch_one(pool)
        .await
        .expect("maintenance_state")
}

#[tokio::test]
async fn a_frozen_leader_is_replaced_and_steps_down_when_it_wakes() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let url = test_db.url();
    // LB runs the long dummy (and no ticker); LA, started after, leads; the standby takes no dummies.
    let lb = spawn_named_worker(url, "LB", &["--no-ticker"], SHORT_TIMEOUTS);
    let id = long_operation_running_on(pool, "LB", 600, 1)
        .await
        .operation_id;
    let la = spawn_named_worker(url, "LA", &[], SHORT_TIMEOUTS);
    wait_for("LA to lead", LIMIT, || async {
        ticker_leader(pool).await.filter(|l| l == "LA")
    })
    .await;
    let _standby = spawn_named_worker(url, "standby", &["--types", "training"], SHORT_TIMEOUTS);
    registered(pool, "standby").await;
    let (la_epoch, _) = lease_holder(pool).await;

    la.signal(libc::SIGSTOP);
    lb.signal(libc::SIGKILL);
    let frozen_at = Instant::now();
    assert_failed_as_orphan(pool, &id).await;
    let settled = frozen_at.elapsed();
    let check_interval = 1.0;
    eprintln!(
        "orphan settled {:.3} s after kill -STOP of the leader and kill -9 of its worker \
         (orphan timeout {ORPHAN_TIMEOUT_SECONDS} s, check interval {check_interval} s)",
        settled.as_secs_f64()
    );
    assert!(
        settled.as_secs_f64() < ORPHAN_TIMEOUT_SECONDS + 3.0 * check_interval,
        "orphan settled after {settled:?}"
    );
    let (standby_epoch, holder) = lease_holder(pool).await;
    assert_eq!(holder.as_deref(), Some("standby"));
    assert!(standby_epoch > la_epoch);

    la.signal(libc::SIGCONT);
    // LA's next renewal (within a check interval of waking) fails; give it a few.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        lease_holder(pool).await,
        (standby_epoch, Some("standby".into()))
    );
    assert_eq!(ticker_leader(pool).await.as_deref(), Some("standby"));
    assert!(
        la.log().contains("lost its leader lease"),
        "LA did not step down:\n{}",
        la.log()
    );
    la.signal(libc::SIGKILL);
    Ok(())
}

/// Waits until `worker_id` is an active worker in the registry.
async fn registered(pool: &sqlx::PgPool, worker_id: &str) {
    wait_for(&format!("{worker_id} to register"), LIMIT, || async {
        let active: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ktrdr.workers_overview WHERE worker_id = $1 AND status = 'active'",
        )
        .bind(worker_id)
        .fetch_one(pool)
        .await
        .ok()?;
        (active == 1).then_some(())
    })
    .await;
}
