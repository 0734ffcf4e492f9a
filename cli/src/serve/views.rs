//! What the API answers with: the library's records with the field names of the CLI's `--json`,
//! statuses in the seeds' uppercase (`"status": "FAILED"`, contract), and an OpenAPI schema each.

use chrono::{DateTime, Utc};
use ktrdr::{
    checkpoints::Checkpoint,
    operations::{Operation, OperationEvent, Status},
    workers::{WorkerInfo, WorkerStatus},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// An operation status, uppercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApiStatus {
    Pending,
    Running,
    PendingReconciliation,
    Completed,
    Failed,
    Cancelled,
}

impl From<Status> for ApiStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Pending => ApiStatus::Pending,
            Status::Running => ApiStatus::Running,
            Status::PendingReconciliation => ApiStatus::PendingReconciliation,
            Status::Completed => ApiStatus::Completed,
            Status::Failed => ApiStatus::Failed,
            Status::Cancelled => ApiStatus::Cancelled,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OperationView {
    pub operation_id: String,
    pub operation_type: String,
    pub status: ApiStatus,
    pub priority: i32,
    /// As submitted; params the server cannot decode appear as `{"undecodable", "text_start",
    /// "text_bytes"}`.
    #[schema(value_type = Object)]
    pub params: Value,
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub worker_id: Option<String>,
    pub attempt: i32,
    pub max_attempts: i32,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub progress_percent: f32,
    pub progress_message: Option<String>,
    /// The job's structured progress (epoch and losses, bar and equity, step).
    #[schema(value_type = Option<Object>)]
    pub progress: Option<Value>,
    pub cancel_requested_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
    pub error_message: Option<String>,
    pub reconcile_deadline: Option<DateTime<Utc>>,
    pub version: i32,
    /// Failed or cancelled with a usable checkpoint: `POST /operations/{id}/resume` continues it.
    pub resumable: bool,
}

impl From<Operation> for OperationView {
    fn from(op: Operation) -> Self {
        Self {
            params: serde_json::to_value(&op.params).unwrap_or(Value::Null),
            operation_id: op.operation_id,
            operation_type: op.operation_type,
            status: op.status.into(),
            priority: op.priority,
            parent_id: op.parent_id,
            created_at: op.created_at,
            started_at: op.started_at,
            completed_at: op.completed_at,
            worker_id: op.worker_id,
            attempt: op.attempt,
            max_attempts: op.max_attempts,
            lease_expires_at: op.lease_expires_at,
            heartbeat_at: op.heartbeat_at,
            progress_percent: op.progress_percent,
            progress_message: op.progress_message,
            progress: op.progress,
            cancel_requested_at: op.cancel_requested_at,
            cancel_reason: op.cancel_reason,
            result: op.result,
            error_message: op.error_message,
            reconcile_deadline: op.reconcile_deadline,
            version: op.version,
            resumable: op.resumable,
        }
    }
}

/// One operation as `ktrdr ops show --json` gives it: with its status history and checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct OperationDetail {
    #[serde(flatten)]
    pub operation: OperationView,
    pub events: Vec<EventView>,
    pub checkpoint: Option<CheckpointView>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    pub event_id: i64,
    pub operation_id: String,
    pub at: DateTime<Utc>,
    pub from_status: Option<ApiStatus>,
    pub to_status: ApiStatus,
    pub attempt: i32,
    pub worker_id: Option<String>,
    pub actor: Option<String>,
    pub reason: Option<String>,
}

impl From<OperationEvent> for EventView {
    fn from(e: OperationEvent) -> Self {
        Self {
            event_id: e.event_id,
            operation_id: e.operation_id,
            at: e.at,
            from_status: e.from_status.map(Into::into),
            to_status: e.to_status.into(),
            attempt: e.attempt,
            worker_id: e.worker_id,
            actor: e.actor,
            reason: e.reason,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointView {
    pub operation_id: String,
    /// periodic, cancellation, failure or shutdown.
    pub kind: String,
    /// epoch or bar.
    pub unit: String,
    pub unit_value: i64,
    #[schema(value_type = Object)]
    pub state: Value,
    pub state_sha256: String,
    pub artifact_location: Option<String>,
    pub artifact_sha256: Option<String>,
    pub artifact_size_bytes: Option<i64>,
    pub state_size_bytes: i32,
    pub attempt: i32,
    pub created_at: DateTime<Utc>,
    /// Why the checkpoint cannot be used (then `POST /operations/{id}/retry` is the way on).
    pub corrupt_reason: Option<String>,
}

impl From<Checkpoint> for CheckpointView {
    fn from(c: Checkpoint) -> Self {
        Self {
            operation_id: c.operation_id,
            kind: c.kind.as_str().to_string(),
            unit: c.unit,
            unit_value: c.unit_value,
            state: c.state,
            state_sha256: c.state_sha256,
            artifact_location: c.artifact_location,
            artifact_sha256: c.artifact_sha256,
            artifact_size_bytes: c.artifact_size_bytes,
            state_size_bytes: c.state_size_bytes,
            attempt: c.attempt,
            created_at: c.created_at,
            corrupt_reason: c.corrupt_reason,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApiWorkerStatus {
    Active,
    /// Its lease lapsed without a deregistration.
    Lost,
    Stopped,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WorkerView {
    pub worker_id: String,
    pub types: Vec<String>,
    pub host: String,
    pub pid: i32,
    pub version: String,
    pub concurrency: i32,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub lease_expires_at: DateTime<Utc>,
    pub status: ApiWorkerStatus,
    pub running_operations: i64,
    pub undelivered_outcomes: i32,
}

impl From<WorkerInfo> for WorkerView {
    fn from(w: WorkerInfo) -> Self {
        Self {
            worker_id: w.worker_id,
            types: w.types,
            host: w.host,
            pid: w.pid,
            version: w.version,
            concurrency: w.concurrency,
            started_at: w.started_at,
            heartbeat_at: w.heartbeat_at,
            lease_expires_at: w.lease_expires_at,
            status: match w.status {
                WorkerStatus::Active => ApiWorkerStatus::Active,
                WorkerStatus::Lost => ApiWorkerStatus::Lost,
                WorkerStatus::Stopped => ApiWorkerStatus::Stopped,
            },
            running_operations: w.running_operations,
            undelivered_outcomes: w.undelivered_outcomes,
        }
    }
}

/// What a submit, start, resume or retry answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    pub operation_id: String,
    pub status: ApiStatus,
}

/// What a submit of several operations answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Submitted {
    /// The first (or only) id.
    pub operation_id: String,
    /// Every id, in submission order.
    pub operation_ids: Vec<String>,
}

/// What a cancel answers: CANCELLED at once for a pending operation, else the status it still has
/// until its worker stops it (within one heartbeat).
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelAnswer {
    pub operation_id: String,
    pub status: ApiStatus,
    pub cancel_requested: bool,
}
