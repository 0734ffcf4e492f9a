//! The claim loop. A worker registers itself, listens for notifications, and keeps its
//! `--concurrency` slots busy: a slot that frees up takes the next operation from the claim-ahead
//! buffer at once (see [`claim_ahead`](crate::claim_ahead)), and a claim refills slots and buffer
//! whenever there may be work — a notification, a reconnect of the listener, the poll timer (the
//! safety net for lost notifications), or a buffer running low while the last claim found plenty.
//!
//! Claims run as their own tasks (two at most at once) and completions in the [`Reporter`]'s, each on
//! its own pooled connection, so neither waits behind the other or behind a heartbeat. The loop renews the
//! worker's registry lease on the heartbeat timer and re-registers when the registry forgot it. On
//! SIGTERM it releases the buffered operations at once and lets the running ones stop.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use ktrdr::{
    notify::{self, Wakeup},
    operations::{self, ClaimedOperation, Outcome},
    ticker::Ticker,
    workers,
};
use sqlx::PgPool;
use tokio::{
    sync::{Notify, mpsc, watch},
    task::JoinSet,
};

use crate::{
    attempt::{self, JobSlot, Shared},
    claim_ahead::ClaimAhead,
    jobs::Jobs,
    reporter::Reporter,
    settings::WorkerSettings,
    stores::Stores,
};

/// Attempts whose job ended but whose outcome is not written yet, beyond which the worker claims
/// nothing more: memory stays bounded while the database is slow to take completions.
const MAX_UNREPORTED: usize = 4000;

/// Claims under way at once: a second claim is made while the first waits on the database, so
/// slots do not idle through a claim's round trip and commit.
const MAX_CLAIMS_IN_FLIGHT: usize = 2;

/// Runs the worker with `jobs` until SIGTERM/SIGINT; `jobs` must run every type of `settings`.
pub async fn run(pool: PgPool, settings: WorkerSettings, jobs: Jobs) -> anyhow::Result<()> {
    if let Some(missing) = settings.types.iter().find(|t| !jobs.runs(t)) {
        anyhow::bail!("this worker binary cannot run '{missing}' operations");
    }
    // Before registering: a worker that could not store what it computes must claim nothing.
    let stores = Stores::open(&pool, &settings.outbox).await?;
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
        prefetch = settings.prefetch, "worker registered"
    );
    settings.outbox.flush(&pool, |_| false).await;

    let shutdown = ktrdr::shutdown::install()?;
    // The ticker (its leadership lease and its services) shares the worker's pool.
    let ticker = settings
        .ticker
        .map(|ticker_settings| Ticker::new(pool.clone(), &settings.worker_id, &ticker_settings))
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

    let (slot_freed, mut freed_slots) = mpsc::unbounded_channel();
    let (claim_done, mut claims) = mpsc::unbounded_channel();
    let mut worker = ClaimLoop {
        shared: Arc::new(Shared {
            pool: pool.clone(),
            settings: settings.clone(),
            reporter: Reporter::spawn(pool.clone(), settings.worker_id.clone()),
            stores,
            jobs,
            quiet_completions: AtomicU64::new(0),
        }),
        identity: identity.clone(),
        ahead: ClaimAhead::new(
            settings.prefetch,
            settings.concurrency,
            settings.heartbeat_interval() / 2,
        ),
        busy_slots: 0,
        slot_freed,
        claim_done,
        claims_in_flight: 0,
        asked_in_flight: 0,
        may_have_work: true,
        wakeups_seen: 0,
        running: HashMap::new(),
        attempts: JoinSet::new(),
        shutdown: shutdown.clone(),
        database_ok: true,
    };
    let mut stopping = shutdown.clone();

    loop {
        let buffer_deadline = worker.ahead.next_deadline();
        tokio::select! {
            _ = stopping.wait_for(|stop| *stop) => break,
            Some(wakeup) = wakeups.recv() => match wakeup {
                Wakeup::OperationPending(_) | Wakeup::Reconnected => worker.work_may_be_waiting(),
                Wakeup::Progress(_) | Wakeup::Research(_) => {}
                Wakeup::CancelRequested(id) => worker.cancel_requested(&id),
            },
            _ = poll.tick() => worker.work_may_be_waiting(),
            Some(ran) = freed_slots.recv() => {
                worker.busy_slots -= 1;
                worker.ahead.job_ended(ran);
                worker.start_buffered();
            }
            Some(answer) = claims.recv() => worker.claimed(answer).await,
            Some(finished) = worker.attempts.join_next() => {
                if let Ok((id, attempt)) = finished {
                    worker.attempt_over(&id, attempt);
                }
            }
            _ = tokio::time::sleep_until(buffer_deadline.unwrap_or_else(far_future)),
                if buffer_deadline.is_some() => worker.release_overdue(),
            _ = registry_heartbeat.tick() => {
                let undelivered = settings.outbox.len();
                renew_registration(&pool, &identity, lease_seconds, undelivered).await;
                worker.log_quiet_completions();
            }
        }
        worker.claim_if_needed();
    }

    listener.abort();
    worker.finish_claims(&mut claims).await;
    worker.release_buffered();
    drain(&mut worker, settings.shutdown_timeout).await;
    worker.log_quiet_completions();
    if let Some(ticker) = ticker {
        let _ = ticker.await;
    }
    if let Err(err) = workers::deregister(&pool, &settings.worker_id).await {
        tracing::warn!("could not deregister: {err}");
    }
    tracing::info!("worker stopped");
    Ok(())
}

