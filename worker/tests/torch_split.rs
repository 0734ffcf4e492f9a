//! `ktrdr-worker` links no libtorch, so a worker of the other kinds starts without paying for it;
//! asked for a libtorch kind it becomes `ktrdr-worker-torch` (same process, same arguments).

mod support;

use std::time::Duration;

use ktrdr_testkit::{TestDatabase, wait_for};
use sqlx::PgPool;
use support::{spawn_named_worker, submit, wait_for_op_within};

const LIMIT: Duration = Duration::from_secs(60);

/// Waits until `worker_id` is registered, and returns the pid it registered with.
async fn registered_pid(pool: &PgPool, worker_id: &str) -> i32 {
    wait_for(&format!("{worker_id} to register"), LIMIT, || async {
        sqlx::query_scalar("SELECT pid FROM ktrdr.workers WHERE worker_id = $1")
            .bind(worker_id)
            .fetch_optional(pool)
            .await
            .expect("reading the workers table")
    })
    .await
}

fn mapped_files(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/maps")).expect("the worker's memory map")
}

#[tokio::test]
async fn a_worker_of_other_kinds_never_loads_libtorch() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let worker = spawn_named_worker(
        test_db.url(),
        "light",
        &["--types", "dummy,agent_design,agent_assessment"],
        &[],
    );
    assert_eq!(registered_pid(pool, "light").await, worker.pid());
    let id = submit(pool, "dummy", serde_json::json!({"steps": 1, "step_ms": 0})).await;
    wait_for_op_within(pool, &id, "to complete", LIMIT, |op| {
        op.status == ktrdr::operations::Status::Completed
    })
    .await;
    let maps = mapped_files(worker.pid());
    assert!(
        !maps.contains("libtorch") && !maps.contains("libc10"),
        "ktrdr-worker mapped libtorch:\n{maps}"
    );
    let exe = std::fs::read_link(format!("/proc/{}/exe", worker.pid()))?;
    assert!(exe.ends_with("ktrdr-worker"), "{}", exe.display());
    Ok(())
}

#[tokio::test]
async fn a_worker_asked_for_training_becomes_ktrdr_worker_torch() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let worker = spawn_named_worker(test_db.url(), "torch", &["--types", "dummy,training"], &[]);
    assert_eq!(
        registered_pid(pool, "torch").await,
        worker.pid(),
        "the same process, not a child"
    );
    let exe = std::fs::read_link(format!("/proc/{}/exe", worker.pid()))?;
    assert!(exe.ends_with("ktrdr-worker-torch"), "{}", exe.display());
    assert!(mapped_files(worker.pid()).contains("libtorch_cpu"));
    let types: Vec<String> =
        sqlx::query_scalar("SELECT types FROM ktrdr.workers WHERE worker_id = 'torch'")
            .fetch_one(pool)
            .await?;
    assert_eq!(types, ["dummy", "training"], "the arguments came along");
    Ok(())
}
