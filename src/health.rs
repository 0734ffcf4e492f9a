//! `ktrdr health`: the orphan detector, workers and queue depth, read from the views that psql and
//! Grafana use too (`ktrdr.orphan_detector`, `ktrdr.workers_overview`, `ktrdr.queue_depth`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

use crate::{Result, operations::Status};

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub orphan_detector: OrphanDetector,
    pub workers: WorkerCounts,
    pub queue: Vec<QueueDepth>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct OrphanDetector {
    /// Some process holds the ticker's leader lock.
    pub running: bool,
    pub leader: Option<String>,
    pub leader_since: Option<DateTime<Utc>>,
    pub potential_orphans_count: i32,
    pub last_check: Option<DateTime<Utc>>,
    pub orphan_timeout_seconds: Option<f64>,
    pub check_interval_seconds: Option<f64>,
    pub outage_detected_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct WorkerCounts {
    pub active: i64,
    pub lost: i64,
    pub stopped: i64,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct QueueDepth {
    pub operation_type: String,
    pub status: Status,
    pub operations: i64,
    pub oldest_created_at: DateTime<Utc>,
}

pub async fn read(pool: &PgPool) -> Result<Health> {
    let orphan_detector = sqlx::query_as(
        "SELECT running, leader_id AS leader, leader_since, potential_orphans_count, last_check,
                orphan_timeout_seconds, check_interval_seconds, outage_detected_at
         FROM ktrdr.orphan_detector",
    )
    .fetch_one(pool)
    .await?;
    let workers = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'active') AS active,
                count(*) FILTER (WHERE status = 'lost') AS lost,
                count(*) FILTER (WHERE status = 'stopped') AS stopped
         FROM ktrdr.workers_overview",
    )
    .fetch_one(pool)
    .await?;
    let queue = sqlx::query_as(
        "SELECT operation_type, status, operations, oldest_created_at FROM ktrdr.queue_depth
         ORDER BY operation_type, status",
    )
    .fetch_all(pool)
    .await?;
    Ok(Health {
        orphan_detector,
        workers,
        queue,
    })
}
