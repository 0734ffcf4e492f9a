//! Expiry of outage reconciliations: operations the [orphan detector](super::orphans) moved to
//! `pending_reconciliation` after a database outage, and that no worker took back by their deadline,
//! are settled like orphans — `cancelled`, `pending` (attempts left) or `failed` with the orphan
//! message and "(not reclaimed after a database outage)".
//!
//! One pass is one call of `ktrdr.run_reconciliation_expiry` (sql/81_reconciliation.sql), one
//! transaction (fenced by the leader's epoch when the ticker runs it, see [`leader`](crate::leader)). It is a service of its own because nothing ties it to the orphan pass: a deadline
//! is set one grace period ahead, so the orphan pass that sets it never expires it, and each expiry
//! is a state change of its own. The pass is due again just after the earliest deadline it saw, and
//! at the latest after its interval — which must not exceed the grace period, so that a deadline set
//! after this pass is seen before it passes. This module touches the operations only through that
//! SQL function.

use std::{ops::RangeInclusive, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::{
    Result,
    config::ensure_in_range,
    leader::{self, Fence},
};

/// The longest wait between two passes by default: ORPHAN_CHECK_INTERVAL_SECONDS's default.
pub const INTERVAL_DEFAULT: Duration = super::orphans::CHECK_INTERVAL_DEFAULT;
/// Accepted intervals, in seconds (those of ORPHAN_CHECK_INTERVAL_SECONDS, which sets it).
pub const INTERVAL_RANGE_SECONDS: RangeInclusive<f64> =
    super::orphans::CHECK_INTERVAL_RANGE_SECONDS;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReconciliationExpirerConfig {
    /// The longest wait between two passes: the smaller of ORPHAN_CHECK_INTERVAL_SECONDS and the
    /// grace period (ORPHAN_TIMEOUT_SECONDS).
    pub interval: Duration,
}

impl Default for ReconciliationExpirerConfig {
    fn default() -> Self {
        Self {
            interval: INTERVAL_DEFAULT,
        }
    }
}

/// What one pass did: the operations whose reconciliation expired, by where they went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReconciliationReport {
    /// The database's clock at the pass.
    pub checked_at: DateTime<Utc>,
    pub failed: i64,
    pub requeued: i64,
    pub cancelled: i64,
    /// When the next pass is due (on the database's clock).
    pub next_due: DateTime<Utc>,
}

impl ReconciliationReport {
    /// How many reconciliations expired.
    pub fn expired(&self) -> i64 {
        self.failed + self.requeued + self.cancelled
    }
}

/// The reconciliation expiry service.
#[derive(Debug, Clone)]
pub struct ReconciliationExpirer {
    config: ReconciliationExpirerConfig,
}

impl ReconciliationExpirer {
    /// Refuses an interval outside the range ORPHAN_CHECK_INTERVAL_SECONDS accepts.
    pub fn new(config: ReconciliationExpirerConfig) -> Result<Self> {
        ensure_in_range(
            "ORPHAN_CHECK_INTERVAL_SECONDS",
            config.interval.as_secs_f64(),
            &INTERVAL_RANGE_SECONDS,
        )?;
        Ok(Self { config })
    }

    /// The longest wait between two passes, also after a pass that failed.
    pub fn longest_wait(&self) -> Duration {
        self.config.interval
    }

    /// One pass (see the module documentation), fenced by a leader's `fence` (see
    /// [`leader`](crate::leader)); `None` for an unfenced, manual pass.
    pub async fn run_once(
        &self,
        pool: &PgPool,
        fence: Option<&Fence>,
    ) -> Result<ReconciliationReport> {
        let mut tx = leader::begin_fenced(pool, fence).await?;
        let report: sqlx::types::Json<ReconciliationReport> =
            sqlx::query_scalar("SELECT ktrdr.run_reconciliation_expiry($1)")
                .bind(self.config.interval.as_secs_f64())
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
    fn an_interval_outside_its_range_is_refused_naming_the_setting() {
        for interval in [Duration::from_millis(10), Duration::from_secs(7_200)] {
            let err =
                ReconciliationExpirer::new(ReconciliationExpirerConfig { interval }).unwrap_err();
            assert!(matches!(err, crate::Error::Config(_)), "{err:?}");
            assert!(
                err.to_string()
                    .starts_with("ORPHAN_CHECK_INTERVAL_SECONDS="),
                "{err}"
            );
        }
        assert!(ReconciliationExpirer::new(ReconciliationExpirerConfig::default()).is_ok());
    }
}