/// The answer of one claim.
struct ClaimAnswer {
    asked: usize,
    /// [`ClaimLoop::wakeups_seen`] when the claim was made.
    wakeups_before: u64,
    claimed: ktrdr::Result<Vec<ClaimedOperation>>,
}

struct ClaimLoop {
    shared: Arc<Shared>,
    identity: workers::WorkerIdentity,
    /// Claimed operations waiting for a slot.
    ahead: ClaimAhead,
    /// Slots whose job is computing.
    busy_slots: usize,
    slot_freed: mpsc::UnboundedSender<Duration>,
    claim_done: mpsc::UnboundedSender<ClaimAnswer>,
    claims_in_flight: usize,
    /// Operations asked for by the claims under way.
    asked_in_flight: usize,
    /// False after a claim came back short (the queue had no more), until something says there may
    /// be work again.
    may_have_work: bool,
    /// Wake-ups so far: a claim that comes back short only means "no work" if none arrived while it
    /// was under way (an operation submitted meanwhile may have missed it).
    wakeups_seen: u64,
    /// Attempts of this worker that are not over: computing, or reporting their outcome.
    running: HashMap<String, RunningAttempt>,
    /// The attempt tasks; each ends with its operation id and attempt.
    attempts: JoinSet<(String, i32)>,
    shutdown: watch::Receiver<bool>,
    /// Whether the last claim reached the database: one that does after one did not re-registers.
    database_ok: bool,
}

struct RunningAttempt {
    attempt: i32,
    /// Makes the attempt heartbeat at once (a cancel notification, a reconnect).
    check_now: Arc<Notify>,
}

impl ClaimLoop {
    fn settings(&self) -> &WorkerSettings {
        &self.shared.settings
    }

    /// Whether the worker was told to stop (SIGTERM/SIGINT).
    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// A notification, a reconnect or the poll timer: there may be pending operations.
    fn work_may_be_waiting(&mut self) {
        self.may_have_work = true;
        self.wakeups_seen += 1;
    }

    /// Starts a claim when slots or buffer want operations and there may be some: at once for idle
    /// slots, and for the buffer once a quarter of slots plus buffer is free, so that claims stay
    /// large and the next is on its way while the buffer drains. What claims under way will bring
    /// counts as held.
    fn claim_if_needed(&mut self) {
        let concurrency = self.settings().concurrency;
        // (An attempt may be over before the loop has counted its slot free.)
        let unreported = self.running.len().saturating_sub(self.busy_slots);
        if self.claims_in_flight >= MAX_CLAIMS_IN_FLIGHT
            || !self.may_have_work
            || unreported > MAX_UNREPORTED
            || self.stopping()
        {
            return;
        }
        let target = concurrency + self.ahead.depth();
        let held = self.busy_slots + self.ahead.len() + self.asked_in_flight;
        let wanted = target.saturating_sub(held);
        let slots_idle = self.claims_in_flight == 0 && held < concurrency;
        if wanted == 0 || !(slots_idle || wanted >= target / 4) {
            return;
        }
        self.claims_in_flight += 1;
        self.asked_in_flight += wanted;
        let settings = self.settings();
        let (pool, worker_id, types, lease_seconds) = (
            self.shared.pool.clone(),
            settings.worker_id.clone(),
            settings.types.clone(),
            settings.lease.orphan_timeout_seconds,
        );
        let (done, wakeups_before) = (self.claim_done.clone(), self.wakeups_seen);
        tokio::spawn(async move {
            let claimed =
                operations::claim(&pool, &worker_id, &types, wanted as i32, lease_seconds).await;
            let _ = done.send(ClaimAnswer {
                asked: wanted,
                wakeups_before,
                claimed,
            });
        });
    }

