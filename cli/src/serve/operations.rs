//! `/api/v1/operations`: list, show, children, events, results, cancel, resume, retry and submit —
//! the calls `ktrdr ops …` makes, over HTTP.

use axum::{
    extract::{Path, State},
    response::Response,
};
use ktrdr::{
    artifacts::ArtifactStore,
    checkpoints,
    operations::{self, CancelOutcome, ListFilter, NewOperation, Status},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState,
    envelope::{ApiError, ErrorEnvelope, JsonBody, QueryParams, Success, ok},
    validate::{self, Fields},
    views::{
        Accepted, ApiStatus, CancelAnswer, EventView, OperationDetail, OperationView, Submitted,
    },
};

/// The most rows one page lists.
pub const MAX_LIMIT: i64 = 1000;

/// Filters of `GET /operations` (statuses in either case), read from the query string through
/// [`Fields`] so that every bad one is named.
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// pending, running, pending_reconciliation, completed, failed or cancelled (any case).
    #[param(value_type = Option<String>)]
    status: Option<Status>,
    /// Operation type (dummy, training, backtesting …).
    #[param(rename = "type")]
    operation_type: Option<String>,
    /// Only operations claimed by this worker.
    worker: Option<String>,
    /// Only pending, running and pending_reconciliation ones.
    active: Option<bool>,
    /// Only failed or cancelled ones with a usable checkpoint.
    resumable: Option<bool>,
    /// At most this many (1 to 1000, default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Skip this many of the newest (default 0).
    #[param(minimum = 0, maximum = 1000000)]
    offset: Option<i64>,
}

impl ListQuery {
    fn parse(query: QueryParams) -> Result<Self, ApiError> {
        let mut q = Fields::query(query.0);
        let parsed = Self {
            status: q.parsed("status", |text| text.parse::<Status>()),
            operation_type: q.string("type"),
            worker: q.string("worker"),
            active: q.boolean("active"),
            resumable: q.boolean("resumable"),
            limit: q.integer("limit", 1..=MAX_LIMIT),
            offset: q.integer("offset", 0..=1_000_000),
        };
        q.finish()?;
        Ok(parsed)
    }
}

#[utoipa::path(get, path = "/api/v1/operations", tag = "operations",
    params(ListQuery),
    responses(
        (status = 200, description = "Operations, newest first", body = Success<Vec<OperationView>>),
        (status = 422, description = "A bad filter", body = ErrorEnvelope),
    ))]
