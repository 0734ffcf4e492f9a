//! The ticker: schedules the [maintenance services](crate::maintenance) while this process leads.
//!
//! Every worker runs one (unless `--no-ticker`), and so does `ktrdr ticker`; [leader
//! election](crate::leader) lets one at a time run the services, and a follower tries to take the
//! lease every check interval (ORPHAN_CHECK_INTERVAL_SECONDS). The leader keeps a next-due time per
//! service, runs those that are due, and sleeps until the earliest: the orphan detector just after
//! the earliest lease expiry its last pass saw (so an orphan is detected moments after its lease
//! lapses, not on a fixed scan), the reconciliation expiry just after the earliest deadline, the
//! checkpoint cleanup every CHECKPOINT_CLEANUP_INTERVAL_HOURS, pruning every hour (every second while
//! a backlog lasts, so that its bounded passes and the other services take turns), the vacuum check
//! every KTRDR_VACUUM_INTERVAL_SECONDS (the vacuum itself runs in the background), the research
//! service every AGENT_POLL_INTERVAL_SECONDS — and at once when a child of a research ends: the
//! leader listens on [`notify::RESEARCH`] (a lost notification delays a step by one poll at most).
//! Every service is due when leadership begins.
//!
//! Fencing: every write of a service pass is fenced by the leader's epoch in its own transaction (see
//! [`leader`](crate::leader)): a pass that another's takeover overtook changes nothing and the
//! ticker steps down. And before every service pass the leader renews its lease, and it never sleeps
//! longer than the renewal interval (one check interval; the lease lasts two), so a healthy leader's
//! lease never lapses even when every service is due much later. When a renewal fails or errs —
//! another took over while this process was frozen or cut off — it stops leading at once, runs
//! nothing more, and goes back to following. On shutdown the leader resigns its lease.
//!
//! Everything, leadership included, runs on the pool the ticker is given. The ticker decides nothing
//! about operations itself.

use std::time::Duration;

use sqlx::PgPool;
use tokio::{
    sync::{mpsc, watch},
    task::JoinHandle,
    time::Instant,
};

use crate::{
    Result,
    config::TickerSettings,
    leader::{self, Leadership, Term},
    maintenance::Service,
    notify::{self, Wakeup},
};

/// A ticker with its services built and validated, ready to [`run`](Ticker::run).
pub struct Ticker {
    ticker_id: String,
    leadership: Leadership,
    pool: PgPool,
    /// How often a follower tries to take over, and the longest a leader goes without renewing
    /// (ORPHAN_CHECK_INTERVAL_SECONDS).
    check_interval: Duration,
    services: Vec<Service>,
}

impl Ticker {
    /// A ticker named `ticker_id` that competes for leadership and runs the services on `pool`.
    /// Fails on a bad setting.
    pub fn new(pool: PgPool, ticker_id: &str, settings: &TickerSettings) -> Result<Self> {
        let check_interval = settings.orphans.check_interval;
        Ok(Self {
            ticker_id: ticker_id.to_string(),
            leadership: Leadership::new(
                pool.clone(),
                ticker_id,
                leader::lease_for(check_interval),
                leader::call_timeout(check_interval),
            ),
            services: Service::all(ticker_id, settings, &pool)?,
            pool,
            check_interval,
        })
    }

    /// Runs until `shutdown` turns true. Never fails: database problems are retried.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        while !*shutdown.borrow() {
            match self.leadership.take().await {
                Ok(Some(term)) => self.lead(term, &mut shutdown).await,
                Ok(None) => {}
                Err(err) => tracing::debug!("ticker cannot try to lead: {err}"),
            }
            sleep_or_shutdown(self.check_interval, &mut shutdown).await;
        }
    }

    /// Leads in `term` until shutdown (then resigns) or until a renewal fails or errs.
    async fn lead(&self, term: Term, shutdown: &mut watch::Receiver<bool>) {
        tracing::info!(ticker_id = %self.ticker_id, epoch = term.epoch, "ticker leader: running maintenance");
        // The seeds' wording, which operators grep for.
        tracing::info!(ticker_id = %self.ticker_id, epoch = term.epoch, "Orphan detector started");
        let fence = self.leadership.fence(term);
        let mut due = vec![Instant::now(); self.services.len()];
        let (mut wakeups, listener) =
            notify::spawn_listener(self.pool.clone(), &[notify::RESEARCH]);
        let _listener = AbortOnDrop(listener);
        let research = self
            .services
            .iter()
            .position(|s| matches!(s, Service::Research(_)));
        loop {
            let mut renewed_at = Instant::now();
            if !self.still_leads(term).await {
                return;
            }
            // The first pass of a round runs on the renewal above; every later one renews first.
            let mut just_renewed = true;
            for (service, due) in self.services.iter().zip(due.iter_mut()) {
                if *due <= Instant::now() {
                    if !just_renewed {
                        renewed_at = Instant::now();
                        if !self.still_leads(term).await {
                            return;
                        }
                    }
                    just_renewed = false;
                    let Some(wait) = service.run_pass(&self.pool, &fence).await else {
                        // (The refusal itself is the service's warning.)
                        tracing::info!(ticker_id = %self.ticker_id, epoch = term.epoch, "ticker stepping down");
                        return;
                    };
                    *due = Instant::now() + wait;
                }
            }
            let renew_by = renewed_at + self.check_interval;
            let next = due.iter().min().map_or(renew_by, |&d| d.min(renew_by));
            match sleep_until_woken(next, shutdown, &mut wakeups).await {
                Sleep::Shutdown => {
                    if let Err(err) = self.leadership.resign(term).await {
                        tracing::warn!(ticker_id = %self.ticker_id, "ticker could not resign: {err}");
                    }
                    return;
                }
                Sleep::ResearchWoken => {
                    if let Some(research) = research {
                        due[research] = Instant::now();
                    }
                }
                Sleep::Due => {}
            }
        }
    }

    /// Renews the lease of `term`; false (logged) when this ticker must step down.
    async fn still_leads(&self, term: Term) -> bool {
        match self.leadership.renew(term).await {
            Ok(true) => true,
            Ok(false) => {
                tracing::warn!(ticker_id = %self.ticker_id, epoch = term.epoch, "ticker lost its leader lease: stepping down");
                false
            }
            Err(err) if err.is_transient() => {
                crate::db::outage::failed("renewing the ticker's leader lease", &err);
                tracing::info!(ticker_id = %self.ticker_id, epoch = term.epoch, "ticker stepping down until the database is back");
                false
            }
            Err(err) => {
                tracing::warn!(ticker_id = %self.ticker_id, epoch = term.epoch, "ticker could not renew its leader lease, stepping down: {err}");
                false
            }
        }
    }
}

/// How a leader's sleep ended.
enum Sleep {
    Due,
    /// A research's child ended (or the listener reconnected, and such news may have been lost).
    ResearchWoken,
    Shutdown,
}

/// Sleeps until `deadline`, a research wake-up on `wakeups`, or shutdown.
async fn sleep_until_woken(
    deadline: Instant,
    shutdown: &mut watch::Receiver<bool>,
    wakeups: &mut mpsc::UnboundedReceiver<Wakeup>,
) -> Sleep {
    let woken = tokio::select! {
        _ = tokio::time::sleep_until(deadline) => Sleep::Due,
        _ = shutdown.wait_for(|stop| *stop) => Sleep::Shutdown,
        Some(_) = wakeups.recv() => Sleep::ResearchWoken,
    };
    if *shutdown.borrow() {
        Sleep::Shutdown
    } else {
        woken
    }
}

/// Stops the leader's listener when it stops leading.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
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
