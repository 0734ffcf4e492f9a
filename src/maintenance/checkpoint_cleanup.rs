//! Checkpoint cleanup: deletes checkpoints older than CHECKPOINT_MAX_AGE_DAYS (of operations not
//! running) with their artifacts, then sweeps checkpoint artifacts that no checkpoint references.
//!
//! One pass is [`checkpoints::cleanup`]: `ktrdr.cleanup_checkpoints` (sql/55_checkpoints.sql) deletes
//! the rows in one transaction (fenced by the leader's epoch when the ticker runs it, see
//! [`leader`](crate::leader)), and the artifacts are deleted from the checkpoint store afterwards
//! (an artifact whose deletion fails is swept by a later pass). Unreferenced artifacts younger than
//! the sweep age are left alone: a worker may be between writing a new checkpoint's artifact and
//! pointing the row at it. The pass is due again every CHECKPOINT_CLEANUP_INTERVAL_HOURS. This
//! module touches the checkpoints and the store's `checkpoints/` prefix, nothing else.

use std::{ops::RangeInclusive, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::{
    Result,
    artifacts::ArtifactStore,
    checkpoints::{self, CleanupReport},
    config::ensure_in_range,
    leader::Fence,
};

/// CHECKPOINT_CLEANUP_INTERVAL_HOURS by default.
pub const INTERVAL_HOURS_DEFAULT: f64 = 24.0;
/// Accepted CHECKPOINT_CLEANUP_INTERVAL_HOURS.
pub const INTERVAL_HOURS_RANGE: RangeInclusive<f64> = 0.001..=8_760.0;
/// CHECKPOINT_MAX_AGE_DAYS by default.
pub const MAX_AGE_DAYS_DEFAULT: f64 = 30.0;
/// Accepted CHECKPOINT_MAX_AGE_DAYS.
pub const MAX_AGE_DAYS_RANGE: RangeInclusive<f64> = 0.0..=36_500.0;

/// The cleanup's settings, in the units of their environment variables (and, for the age, of
/// `ktrdr.cleanup_checkpoints`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckpointCleanerConfig {
    /// CHECKPOINT_CLEANUP_INTERVAL_HOURS: the wait between two passes.
    pub interval_hours: f64,
    /// CHECKPOINT_MAX_AGE_DAYS: checkpoints older than this are deleted.
    pub max_age_days: f64,
    /// Unreferenced artifacts younger than this are not swept.
    pub sweep_min_age: Duration,
}

impl Default for CheckpointCleanerConfig {
    fn default() -> Self {
        Self {
            interval_hours: INTERVAL_HOURS_DEFAULT,
            max_age_days: MAX_AGE_DAYS_DEFAULT,
            sweep_min_age: checkpoints::SWEEP_MIN_AGE,
        }
    }
}

/// What one pass removed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckpointCleanupReport {
    /// This process's clock when the pass began.
    pub checked_at: DateTime<Utc>,
    #[serde(flatten)]
    pub removed: CleanupReport,
    /// When the next pass is due.
    pub next_due: DateTime<Utc>,
}

/// The checkpoint cleanup service, over the store checkpoints are written to.
#[derive(Debug, Clone)]
pub struct CheckpointCleaner {
    config: CheckpointCleanerConfig,
    store: ArtifactStore,
    every: Duration,
}

impl CheckpointCleaner {
    /// Refuses an interval or maximum age outside the ranges the environment accepts.
    pub fn new(config: CheckpointCleanerConfig, store: ArtifactStore) -> Result<Self> {
        let hours = ensure_in_range(
            "CHECKPOINT_CLEANUP_INTERVAL_HOURS",
            config.interval_hours,
            &INTERVAL_HOURS_RANGE,
        )?;
        ensure_in_range(
            "CHECKPOINT_MAX_AGE_DAYS",
            config.max_age_days,
            &MAX_AGE_DAYS_RANGE,
        )?;
        Ok(Self {
            config,
            store,
            every: Duration::from_secs_f64(hours * 3_600.0),
        })
    }

    /// The wait between two passes, also after a pass that failed.
    pub fn longest_wait(&self) -> Duration {
        self.every
    }

    /// One pass (see the module documentation), its deletion of rows fenced by a leader's `fence`
    /// (see [`leader`](crate::leader)): [`Error::NotLeader`](crate::Error::NotLeader), and nothing
    /// deleted, when another took over. `None` for an unfenced, manual pass.
    pub async fn run_once(
        &self,
        pool: &PgPool,
        fence: Option<&Fence>,
    ) -> Result<CheckpointCleanupReport> {
        let checked_at = Utc::now();
        let removed = checkpoints::cleanup(
            pool,
            &self.store,
            self.config.max_age_days,
            self.config.sweep_min_age,
            fence,
        )
        .await?;
        Ok(CheckpointCleanupReport {
            checked_at,
            removed,
            next_due: checked_at + TimeDelta::from_std(self.every).expect("at most a year"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> ArtifactStore {
        ArtifactStore::Directory(std::env::temp_dir().join("ktrdr-unused-store"))
    }

    #[test]
    fn an_interval_or_age_outside_its_range_is_refused_naming_the_setting() {
        let config = CheckpointCleanerConfig {
            interval_hours: 1.0 / 3_600.0,
            ..Default::default()
        };
        let err = CheckpointCleaner::new(config, store()).unwrap_err();
        assert!(matches!(err, crate::Error::Config(_)), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("CHECKPOINT_CLEANUP_INTERVAL_HOURS="),
            "{err}"
        );
        let config = CheckpointCleanerConfig {
            max_age_days: 40_000.0,
            ..Default::default()
        };
        let err = CheckpointCleaner::new(config, store()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CHECKPOINT_MAX_AGE_DAYS=40000 is invalid: expected a number from 0 to 36500"
        );
    }

    #[test]
    fn the_range_ends_and_the_defaults_are_accepted() {
        for (hours, days) in [(0.001, 0.0), (8_760.0, 36_500.0)] {
            let config = CheckpointCleanerConfig {
                interval_hours: hours,
                max_age_days: days,
                ..Default::default()
            };
            assert!(
                CheckpointCleaner::new(config, store()).is_ok(),
                "{config:?}"
            );
        }
        let cleaner = CheckpointCleaner::new(CheckpointCleanerConfig::default(), store()).unwrap();
        assert_eq!(cleaner.longest_wait(), Duration::from_secs(24 * 3_600));
    }
}
