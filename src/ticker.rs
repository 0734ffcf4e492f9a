//! The ticker: runs maintenance passes, one process per database at a time.
//!
//! Every worker runs one (unless `--no-ticker`), and so does `ktrdr ticker`. Leadership is a
//! PostgreSQL advisory lock held on the ticker's own connection: when the leader dies, or its
//! connection does, the lock is released and a follower — which tries every check interval — takes
//! over. The leader sleeps until the earliest lease expiry the last pass reported, so an orphan is
//! detected moments after its lease lapses rather than on a fixed scan. It never sleeps longer than the
//! check interval nor the orphan timeout: a lease taken after a pass expires at least one timeout
//! later, so the next pass always sees it before it lapses.

use std::time::Duration;

use sqlx::{Connection, PgConnection, postgres::PgConnectOptions};
use tokio::sync::watch;

use crate::{Result, artifacts::ArtifactStore, checkpoints, config::TickerSettings, maintenance};

/// Advisory lock key of the ticker leader ("ktic"); `ktrdr.orphan_detector` looks for it in pg_locks.
pub const LEADER_LOCK_KEY: i64 = 0x6b74_6963;

/// Slack after a lease expiry before the pass that detects it, so the lease has surely lapsed.
const EXPIRY_SLACK: Duration = Duration::from_millis(20);

/// Runs until `shutdown` turns true. Never fails: connection problems are retried.
pub async fn run(
    url: String,
    ticker_id: String,
    settings: TickerSettings,
    mut shutdown: watch::Receiver<bool>,
) {
    let interval = Duration::from_secs_f64(settings.check_interval_seconds);
    let options: PgConnectOptions = match url.parse() {
        Ok(options) => options,
        Err(err) => {
            tracing::error!("ticker: bad database URL: {err}");
            return;
        }
    };
    let options = options.application_name("ktrdr-ticker");
    while !*shutdown.borrow() {
        match PgConnection::connect_with(&options).await {
            Ok(mut conn) => {
                if let Err(err) =
                    follow_or_lead(&mut conn, &url, &ticker_id, &settings, &mut shutdown).await
                {
                    tracing::warn!("ticker lost its connection: {err}");
                }
                let _ = conn.close().await;
            }
            Err(err) => tracing::debug!("ticker cannot connect: {err}"),
        }
        sleep_or_shutdown(interval, &mut shutdown).await;
    }
}

/// Tries to become leader every interval; once leader, runs passes until shutdown or an error.
async fn follow_or_lead(
    conn: &mut PgConnection,
    url: &str,
    ticker_id: &str,
    settings: &TickerSettings,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<()> {
    let interval = Duration::from_secs_f64(settings.check_interval_seconds);
    let longest_sleep = Duration::from_secs_f64(
        settings
            .check_interval_seconds
            .min(settings.lease.orphan_timeout_seconds),
    );
    loop {
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(LEADER_LOCK_KEY)
            .fetch_one(&mut *conn)
            .await?;
        if leader {
            break;
        }
        if sleep_or_shutdown(interval, shutdown).await {
            return Ok(());
        }
    }
    tracing::info!(%ticker_id, "ticker leader: running maintenance");
    let cleanup_every =
        Duration::from_secs_f64(settings.checkpoint_cleanup_interval_hours * 3600.0);
    let mut last_cleanup: Option<tokio::time::Instant> = None;
    loop {
        if last_cleanup.is_none_or(|at| at.elapsed() >= cleanup_every) {
            clean_up_checkpoints(url, settings).await;
            last_cleanup = Some(tokio::time::Instant::now());
        }
        let report = maintenance::run_once(&mut *conn, ticker_id, settings).await?;
        if report.changed_anything() || report.outage_detected {
            tracing::info!(
                failed = report.orphans_failed,
                requeued = report.orphans_requeued,
                cancelled = report.orphans_cancelled,
                reconciling = report.moved_to_reconciliation,
                outage = report.outage_detected,
                "maintenance pass"
            );
        }
        let until_due = report
            .next_due
            .and_then(|due| (due - report.checked_at).to_std().ok())
            .map(|left| left + EXPIRY_SLACK);
        let sleep = until_due.map_or(longest_sleep, |left| left.min(longest_sleep));
        if sleep_or_shutdown(sleep, shutdown).await {
            return Ok(());
        }
    }
}

/// One checkpoint cleanup pass (old checkpoints, unreferenced artifacts). Failures are logged: the
/// next pass tries again.
async fn clean_up_checkpoints(url: &str, settings: &TickerSettings) {
    let outcome = async {
        // The artifact store wants a pool (for its database backend); one connection is plenty for
        // a pass every few hours.
        let pool = crate::db::connect_with_size(url, 1).await?;
        let store = ArtifactStore::for_checkpoints(&pool);
        let report = checkpoints::cleanup(
            &pool,
            &store,
            settings.checkpoint_max_age_days,
            checkpoints::SWEEP_MIN_AGE,
        )
        .await;
        pool.close().await;
        report
    };
    match outcome.await {
        Ok(report) => tracing::info!(?report, "checkpoint cleanup"),
        Err(err) => tracing::warn!("checkpoint cleanup failed: {err}"),
    }
}

/// Sleeps for `duration`; true when shutdown was requested instead.
async fn sleep_or_shutdown(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    let slept = tokio::select! {
        _ = tokio::time::sleep(duration) => true,
        _ = shutdown.wait_for(|stop| *stop) => false,
    };
    !slept || *shutdown.borrow()
}
