//! Maintenance services: the periodic work that keeps the queue healthy, one service per file.
//!
//! - [`orphans`] — outage check; lapsed leases settled (or, after an outage, put in
//!   reconciliation); late workers counted; the pass recorded for `ktrdr health`. SQL:
//!   `ktrdr.run_orphan_detection` (sql/80_orphans.sql).
//! - [`reconciliation`] — operations nobody took back by their reconciliation deadline settled.
//!   SQL: `ktrdr.run_reconciliation_expiry` (sql/81_reconciliation.sql).
//! - [`checkpoint_cleanup`] — old checkpoints and their artifacts deleted, unreferenced artifacts
//!   swept. SQL: `ktrdr.cleanup_checkpoints` (sql/55_checkpoints.sql), then the artifact store.
//! - [`pruning`] — finished operations older than KTRDR_RETENTION_DAYS deleted with their status
//!   history, in small batches, and workers not heard from for as long; the pass recorded for
//!   `ktrdr health`. SQL: `ktrdr.prune_operations`, `ktrdr.record_pruning` (sql/86_pruning.sql).
//! - [`vacuum`] — `VACUUM ktrdr.operations` once it holds KTRDR_VACUUM_DEAD_ROWS dead row versions,
//!   so that claims do not step over the index entries of every operation claimed since
//!   autovacuum last came round. SQL: the VACUUM statement itself (it cannot run in a function).
//! - [`research`] — every active research moved one step (start a child, apply a gate, replace an
//!   orphaned design, end it); also at once when a research's child ends. SQL:
//!   `ktrdr.advance_researches` (sql/88_research.sql).
//!
//! Each service is a config struct with named defaults, validated once by the service's constructor
//! (a bad value is an [`Error::Config`](crate::Error::Config) naming its environment variable), and a
//! `run_once` that does one pass and returns a small report: what the pass changed and when the
//! service is next due. Services keep nothing between passes — the state is in the database — so
//! whichever process leads next simply runs the next pass. The [`ticker`](crate::ticker) runs
//! [`Service::all`] while it leads (see [`leader`](crate::leader)), each write fenced by its epoch
//! (a `run_once` given the leader's [`Fence`] refuses, changing nothing, once another took over);
//! tests call `run_once` directly, unfenced (`None`);
//! pg_cron can call the SQL instead (sql/cron.sql: `ktrdr.scheduled_maintenance`, `_pruning` and
//! `_checkpoint_cleanup` run the same passes with the settings of the table `ktrdr.settings`,
//! which [`scheduled_settings`] fills from the environment on `ktrdr migrate`).
//!
//! Services change operations only through their SQL functions, and artifacts only under the
//! checkpoint store's `checkpoints/` prefix.

pub mod checkpoint_cleanup;
pub mod orphans;
pub mod pruning;
pub mod reconciliation;
pub mod research;
pub mod scheduled_settings;
pub mod vacuum;

use std::time::Duration;

use sqlx::PgPool;

use crate::{Error, Result, artifacts::ArtifactStore, config::TickerSettings, leader::Fence};

pub use checkpoint_cleanup::{CheckpointCleaner, CheckpointCleanerConfig, CheckpointCleanupReport};
pub use orphans::{OrphanDetector, OrphanDetectorConfig, OrphanReport};
pub use pruning::{Pruner, PrunerConfig, PruningReport};
pub use reconciliation::{
    ReconciliationExpirer, ReconciliationExpirerConfig, ReconciliationReport,
};
pub use research::{ResearchAdvancer, ResearchAdvancerConfig, ResearchReport};
pub use vacuum::{VacuumConfig, VacuumOutcome, VacuumReport, Vacuumer};

/// One maintenance service, as the ticker schedules it.
#[derive(Debug, Clone)]
pub enum Service {
    Orphans(OrphanDetector),
    Reconciliation(ReconciliationExpirer),
    CheckpointCleanup(CheckpointCleaner),
    Pruning(Pruner),
    Vacuum(Vacuumer),
    Research(ResearchAdvancer),
}

