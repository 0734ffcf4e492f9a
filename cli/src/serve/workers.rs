//! `/api/v1/workers`: the worker registry, as `ktrdr workers --json`.

use axum::{
    extract::{Path, State},
    response::Response,
};

use super::{
    AppState,
    envelope::{ApiError, ErrorEnvelope, Success, ok},
    validate,
    views::WorkerView,
};

#[utoipa::path(get, path = "/api/v1/workers", tag = "workers",
    responses((status = 200, description = "Every registered worker, active ones first", body = Success<Vec<WorkerView>>)))]
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let workers = ktrdr::workers::list(&state.pool).await?;
    Ok(ok(workers
        .into_iter()
        .map(WorkerView::from)
        .collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/api/v1/workers/{worker_id}", tag = "workers",
    params(("worker_id" = String, Path, description = "Worker id")),
    responses(
        (status = 200, description = "The worker", body = Success<WorkerView>),
        (status = 404, description = "No such worker", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate::worker_id(&id)?;
    let worker = ktrdr::workers::list(&state.pool)
        .await?
        .into_iter()
        .find(|w| w.worker_id == id)
        .ok_or_else(|| {
            ApiError::not_found("WORKER_NOT_FOUND", format!("worker not found: {id}"))
        })?;
    Ok(ok(WorkerView::from(worker)))
}
