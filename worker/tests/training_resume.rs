//! Seeds M4 and M6 with real workers: a training cancelled past half-way, or stopped by SIGTERM,
//! leaves a checkpoint; resumed (on another worker), it continues from that epoch and ends with
//! exactly the weights of an uninterrupted run; the checkpoint is gone afterwards.

mod support;

use std::time::Duration;

use ktrdr::{
    artifacts::{ArtifactRef, ArtifactStore},
    checkpoints::{self, CheckpointKind},
    operations::{self, NewOperation, Operation, Status},
};
use ktrdr_testkit::{TestDatabase, wait_for};
use support::{
    WorkerProcess, checkpoint_of_kind, completed, finished, spawn_worker, store_synthetic_bars,
    submit, submit_operation, training_params, wait_until,
};

const EPOCHS: usize = 150;

fn params() -> serde_json::Value {
    training_params(EPOCHS, 5)
}

/// Starts a worker that runs trainings only, with `args` and environment `env`.
fn spawn_trainer(database_url: &str, args: &[&str], env: &[(&str, &str)]) -> WorkerProcess {
    let args: Vec<&str> = ["--types", "training"]
        .iter()
        .chain(args)
        .copied()
        .collect();
    spawn_worker(database_url, &args, env)
}

fn epoch_reached(op: &Operation) -> usize {
    op.progress
        .as_ref()
        .and_then(|p| p["epoch"].as_u64())
        .unwrap_or(0) as usize
}

#[tokio::test]
async fn cancelled_and_shut_down_trainings_resume_to_the_same_weights() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    store_synthetic_bars(pool, (2022, 1), (2022, 3), 5).await;
    let env = [("KTRDR_TORCH_THREADS", "1")];
    let mut first = spawn_trainer(test_db.url(), &["--concurrency", "3"], &env);
    let training = || submit(pool, "training", params());
    let (reference, cancelled, shut_down) = (training().await, training().await, training().await);

    // M3: a periodic checkpoint exists once the interval passed, while the operation runs.
    let periodic = wait_for(
        "a periodic checkpoint",
        Duration::from_secs(300),
        || async {
            checkpoints::get(pool, &cancelled)
                .await
                .ok()
                .flatten()
                .filter(|c| c.kind == CheckpointKind::Periodic)
        },
    )
    .await;
    assert_eq!(periodic.unit, "epoch");
    assert_eq!(periodic.unit_value % 5, 0, "every 5 epochs");
    // M4: cancel past 50 %.
    wait_until(pool, &cancelled, "past half-way", |op| {
        epoch_reached(op) > EPOCHS / 2
    })
    .await;
    operations::request_cancel(pool, &cancelled, Some("pause")).await?;
    assert_eq!(finished(pool, &cancelled).await.status, Status::Cancelled);
    let checkpoint = checkpoint_of_kind(pool, &cancelled, CheckpointKind::Cancellation).await;
    assert!(
        checkpoint.unit_value as usize > EPOCHS / 2,
        "{}",
        checkpoint.unit_value
    );

    // M6: SIGTERM mid-training.
    wait_until(pool, &shut_down, "under way", |op| epoch_reached(op) > 5).await;
    first.signal(libc::SIGTERM);
    assert!(
        first.wait_exit(Duration::from_secs(25)).await.success(),
        "{}",
        first.log()
    );
    let op = operations::get(pool, &shut_down).await?;
    assert_eq!(op.status, Status::Cancelled, "{}", first.log());
    assert_eq!(
        op.error_message.as_deref(),
        Some("Graceful shutdown - checkpoint saved")
    );
    checkpoint_of_kind(pool, &shut_down, CheckpointKind::Shutdown).await;

    // Another worker finishes the reference run and both resumed ones.
    let _second = spawn_trainer(test_db.url(), &["--concurrency", "3"], &env);
    if operations::get(pool, &reference).await?.status == Status::Cancelled {
        operations::resume(pool, &reference).await?;
    }
    let resumed_at = std::time::Instant::now();
    operations::resume(pool, &cancelled).await?;
    operations::resume(pool, &shut_down).await?;
    let from = checkpoint.unit_value as usize;
    wait_until(pool, &cancelled, "a new epoch", |op| {
        op.status == Status::Running && epoch_reached(op) >= from
    })
    .await;
    eprintln!(
        "resume latency: {:.3} s from `resume` to the first new epoch",
        resumed_at.elapsed().as_secs_f64()
    );
    let mut fingerprints = Vec::new();
    for id in [&reference, &cancelled, &shut_down] {
        let result = completed(pool, id).await.result.unwrap();
        fingerprints.push(result["parameters_sha256"].as_str().unwrap().to_string());
        assert!(
            checkpoints::get(pool, id).await?.is_none(),
            "checkpoint left after completion"
        );
        if id == &cancelled {
            assert_eq!(
                result["resumed_from_epoch"].as_u64().unwrap(),
                checkpoint.unit_value as u64
            );
        }
    }
    assert_eq!(
        fingerprints[0], fingerprints[1],
        "cancel + resume changed the weights"
    );
    assert_eq!(
        fingerprints[0], fingerprints[2],
        "shutdown + resume changed the weights"
    );
    Ok(())
}

