//! The orphan detector: finds running operations whose worker stopped heartbeating, and notices when
//! the database itself was away.
//!
//! One pass is one call of `ktrdr.run_orphan_detection` (sql/80_orphans.sql), one transaction
//! (fenced by the leader's epoch when the ticker runs it, see [`leader`](crate::leader)):
//! - outage check — the server restarted since the last pass, or no pass ran for longer than the
//!   orphan timeout plus the check interval; for a grace period (the orphan timeout) afterwards,
//!   lapsed leases are not the workers' fault;
//! - lapsed leases settled: `cancelled` (a cancel was requested), `pending` (attempts left) or
//!   `failed` — or, in the grace period, moved to `pending_reconciliation` for the
//!   [reconciliation](super::reconciliation) service to expire;
//! - late workers counted (potential orphans), and the pass recorded in `ktrdr.maintenance_state`
//!   (leader, last check, result), which `ktrdr health` and Grafana read.
//!
//! The pass is due again just after the earliest lease expiry it saw, so an orphan is detected tens
//! of milliseconds after its lease lapses, and at the latest after min(check interval, orphan
//! timeout): a lease taken after this pass expires at least one timeout later, so the next pass
//! sees it before it lapses. This module touches the operations only through that SQL function.

use std::{ops::RangeInclusive, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::{
    Result,
    config::{LeaseSettings, ensure_in_range},
    leader::{self, Fence},
};

/// ORPHAN_CHECK_INTERVAL_SECONDS by default.
pub const CHECK_INTERVAL_DEFAULT: Duration = Duration::from_secs(15);
/// Accepted ORPHAN_CHECK_INTERVAL_SECONDS, in seconds.
pub const CHECK_INTERVAL_RANGE_SECONDS: RangeInclusive<f64> = 0.1..=3_600.0;
/// Accepted ORPHAN_TIMEOUT_SECONDS (the lease length), in seconds.
pub const ORPHAN_TIMEOUT_RANGE_SECONDS: RangeInclusive<f64> = 0.5..=86_400.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrphanDetectorConfig {
    /// ORPHAN_TIMEOUT_SECONDS: the lease length, after which a silent worker's operation is an
    /// orphan; also the grace period after an outage.
    pub orphan_timeout: Duration,
    /// ORPHAN_CHECK_INTERVAL_SECONDS: the longest wait between two passes, and how long the
    /// database may go without a pass (beyond the orphan timeout) before that counts as an outage.
    pub check_interval: Duration,
}

impl Default for OrphanDetectorConfig {
    fn default() -> Self {
        Self {
            orphan_timeout: Duration::from_secs_f64(LeaseSettings::DEFAULT_ORPHAN_TIMEOUT_SECONDS),
            check_interval: CHECK_INTERVAL_DEFAULT,
        }
    }
}

/// What one pass did, as `ktrdr.run_orphan_detection` returns (and records) it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrphanReport {
    /// The database's clock at the pass.
    pub checked_at: DateTime<Utc>,
    pub orphans_failed: i64,
    pub orphans_requeued: i64,
    pub orphans_cancelled: i64,
    /// Lapsed leases moved to `pending_reconciliation` because the database was away.
    pub moved_to_reconciliation: i64,
    /// Running operations whose worker is late but whose lease has not lapsed yet.
    pub potential_orphans_count: i64,
    pub outage_detected: bool,
    /// The operations this pass settled or sent to reconciliation (absent in passes recorded
    /// before it was reported).
    #[serde(default)]
    pub orphan_ids: Vec<String>,
    /// When the next pass is due (on the database's clock).
    pub next_due: DateTime<Utc>,
}

impl OrphanReport {
    /// Whether the pass changed any operation.
    pub fn changed_anything(&self) -> bool {
        self.orphans_failed
            + self.orphans_requeued
            + self.orphans_cancelled
            + self.moved_to_reconciliation
            > 0
    }
}

/// The orphan detection service of one ticker.
#[derive(Debug, Clone)]
pub struct OrphanDetector {
    ticker_id: String,
    config: OrphanDetectorConfig,
}

impl OrphanDetector {
    /// A detector that records its passes as led by `ticker_id`. Refuses a config outside the
    /// ranges the environment accepts.
    pub fn new(ticker_id: &str, config: OrphanDetectorConfig) -> Result<Self> {
        ensure_in_range(
            "ORPHAN_TIMEOUT_SECONDS",
            config.orphan_timeout.as_secs_f64(),
            &ORPHAN_TIMEOUT_RANGE_SECONDS,
        )?;
        ensure_in_range(
            "ORPHAN_CHECK_INTERVAL_SECONDS",
            config.check_interval.as_secs_f64(),
            &CHECK_INTERVAL_RANGE_SECONDS,
        )?;
        Ok(Self {
            ticker_id: ticker_id.to_string(),
            config,
        })
    }

    /// The longest wait between two passes, also after a pass that failed.
    pub fn longest_wait(&self) -> Duration {
        self.config.check_interval.min(self.config.orphan_timeout)
    }

    /// One pass (see the module documentation), fenced by a leader's `fence` (see
    /// [`leader`](crate::leader)): [`Error::NotLeader`](crate::Error::NotLeader), and nothing
    /// changed, when another took over. `None` for an unfenced, manual pass.
    pub async fn run_once(&self, pool: &PgPool, fence: Option<&Fence>) -> Result<OrphanReport> {
        let mut tx = leader::begin_fenced(pool, fence).await?;
        let report: sqlx::types::Json<OrphanReport> =
            sqlx::query_scalar("SELECT ktrdr.run_orphan_detection($1, $2, $3)")
                .bind(&self.ticker_id)
                .bind(self.config.orphan_timeout.as_secs_f64())
                .bind(self.config.check_interval.as_secs_f64())
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(report.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_interval_outside_its_range_is_refused_naming_the_setting() {
        let config = OrphanDetectorConfig {
            check_interval: Duration::ZERO,
            ..Default::default()
        };
        let err = OrphanDetector::new("t", config).unwrap_err();
        assert!(matches!(err, crate::Error::Config(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "ORPHAN_CHECK_INTERVAL_SECONDS=0 is invalid: expected a number from 0.1 to 3600"
        );
        let config = OrphanDetectorConfig {
            orphan_timeout: Duration::from_secs(2 * 86_400),
            ..Default::default()
        };
        let err = OrphanDetector::new("t", config).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("ORPHAN_TIMEOUT_SECONDS=172800 ")
        );
    }

    #[test]
    fn the_range_ends_and_the_defaults_are_accepted() {
        for (timeout, interval) in [(0.5, 0.1), (86_400.0, 3_600.0)] {
            let config = OrphanDetectorConfig {
                orphan_timeout: Duration::from_secs_f64(timeout),
                check_interval: Duration::from_secs_f64(interval),
            };
            assert!(OrphanDetector::new("t", config).is_ok(), "{config:?}");
        }
        let detector = OrphanDetector::new("t", OrphanDetectorConfig::default()).unwrap();
        assert_eq!(detector.longest_wait(), CHECK_INTERVAL_DEFAULT);
    }
}
