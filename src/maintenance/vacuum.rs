//! Vacuum of the queue: `VACUUM ktrdr.operations` as soon as the table holds many dead row
//! versions, instead of whenever autovacuum comes round.
//!
//! Why the queue needs it: a claim walks the index of pending operations (`operations_claimable`)
//! from its first entry, and the entries of operations claimed since the last vacuum stay there —
//! marked dead, but still on pages the walk must step over — until a VACUUM removes them. So a
//! claim costs more with every operation claimed since the last vacuum: a million operations through
//! four workers took a claim of 100 from 1,100 to 4,500 buffer reads within 48 s, and the last
//! 100,000 ran a third slower than the first. Autovacuum visits a table at most once per
//! `autovacuum_naptime` (a minute by default) and then throttles itself; it did not run once in
//! that minute. With this service (a pass every 10 s) the claim stayed near its first cost.
//!
//! One pass reads the table's dead-row count from the statistics; at or above
//! [`dead_rows`](VacuumConfig::dead_rows) it starts `VACUUM (SKIP_LOCKED)` — never waiting behind
//! autovacuum or another vacuum of the table — on a connection of its own, outside any transaction
//! (VACUUM cannot run in one), after the leader's fence was checked. The vacuum runs in the
//! background (seconds on a table of a million rows, under load): the ticker's other services,
//! orphan detection first, must not wait for it. A pass while it runs starts nothing. Only the
//! table's owner (or a superuser) may vacuum it: a ticker that logs in as another role reports the
//! pass as skipped and leaves it to autovacuum.
//! `dead_rows = 0` turns the service off. (Under pg_cron, with workers on `--no-ticker`, schedule
//! the same statement, or lower `autovacuum_naptime`.)

use std::{
    ops::RangeInclusive,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, TimeDelta, Utc};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::{
    Result,
    config::ensure_in_range,
    leader::{self, Fence},
};

/// KTRDR_VACUUM_DEAD_ROWS by default: about two seconds of a busy queue's claims and completions.
pub const DEAD_ROWS_DEFAULT: i64 = 20_000;
/// Accepted KTRDR_VACUUM_DEAD_ROWS; 0 turns the service off.
pub const DEAD_ROWS_RANGE: RangeInclusive<i64> = 0..=1_000_000_000;
/// KTRDR_VACUUM_INTERVAL_SECONDS by default.
pub const INTERVAL_DEFAULT: Duration = Duration::from_secs(10);
/// Accepted intervals, in seconds.
pub const INTERVAL_RANGE_SECONDS: RangeInclusive<f64> = 1.0..=86_400.0;

/// The vacuum service's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VacuumConfig {
    /// KTRDR_VACUUM_DEAD_ROWS: vacuum once the operations table holds this many dead row
    /// versions; 0 never.
    pub dead_rows: i64,
    /// KTRDR_VACUUM_INTERVAL_SECONDS: the wait between two passes.
    pub interval: Duration,
}

impl Default for VacuumConfig {
    fn default() -> Self {
        Self {
            dead_rows: DEAD_ROWS_DEFAULT,
            interval: INTERVAL_DEFAULT,
        }
    }
}

/// What one pass found and did.
#[derive(Debug, Clone, PartialEq)]
pub struct VacuumReport {
    /// This process's clock when the pass began.
    pub checked_at: DateTime<Utc>,
    /// Dead row versions of `ktrdr.operations` in the statistics before the pass.
    pub dead_rows: i64,
    /// What the pass did.
    pub outcome: VacuumOutcome,
    /// When the next pass is due.
    pub next_due: DateTime<Utc>,
}

/// What a pass did.
#[derive(Debug, Clone, PartialEq)]
pub enum VacuumOutcome {
    /// Fewer dead rows than the threshold (or the service is off).
    NotNeeded,
    /// A vacuum started (in the background; its end is logged).
    Started,
    /// The vacuum started by an earlier pass is still running.
    StillRunning,
    /// This login may not vacuum the table (it does not own it); autovacuum will.
    NotOwner,
}

/// The vacuum service.
#[derive(Debug, Clone)]
pub struct Vacuumer {
    config: VacuumConfig,
    /// Whether a vacuum this service started is running.
    running: Arc<AtomicBool>,
}

impl Vacuumer {
    /// Refuses settings outside their ranges, naming their environment variables.
    pub fn new(config: VacuumConfig) -> Result<Self> {
        ensure_in_range("KTRDR_VACUUM_DEAD_ROWS", config.dead_rows, &DEAD_ROWS_RANGE)?;
        ensure_in_range(
            "KTRDR_VACUUM_INTERVAL_SECONDS",
            config.interval.as_secs_f64(),
            &INTERVAL_RANGE_SECONDS,
        )?;
        Ok(Self {
            config,
            running: Arc::new(AtomicBool::new(false)),
        })
    }

    /// The wait between two passes, also after a pass that failed.
    pub fn longest_wait(&self) -> Duration {
        self.config.interval
    }

    /// Whether a vacuum this service started is still running.
    pub fn is_vacuuming(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// One pass (see the module documentation), as the leader of `fence` (`None`: unfenced).
    pub async fn run_once(&self, pool: &PgPool, fence: Option<&Fence>) -> Result<VacuumReport> {
        let checked_at = Utc::now();
        let mut tx = leader::begin_fenced(pool, fence).await?;
        let (dead_rows, may_vacuum): (i64, bool) = sqlx::query_as(
            // (pg_has_role is true for a superuser too.)
            "SELECT coalesce(s.n_dead_tup, 0), pg_has_role(current_user, c.relowner, 'USAGE')
             FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
             WHERE c.oid = 'ktrdr.operations'::regclass",
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let outcome = if self.config.dead_rows == 0 || dead_rows < self.config.dead_rows {
            VacuumOutcome::NotNeeded
        } else if !may_vacuum {
            VacuumOutcome::NotOwner
        } else if self.running.swap(true, Ordering::AcqRel) {
            VacuumOutcome::StillRunning
        } else {
            match vacuum_connection(pool).await {
                Ok(connection) => {
                    tokio::spawn(vacuum(connection, dead_rows, self.running.clone()));
                    VacuumOutcome::Started
                }
                Err(err) => {
                    self.running.store(false, Ordering::Release);
                    return Err(err);
                }
            }
        };
        Ok(VacuumReport {
            checked_at,
            dead_rows,
            outcome,
            next_due: Utc::now()
                + TimeDelta::from_std(self.config.interval).expect("at most a day"),
        })
    }
}

/// A connection of the pool's settings that logs no slow statements: a vacuum of seconds is not
/// news, and it holds none of the pool's connections meanwhile.
async fn vacuum_connection(pool: &PgPool) -> Result<PgConnection> {
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .log_slow_statements(log::LevelFilter::Off, Duration::ZERO);
    Ok(PgConnection::connect_with(&options).await?)
}

/// Runs the vacuum on `connection`, logs how it went, and clears `running`.
async fn vacuum(mut connection: PgConnection, dead_rows: i64, running: Arc<AtomicBool>) {
    let started = std::time::Instant::now();
    // The simple query protocol: VACUUM runs outside any transaction block.
    match sqlx::raw_sql("VACUUM (SKIP_LOCKED) ktrdr.operations")
        .execute(&mut connection)
        .await
    {
        Ok(_) => tracing::info!(
            dead_rows,
            seconds = started.elapsed().as_secs_f64(),
            "vacuumed ktrdr.operations"
        ),
        Err(err) => tracing::warn!("vacuum of ktrdr.operations failed: {err}"),
    }
    let _ = connection.close().await;
    running.store(false, Ordering::Release);
}
