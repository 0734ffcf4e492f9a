//! `/api/v1/checkpoints`: list, show, delete, stats and cleanup, as `ktrdr checkpoints …`.

use axum::{
    extract::{Path, State},
    response::Response,
};
use chrono::{DateTime, Utc};
use ktrdr::{
    artifacts::ArtifactStore,
    checkpoints::{self, Checkpoint, CheckpointKind},
    config,
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    AppState,
    envelope::{ApiError, ErrorEnvelope, OptionalJsonBody, Success, ok},
    validate::{self, Fields},
    views::CheckpointView,
};

#[utoipa::path(get, path = "/api/v1/checkpoints", tag = "checkpoints",
    responses((status = 200, description = "Every checkpoint, newest first", body = Success<Vec<CheckpointView>>)))]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let all = checkpoints::list(&state.pool).await?;
    Ok(ok(all
        .into_iter()
        .map(CheckpointView::from)
        .collect::<Vec<_>>()))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "CHECKPOINT_NOT_FOUND",
        format!("operation {id} has no checkpoint"),
    )
}

#[utoipa::path(get, path = "/api/v1/checkpoints/{operation_id}", tag = "checkpoints",
    params(("operation_id" = String, Path, description = "Operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$")),
    responses(
        (status = 200, description = "The operation's checkpoint", body = Success<CheckpointView>),
        (status = 404, description = "No checkpoint", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate::id("operation_id", &id)?;
    let checkpoint = checkpoints::get(&state.pool, &id)
        .await?
        .ok_or_else(|| not_found(&id))?;
    Ok(ok(CheckpointView::from(checkpoint)))
}

/// What a delete answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub operation_id: String,
    pub deleted: bool,
}

#[utoipa::path(delete, path = "/api/v1/checkpoints/{operation_id}", tag = "checkpoints",
    params(("operation_id" = String, Path, description = "Operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Deleted with its artifact: the operation can no longer be resumed", body = Success<Deleted>),
        (status = 401, description = "No or wrong token", body = ErrorEnvelope),
        (status = 404, description = "No checkpoint", body = ErrorEnvelope),
        (status = 409, description = "The operation is running", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate::id("operation_id", &id)?;
    let store = ArtifactStore::for_checkpoints(&state.pool)?;
    checkpoints::delete(&state.pool, &store, &id).await?;
    Ok(ok(Deleted {
        operation_id: id,
        deleted: true,
    }))
}

/// Counts and sizes, as `ktrdr checkpoints stats --json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub checkpoints: usize,
    pub total_bytes: i64,
    pub oldest: Option<DateTime<Utc>>,
    pub periodic: usize,
    pub cancellation: usize,
    pub failure: usize,
    pub shutdown: usize,
    pub corrupt: usize,
}

#[utoipa::path(get, path = "/api/v1/checkpoints/stats", tag = "checkpoints",
    responses((status = 200, description = "Counts and sizes", body = Success<Stats>)))]
pub async fn stats(State(state): State<AppState>) -> Result<Response, ApiError> {
    let all = checkpoints::list(&state.pool).await?;
    let by_kind = |kind: CheckpointKind| all.iter().filter(|c| c.kind == kind).count();
    Ok(ok(Stats {
        checkpoints: all.len(),
        total_bytes: all.iter().map(Checkpoint::total_bytes).sum(),
        oldest: all.iter().map(|c| c.created_at).min(),
        periodic: by_kind(CheckpointKind::Periodic),
        cancellation: by_kind(CheckpointKind::Cancellation),
        failure: by_kind(CheckpointKind::Failure),
        shutdown: by_kind(CheckpointKind::Shutdown),
        corrupt: all.iter().filter(|c| c.corrupt_reason.is_some()).count(),
    }))
}

#[derive(Debug, ToSchema)]
pub struct CleanupRequest {
    /// Delete checkpoints older than this (default CHECKPOINT_MAX_AGE_DAYS, 30).
    #[schema(minimum = 0.0, maximum = 36500.0)]
    max_age_days: Option<f64>,
}

impl CleanupRequest {
    fn parse(body: Option<Value>) -> Result<Self, ApiError> {
        let mut b = Fields::optional_body(body)?;
        let parsed = Self {
            max_age_days: b.number("max_age_days", 0.0..=36500.0),
        };
        b.finish()?;
        Ok(parsed)
    }
}

/// What a cleanup removed.
#[derive(Debug, Serialize, ToSchema)]
pub struct CleanupReport {
    pub max_age_days: f64,
    pub checkpoints_deleted: usize,
    pub artifacts_deleted: usize,
    pub unreferenced_artifacts_swept: usize,
}

#[utoipa::path(post, path = "/api/v1/checkpoints/cleanup", tag = "checkpoints",
    request_body(content = Option<CleanupRequest>, description = "Optional"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What was removed", body = Success<CleanupReport>),
        (status = 401, description = "No or wrong token", body = ErrorEnvelope),
        (status = 422, description = "Invalid", body = ErrorEnvelope),
    ))]
pub async fn cleanup(
    State(state): State<AppState>,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Response, ApiError> {
    let request = CleanupRequest::parse(body)?;
    let max_age_days = match request.max_age_days {
        Some(days) => days,
        None => config::checkpoint_max_age_days()?,
    };
    let store = ArtifactStore::for_checkpoints(&state.pool)?;
    let report = checkpoints::cleanup(
        &state.pool,
        &store,
        max_age_days,
        checkpoints::SWEEP_MIN_AGE,
        None,
    )
    .await?;
    Ok(ok(CleanupReport {
        max_age_days,
        checkpoints_deleted: report.checkpoints_deleted,
        artifacts_deleted: report.artifacts_deleted,
        unreferenced_artifacts_swept: report.unreferenced_artifacts_swept,
    }))
}
