//! Saving a job's checkpoint, fenced by its attempt, in the order that keeps one checkpoint whole at
//! every instant: the new artifact first (written durably), then the row pointing at it, then the
//! previous artifact is deleted. A failed save is logged and never fails the operation.

use ktrdr::{
    artifacts::ArtifactStore,
    checkpoints::{self, CheckpointKind, NewCheckpoint, SaveVerdict},
    operations::Lease,
};
use serde_json::Value;
use sqlx::PgPool;

use super::JobContext;

#[derive(Clone)]
pub struct CheckpointSaver {
    pool: PgPool,
    store: ArtifactStore,
    lease: Lease,
}

/// What to save: how far the job got (`epoch` or `bar`), its JSON state, and optionally the bytes
/// of an artifact (weights, optimizer moments) too large for JSON.
pub struct Snapshot<'a> {
    pub unit: &'static str,
    pub unit_value: usize,
    pub state: Value,
    pub artifact: Option<&'a [u8]>,
}

impl CheckpointSaver {
    pub fn for_job(ctx: &JobContext) -> Self {
        Self {
            pool: ctx.pool.clone(),
            store: ArtifactStore::from_env(&ctx.pool),
            lease: ctx.lease.clone(),
        }
    }

    pub fn store(&self) -> &ArtifactStore {
        &self.store
    }

    /// True when saved; false when the attempt is stale or the save failed (logged).
    pub async fn save(&self, kind: CheckpointKind, snapshot: Snapshot<'_>) -> bool {
        let id = &self.lease.operation_id;
        let (unit, value) = (snapshot.unit, snapshot.unit_value);
        let saved = async {
            let artifact = match snapshot.artifact {
                Some(bytes) => {
                    let key = format!(
                        "checkpoints/{id}/attempt{}-{unit}{value}-{}.ckpt",
                        self.lease.attempt,
                        kind.as_str()
                    );
                    Some(self.store.put(&key, bytes).await?)
                }
                None => None,
            };
            let row = NewCheckpoint {
                kind,
                unit,
                unit_value: value as i64,
                state: snapshot.state,
                artifact: artifact.clone(),
            };
            match checkpoints::save(&self.pool, &self.lease, &row).await? {
                SaveVerdict::Saved { previous_artifact } => {
                    if let Some(previous) = previous_artifact {
                        self.store.delete(&previous).await?;
                    }
                    Ok(true)
                }
                SaveVerdict::Stop => {
                    if let Some(artifact) = artifact {
                        self.store.delete(&artifact.location).await?;
                    }
                    Ok::<_, ktrdr::Error>(false)
                }
            }
        };
        match saved.await {
            Ok(saved) => {
                tracing::info!(operation_id = %id, unit, value, kind = kind.as_str(), saved, "checkpoint");
                saved
            }
            Err(err) => {
                tracing::warn!(operation_id = %id, unit, value, "checkpoint save failed: {err}");
                false
            }
        }
    }
}
