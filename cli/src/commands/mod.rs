//! One module per command group. `connect` is the shared way in: resolve the database (DATABASE_URL
//! or the embedded cluster), connect, and migrate unless `--no-migrate`.

pub mod agent;
pub mod backtest;
pub mod checkpoints;
pub mod completions;
pub mod data;
pub mod db;
pub mod db_roles;
pub mod health;
pub mod migrate;
pub mod models;
pub mod ops;
pub mod results;
pub mod ticker;
pub mod train;
pub mod validate;
pub mod workers;

use sqlx::PgPool;

pub async fn connect(migrate_first: bool) -> anyhow::Result<PgPool> {
    let url = database_url()?;
    let pool = ktrdr::db::connect(&url).await?;
    if migrate_first {
        ktrdr::db::migrate(&pool).await?;
    }
    Ok(pool)
}

/// The server's URL: DATABASE_URL (or `--database-url`), else the embedded cluster, started on
/// demand — which is said once on stderr, so nobody mistakes it for their own server.
pub fn database_url() -> anyhow::Result<String> {
    let url = ktrdr::db::resolve_database_url()?;
    if ktrdr::config::database_url_from_env().is_none() {
        eprintln!(
            "ktrdr: using the embedded PostgreSQL cluster ({}); set DATABASE_URL or --database-url \
             for another server",
            ktrdr::RedactedUrl(&url)
        );
    }
    Ok(url)
}

/// Says on stderr, after a submit, when no active worker takes `operation_type`: without it, the
/// operation would wait in PENDING in silence.
pub async fn warn_without_taker(pool: &PgPool, operation_type: &str) -> anyhow::Result<()> {
    if ktrdr::workers::active_takers(pool, operation_type).await? == 0 {
        eprintln!(
            "warning: {}",
            ktrdr::workers::no_taker_warning(operation_type)
        );
    }
    Ok(())
}

/// The full id of the operation `given` names: itself, or the one id it is a unique prefix of.
pub async fn operation_id(pool: &PgPool, given: &str) -> anyhow::Result<String> {
    Ok(ktrdr::operations::resolve_id(pool, given).await?)
}
