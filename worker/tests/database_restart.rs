//! A worker rides out a restart of PostgreSQL: it keeps computing while the server is away,
//! reconnects, and reports the result — same attempt, nothing marked failed.

mod support;

use std::time::Duration;

use ktrdr::operations::{self, NewOperation, Status};
use ktrdr_testkit::{TempCluster, wait_for};
use serde_json::json;
use support::spawn_worker;

#[tokio::test]
async fn worker_survives_pg_ctl_restart() -> anyhow::Result<()> {
    let server = TempCluster::start()?;
    let pool = ktrdr::db::connect_with_size(&server.url, 2).await?;
    ktrdr::db::migrate(&pool).await?;
    let mut worker = spawn_worker(
        &server.url,
        &["--poll-interval-ms", "200"],
        &[
            ("ORPHAN_TIMEOUT_SECONDS", "30"),
            ("HEARTBEAT_INTERVAL_SECONDS", "0.5"),
        ],
    );
    let id = operations::submit(
        &pool,
        &ktrdr_trading::kinds::ALL,
        &NewOperation::new("dummy").with_params(json!({"steps": 40, "step_ms": 100})),
    )
    .await?;
    wait_for(
        "the operation to make progress",
        Duration::from_secs(60),
        || async {
            operations::get(&pool, &id)
                .await
                .ok()
                .filter(|op| op.progress_percent > 0.0)
        },
    )
    .await;
    pool.close().await;

    let restart = server.cluster.clone();
    tokio::task::spawn_blocking(move || restart.restart()).await??;

    let pool = ktrdr::db::wait_until_reachable(&server.url, Duration::from_secs(30)).await?;
    let op = wait_for(
        "the operation to complete after the restart",
        Duration::from_secs(60),
        || async {
            operations::get(&pool, &id)
                .await
                .ok()
                .filter(|op| op.status.is_terminal())
        },
    )
    .await;
    assert_eq!(op.status, Status::Completed, "{op:?}\n{}", worker.log());
    assert_eq!(op.attempt, 1);
    let statuses: Vec<String> = sqlx::query_scalar(
        "SELECT to_status FROM ktrdr.operation_events WHERE operation_id = $1 ORDER BY event_id",
    )
    .bind(&id)
    .fetch_all(&pool)
    .await?;
    assert_eq!(statuses, ["pending", "running", "completed"]);
    assert!(worker.is_running(), "{}", worker.log());

    // And it still takes new work on the reconnected pool.
    let after = operations::submit(
        &pool,
        &ktrdr_trading::kinds::ALL,
        &NewOperation::new("dummy").with_params(json!({"steps": 1, "step_ms": 1})),
    )
    .await?;
    wait_for(
        "new work after the restart",
        Duration::from_secs(60),
        || async {
            operations::get(&pool, &after)
                .await
                .ok()
                .filter(|op| op.status == Status::Completed)
        },
    )
    .await;
    Ok(())
}
