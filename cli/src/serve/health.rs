//! `GET /api/v1/health`: what `ktrdr health --json` says — the orphan detector, the last pruning
//! pass, workers, queue depth — with 200 while the database answers and maintenance (a ticker, or
//! pg_cron) ran recently, and 503 otherwise: the check a load balancer or an orchestrator polls.
//! "Recently" is the bound the orphan detector itself uses to declare an outage: one orphan
//! timeout plus one check interval since the last pass (sql/80_orphans.sql).

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use ktrdr::health::Health;
use serde::Serialize;
use utoipa::ToSchema;

use super::{AppState, envelope::ApiError, views::ApiStatus};

/// The orphan detector as `ktrdr health --json` shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrphanDetectorView {
    /// Some ticker holds a live leader lease.
    pub running: bool,
    pub leader: Option<String>,
    pub leader_since: Option<DateTime<Utc>>,
    pub potential_orphans_count: i32,
    pub last_check: Option<DateTime<Utc>>,
    pub orphan_timeout_seconds: Option<f64>,
    pub check_interval_seconds: Option<f64>,
    pub outage_detected_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PruningView {
    pub last_pass: Option<DateTime<Utc>>,
    pub retention_days: Option<f64>,
    pub operations_deleted: Option<i64>,
    pub events_deleted: Option<i64>,
    pub workers_deleted: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerCountsView {
    pub active: i64,
    pub lost: i64,
    pub stopped: i64,
    pub undelivered_outcomes: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueueDepthView {
    pub operation_type: String,
    pub status: ApiStatus,
    pub operations: i64,
    pub oldest_created_at: DateTime<Utc>,
}

/// A type with pending operations that no active worker takes.
#[derive(Debug, Serialize, ToSchema)]
pub struct UnservedTypeView {
    pub operation_type: String,
    pub pending: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// `healthy`, or `maintenance_not_running`.
    pub status: String,
    /// Maintenance ran within one orphan timeout plus one check interval.
    pub maintenance_recent: bool,
    pub orphan_detector: OrphanDetectorView,
    pub pruning: PruningView,
    pub workers: WorkerCountsView,
    pub queue: Vec<QueueDepthView>,
    /// Types with pending operations that no active worker takes: they wait until one starts.
    pub unserved_types: Vec<UnservedTypeView>,
}

/// The health answer: `success` false with a 503.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthEnvelope {
    pub success: bool,
    pub data: HealthView,
}

fn recent(health: &Health) -> bool {
    let d = &health.orphan_detector;
    match (
        d.last_check,
        d.orphan_timeout_seconds,
        d.check_interval_seconds,
    ) {
        (Some(at), Some(timeout), Some(interval)) => {
            let age = (Utc::now() - at).num_milliseconds() as f64 / 1000.0;
            age <= timeout + interval
        }
        _ => false,
    }
}

impl From<Health> for HealthView {
    fn from(health: Health) -> Self {
        let maintenance_recent = recent(&health);
        let Health {
            orphan_detector: d,
            pruning: p,
            workers: w,
            queue,
            unserved_types,
        } = health;
        Self {
            status: if maintenance_recent {
                "healthy"
            } else {
                "maintenance_not_running"
            }
            .into(),
            maintenance_recent,
            orphan_detector: OrphanDetectorView {
                running: d.running,
                leader: d.leader,
                leader_since: d.leader_since,
                potential_orphans_count: d.potential_orphans_count,
                last_check: d.last_check,
                orphan_timeout_seconds: d.orphan_timeout_seconds,
                check_interval_seconds: d.check_interval_seconds,
                outage_detected_at: d.outage_detected_at,
            },
            pruning: PruningView {
                last_pass: p.last_pass,
                retention_days: p.retention_days,
                operations_deleted: p.operations_deleted,
                events_deleted: p.events_deleted,
                workers_deleted: p.workers_deleted,
            },
            workers: WorkerCountsView {
                active: w.active,
                lost: w.lost,
                stopped: w.stopped,
                undelivered_outcomes: w.undelivered_outcomes,
            },
            queue: queue
                .into_iter()
                .map(|q| QueueDepthView {
                    operation_type: q.operation_type,
                    status: q.status.into(),
                    operations: q.operations,
                    oldest_created_at: q.oldest_created_at,
                })
                .collect(),
            unserved_types: unserved_types
                .into_iter()
                .map(|u| UnservedTypeView {
                    operation_type: u.operation_type,
                    pending: u.pending,
                })
                .collect(),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/health", tag = "health",
    responses(
        (status = 200, description = "The database answers and maintenance ran recently", body = HealthEnvelope),
        (status = 503, description = "Maintenance has not run recently (`success` false, the same data), or the database does not answer (the error envelope)", body = HealthEnvelope),
    ))]
pub async fn health(State(state): State<AppState>) -> Result<Response, ApiError> {
    let health = ktrdr::health::read(&state.pool).await.map_err(|err| {
        // Whatever the cause, a health check that cannot read the database is unavailable.
        let error = ApiError::from(err);
        if error.status() == StatusCode::INTERNAL_SERVER_ERROR {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "DATABASE_UNAVAILABLE",
                "the database does not answer",
            )
        } else {
            error
        }
    })?;
    let view = HealthView::from(health);
    let status = if view.maintenance_recent {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = HealthEnvelope {
        success: view.maintenance_recent,
        data: view,
    };
    Ok((status, Json(body)).into_response())
}
