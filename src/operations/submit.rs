//! Submitting operations (sql/20_submit.sql).

use serde_json::Value;
use sqlx::PgPool;

use super::check_params_limits;
use crate::{Result, job_kinds::JobKinds};

/// What to submit. `params` must be a JSON object within the params limits (`MAX_PARAMS_BYTES`,
/// `MAX_PARAMS_DEPTH`); it is validated for the kinds the caller knows.
#[derive(Debug, Clone)]
pub struct NewOperation {
    pub operation_type: String,
    pub params: Value,
    pub priority: i32,
    pub max_attempts: i32,
    pub parent_id: Option<String>,
}

impl NewOperation {
    /// An operation of `operation_type` with empty params, priority 0 and one attempt.
    pub fn new(operation_type: impl Into<String>) -> Self {
        Self {
            operation_type: operation_type.into(),
            params: Value::Object(Default::default()),
            priority: 0,
            max_attempts: 1,
            parent_id: None,
        }
    }

    pub fn with_params(mut self, params: Value) -> Self {
        self.params = params;
        self
    }
}

/// Submits one operation, after checking its params with `kinds`, and returns its id. Workers
/// listening for its type are woken at once.
pub async fn submit(pool: &PgPool, kinds: &JobKinds, op: &NewOperation) -> Result<String> {
    let mut ids = submit_many(pool, kinds, op, 1).await?;
    Ok(ids.remove(0))
}

/// Submits `count` identical operations in one statement and returns their ids in submission order.
pub async fn submit_many(
    pool: &PgPool,
    kinds: &JobKinds,
    op: &NewOperation,
    count: i32,
) -> Result<Vec<String>> {
    // The limits first: they are cheap, and the kind's check deserializes all of the params.
    check_params_limits(&op.params)?;
    kinds.validate(&op.operation_type, &op.params)?;
    let ids = sqlx::query_scalar("SELECT ktrdr.submit_operations($1, $2, $3, $4, $5, $6)")
        .bind(&op.operation_type)
        .bind(count)
        .bind(&op.params)
        .bind(op.priority)
        .bind(op.max_attempts)
        .bind(&op.parent_id)
        .fetch_all(pool)
        .await?;
    Ok(ids)
}