    /// Takes in what a claim brought: into free slots first, the rest into the buffer.
    async fn claimed(&mut self, answer: ClaimAnswer) {
        let ClaimAnswer {
            asked,
            wakeups_before,
            claimed,
        } = answer;
        self.claims_in_flight -= 1;
        self.asked_in_flight -= asked;
        let claimed = match claimed {
            Ok(claimed) => {
                ktrdr::db::outage::reached();
                if !self.database_ok {
                    self.database_ok = true;
                    self.reregister().await;
                }
                claimed
            }
            Err(err) => {
                if err.is_transient() {
                    ktrdr::db::outage::failed("claiming operations", &err);
                } else if self.database_ok {
                    tracing::warn!("cannot claim operations: {err}");
                }
                self.database_ok = false;
                // Next try on the poll timer, not in a tight loop.
                self.may_have_work = false;
                return;
            }
        };
        if claimed.len() < asked && self.wakeups_seen == wakeups_before {
            self.may_have_work = false;
        }
        for op in claimed {
            tracing::debug!(operation_id = %op.lease.operation_id, attempt = op.lease.attempt, "claimed");
            self.ahead.push(op);
        }
        self.start_buffered();
    }

    /// Fills the free slots from the buffer.
    fn start_buffered(&mut self) {
        // Once stopping, nothing new starts: a slot that the shutdown itself freed must not pick
        // up a buffered operation, which goes back to pending instead.
        while self.busy_slots < self.settings().concurrency && !self.stopping() {
            let Some(op) = self.ahead.pop() else { break };
            self.busy_slots += 1;
            let slot = JobSlot::take(&self.slot_freed);
            let (shared, shutdown) = (self.shared.clone(), self.shutdown.clone());
            self.spawn_attempt(op, move |op, check_now| {
                attempt::run(shared, op, slot, check_now, shutdown)
            });
        }
    }

    /// Runs `attempt` for `op` as one of this worker's attempts.
    fn spawn_attempt<F>(
        &mut self,
        op: ClaimedOperation,
        attempt: impl FnOnce(ClaimedOperation, Arc<Notify>) -> F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let (id, number) = (op.lease.operation_id.clone(), op.lease.attempt);
        let check_now = Arc::new(Notify::new());
        let running = RunningAttempt {
            attempt: number,
            check_now: check_now.clone(),
        };
        self.running.insert(id.clone(), running);
        let attempt = attempt(op, check_now);
        self.attempts.spawn(async move {
            attempt.await;
            (id, number)
        });
    }

    /// An attempt task ended. The operation may meanwhile have been claimed again by this worker
    /// (released, then claimed anew): that newer attempt stays.
    fn attempt_over(&mut self, operation_id: &str, attempt: i32) {
        if self
            .running
            .get(operation_id)
            .is_some_and(|running| running.attempt == attempt)
        {
            self.running.remove(operation_id);
        }
    }

    /// Ends a buffered operation without running it, with `outcome` written like any attempt's.
    fn end_unstarted(&mut self, op: ClaimedOperation, outcome: Outcome) {
        let shared = self.shared.clone();
        self.spawn_attempt(op, move |op, check_now| async move {
            let Shared { pool, settings, .. } = &*shared;
            attempt::report(pool, settings, &op.lease, outcome, &check_now).await;
        });
    }

    /// One line for the short operations completed since the last: their completions are logged
    /// one by one only at debug level (see [`attempt::QUIET_JOB`]).
    fn log_quiet_completions(&self) {
        let completed = self.shared.quiet_completions.swap(0, Ordering::Relaxed);
        if completed > 0 {
            tracing::info!(
                completed,
                "operations completed since the last summary, each in under {} s (KTRDR_LOG=ktrdr_worker=debug logs each)",
                attempt::QUIET_JOB.as_secs()
            );
        }
    }

    /// A cancel notification: a running attempt heartbeats now and stops; a buffered operation is
    /// cancelled without starting.
    fn cancel_requested(&mut self, operation_id: &str) {
        if let Some(running) = self.running.get(operation_id) {
            running.check_now.notify_one();
        } else if let Some(op) = self.ahead.take(operation_id) {
            tracing::info!(%operation_id, "cancel requested before it started: cancelling");
            self.end_unstarted(op, Outcome::Cancelled { message: None });
        }
    }

