//! Pruning: finished operations older than KTRDR_RETENTION_DAYS are deleted with their status
//! history, and so are workers the registry last heard from longer ago than that — so that a claim,
//! a heartbeat or a maintenance pass costs the same after a year as on the first day.
//!
//! One pass calls `ktrdr.prune_operations` (sql/86_pruning.sql) until a batch comes back short, each
//! call its own short transaction that deletes at most [`batch_size`](PrunerConfig::batch_size)
//! operations (and as many workers): a backlog of a million rows never holds locks for long, and the
//! victims are taken with SKIP LOCKED, so pruning never waits on a worker. The SQL keeps what can
//! still matter, however old: operations with a checkpoint (they can be resumed), parents whose
//! children are still there, children of an active parent, and of course every active operation.
//! The pass is then recorded in `ktrdr.maintenance_state` for `ktrdr health`.
//!
//! A pass stops after [`max_batches`](PrunerConfig::max_batches), so the ticker's other services are
//! never kept waiting; with more left it is due again after [`BACKLOG_WAIT`], otherwise after its
//! interval. A retention of 0 keeps everything: the service then does nothing at all. This module
//! touches the operations and workers only through that SQL function.

use std::{ops::RangeInclusive, time::Duration};

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::{
    Result,
    config::ensure_in_range,
    leader::{self, Fence},
};

/// KTRDR_RETENTION_DAYS by default.
pub const RETENTION_DAYS_DEFAULT: f64 = 30.0;
/// Accepted KTRDR_RETENTION_DAYS; 0 keeps everything.
pub const RETENTION_DAYS_RANGE: RangeInclusive<f64> = 0.0..=36_500.0;
/// Operations deleted by one call (one transaction) at most: about 40 ms of locks with their events.
pub const BATCH_SIZE_DEFAULT: i32 = 1_000;
/// Accepted batch sizes.
pub const BATCH_SIZE_RANGE: RangeInclusive<i32> = 1..=100_000;
/// Batches of one pass at most: 100,000 operations at the default batch size.
pub const MAX_BATCHES_DEFAULT: u32 = 100;
/// Accepted batch limits.
pub const MAX_BATCHES_RANGE: RangeInclusive<u32> = 1..=10_000;
/// The wait between two passes: history is pruned by the day, so an hour is more than often enough.
pub const INTERVAL_DEFAULT: Duration = Duration::from_secs(3_600);
/// Accepted intervals, in seconds.
pub const INTERVAL_RANGE_SECONDS: RangeInclusive<f64> = 1.0..=86_400.0;
/// The wait before the next pass when one stopped at its batch limit with more to delete: long
/// enough for the ticker's other services to run in between.
pub const BACKLOG_WAIT: Duration = Duration::from_secs(1);

/// The pruning service's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrunerConfig {
    /// KTRDR_RETENTION_DAYS: finished operations and silent workers older than this are deleted;
    /// 0 keeps everything.
    pub retention_days: f64,
    /// Operations (and workers) one call deletes at most.
    pub batch_size: i32,
    /// Calls one pass makes at most.
    pub max_batches: u32,
    /// The wait between two passes.
    pub interval: Duration,
}

impl Default for PrunerConfig {
    fn default() -> Self {
        Self {
            retention_days: RETENTION_DAYS_DEFAULT,
            batch_size: BATCH_SIZE_DEFAULT,
            max_batches: MAX_BATCHES_DEFAULT,
            interval: INTERVAL_DEFAULT,
        }
    }
}

/// What one call of `ktrdr.prune_operations` deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
struct Batch {
    operations_deleted: i64,
    events_deleted: i64,
    workers_deleted: i64,
}

/// What one pass deleted, as recorded in `ktrdr.maintenance_state.last_pruning_result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PruningReport {
    /// This process's clock when the pass began.
    pub checked_at: DateTime<Utc>,
    pub retention_days: f64,
    pub operations_deleted: i64,
    pub events_deleted: i64,
    pub workers_deleted: i64,
    /// Calls of `ktrdr.prune_operations`; 0 when the retention keeps everything.
    pub batches: u32,
    /// When the next pass is due.
    pub next_due: DateTime<Utc>,
}

impl PruningReport {
    /// Whether the pass deleted anything.
    pub fn deleted_anything(&self) -> bool {
        self.operations_deleted + self.events_deleted + self.workers_deleted > 0
    }
}

/// The pruning service.
#[derive(Debug, Clone)]
pub struct Pruner {
    config: PrunerConfig,
}

