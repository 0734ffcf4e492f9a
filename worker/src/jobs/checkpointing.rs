//! Saving a job's checkpoint, fenced by its attempt, in the order that keeps one checkpoint whole at
//! every instant: the new artifact first (written durably), then the row pointing at it, then the
//! previous artifact is deleted. A failed save is logged and counted and never fails the operation.
//!
//! Also how a job ends with a checkpoint: stopped (`cancellation` or `shutdown`) or failed
//! (`failure`, and the message says where it can continue from) — and how it reads the checkpoint
//! to continue from, verified: a state or artifact that does not match its SHA-256, or an artifact
//! that is gone, marks the checkpoint corrupt and fails the operation saying how to go on.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use ktrdr::{
    artifacts::ArtifactStore,
    checkpoints::{self, CheckpointKind, NewCheckpoint, SaveVerdict},
    operations::Lease,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sqlx::PgPool;

use super::{JobContext, JobEnd, JobResult, StopRequest};

#[derive(Clone)]
pub struct CheckpointSaver {
    pool: PgPool,
    store: ArtifactStore,
    lease: Lease,
    saved: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
}

/// What to save: how far the job got (`epoch` or `bar`), its JSON state, and optionally the bytes
/// of an artifact (weights, optimizer moments) too large for JSON.
pub struct Snapshot<'a> {
    pub unit: &'static str,
    pub unit_value: usize,
    pub state: Value,
    pub artifact: Option<&'a [u8]>,
}

/// A checkpoint read back: the job's state and the bytes of its artifact, if it has one.
pub struct Saved<T> {
    pub state: T,
    pub artifact: Option<Vec<u8>>,
}

impl CheckpointSaver {
    pub fn for_job(ctx: &JobContext) -> Self {
        Self::new(
            ctx.pool.clone(),
            ctx.stores.checkpoints.clone(),
            ctx.lease.clone(),
        )
    }

    pub fn new(pool: PgPool, store: ArtifactStore, lease: Lease) -> Self {
        Self {
            pool,
            store,
            lease,
            saved: Arc::default(),
            failed: Arc::default(),
        }
    }

    /// The operation's checkpoint to continue from, its state and artifact verified, or None. One
    /// that cannot be used is marked corrupt (no longer resumable) and fails the job with
    /// `CHECKPOINT_CORRUPTED`, the reason, and how to go on (`ktrdr ops retry`); a database that is
    /// away fails it retryably.
    pub async fn load<T: DeserializeOwned>(&self) -> JobResult<Option<Saved<T>>> {
        let unreadable = |err| JobEnd::from_error("cannot read the checkpoint", err);
        let row = match checkpoints::get(&self.pool, &self.lease.operation_id).await {
            Ok(Some(row)) => row,
            Ok(None) => return Ok(None),
            Err(err) => return Err(unreadable(err)),
        };
        if let Some(why) = row.corrupt_reason {
            return Err(self.unusable(&why).await);
        }
        let artifact = match row.artifact() {
            Some(artifact) => match self.store.get(&artifact).await {
                Ok(bytes) => Some(bytes),
                Err(err) if err.is_transient() => return Err(unreadable(err)),
                Err(err) => return Err(self.unusable(&err.to_string()).await),
            },
            None => None,
        };
        match serde_json::from_value(row.state) {
            Ok(state) => Ok(Some(Saved { state, artifact })),
            Err(err) => Err(self.unusable(&format!("unreadable state: {err}")).await),
        }
    }

    /// How a job ends when its checkpoint cannot be used (found by [`load`](Self::load), or by the
    /// job itself: a checkpoint that does not fit its inputs): the checkpoint is marked corrupt, so
    /// it is no longer offered for resuming, and the job fails with `CHECKPOINT_CORRUPTED`, `why`
    /// and how to go on. A database that is away fails it retryably instead; the next attempt finds
    /// the checkpoint unusable again and records it.
    pub async fn unusable(&self, why: &str) -> JobEnd {
        match checkpoints::mark_corrupt(&self.pool, &self.lease, why).await {
            Ok(message) => JobEnd::fatal(message),
            Err(err) => JobEnd::from_error("cannot read the checkpoint", err),
        }
    }

    /// Checkpoints this attempt saved.
    pub fn saved(&self) -> usize {
        self.saved.load(Ordering::Relaxed)
    }

    /// Saves that failed (and were logged).
    pub fn failed(&self) -> usize {
        self.failed.load(Ordering::Relaxed)
    }

    /// Saves the checkpoint of a stopped job (`shutdown` or `cancellation`): how the job ends.
    pub async fn stop(&self, request: StopRequest, snapshot: Snapshot<'_>) -> JobEnd {
        let kind = match request {
            StopRequest::Shutdown => CheckpointKind::Shutdown,
            _ => CheckpointKind::Cancellation,
        };
        if self.save(kind, snapshot).await {
            JobEnd::StoppedAtCheckpoint(request)
        } else {
            JobEnd::Stopped(request)
        }
    }

    /// Saves a `failure` checkpoint: how the job fails, saying where it can continue from.
    pub async fn fail(&self, snapshot: Snapshot<'_>, message: String, retryable: bool) -> JobEnd {
        let at = format!("{} {}", snapshot.unit, snapshot.unit_value);
        let message = if self.save(CheckpointKind::Failure, snapshot).await {
            format!(
                "{message} — checkpoint saved at {at}: `ktrdr resume {}` continues from it",
                self.lease.operation_id
            )
        } else {
            message
        };
        JobEnd::Failed { message, retryable }
    }

    /// True when saved; false when the attempt is stale or the save failed (logged and counted).
    pub async fn save(&self, kind: CheckpointKind, snapshot: Snapshot<'_>) -> bool {
        let id = &self.lease.operation_id;
        let (unit, value) = (snapshot.unit, snapshot.unit_value);
        let saved = async {
            let artifact = match snapshot.artifact {
                Some(bytes) => {
                    let key = checkpoints::artifact_key(&self.lease, kind, unit, value)?;
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
                    // The new checkpoint is in place: an old artifact left behind is the cleanup
                    // sweep's to remove, not a failed save.
                    if let Some(previous) = previous_artifact
                        && let Err(err) = self.store.delete(&previous).await
                    {
                        tracing::warn!(operation_id = %id, "previous checkpoint artifact kept: {err}");
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
                if saved {
                    self.saved.fetch_add(1, Ordering::Relaxed);
                }
                saved
            }
            Err(err) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(operation_id = %id, unit, value, kind = kind.as_str(), "checkpoint save failed: {err}");
                false
            }
        }
    }
}
