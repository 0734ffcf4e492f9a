//! The ticker: schedules the [maintenance services](crate::maintenance) while this process leads.
//!
//! Every worker runs one (unless `--no-ticker`), and so does `ktrdr ticker`; [leader
//! election](crate::leader) lets one at a time run the services, and a follower tries to take over
//! every check interval. The leader keeps a next-due time per service, runs those that are due, and
//! sleeps until the earliest: the orphan detector just after the earliest lease expiry its last pass
//! saw (so an orphan is detected moments after its lease lapses, not on a fixed scan), the
//! reconciliation expiry just after the earliest deadline, the checkpoint cleanup every
//! CHECKPOINT_CLEANUP_INTERVAL_HOURS, pruning every hour (every second while a backlog lasts, so
//! that its bounded passes and the other services take turns). Every service is due when
//! leadership begins. Before each round
//! the leader checks on its own connection that it still holds the lock, and steps down otherwise.
//!
//! The services run on the pool the ticker is given; only the leader lock has a connection of its
//! own. The ticker decides nothing about operations itself.

use std::time::Duration;

use sqlx::{PgPool, postgres::PgConnectOptions};
use tokio::{sync::watch, time::Instant};

use crate::{Result, config::TickerSettings, leader::Candidate, maintenance::Service};

/// A ticker with its services built and validated, ready to [`run`](Ticker::run).
pub struct Ticker {
    ticker_id: String,
    leader_options: PgConnectOptions,
    pool: PgPool,
    /// How often a follower tries to take over (ORPHAN_CHECK_INTERVAL_SECONDS).
    takeover_interval: Duration,
    services: Vec<Service>,
}

impl Ticker {
    /// A ticker named `ticker_id` that competes for leadership over its own connection to `url` and
    /// runs the services on `pool`. Fails on a bad URL or setting.
    pub fn new(
        url: &str,
        pool: PgPool,
        ticker_id: &str,
        settings: &TickerSettings,
    ) -> Result<Self> {
        Ok(Self {
            ticker_id: ticker_id.to_string(),
            leader_options: Candidate::options(url)?,
            services: Service::all(ticker_id, settings, &pool)?,
            pool,
            takeover_interval: settings.orphans.check_interval,
        })
    }

    /// Runs until `shutdown` turns true. Never fails: connection problems are retried.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            match Candidate::connect(&self.leader_options).await {
                Ok(mut candidate) => {
                    if let Err(err) = self.follow_or_lead(&mut candidate, &mut shutdown).await {
                        tracing::warn!("ticker lost its connection: {err}");
                    }
                    candidate.close().await;
                }
                Err(err) => tracing::debug!("ticker cannot connect: {err}"),
            }
            sleep_or_shutdown(self.takeover_interval, &mut shutdown).await;
        }
    }

    /// Tries to become leader every takeover interval; once leader, leads until shutdown, an error,
    /// or the loss of the lock.
    async fn follow_or_lead(
        &self,
        candidate: &mut Candidate,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        while !candidate.try_lead().await? {
            if sleep_or_shutdown(self.takeover_interval, shutdown).await {
                return Ok(());
            }
        }
        tracing::info!(ticker_id = %self.ticker_id, "ticker leader: running maintenance");
        let mut due = vec![Instant::now(); self.services.len()];
        loop {
            if !candidate.still_leads().await? {
                tracing::warn!(ticker_id = %self.ticker_id, "ticker no longer holds the leader lock");
                return Ok(());
            }
            for (service, due) in self.services.iter().zip(due.iter_mut()) {
                if *due <= Instant::now() {
                    let wait = service.run_pass(&self.pool).await;
                    *due = Instant::now() + wait;
                }
            }
            let earliest = due
                .iter()
                .min()
                .copied()
                .unwrap_or_else(|| Instant::now() + self.takeover_interval);
            if sleep_until_or_shutdown(earliest, shutdown).await {
                return Ok(());
            }
        }
    }
}

/// Sleeps for `duration`; true when shutdown was requested instead.
async fn sleep_or_shutdown(duration: Duration, shutdown: &mut watch::Receiver<bool>) -> bool {
    sleep_until_or_shutdown(Instant::now() + duration, shutdown).await
}

/// Sleeps until `deadline`; true when shutdown was requested instead.
async fn sleep_until_or_shutdown(deadline: Instant, shutdown: &mut watch::Receiver<bool>) -> bool {
    let slept = tokio::select! {
        _ = tokio::time::sleep_until(deadline) => true,
        _ = shutdown.wait_for(|stop| *stop) => false,
    };
    !slept || *shutdown.borrow()
}
