//! Failures that must not cost the training, with real workers: a model that cannot be stored after
//! the last epoch leaves a `failure` checkpoint of the finished state; a retry and a resume continue
//! from it without training again — the same weights as a run that never failed; checkpoint saves
//! that fail are logged and counted and never fail the operation.

mod support;

use std::path::PathBuf;

use ktrdr::{
    checkpoints,
    operations::{self, NewOperation, Status},
};
use ktrdr_testkit::TestDatabase;
use support::{
    checkpoint_writes, completed, finished, record_checkpoint_writes, spawn_worker,
    store_synthetic_bars, submit_operation, training_params,
};

const EPOCHS: usize = 6;

fn params() -> serde_json::Value {
    training_params(EPOCHS, 2)
}

/// A fresh directory for artifacts, removed when dropped.
struct ArtifactRoot(PathBuf);

impl ArtifactRoot {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!("ktrdr-artifacts-{nanos:x}"));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }

    /// A regular file at `name`: no directory can be created there, so writes below it fail.
    fn block(&self, name: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, b"not a directory").unwrap();
        path.to_str().unwrap().to_string()
    }
}

impl Drop for ArtifactRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn an_unstorable_model_is_retried_and_resumed_without_training_again() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    store_synthetic_bars(pool, (2022, 1), (2022, 3), 5).await;
    let root = ArtifactRoot::new();
    let models = root.block("models");
    let env = [
        ("KTRDR_TORCH_THREADS", "1"),
        ("KTRDR_ARTIFACTS_PATH", root.path()),
    ];
    record_checkpoint_writes(pool).await;
    let mut worker = spawn_worker(test_db.url(), &["--types", "training"], &env);
    let training = |max_attempts| NewOperation {
        max_attempts,
        ..NewOperation::new("training").with_params(params())
    };

    // Storing fails; the retry (attempt 2) continues from the failure checkpoint, trains no epoch,
    // and fails to store again.
    let id = submit_operation(pool, &training(2)).await;
    let op = finished(pool, &id).await;
    assert_eq!((op.status, op.attempt), (Status::Failed, 2));
    // It shows how far it got: the last epoch, written before the failure.
    let progress = op.progress.clone().unwrap_or_default();
    assert_eq!(progress["epoch"], EPOCHS - 1, "{progress}");
    let last = EPOCHS as i64;
    assert_eq!(
        checkpoint_writes(pool, &id).await,
        [
            (1, "periodic".to_string(), 2),
            (1, "periodic".to_string(), 4),
            (1, "failure".to_string(), last),
            (2, "failure".to_string(), last),
        ]
    );
    let message = op.error_message.unwrap_or_default();
    assert!(message.starts_with("cannot store the model: "), "{message}");
    assert!(
        message.ends_with(&format!(
            "checkpoint saved at epoch {EPOCHS}: `ktrdr resume {id}` continues from it"
        )),
        "{message}"
    );
    let checkpoint = checkpoints::get(pool, &id).await?.expect("a checkpoint");
    assert_eq!(
        (checkpoint.kind.as_str(), checkpoint.unit_value),
        ("failure", last)
    );

    // The disk is fixed; resuming stores the model and trains no further epoch.
    std::fs::remove_file(&models)?;
    operations::resume(pool, &id).await?;
    let resumed = completed(pool, &id).await.result.unwrap();
    assert_eq!(resumed["resumed_from_epoch"], EPOCHS);
    assert_eq!(resumed["history"].as_array().unwrap().len(), EPOCHS);
    assert!(checkpoints::get(pool, &id).await?.is_none());
    assert!(worker.is_running());
    drop(worker);

    // The same training on a worker whose checkpoint directory turns out unusable (a file where
    // its `checkpoints/` should be): the saves after epochs 2 and 4 fail, are counted, and the run
    // completes with the same weights.
    let checkpoints_path = root.0.join("scratch");
    std::fs::create_dir(&checkpoints_path)?;
    root.block("scratch/checkpoints");
    let checkpoints_path = checkpoints_path.to_str().unwrap();
    let _worker = spawn_worker(
        test_db.url(),
        &["--types", "training"],
        &[
            ("KTRDR_TORCH_THREADS", "1"),
            ("KTRDR_ARTIFACTS_PATH", root.path()),
            ("CHECKPOINT_ARTIFACTS_PATH", checkpoints_path),
        ],
    );
    let reference = submit_operation(pool, &training(1)).await;
    let uninterrupted = completed(pool, &reference).await.result.unwrap();
    assert_eq!(uninterrupted["checkpoint_save_failures"], 2);
    assert_eq!(uninterrupted["checkpoints_saved"], 0);
    assert_eq!(
        resumed["parameters_sha256"], uninterrupted["parameters_sha256"],
        "resuming the failed run changed the weights"
    );
    assert_eq!(resumed["history"], uninterrupted["history"]);
    Ok(())
}
