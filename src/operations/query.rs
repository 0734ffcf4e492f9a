//! Reading operations and their history, for the CLI and scripts. JSON field names follow the seeds.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool};

use crate::{
    Error, Result,
    operations::{Status, StoredParams},
};

#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Operation {
    pub operation_id: String,
    pub operation_type: String,
    pub status: Status,
    pub priority: i32,
    /// Decoded per operation: params that cannot be decoded are shown, not an error.
    #[sqlx(try_from = "String")]
    pub params: StoredParams,
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
    pub progress: Option<Value>,
    pub cancel_requested_at: Option<DateTime<Utc>>,
    pub cancel_reason: Option<String>,
    pub result: Option<Value>,
    pub error_message: Option<String>,
    pub reconcile_deadline: Option<DateTime<Utc>>,
    pub version: i32,
    /// Failed or cancelled with a checkpoint not known to be corrupt: `ktrdr resume` can continue
    /// it. (A state edited since it was saved is found out by the resume itself: checking it here
    /// would hash every listed checkpoint.)
    pub resumable: bool,
}

/// One status change from `ktrdr.operation_events`.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct OperationEvent {
    pub event_id: i64,
    pub operation_id: String,
    pub at: DateTime<Utc>,
    pub from_status: Option<Status>,
    pub to_status: Status,
    pub attempt: i32,
    pub worker_id: Option<String>,
    pub actor: Option<String>,
    pub reason: Option<String>,
}

/// Which operations `list` returns (newest first).
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub operation_type: Option<String>,
    /// Only operations (last) claimed by this worker.
    pub worker_id: Option<String>,
    /// Only pending, running and pending_reconciliation operations.
    pub active_only: bool,
    /// Only operations that can be resumed.
    pub resumable_only: bool,
    /// Only the children of this operation.
    pub parent_id: Option<String>,
    pub limit: i64,
    /// Skip this many of the newest first (paging, for the HTTP API).
    pub offset: i64,
}

const COLUMNS: &str =
    "o.operation_id, operation_type, status, priority, params::text AS params, parent_id,
    o.created_at, started_at, completed_at, worker_id, o.attempt, max_attempts, lease_expires_at,
    heartbeat_at, progress_percent, progress_message, progress, cancel_requested_at, cancel_reason,
    result, error_message, reconcile_deadline, version,
    (status IN ('failed', 'cancelled')
     AND EXISTS (SELECT 1 FROM ktrdr.checkpoints c
                 WHERE c.operation_id = o.operation_id AND c.corrupt_reason IS NULL)) AS resumable";

/// The rows a [`ListFilter`] selects, from `o` (the operations with their `resumable` column):
/// `list` and `count` share it so a count always describes the list it stands beside. The active
/// statuses are spelled as the predicates of the partial indexes operations_claimable and
/// operations_leased, which the planner then combines (there is no index on status alone).
const FILTER: &str = "($1::text IS NULL OR status = $1)
           AND ($2::text IS NULL OR operation_type = $2)
           AND (NOT $3 OR status = 'pending' OR status IN ('running', 'pending_reconciliation'))
           AND ($4::text IS NULL OR worker_id = $4)
           AND (NOT $5 OR resumable)
           AND ($6::text IS NULL OR parent_id = $6)";

pub async fn list(pool: &PgPool, filter: &ListFilter) -> Result<Vec<Operation>> {
    let sql = format!(
        "SELECT * FROM (SELECT {COLUMNS}, submit_seq FROM ktrdr.operations o) o
         WHERE {FILTER}
         ORDER BY created_at DESC, submit_seq DESC
         LIMIT $7 OFFSET $8"
    );
    let rows = bind_filter(sqlx::query_as(sqlx::AssertSqlSafe(sql)), filter)
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// How many operations the filter selects, ignoring its limit (`Total: 3 shown of 21`).
pub async fn count(pool: &PgPool, filter: &ListFilter) -> Result<i64> {
    let sql =
        format!("SELECT count(*) FROM (SELECT {COLUMNS} FROM ktrdr.operations o) o WHERE {FILTER}");
    let (total,): (i64,) = bind_filter(sqlx::query_as(sqlx::AssertSqlSafe(sql)), filter)
        .fetch_one(pool)
        .await?;
    Ok(total)
}

fn bind_filter<'q, O>(
    query: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    filter: &'q ListFilter,
) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
    query
        .bind(filter.status)
        .bind(&filter.operation_type)
        .bind(filter.active_only)
        .bind(&filter.worker_id)
        .bind(filter.resumable_only)
        .bind(&filter.parent_id)
}

/// The full id of the one operation whose id is `given` or starts with it: an id can be shortened
/// to any unique prefix. `given` itself when nothing matches (the call it is passed to then says
/// "not found" in its own words); [`Error::InvalidInput`] naming some of the candidates when
/// several do.
pub async fn resolve_id(pool: &PgPool, given: &str) -> Result<String> {
    Ok(sqlx::query_scalar("SELECT ktrdr.resolve_operation_id($1)")
        .bind(given)
        .fetch_one(pool)
        .await?)
}

/// One operation; [`Error::NotFound`] for an unknown id.
pub async fn get(pool: &PgPool, operation_id: &str) -> Result<Operation> {
    let sql = format!("SELECT {COLUMNS} FROM ktrdr.operations o WHERE o.operation_id = $1");
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(operation_id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| Error::NotFound(format!("operation not found: {operation_id}")))
}

/// The children of an operation (`parent_id`), oldest first.
pub async fn children(pool: &PgPool, parent_id: &str) -> Result<Vec<Operation>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM ktrdr.operations o WHERE o.parent_id = $1 ORDER BY o.submit_seq"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(parent_id)
        .fetch_all(pool)
        .await?;
    Ok(rows)
}

/// The status history of one operation, oldest first.
pub async fn events(pool: &PgPool, operation_id: &str) -> Result<Vec<OperationEvent>> {
    let rows = sqlx::query_as(
        "SELECT event_id, operation_id, at, from_status, to_status, attempt, worker_id, actor, reason
         FROM ktrdr.operation_events WHERE operation_id = $1 ORDER BY event_id",
    )
    .bind(operation_id)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
