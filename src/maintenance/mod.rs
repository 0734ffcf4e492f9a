//! One maintenance pass (`ktrdr.run_maintenance`, sql/85_maintenance.sql): orphan detection, outage
//! reconciliation and expiry, potential-orphan count. The ticker only schedules it; tests call
//! [`run_once`] directly.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgExecutor;

use crate::{Result, config::TickerSettings};

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceReport {
    pub checked_at: DateTime<Utc>,
    pub orphans_failed: i64,
    pub orphans_requeued: i64,
    pub orphans_cancelled: i64,
    pub moved_to_reconciliation: i64,
    pub potential_orphans_count: i64,
    pub outage_detected: bool,
    /// The earliest future lease expiry or reconciliation deadline: when the next pass is useful.
    pub next_due: Option<DateTime<Utc>>,
}

impl MaintenanceReport {
    /// Whether the pass changed any operation.
    pub fn changed_anything(&self) -> bool {
        self.orphans_failed
            + self.orphans_requeued
            + self.orphans_cancelled
            + self.moved_to_reconciliation
            > 0
    }
}

pub async fn run_once(
    executor: impl PgExecutor<'_>,
    ticker_id: &str,
    settings: &TickerSettings,
) -> Result<MaintenanceReport> {
    let report: sqlx::types::Json<MaintenanceReport> =
        sqlx::query_scalar("SELECT ktrdr.run_maintenance($1, $2, $3)")
            .bind(ticker_id)
            .bind(settings.lease.orphan_timeout_seconds)
            .bind(settings.check_interval_seconds)
            .fetch_one(executor)
            .await?;
    Ok(report.0)
}