impl Pruner {
    /// Refuses settings outside their ranges, naming KTRDR_RETENTION_DAYS for the retention.
    pub fn new(config: PrunerConfig) -> Result<Self> {
        ensure_in_range(
            "KTRDR_RETENTION_DAYS",
            config.retention_days,
            &RETENTION_DAYS_RANGE,
        )?;
        // Not environment settings: named as the config's fields.
        ensure_in_range(
            "PrunerConfig.batch_size",
            config.batch_size,
            &BATCH_SIZE_RANGE,
        )?;
        ensure_in_range(
            "PrunerConfig.max_batches",
            config.max_batches,
            &MAX_BATCHES_RANGE,
        )?;
        ensure_in_range(
            "KTRDR_PRUNING_INTERVAL_SECONDS",
            config.interval.as_secs_f64(),
            &INTERVAL_RANGE_SECONDS,
        )?;
        Ok(Self { config })
    }

    /// The wait between two passes, also after a pass that failed.
    pub fn longest_wait(&self) -> Duration {
        self.config.interval
    }

    /// One pass (see the module documentation), every batch and the record fenced by a leader's
    /// `fence` (see [`leader`](crate::leader)): a pass whose leader was overtaken stops at the
    /// next batch with [`Error::NotLeader`](crate::Error::NotLeader). `None` for an unfenced,
    /// manual pass.
    pub async fn run_once(&self, pool: &PgPool, fence: Option<&Fence>) -> Result<PruningReport> {
        let checked_at = Utc::now();
        let mut report = PruningReport {
            checked_at,
            retention_days: self.config.retention_days,
            operations_deleted: 0,
            events_deleted: 0,
            workers_deleted: 0,
            batches: 0,
            next_due: checked_at + delta(self.config.interval),
        };
        if self.config.retention_days == 0.0 {
            return Ok(report);
        }
        let mut more_left = false;
        while report.batches < self.config.max_batches {
            // Every batch commits on its own.
            let mut tx = leader::begin_fenced(pool, fence).await?;
            let batch: sqlx::types::Json<Batch> = sqlx::query_scalar(
                "SELECT ktrdr.prune_operations(make_interval(secs => $1 * 86400), $2)",
            )
            .bind(self.config.retention_days)
            .bind(self.config.batch_size)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            report.batches += 1;
            report.operations_deleted += batch.operations_deleted;
            report.events_deleted += batch.events_deleted;
            report.workers_deleted += batch.workers_deleted;
            more_left = batch.operations_deleted == i64::from(self.config.batch_size)
                || batch.workers_deleted == i64::from(self.config.batch_size);
            if !more_left {
                break;
            }
        }
        if more_left {
            report.next_due = Utc::now() + delta(BACKLOG_WAIT);
        }
        let mut tx = leader::begin_fenced(pool, fence).await?;
        sqlx::query("SELECT ktrdr.record_pruning($1)")
            .bind(sqlx::types::Json(&report))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(report)
    }
}

fn delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).expect("at most a day")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retention_outside_its_range_is_refused_naming_the_variable() {
        for retention_days in [-1.0, 40_000.0] {
            let config = PrunerConfig {
                retention_days,
                ..Default::default()
            };
            let err = Pruner::new(config).unwrap_err();
            assert!(matches!(err, crate::Error::Config(_)), "{err:?}");
            assert_eq!(
                err.to_string(),
                format!(
                    "KTRDR_RETENTION_DAYS={retention_days} is invalid: expected a number from 0 to 36500"
                )
            );
        }
    }

    #[test]
    fn a_batch_size_limit_or_interval_outside_its_range_is_refused() {
        let bad = [
            (
                PrunerConfig {
                    batch_size: 0,
                    ..Default::default()
                },
                "PrunerConfig.batch_size",
            ),
            (
                PrunerConfig {
                    max_batches: 0,
                    ..Default::default()
                },
                "PrunerConfig.max_batches",
            ),
            (
                PrunerConfig {
                    interval: Duration::ZERO,
                    ..Default::default()
                },
                "KTRDR_PRUNING_INTERVAL_SECONDS",
            ),
        ];
        for (config, named) in bad {
            let err = Pruner::new(config).unwrap_err();
            assert!(err.to_string().starts_with(named), "{config:?}: {err}");
        }
    }

    #[test]
    fn the_range_ends_and_the_defaults_are_accepted() {
        for retention_days in [0.0, 36_500.0] {
            let config = PrunerConfig {
                retention_days,
                ..Default::default()
            };
            assert!(Pruner::new(config).is_ok(), "{config:?}");
        }
        let pruner = Pruner::new(PrunerConfig::default()).unwrap();
        assert_eq!(pruner.longest_wait(), Duration::from_secs(3_600));
    }
}