    /// Buffered operations that waited their limit go back to the queue.
    fn release_overdue(&mut self) {
        for op in self.ahead.take_overdue(tokio::time::Instant::now()) {
            tracing::info!(operation_id = %op.lease.operation_id, "waited too long for a slot: released");
            let message = "Released unstarted: its worker's slots were busy".to_string();
            self.end_unstarted(op, Outcome::Released { message });
        }
    }

    /// Shutdown: waits for the claims under way (what they bring is this worker's to give back),
    /// at most the shutdown limit, and buffers what they brought.
    async fn finish_claims(&mut self, claims: &mut mpsc::UnboundedReceiver<ClaimAnswer>) {
        let limit = self.settings().shutdown_timeout;
        let collect = async {
            while self.claims_in_flight > 0 {
                let Some(answer) = claims.recv().await else {
                    break;
                };
                self.claims_in_flight -= 1;
                self.asked_in_flight -= answer.asked;
                for op in answer.claimed.unwrap_or_default() {
                    self.ahead.push(op);
                }
            }
        };
        if tokio::time::timeout(limit, collect).await.is_err() {
            tracing::warn!(
                "a claim did not answer within {limit:?}; its operations will be orphaned"
            );
        }
    }

    /// Shutdown: every buffered operation goes back to pending at once, its attempt not counted.
    fn release_buffered(&mut self) {
        for op in self.ahead.drain() {
            let message = "Graceful shutdown - requeued (not started)".to_string();
            self.end_unstarted(op, Outcome::Released { message });
        }
    }

    /// After the database was unreachable: register again at once and present the attempts this
    /// worker still holds (running, reporting or buffered) in one statement (operations moved to
    /// pending_reconciliation meanwhile become running again before their deadline, stale ones
    /// are answered "stop"); then poke every attempt — a running one heartbeats and acts on its
    /// verdict, a finished one delivers its outcome now instead of at the end of its backoff — and
    /// deliver what earlier processes left in the outbox.
    async fn reregister(&mut self) {
        tracing::debug!("claims reach the database again: re-registering");
        let pool = &self.shared.pool;
        let lease_seconds = self.settings().lease.orphan_timeout_seconds;
        let attempts: Vec<(String, i32)> = self
            .running
            .iter()
            .map(|(id, running)| (id.clone(), running.attempt))
            .chain(
                self.ahead
                    .leases()
                    .map(|lease| (lease.operation_id.clone(), lease.attempt)),
            )
            .collect();
        let reclaimed = async {
            workers::register(pool, &self.identity, lease_seconds).await?;
            operations::reclaim(pool, &self.identity.worker_id, &attempts, lease_seconds).await
        };
        match reclaimed.await {
            Ok(verdicts) => tracing::info!(?verdicts, "re-registered with the running operations"),
            Err(err) => tracing::warn!("re-registration failed: {err}"),
        }
        for running in self.running.values() {
            running.check_now.notify_one();
        }
        let running = &self.running;
        let buffered: Vec<&str> = self
            .ahead
            .leases()
            .map(|l| l.operation_id.as_str())
            .collect();
        self.shared
            .settings
            .outbox
            .flush(pool, |id| {
                running.contains_key(id) || buffered.contains(&id)
            })
            .await;
    }
}

fn far_future() -> tokio::time::Instant {
    tokio::time::Instant::now() + Duration::from_secs(86_400)
}

async fn renew_registration(
    pool: &PgPool,
    identity: &workers::WorkerIdentity,
    lease_seconds: f64,
    undelivered_outcomes: usize,
) {
    let undelivered = i32::try_from(undelivered_outcomes).unwrap_or(i32::MAX);
    let heartbeat = workers::heartbeat(pool, &identity.worker_id, lease_seconds, Some(undelivered));
    let renewed = match heartbeat.await {
        Ok(true) => Ok(()),
        Ok(false) => workers::register(pool, identity, lease_seconds).await,
        Err(err) => Err(err),
    };
    if let Err(err) = renewed {
        tracing::debug!("worker heartbeat failed: {err}");
    }
}

/// Waits for the attempts to stop (they were told by the shutdown signal) and report, at most
/// `limit`.
async fn drain(worker: &mut ClaimLoop, limit: Duration) {
    if worker.attempts.is_empty() {
        return;
    }
    tracing::info!(
        running = worker.attempts.len(),
        "stopping running operations"
    );
    let all_done = async { while worker.attempts.join_next().await.is_some() {} };
    if tokio::time::timeout(limit, all_done).await.is_err() {
        tracing::warn!("running operations did not stop within {limit:?}; exiting anyway");
    }
}
