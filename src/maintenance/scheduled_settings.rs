//! The settings pg_cron's maintenance jobs read (`ktrdr.settings`, migrations/V14): pg_cron has no
//! environment, so `ktrdr migrate` records the configured ORPHAN_TIMEOUT_SECONDS,
//! CHECKPOINT_MAX_AGE_DAYS and KTRDR_RETENTION_DAYS there — only the variables that are set, so a
//! value a DBA wrote with UPDATE stays until the environment names it. Values are validated as the
//! ticker validates them (one line naming the variable).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool};

use crate::{Result, config::TickerSettings};

/// The row of `ktrdr.settings`.
#[derive(Debug, Clone, PartialEq, Serialize, FromRow)]
pub struct ScheduledSettings {
    pub orphan_timeout_seconds: f64,
    /// The schedule's period (pg_cron runs jobs once a minute).
    pub check_interval_seconds: f64,
    pub checkpoint_max_age_days: f64,
    /// 0 keeps every finished operation.
    pub retention_days: f64,
    pub pruning_batch_size: i32,
    pub updated_at: DateTime<Utc>,
}

/// Records the variables set in this process's environment and returns the resulting settings.
pub async fn record_from_env(pool: &PgPool) -> Result<ScheduledSettings> {
    let settings = TickerSettings::from_env()?;
    let set = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let orphan_timeout =
        set("ORPHAN_TIMEOUT_SECONDS").then_some(settings.lease.orphan_timeout_seconds);
    let max_age =
        set("CHECKPOINT_MAX_AGE_DAYS").then_some(settings.checkpoint_cleanup.max_age_days);
    let retention = set("KTRDR_RETENTION_DAYS").then_some(settings.pruning.retention_days);
    Ok(sqlx::query_as(
        "SELECT orphan_timeout_seconds, check_interval_seconds, checkpoint_max_age_days,
                retention_days, pruning_batch_size, updated_at
         FROM ktrdr.set_settings($1, $2, $3)",
    )
    .bind(orphan_timeout)
    .bind(max_age)
    .bind(retention)
    .fetch_one(pool)
    .await?)
}
