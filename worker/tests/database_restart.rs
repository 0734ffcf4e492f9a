//! A worker rides out a restart of PostgreSQL: it keeps computing while the server is away,
//! reconnects, and reports the result — same attempt, nothing marked failed.

mod support;

use std::time::Duration;

use ktrdr::operations::Status;
use ktrdr_testkit::TempCluster;
use serde_json::json;
use support::{spawn_worker, submit, wait_for_op_within};

const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test]
async fn worker_survives_pg_ctl_restart() -> anyhow::Result<()> {
    let server = TempCluster::start()?;
    let pool = server.migrated_pool().await?;
    let mut worker = spawn_worker(
        &server.url,
        &["--poll-interval-ms", "200"],
        &[
            ("ORPHAN_TIMEOUT_SECONDS", "30"),
            ("HEARTBEAT_INTERVAL_SECONDS", "0.5"),
        ],
    );
    let id = submit(&pool, "dummy", json!({"steps": 40, "step_ms": 100})).await;
    wait_for_op_within(&pool, &id, "to make progress", LIMIT, |op| {
        op.progress_percent > 0.0
    })
    .await;
    pool.close().await;

    server.restart_server().await?;

    let pool = server.reachable_pool().await?;
    let op = wait_for_op_within(&pool, &id, "to complete after the restart", LIMIT, |op| {
        op.status.is_terminal()
    })
    .await;
    assert_eq!(op.status, Status::Completed, "{op:?}\n{}", worker.log());
    assert_eq!(op.attempt, 1);
    let statuses: Vec<String> = ktrdr_testkit::event_history(&pool, &id)
        .await?
        .into_iter()
        .map(|(status, _, _)| status)
        .collect();
    assert_eq!(statuses, ["pending", "running", "completed"]);
    assert!(worker.is_running(), "{}", worker.log());

    // And it still takes new work on the reconnected pool.
    support::assert_new_work_completes(&pool).await;
    Ok(())
}
