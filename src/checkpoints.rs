//! Checkpoints (sql/55_checkpoints.sql): one current checkpoint per operation — how far it got (an
//! epoch or a bar), the JSON state to continue from, and the artifact holding what does not fit in
//! JSON (weights, optimizer moments), by location and SHA-256. The state has its SHA-256 too
//! (computed by `save_checkpoint` over jsonb's canonical text), so an edited state is found out like
//! a corrupt artifact. Saving is fenced by the attempt's lease; the row is deleted when the operation
//! completes. A worker that finds a checkpoint unusable marks it corrupt: it is then no longer
//! resumable, and `ktrdr ops retry` runs the operation again from scratch.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{FromRow, PgExecutor, PgPool};

use crate::{
    Error, Result,
    artifacts::{self, ArtifactRef, ArtifactStore},
    operations::Lease,
};

/// Why a checkpoint was taken (contract: stored lowercase).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum CheckpointKind {
    Periodic,
    Cancellation,
    Failure,
    Shutdown,
}

impl CheckpointKind {
    pub const ALL: [CheckpointKind; 4] = [
        CheckpointKind::Periodic,
        CheckpointKind::Cancellation,
        CheckpointKind::Failure,
        CheckpointKind::Shutdown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CheckpointKind::Periodic => "periodic",
            CheckpointKind::Cancellation => "cancellation",
            CheckpointKind::Failure => "failure",
            CheckpointKind::Shutdown => "shutdown",
        }
    }
}

impl std::fmt::Display for CheckpointKind {
    /// Uppercase, as tables for people show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.as_str().to_uppercase())
    }
}