#[tokio::test]
async fn requeued_and_orphaned_trainings_continue_from_their_last_checkpoint() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    store_synthetic_bars(pool, (2022, 1), (2022, 3), 5).await;
    let env = [
        ("KTRDR_TORCH_THREADS", "1"),
        ("ORPHAN_TIMEOUT_SECONDS", "3"),
        ("HEARTBEAT_INTERVAL_SECONDS", "0.5"),
        ("ORPHAN_CHECK_INTERVAL_SECONDS", "1"),
    ];
    let training = |max_attempts| NewOperation {
        max_attempts,
        ..NewOperation::new("training").with_params(params())
    };

    // `requeue` stops gracefully and hands its operation back; `doomed` is killed with -9.
    let requeue = spawn_trainer(
        test_db.url(),
        &[
            "--worker-id",
            "requeue",
            "--concurrency",
            "1",
            "--on-shutdown",
            "requeue",
        ],
        &env,
    );
    let handed_back = submit_operation(pool, &training(1)).await;
    wait_until(pool, &handed_back, "under way on requeue", |op| {
        op.worker_id.as_deref() == Some("requeue") && epoch_reached(op) > 12
    })
    .await;
    let doomed = spawn_trainer(
        test_db.url(),
        &["--worker-id", "doomed", "--concurrency", "1", "--no-ticker"],
        &env,
    );
    let orphaned = submit_operation(pool, &training(2)).await;
    wait_until(pool, &orphaned, "under way on doomed", |op| {
        op.worker_id.as_deref() == Some("doomed") && epoch_reached(op) > 12
    })
    .await;

    requeue.signal(libc::SIGTERM);
    doomed.signal(libc::SIGKILL);
    let op = wait_until(pool, &handed_back, "handed back", |op| {
        op.status == Status::Pending
    })
    .await;
    assert_eq!(op.attempt, 1);
    checkpoint_of_kind(pool, &handed_back, CheckpointKind::Shutdown).await;

    // A new worker (with the ticker) finds the orphan once its lease lapses, and continues both.
    let _rescuer = spawn_trainer(test_db.url(), &["--concurrency", "2"], &env);
    let mut fingerprints = Vec::new();
    for id in [&handed_back, &orphaned] {
        let result = completed(pool, id).await.result.unwrap();
        let resumed_from = result["resumed_from_epoch"]
            .as_u64()
            .expect("resumed, not restarted");
        assert!(resumed_from >= 10, "{id} resumed from epoch {resumed_from}");
        fingerprints.push(result["parameters_sha256"].as_str().unwrap().to_string());
    }
    assert_eq!(operations::get(pool, &orphaned).await?.attempt, 2);
    // Same params, stopped at different epochs in different ways: the same final weights.
    assert_eq!(fingerprints[0], fingerprints[1]);
    Ok(())
}

/// How a corrupt checkpoint's operation fails: the reason, then the way on.
fn corrupted(id: &str, why: &str) -> String {
    format!(
        "CHECKPOINT_CORRUPTED: {why}. The checkpoint cannot be resumed: `ktrdr ops retry {id}` \
         deletes it and runs the operation again from scratch"
    )
}

/// Waits until the operation failed, asserts it is not offered for resuming and that resume refuses
/// it with its error message, and returns that.
async fn failed_not_resumable(pool: &sqlx::PgPool, id: &str) -> String {
    let op = finished(pool, id).await;
    assert_eq!(op.status, Status::Failed);
    assert!(!op.resumable, "{id} listed as resumable");
    let message = op.error_message.unwrap_or_default();
    let refused = operations::resume(pool, id).await.unwrap_err();
    assert_eq!(refused.to_string(), message);
    message
}

