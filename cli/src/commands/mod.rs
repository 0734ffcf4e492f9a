//! One module per command group. `connect` is the shared way in: resolve the database (DATABASE_URL
//! or the embedded cluster), connect, and migrate unless `--no-migrate`.

pub mod agent;
pub mod backtest;
pub mod checkpoints;
pub mod data;
pub mod db;
pub mod health;
pub mod migrate;
pub mod ops;
pub mod results;
pub mod ticker;
pub mod train;
pub mod validate;
pub mod workers;

use sqlx::PgPool;

pub async fn connect(migrate_first: bool) -> anyhow::Result<PgPool> {
    let url = ktrdr::db::resolve_database_url()?;
    let pool = ktrdr::db::connect(&url).await?;
    if migrate_first {
        ktrdr::db::migrate(&pool).await?;
    }
    Ok(pool)
}