pub async fn list(State(state): State<AppState>, query: QueryParams) -> Result<Response, ApiError> {
    let query = ListQuery::parse(query)?;
    let filter = ListFilter {
        status: query.status,
        operation_type: query.operation_type,
        worker_id: query.worker,
        active_only: query.active.unwrap_or(false),
        resumable_only: query.resumable.unwrap_or(false),
        parent_id: None,
        limit: query.limit.unwrap_or(50),
        offset: query.offset.unwrap_or(0),
    };
    let ops = operations::list(&state.pool, &filter).await?;
    Ok(ok(ops
        .into_iter()
        .map(OperationView::from)
        .collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/api/v1/operations/{operation_id}", tag = "operations",
    params(("operation_id" = String, Path, description = "Operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$")),
    responses(
        (status = 200, description = "The operation with its status history and checkpoint", body = Success<OperationDetail>),
        (status = 404, description = "No such operation", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate::id("operation_id", &id)?;
    let pool = &state.pool;
    let op = operations::get(pool, &id).await?;
    let events = operations::events(pool, &id).await?;
    let checkpoint = checkpoints::get(pool, &id).await?;
    Ok(ok(OperationDetail {
        operation: op.into(),
        events: events.into_iter().map(Into::into).collect(),
        checkpoint: checkpoint.map(Into::into),
    }))
}

#[utoipa::path(get, path = "/api/v1/operations/{operation_id}/children", tag = "operations",
    params(("operation_id" = String, Path, description = "Operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$")),
    responses(
        (status = 200, description = "The operation's children, newest first", body = Success<Vec<OperationView>>),
        (status = 404, description = "No such operation", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn children(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate::id("operation_id", &id)?;
    operations::get(&state.pool, &id).await?;
    let filter = ListFilter {
        parent_id: Some(id),
        limit: MAX_LIMIT,
        ..ListFilter::default()
    };
    let ops = operations::list(&state.pool, &filter).await?;
    Ok(ok(ops
        .into_iter()
        .map(OperationView::from)
        .collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/api/v1/operations/{operation_id}/events", tag = "operations",
    params(("operation_id" = String, Path, description = "Operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$")),
    responses(
        (status = 200, description = "Status history, oldest first", body = Success<Vec<EventView>>),
        (status = 404, description = "No such operation", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn events(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate::id("operation_id", &id)?;
    operations::get(&state.pool, &id).await?;
    let events = operations::events(&state.pool, &id).await?;
    Ok(ok(events
        .into_iter()
        .map(EventView::from)
        .collect::<Vec<_>>()))
}

/// The result of a completed operation.
#[derive(Debug, Serialize, ToSchema)]
pub struct Results {
    pub operation_id: String,
    pub operation_type: String,
    /// The job's result (`ktrdr results --json`).
    #[schema(value_type = Object)]
    pub result: Value,
}

#[utoipa::path(get, path = "/api/v1/operations/{operation_id}/results", tag = "operations",
    params(("operation_id" = String, Path, description = "Operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$")),
    responses(
        (status = 200, description = "The result", body = Success<Results>),
        (status = 404, description = "No such operation", body = ErrorEnvelope),
        (status = 409, description = "Not completed (OPERATION_NOT_COMPLETED)", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn results(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate::id("operation_id", &id)?;
    let op = operations::get(&state.pool, &id).await?;
    match op.result.filter(|_| op.status == Status::Completed) {
        Some(result) => Ok(ok(Results {
            operation_id: op.operation_id,
            operation_type: op.operation_type,
            result,
        })),
        None => Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "OPERATION_NOT_COMPLETED",
            format!(
                "{id} has no results: it is {}{}",
                op.status,
                op.error_message
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            ),
        )),
    }
}

#[utoipa::path(delete, path = "/api/v1/operations/{operation_id}", tag = "operations",
    params(
        ("operation_id" = String, Path, description = "Operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$"),
        ("reason" = Option<String>, Query, description = "Why (stored with the operation)"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled, or cancel requested", body = Success<CancelAnswer>),
        (status = 401, description = "No or wrong token", body = ErrorEnvelope),
        (status = 404, description = "No such operation", body = ErrorEnvelope),
        (status = 409, description = "Already ended", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
    QueryParams(query): QueryParams,
) -> Result<Response, ApiError> {
    validate::id("operation_id", &id)?;
    let mut q = Fields::query(query);
    let reason = q.string("reason");
    q.finish()?;
    let outcome = operations::request_cancel(&state.pool, &id, reason.as_deref()).await?;
    let status = match outcome {
        CancelOutcome::Cancelled => Status::Cancelled,
        CancelOutcome::Requested(status) => status,
    };
    Ok(ok(CancelAnswer {
        operation_id: id,
        status: status.into(),
        cancel_requested: true,
    }))
}

#[utoipa::path(post, path = "/api/v1/operations/{operation_id}/resume", tag = "operations",
    params(("operation_id" = String, Path, description = "Operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "PENDING again: the next free worker continues it from its checkpoint", body = Success<Accepted>),
        (status = 401, description = "No or wrong token", body = ErrorEnvelope),
        (status = 404, description = "No such operation", body = ErrorEnvelope),
        (status = 409, description = "Not resumable: running, completed, no or a corrupt checkpoint, or resumed concurrently", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn resume(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate::id("operation_id", &id)?;
    operations::resume(&state.pool, &id).await?;
    Ok(ok(Accepted {
        operation_id: id,
        status: ApiStatus::Pending,
    }))
}

#[utoipa::path(post, path = "/api/v1/operations/{operation_id}/retry", tag = "operations",
    params(("operation_id" = String, Path, description = "Operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "PENDING again, from scratch (its checkpoint deleted)", body = Success<Accepted>),
        (status = 401, description = "No or wrong token", body = ErrorEnvelope),
        (status = 404, description = "No such operation", body = ErrorEnvelope),
        (status = 409, description = "Not failed or cancelled", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate::id("operation_id", &id)?;
    let store = ArtifactStore::for_checkpoints(&state.pool)?;
    operations::retry(&state.pool, &store, &id).await?;
    Ok(ok(Accepted {
        operation_id: id,
        status: ApiStatus::Pending,
    }))
}

/// `POST /operations`: any operation type, as `ktrdr ops submit`.
#[derive(Debug, ToSchema)]
pub struct SubmitRequest {
    /// dummy, training, backtesting, …
    operation_type: String,
    /// The kind's params (a JSON object, at most 1 MiB and 32 levels deep; default `{}`).
    #[schema(value_type = Option<Object>)]
    params: Option<Value>,
    /// Higher runs first (default 0).
    #[schema(minimum = 0, maximum = 2147483647)]
    priority: Option<i64>,
    /// Attempts before it fails for good (default 1).
    #[schema(minimum = 1, maximum = 1000)]
    max_attempts: Option<i64>,
    parent_id: Option<String>,
    /// Submit this many identical operations (default 1).
    #[schema(minimum = 1, maximum = 10000)]
    count: Option<i64>,
}

impl SubmitRequest {
    fn parse(body: Value) -> Result<Self, ApiError> {
        let mut b = Fields::body(body)?;
        let operation_type = b.required_string("operation_type");
        let parsed = Self {
            operation_type: operation_type.unwrap_or_default(),
            params: b.value("params"),
            priority: b.integer("priority", 0..=i64::from(i32::MAX)),
            max_attempts: b.integer("max_attempts", 1..=1000),
            parent_id: b.id("parent_id", false),
            count: b.integer("count", 1..=10_000),
        };
        b.finish()?;
        Ok(parsed)
    }
}

#[utoipa::path(post, path = "/api/v1/operations", tag = "operations",
    request_body = SubmitRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Submitted", body = Success<Submitted>),
        (status = 401, description = "No or wrong token", body = ErrorEnvelope),
        (status = 422, description = "Invalid: every problem with its path", body = ErrorEnvelope),
    ))]
pub async fn submit(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let request = SubmitRequest::parse(body)?;
    let op = NewOperation {
        operation_type: request.operation_type,
        params: request
            .params
            .unwrap_or_else(|| Value::Object(Default::default())),
        // In range: checked by parse.
        priority: request.priority.unwrap_or(0) as i32,
        max_attempts: request.max_attempts.unwrap_or(1) as i32,
        parent_id: request.parent_id,
    };
    let count = request.count.unwrap_or(1) as i32;
    let ids = operations::submit_many(&state.pool, &ktrdr_trading::kinds::ALL, &op, count)
        .await
        .map_err(ApiError::at_path("body"))?;
    Ok(ok(Submitted {
        operation_id: ids[0].clone(),
        operation_ids: ids,
    }))
}