#[tokio::test]
async fn a_corrupt_checkpoint_fails_the_resumed_operation_saying_how_to_go_on() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    store_synthetic_bars(pool, (2022, 1), (2022, 3), 5).await;
    let types = ["--types", "training,dummy", "--concurrency", "2"];
    let mut first = spawn_worker(test_db.url(), &types, &[]);
    // One gets its artifact overwritten, one its JSON state edited, one its artifact taken away
    // (a checkpoint the training itself finds unusable).
    let (bad_artifact, bad_state, no_artifact) = (
        submit(pool, "training", params()).await,
        submit(pool, "training", params()).await,
        submit(pool, "training", params()).await,
    );
    for id in [&bad_artifact, &bad_state, &no_artifact] {
        wait_until(pool, id, "under way", |op| epoch_reached(op) > 6).await;
        operations::request_cancel(pool, id, None).await?;
    }
    for id in [&bad_artifact, &bad_state, &no_artifact] {
        finished(pool, id).await;
    }
    // No worker while the checkpoints are tampered with: nothing claims the resumed operations
    // before the edit.
    first.signal(libc::SIGTERM);
    assert!(first.wait_exit(Duration::from_secs(60)).await.success());

    let location = checkpoints::get(pool, &bad_artifact)
        .await?
        .and_then(|c| c.artifact_location)
        .expect("a checkpoint with an artifact");
    sqlx::query("UPDATE ktrdr.artifacts SET content = 'garbage' WHERE 'db:' || key = $1")
        .bind(&location)
        .execute(pool)
        .await?;
    operations::resume(pool, &bad_artifact).await?;
    let state_sha256 = checkpoints::get(pool, &bad_state)
        .await?
        .unwrap()
        .state_sha256;
    operations::resume(pool, &bad_state).await?;
    sqlx::query(
        "UPDATE ktrdr.checkpoints SET state = jsonb_set(state, '{next_epoch}', '1') WHERE operation_id = $1",
    )
    .bind(&bad_state)
    .execute(pool)
    .await?;
    operations::resume(pool, &no_artifact).await?;
    sqlx::query(
        "UPDATE ktrdr.checkpoints
         SET artifact_location = NULL, artifact_sha256 = NULL, artifact_size_bytes = NULL
         WHERE operation_id = $1",
    )
    .bind(&no_artifact)
    .execute(pool)
    .await?;

    let mut worker = spawn_worker(test_db.url(), &types, &[]);
    let state_why = format!(
        "checkpoint state of operation {bad_state} does not match its sha256 {state_sha256}: it \
         was changed after it was saved"
    );
    assert_eq!(
        failed_not_resumable(pool, &bad_state).await,
        corrupted(&bad_state, &state_why)
    );
    assert_eq!(
        failed_not_resumable(pool, &no_artifact).await,
        corrupted(&no_artifact, "the checkpoint has no artifact")
    );
    // The artifact's reason goes on with both hashes.
    let message = failed_not_resumable(pool, &bad_artifact).await;
    let way_on = corrupted(&bad_artifact, "");
    assert!(
        message.starts_with(&format!(
            "CHECKPOINT_CORRUPTED: artifact {location} is corrupt: sha256 "
        )) && message.ends_with(way_on.trim_start_matches("CHECKPOINT_CORRUPTED: ")),
        "{message}"
    );

    // The way on works: run again from scratch, each completes without its checkpoint.
    let store = ArtifactStore::Database(pool.clone());
    for id in [&bad_artifact, &bad_state, &no_artifact] {
        operations::retry(pool, &store, id).await?;
    }
    for id in [&bad_artifact, &bad_state, &no_artifact] {
        let op = completed(pool, id).await;
        let result = op.result.unwrap();
        assert!(result["resumed_from_epoch"].is_null(), "{id}: {result}");
    }
    assert!(
        store
            .get(&ArtifactRef {
                location,
                sha256: String::new(),
                size_bytes: 0
            })
            .await
            .is_err(),
        "the corrupt artifact was left behind"
    );
    assert!(worker.is_running());
    Ok(())
}
