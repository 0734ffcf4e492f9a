//! The claim loop. A worker registers itself, listens for notifications, and claims as many operations
//! as it has free slots whenever something may have changed: a notification, a finished attempt, a
//! reconnect of the listener, or the poll timer (the safety net for lost notifications). It renews
//! its own registry lease on the heartbeat timer and re-registers when the registry forgot it.

use std::{collections::HashMap, sync::Arc, time::Duration};

use ktrdr::{
    notify::{self, Wakeup},
    operations,
    ticker::Ticker,
    workers,
};
use sqlx::PgPool;
use tokio::{
    sync::{Notify, watch},
    task::JoinSet,
};

use crate::{attempt, settings::WorkerSettings};

pub async fn run(pool: PgPool, url: String, settings: WorkerSettings) -> anyhow::Result<()> {
    if let Some(threads) = settings.torch_threads {
        tch::set_num_threads(threads);
    }
    let settings = Arc::new(settings);
    let identity = workers::WorkerIdentity {
        worker_id: settings.worker_id.clone(),
        types: settings.types.clone(),
        host: hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        pid: std::process::id() as i32,
        concurrency: settings.concurrency as i32,
        capabilities: serde_json::json!({ "types": settings.types }),
    };
    let lease_seconds = settings.lease.orphan_timeout_seconds;
    workers::register(&pool, &identity, lease_seconds).await?;
    tracing::info!(
        worker_id = %settings.worker_id, types = ?settings.types, concurrency = settings.concurrency,
        "worker registered"
    );
    settings.outbox.flush(&pool, |_| false).await;

    let shutdown = ktrdr::shutdown::install()?;
    // The ticker's services share the worker's pool; only its leader lock has a connection of its
    // own.
    let ticker = settings
        .ticker
        .map(|ticker_settings| {
            Ticker::new(&url, pool.clone(), &settings.worker_id, &ticker_settings)
        })
        .transpose()?
        .map(|ticker| tokio::spawn(ticker.run(shutdown.clone())));
    let (mut wakeups, listener) = notify::spawn_listener(
        pool.clone(),
        &[notify::OPERATION_PENDING, notify::CANCEL_REQUESTED],
    );
    let mut poll = tokio::time::interval(settings.poll_interval);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut registry_heartbeat = tokio::time::interval(settings.heartbeat_interval());
    registry_heartbeat.tick().await;

    let mut loop_state = ClaimLoop {
        pool: pool.clone(),
        identity: identity.clone(),
        settings: settings.clone(),
        running: HashMap::new(),
        attempts: JoinSet::new(),
        shutdown: shutdown.clone(),
        database_ok: true,
    };
    let mut stopping = shutdown.clone();

    loop {
        let claim_now = tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => break,
            Some(wakeup) = wakeups.recv() => match wakeup {
                Wakeup::OperationPending(_) | Wakeup::Reconnected => true,
                Wakeup::Progress(_) => false,
                Wakeup::CancelRequested(id) => {
                    if let Some(running) = loop_state.running.get(&id) {
                        running.check_now.notify_one();
                    }
                    false
                }
            },
            _ = poll.tick() => true,
            Some(finished) = loop_state.attempts.join_next() => {
                if let Ok(id) = finished {
                    loop_state.running.remove(&id);
                }
                true
            }
            _ = registry_heartbeat.tick() => {
                renew_registration(&pool, &identity, lease_seconds).await;
                false
            }
        };
        if claim_now {
            loop_state.claim().await;
        }
    }

    listener.abort();
    drain(&mut loop_state, settings.shutdown_timeout).await;
    if let Some(ticker) = ticker {
        let _ = ticker.await;
    }
    if let Err(err) = workers::deregister(&pool, &settings.worker_id).await {
        tracing::warn!("could not deregister: {err}");
    }
    tracing::info!("worker stopped");
    Ok(())
}

struct ClaimLoop {
    pool: PgPool,
    identity: workers::WorkerIdentity,
    settings: Arc<WorkerSettings>,
    /// Running operations of this worker.
    running: HashMap<String, RunningAttempt>,
    /// The attempt tasks; each ends with its operation id.
    attempts: JoinSet<String>,
    shutdown: watch::Receiver<bool>,
    /// Whether the last database call worked, so an outage is logged once, not on every poll.
    database_ok: bool,
}