impl Service {
    /// Every service a ticker runs, validated, in the order it runs those due at the same time:
    /// orphan detection first, as the one whose delay workers and users notice; pruning and vacuum
    /// last, as those nothing waits for (pruning after the cleanup, whose deleted checkpoints free
    /// operations for it). The cleanup deletes from the store checkpoints are written to
    /// (`CHECKPOINT_ARTIFACTS_PATH`, else the default store), over `pool`.
    pub fn all(ticker_id: &str, settings: &TickerSettings, pool: &PgPool) -> Result<Vec<Self>> {
        Ok(vec![
            Service::Orphans(OrphanDetector::new(ticker_id, settings.orphans)?),
            Service::Reconciliation(ReconciliationExpirer::new(settings.reconciliation)?),
            Service::CheckpointCleanup(CheckpointCleaner::new(
                settings.checkpoint_cleanup,
                ArtifactStore::for_checkpoints(pool)?,
            )?),
            Service::Pruning(Pruner::new(settings.pruning)?),
            Service::Vacuum(Vacuumer::new(settings.vacuum)?),
            Service::Research(ResearchAdvancer::new(settings.research)?),
        ])
    }

    pub fn name(&self) -> &'static str {
        match self {
            Service::Orphans(_) => "orphans",
            Service::Reconciliation(_) => "reconciliation",
            Service::CheckpointCleanup(_) => "checkpoint_cleanup",
            Service::Pruning(_) => "pruning",
            Service::Vacuum(_) => "vacuum",
            Service::Research(_) => "research",
        }
    }

    /// Runs one pass (the service's `run_once`) as the leader of `fence` and logs what it changed;
    /// returns how long until the service is due again, or `None` when the pass was refused because
    /// another ticker leads now (it changed nothing; the caller must stop leading). A pass that
    /// fails otherwise (the database is away, say) is logged and retried after the service's
    /// longest wait.
    pub async fn run_pass(&self, pool: &PgPool, fence: &Fence) -> Option<Duration> {
        let fence = Some(fence);
        // (whether the pass changed something worth an info line, the report, its clock readings)
        let passed = match self {
            Service::Orphans(detector) => detector.run_once(pool, fence).await.map(|r| {
                for id in &r.orphan_ids {
                    tracing::info!(operation_id = %id, "Orphan operation detected: {id}");
                }
                let changed = r.changed_anything() || r.outage_detected;
                (changed, format!("{r:?}"), r.checked_at, r.next_due)
            }),
            Service::Reconciliation(expirer) => expirer
                .run_once(pool, fence)
                .await
                .map(|r| (r.expired() > 0, format!("{r:?}"), r.checked_at, r.next_due)),
            Service::CheckpointCleanup(cleaner) => cleaner
                .run_once(pool, fence)
                .await
                .map(|r| (true, format!("{r:?}"), r.checked_at, r.next_due)),
            Service::Pruning(pruner) => pruner.run_once(pool, fence).await.map(|r| {
                (
                    r.deleted_anything(),
                    format!("{r:?}"),
                    r.checked_at,
                    r.next_due,
                )
            }),
            Service::Vacuum(vacuumer) => vacuumer.run_once(pool, fence).await.map(|r| {
                let started = r.outcome == VacuumOutcome::Started;
                (started, format!("{r:?}"), r.checked_at, r.next_due)
            }),
            Service::Research(advancer) => advancer.run_once(pool, fence).await.map(|r| {
                let changed = r.advanced + r.errors > 0;
                (changed, format!("{r:?}"), r.checked_at, r.next_due)
            }),
        };
        match passed {
            Ok((changed, report, checked_at, next_due)) => {
                if changed {
                    tracing::info!(service = self.name(), report, "maintenance pass");
                }
                crate::db::outage::reached();
                Some((next_due - checked_at).to_std().unwrap_or(Duration::ZERO))
            }
            Err(Error::NotLeader(why)) => {
                tracing::warn!(service = self.name(), "maintenance pass refused: {why}");
                None
            }
            Err(err) => {
                let retry = self.longest_wait();
                if err.is_transient() {
                    crate::db::outage::failed("a maintenance pass", &err);
                } else {
                    tracing::warn!(
                        service = self.name(),
                        ?retry,
                        "maintenance pass failed: {err}"
                    );
                }
                Some(retry)
            }
        }
    }

    fn longest_wait(&self) -> Duration {
        match self {
            Service::Orphans(detector) => detector.longest_wait(),
            Service::Reconciliation(expirer) => expirer.longest_wait(),
            Service::CheckpointCleanup(cleaner) => cleaner.longest_wait(),
            Service::Pruning(pruner) => pruner.longest_wait(),
            Service::Vacuum(vacuumer) => vacuumer.longest_wait(),
            Service::Research(advancer) => advancer.longest_wait(),
        }
    }
}