/// What to save. NaN and infinities cannot be in a `serde_json::Value`: serializing state turns them
/// into null, as the contract wants.
#[derive(Debug, Clone)]
pub struct NewCheckpoint {
    pub kind: CheckpointKind,
    /// `epoch` or `bar`.
    pub unit: &'static str,
    pub unit_value: i64,
    pub state: Value,
    pub artifact: Option<ArtifactRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveVerdict {
    /// Saved; the previous checkpoint's artifact, if another, may be deleted now.
    Saved { previous_artifact: Option<String> },
    /// The attempt is stale: nothing was written.
    Stop,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Checkpoint {
    pub operation_id: String,
    pub kind: CheckpointKind,
    pub unit: String,
    pub unit_value: i64,
    pub state: Value,
    /// SHA-256 of the state's jsonb text, as saved.
    pub state_sha256: String,
    pub artifact_location: Option<String>,
    pub artifact_sha256: Option<String>,
    pub artifact_size_bytes: Option<i64>,
    pub state_size_bytes: i32,
    pub attempt: i32,
    pub created_at: DateTime<Utc>,
    /// Why the checkpoint cannot be used, or None: what the worker that found it out recorded
    /// (a corrupt or missing artifact, say), else a state that no longer matches its SHA-256
    /// (`ktrdr.checkpoint_corruption`).
    pub corrupt_reason: Option<String>,
}

impl Checkpoint {
    /// What the checkpoint takes up: its artifact and its JSON state.
    pub fn total_bytes(&self) -> i64 {
        self.artifact_size_bytes.unwrap_or(0) + i64::from(self.state_size_bytes)
    }

    /// The artifact reference, when the checkpoint has one.
    pub fn artifact(&self) -> Option<ArtifactRef> {
        Some(ArtifactRef {
            location: self.artifact_location.clone()?,
            sha256: self.artifact_sha256.clone()?,
            size_bytes: self.artifact_size_bytes? as u64,
        })
    }
}

pub async fn save(
    executor: impl PgExecutor<'_>,
    lease: &Lease,
    checkpoint: &NewCheckpoint,
) -> Result<SaveVerdict> {
    let artifact = checkpoint.artifact.as_ref();
    let (verdict, previous): (String, Option<String>) = sqlx::query_as(
        "SELECT verdict, previous_artifact_location
         FROM ktrdr.save_checkpoint($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&lease.operation_id)
    .bind(&lease.worker_id)
    .bind(lease.attempt)
    .bind(checkpoint.kind)
    .bind(checkpoint.unit)
    .bind(checkpoint.unit_value)
    .bind(&checkpoint.state)
    .bind(artifact.map(|a| &a.location))
    .bind(artifact.map(|a| &a.sha256))
    .bind(artifact.map(|a| a.size_bytes as i64))
    .fetch_one(executor)
    .await?;
    Ok(match verdict.as_str() {
        "ok" => SaveVerdict::Saved {
            previous_artifact: previous,
        },
        _ => SaveVerdict::Stop,
    })
}

/// Records why the lease's checkpoint cannot be used (fenced: a stale attempt records nothing) and
/// returns the message to fail the operation with, which says how to go on.
pub async fn mark_corrupt(pool: &PgPool, lease: &Lease, reason: &str) -> Result<String> {
    Ok(
        sqlx::query_scalar("SELECT ktrdr.mark_checkpoint_corrupt($1, $2, $3, $4)")
            .bind(&lease.operation_id)
            .bind(&lease.worker_id)
            .bind(lease.attempt)
            .bind(reason)
            .fetch_one(pool)
            .await?,
    )
}

/// Reads `c`, a row of ktrdr.checkpoints; the corruption check hashes its state.
const COLUMNS: &str =
    "operation_id, kind, unit, unit_value, state, state_sha256, artifact_location, artifact_sha256,
    artifact_size_bytes, state_size_bytes, attempt, created_at,
    ktrdr.checkpoint_corruption(c) AS corrupt_reason";

pub async fn get(pool: &PgPool, operation_id: &str) -> Result<Option<Checkpoint>> {
    let sql = format!("SELECT {COLUMNS} FROM ktrdr.checkpoints c WHERE operation_id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(operation_id)
        .fetch_optional(pool)
        .await?)
}

/// Deletes an operation's checkpoint and its artifact.
pub async fn delete(pool: &PgPool, store: &ArtifactStore, operation_id: &str) -> Result<()> {
    let location: Option<String> = sqlx::query_scalar("SELECT ktrdr.delete_checkpoint($1)")
        .bind(operation_id)
        .fetch_one(pool)
        .await?;
    if let Some(location) = location {
        store.delete(&location).await?;
    }
    Ok(())
}

/// What one cleanup pass removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    pub checkpoints_deleted: usize,
    pub artifacts_deleted: usize,
    pub unreferenced_artifacts_swept: usize,
}

/// Unreferenced artifacts younger than this are left alone: a worker may be between writing a new
/// checkpoint's artifact and pointing the row at it.
pub const SWEEP_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Deletes checkpoints older than `max_age_days` (of operations not running) with their artifacts,
/// then sweeps checkpoint artifacts older than `sweep_min_age` that no checkpoint row references.
/// Only ever deletes under the store's `checkpoints/` prefix, whatever a row says. The rows are
/// deleted in a transaction fenced by `fence` (the ticker's; `None` for a manual cleanup, see
/// [`leader::begin_fenced`](crate::leader::begin_fenced)), before any artifact.
pub async fn cleanup(
    pool: &PgPool,
    store: &ArtifactStore,
    max_age_days: f64,
    sweep_min_age: std::time::Duration,
    fence: Option<&crate::leader::Fence>,
) -> Result<CleanupReport> {
    let mut tx = crate::leader::begin_fenced(pool, fence).await?;
    let removed: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT operation_id, artifact_location FROM ktrdr.cleanup_checkpoints($1)")
            .bind(max_age_days)
            .fetch_all(&mut *tx)
            .await?;
    tx.commit().await?;
    let mut report = CleanupReport {
        checkpoints_deleted: removed.len(),
        ..Default::default()
    };
    for location in removed.into_iter().filter_map(|(_, location)| location) {
        if is_checkpoint_artifact(&location) && store.delete(&location).await.is_ok() {
            report.artifacts_deleted += 1;
        }
    }
    let referenced: std::collections::HashSet<String> = sqlx::query_scalar(
        "SELECT artifact_location FROM ktrdr.checkpoints WHERE artifact_location IS NOT NULL",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    for location in store.list_older_than("checkpoints", sweep_min_age).await? {
        if !referenced.contains(&location) && store.delete(&location).await.is_ok() {
            report.unreferenced_artifacts_swept += 1;
        }
    }
    Ok(report)
}

/// Checkpoint artifacts live under `checkpoints/` of a store; nothing else is ever cleaned up.
fn is_checkpoint_artifact(location: &str) -> bool {
    location.split_once(':').is_some_and(|(_, key)| {
        key.starts_with("checkpoints/") && artifacts::checked_key(key).is_ok()
    })
}

/// Where the artifact of a checkpoint is stored:
/// `checkpoints/{operation_id}/attempt{n}-{unit}{value}-{kind}.ckpt`. Built from checked parts only:
/// the id must be one plain name of the form the database gives ids (letters, digits, `_`, `-`;
/// migration V7), whatever a hand-written row holds.
pub fn artifact_key(
    lease: &Lease,
    kind: CheckpointKind,
    unit: &str,
    value: usize,
) -> Result<String> {
    let id = &lease.operation_id;
    let plain = |part: &str| {
        !part.is_empty()
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    if !plain(id) || !plain(unit) {
        return Err(Error::Artifact(format!(
            "operation id {id:?} (unit {unit:?}) cannot name a checkpoint artifact: only letters, \
             digits, '_' and '-' can"
        )));
    }
    Ok(format!(
        "checkpoints/{id}/attempt{}-{unit}{value}-{}.ckpt",
        lease.attempt,
        kind.as_str()
    ))
}

/// Every checkpoint, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Checkpoint>> {
    let sql = format!("SELECT {COLUMNS} FROM ktrdr.checkpoints c ORDER BY created_at DESC");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_all(pool)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::{CheckpointKind, artifact_key, is_checkpoint_artifact};
    use crate::operations::Lease;

    #[test]
    fn artifact_keys_are_built_from_plain_ids_only() {
        let lease = |id: &str| Lease {
            operation_id: id.into(),
            worker_id: "w".into(),
            attempt: 2,
        };
        assert_eq!(
            artifact_key(
                &lease("op_training_20261202_010000_0123abcd"),
                CheckpointKind::Periodic,
                "epoch",
                7
            )
            .unwrap(),
            "checkpoints/op_training_20261202_010000_0123abcd/attempt2-epoch7-periodic.ckpt"
        );
        for hostile in ["../x", "..", "/etc", "", "a/b", "op\0x", "op x"] {
            assert!(
                artifact_key(&lease(hostile), CheckpointKind::Failure, "bar", 1).is_err(),
                "{hostile:?}"
            );
        }
    }

    #[test]
    fn only_checkpoint_artifacts_are_cleaned_up() {
        assert!(is_checkpoint_artifact("db:checkpoints/op_1/a.ot"));
        assert!(is_checkpoint_artifact("file:checkpoints/op_1/a.ot"));
        for other in [
            "file:models/op_1/weights.ot",
            "file:checkpoints/../models/x",
            "file:/etc/passwd",
            "file:checkpoints//etc/passwd",
            "file:checkpoints/op\0/x",
            "nonsense",
        ] {
            assert!(!is_checkpoint_artifact(other), "{other}");
        }
    }
}