struct RunningAttempt {
    attempt: i32,
    /// Makes the attempt heartbeat at once (a cancel notification, a reconnect).
    check_now: Arc<Notify>,
}

impl ClaimLoop {
    async fn claim(&mut self) {
        let free = self.settings.concurrency.saturating_sub(self.running.len());
        if free == 0 {
            return;
        }
        let claimed = operations::claim(
            &self.pool,
            &self.settings.worker_id,
            &self.settings.types,
            free as i32,
            self.settings.lease.orphan_timeout_seconds,
        )
        .await;
        let claimed = match claimed {
            Ok(claimed) => {
                if !self.database_ok {
                    self.database_ok = true;
                    self.reregister().await;
                }
                claimed
            }
            Err(err) => {
                if self.database_ok {
                    tracing::warn!("cannot claim operations: {err}");
                    self.database_ok = false;
                }
                return;
            }
        };
        for op in claimed {
            let id = op.lease.operation_id.clone();
            tracing::info!(operation_id = %id, attempt = op.lease.attempt, "claimed");
            let check_now = Arc::new(Notify::new());
            let running = RunningAttempt {
                attempt: op.lease.attempt,
                check_now: check_now.clone(),
            };
            self.running.insert(id.clone(), running);
            let (pool, settings, shutdown) = (
                self.pool.clone(),
                self.settings.clone(),
                self.shutdown.clone(),
            );
            self.attempts.spawn(async move {
                attempt::run(pool, settings, op, check_now, shutdown).await;
                id
            });
        }
    }
}

impl ClaimLoop {
    /// After the database was unreachable: register again at once and present the running attempts
    /// in one statement (operations moved to pending_reconciliation meanwhile become running again
    /// before their deadline, stale ones are answered "stop"); then poke every attempt — a running
    /// one heartbeats and acts on its verdict, a finished one delivers its outcome now instead of
    /// at the end of its backoff — and deliver what earlier processes left in the outbox.
    async fn reregister(&mut self) {
        tracing::info!("database reachable again: re-registering");
        let lease_seconds = self.settings.lease.orphan_timeout_seconds;
        let attempts: Vec<(String, i32)> = self
            .running
            .iter()
            .map(|(id, running)| (id.clone(), running.attempt))
            .collect();
        let reclaimed = async {
            workers::register(&self.pool, &self.identity, lease_seconds).await?;
            operations::reclaim(
                &self.pool,
                &self.identity.worker_id,
                &attempts,
                lease_seconds,
            )
            .await
        };
        match reclaimed.await {
            Ok(verdicts) => tracing::info!(?verdicts, "re-registered with the running operations"),
            Err(err) => tracing::warn!("re-registration failed: {err}"),
        }
        for running in self.running.values() {
            running.check_now.notify_one();
        }
        let running = &self.running;
        self.settings
            .outbox
            .flush(&self.pool, |id| running.contains_key(id))
            .await;
    }
}

async fn renew_registration(pool: &PgPool, identity: &workers::WorkerIdentity, lease_seconds: f64) {
    let renewed = match workers::heartbeat(pool, &identity.worker_id, lease_seconds).await {
        Ok(true) => Ok(()),
        Ok(false) => workers::register(pool, identity, lease_seconds).await,
        Err(err) => Err(err),
    };
    if let Err(err) = renewed {
        tracing::debug!("worker heartbeat failed: {err}");
    }
}

/// Waits for running attempts to stop (they were told by the shutdown signal), at most `limit`.
async fn drain(loop_state: &mut ClaimLoop, limit: Duration) {
    if loop_state.attempts.is_empty() {
        return;
    }
    tracing::info!(
        running = loop_state.attempts.len(),
        "stopping running operations"
    );
    let all_done = async { while loop_state.attempts.join_next().await.is_some() {} };
    if tokio::time::timeout(limit, all_done).await.is_err() {
        tracing::warn!("running operations did not stop within {limit:?}; exiting anyway");
    }
}
