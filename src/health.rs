//! `ktrdr health`: the orphan detector, the last pruning pass, workers and queue depth, read from the
//! views that psql and Grafana use too (`ktrdr.orphan_detector`, `ktrdr.pruning`,
//! `ktrdr.workers_overview`, `ktrdr.queue_depth`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

use crate::{Result, operations::Status};

#[derive(Debug, Clone, Serialize)]
pub struct Health {
    pub orphan_detector: OrphanDetector,
    pub pruning: Pruning,
    pub workers: WorkerCounts,
    pub queue: Vec<QueueDepth>,
    /// Types with pending operations that no active worker takes: they wait until one starts.
    pub unserved_types: Vec<UnservedType>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct UnservedType {
    pub operation_type: String,
    pub pending: i64,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct OrphanDetector {
    /// Some ticker holds a live leader lease (`leader` names it; the last leader when false), or
    /// pg_cron's passes keep coming (see `scheduler`).
    pub running: bool,
    /// Who runs the detector now: `ticker`, `pg_cron`, or `None` when nothing does.
    pub scheduler: Option<String>,
    pub leader: Option<String>,
    pub leader_since: Option<DateTime<Utc>>,
    pub potential_orphans_count: i32,
    pub last_check: Option<DateTime<Utc>>,
    pub orphan_timeout_seconds: Option<f64>,
    pub check_interval_seconds: Option<f64>,
    pub outage_detected_at: Option<DateTime<Utc>>,
}

/// The last pruning pass (all `None` before the first, and while KTRDR_RETENTION_DAYS=0).
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Pruning {
    pub last_pass: Option<DateTime<Utc>>,
    pub retention_days: Option<f64>,
    pub operations_deleted: Option<i64>,
    pub events_deleted: Option<i64>,
    pub workers_deleted: Option<i64>,
}

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct WorkerCounts {
    pub active: i64,
    pub lost: i64,
    pub stopped: i64,
    /// Outcomes waiting in workers' outboxes, all workers together.
    pub undelivered_outcomes: i64,
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
        "SELECT running, scheduler, leader_id AS leader, leader_since, potential_orphans_count, last_check,
                orphan_timeout_seconds, check_interval_seconds, outage_detected_at
         FROM ktrdr.orphan_detector",
    )
    .fetch_one(pool)
    .await?;
    let pruning = sqlx::query_as(
        "SELECT last_pruning_at AS last_pass,
                (last_pruning_result->>'retention_days')::double precision AS retention_days,
                (last_pruning_result->>'operations_deleted')::bigint AS operations_deleted,
                (last_pruning_result->>'events_deleted')::bigint AS events_deleted,
                (last_pruning_result->>'workers_deleted')::bigint AS workers_deleted
         FROM ktrdr.pruning",
    )
    .fetch_one(pool)
    .await?;
    let workers = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'active') AS active,
                count(*) FILTER (WHERE status = 'lost') AS lost,
                count(*) FILTER (WHERE status = 'stopped') AS stopped,
                coalesce(sum(undelivered_outcomes), 0)::bigint AS undelivered_outcomes
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
    let unserved_types = sqlx::query_as(
        "SELECT q.operation_type, q.operations AS pending FROM ktrdr.queue_depth q
         WHERE q.status = 'pending'
           AND NOT EXISTS (SELECT 1 FROM ktrdr.workers_overview w
                           WHERE w.status = 'active' AND q.operation_type = ANY(w.types))
         ORDER BY q.operation_type",
    )
    .fetch_all(pool)
    .await?;
    Ok(Health {
        orphan_detector,
        pruning,
        workers,
        queue,
        unserved_types,
    })
}
