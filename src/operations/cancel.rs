//! Cancelling (sql/60_cancel.sql) and resuming (sql/55_checkpoints.sql).

use sqlx::PgPool;

use crate::{Result, operations::Status};

/// What a cancel request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The operation had not started: it is cancelled now.
    Cancelled,
    /// It is running: its worker was told and will stop it within one heartbeat.
    Requested(Status),
}

/// Requests cancellation. Errors: unknown id ([`crate::Error::NotFound`]), an operation that
/// already ended ([`crate::Error::Conflict`]).
pub async fn request_cancel(
    pool: &PgPool,
    operation_id: &str,
    reason: Option<&str>,
) -> Result<CancelOutcome> {
    let status: String = sqlx::query_scalar("SELECT ktrdr.request_cancel($1, $2)")
        .bind(operation_id)
        .bind(reason)
        .fetch_one(pool)
        .await?;
    Ok(match status.parse()? {
        Status::Cancelled => CancelOutcome::Cancelled,
        other => CancelOutcome::Requested(other),
    })
}

/// Puts a failed or cancelled operation that has a checkpoint back to pending; any worker of its type
/// continues it. Errors: [`crate::Error::NotFound`]; [`crate::Error::Conflict`] for an operation that is
/// not resumable, has no checkpoint, or was changed by a concurrent resume.
pub async fn resume(pool: &PgPool, operation_id: &str) -> Result<()> {
    sqlx::query("SELECT ktrdr.resume_operation($1)")
        .bind(operation_id)
        .execute(pool)
        .await?;
    Ok(())
}
