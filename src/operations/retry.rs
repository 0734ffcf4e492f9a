//! Running a failed or cancelled operation again from scratch (`ktrdr ops retry`,
//! sql/55_checkpoints.sql): the way on when its checkpoint is corrupt, or when it should not continue
//! from where it stopped.

use sqlx::PgPool;

use crate::{Result, artifacts::ArtifactStore};

/// Puts the operation back to pending without its checkpoint, whose artifact is deleted from
/// `store` (the store checkpoints are written to). Errors: [`crate::Error::NotFound`];
/// [`crate::Error::Conflict`] for an operation that is not failed or cancelled.
pub async fn retry(pool: &PgPool, store: &ArtifactStore, operation_id: &str) -> Result<()> {
    let location: Option<String> = sqlx::query_scalar("SELECT ktrdr.retry_operation($1)")
        .bind(operation_id)
        .fetch_one(pool)
        .await?;
    if let Some(location) = location
        && let Err(err) = store.delete(&location).await
    {
        // The row is gone and the operation queued: a leftover artifact is the cleanup sweep's.
        tracing::warn!(%operation_id, "checkpoint artifact {location} kept: {err}");
    }
    Ok(())
}
