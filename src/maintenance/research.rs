//! The research service: moves every active research one step — start the phase's child, read a
//! finished child's result, apply a gate, replace an orphaned design or assessment, end the
//! research — as described in sql/88_research.sql.
//!
//! One pass is one call of `ktrdr.advance_researches` (one transaction, fenced by the leader's
//! epoch when the ticker runs it, see [`leader`](crate::leader)); each research in it is locked
//! `FOR UPDATE SKIP LOCKED` and advanced in a subtransaction of its own, so pg_cron or psql calling
//! the same function meanwhile never advances a research twice, and an error in one research does
//! not hold up the others. The pass is due every AGENT_POLL_INTERVAL_SECONDS (default 2), and at once
//! when a child of a research ends or a research's cancel is requested: the ticker listens on
//! [`RESEARCH`](crate::notify::RESEARCH) while it leads. The service keeps nothing between passes —
//! a research's phase, children, gates and outcome are rows — so a ticker that takes over after a
//! restart simply runs the next pass.

use std::{ops::RangeInclusive, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::{
    Result,
    config::ensure_in_range,
    leader::{self, Fence},
};

/// AGENT_POLL_INTERVAL_SECONDS by default.
pub const POLL_INTERVAL_DEFAULT: Duration = Duration::from_secs(2);
/// Accepted AGENT_POLL_INTERVAL_SECONDS.
pub const POLL_INTERVAL_RANGE_SECONDS: RangeInclusive<f64> = 0.05..=3_600.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ResearchAdvancerConfig {
    /// AGENT_POLL_INTERVAL_SECONDS: the longest wait between two passes.
    pub poll_interval: Duration,
}

impl Default for ResearchAdvancerConfig {
    fn default() -> Self {
        Self {
            poll_interval: POLL_INTERVAL_DEFAULT,
        }
    }
}

/// What one pass did, as `ktrdr.advance_researches` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResearchReport {
    /// The database's clock at the pass.
    pub checked_at: DateTime<Utc>,
    /// Active researches this pass looked at (those another caller was advancing are skipped).
    pub active: i64,
    /// Researches that took at least one step.
    pub advanced: i64,
    /// Researches whose step failed (recorded in their `last_error`).
    pub errors: i64,
    /// The steps taken, one line each ("…: started training attempt 1 (op_training_…)").
    pub steps: Vec<String>,
    pub next_due: DateTime<Utc>,
}

/// The research service of one ticker.
#[derive(Debug, Clone)]
pub struct ResearchAdvancer {
    config: ResearchAdvancerConfig,
}

impl ResearchAdvancer {
    /// Refuses a poll interval outside [`POLL_INTERVAL_RANGE_SECONDS`].
    pub fn new(config: ResearchAdvancerConfig) -> Result<Self> {
        ensure_in_range(
            "AGENT_POLL_INTERVAL_SECONDS",
            config.poll_interval.as_secs_f64(),
            &POLL_INTERVAL_RANGE_SECONDS,
        )?;
        Ok(Self { config })
    }

    pub fn longest_wait(&self) -> Duration {
        self.config.poll_interval
    }

    /// One pass, fenced by a leader's `fence` ([`Error::NotLeader`](crate::Error::NotLeader), and
    /// nothing changed, when another took over); `None` for an unfenced, manual pass.
    pub async fn run_once(&self, pool: &PgPool, fence: Option<&Fence>) -> Result<ResearchReport> {
        let mut tx = leader::begin_fenced(pool, fence).await?;
        let report: sqlx::types::Json<ResearchReport> =
            sqlx::query_scalar("SELECT ktrdr.advance_researches($1)")
                .bind(self.config.poll_interval.as_secs_f64())
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
    fn a_poll_interval_outside_its_range_is_refused_naming_the_setting() {
        let config = ResearchAdvancerConfig {
            poll_interval: Duration::ZERO,
        };
        let err = ResearchAdvancer::new(config).unwrap_err();
        assert_eq!(
            err.to_string(),
            "AGENT_POLL_INTERVAL_SECONDS=0 is invalid: expected a number from 0.05 to 3600"
        );
        assert!(ResearchAdvancer::new(ResearchAdvancerConfig::default()).is_ok());
    }
}
