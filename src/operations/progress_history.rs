//! Kept progress: the milestones (a training's epochs) a worker recorded with
//! [`Lease::record_progress`](super::Lease::record_progress), one row each in
//! `ktrdr.operation_progress`, read back in order so that a follower sees every one even when it
//! connected late or two arrived between its reads.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgExecutor};

use crate::Result;

/// One kept milestone.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct ProgressRecord {
    /// Increasing in the order the milestones were recorded.
    pub seq: i64,
    pub attempt: i32,
    pub recorded_at: DateTime<Utc>,
    pub progress_percent: f32,
    pub progress_message: Option<String>,
    pub progress: Option<Value>,
}

/// The milestones of `operation_id` recorded after `after_seq` (all of them from 0), oldest first,
/// at most `limit`.
pub async fn progress_since(
    executor: impl PgExecutor<'_>,
    operation_id: &str,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<ProgressRecord>> {
    Ok(sqlx::query_as(
        "SELECT seq, attempt, recorded_at, progress_percent, progress_message, progress
         FROM ktrdr.operation_progress
         WHERE operation_id = $1 AND seq > $2
         ORDER BY seq
         LIMIT $3",
    )
    .bind(operation_id)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(executor)
    .await?)
}
