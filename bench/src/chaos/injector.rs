//! Injecting the schedule's faults into the fleet and the throw-away cluster for the chaos window,
//! while tending the fleet (frozen workers continued on time, exited ones replaced). Process faults
//! hit a live worker — the ticker's leader when the draw says so and one leads — and are skipped
//! when fewer than two are live, so the queue keeps moving. Database faults run on a task of their
//! own, one at a time, so that workers are killed and frozen during restarts and the outage too.
//! Every `kill -9` is recorded with its instant, to measure how long detection took.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use ktrdr_testkit::TempCluster;
use serde::Serialize;
use sqlx::PgPool;
use tokio::task::JoinHandle;

use super::{
    faults::{Fault, FaultCounts, OUTAGE, Planned, Schedule},
    fleet::Fleet,
};

/// How often the fleet is tended.
const TEND_EVERY: Duration = Duration::from_millis(100);

/// One `kill -9`: whom, when (this machine's clock, which the server shares).
#[derive(Debug, Clone, Serialize)]
pub struct Kill {
    pub worker_id: String,
    pub at: DateTime<Utc>,
}

pub struct Injector {
    schedule: Schedule,
    cluster: Arc<TempCluster>,
    pool: PgPool,
    pub counts: FaultCounts,
    pub kills: Vec<Kill>,
    database_fault: Option<JoinHandle<ktrdr::Result<()>>>,
}

impl Injector {
    pub fn new(schedule: Schedule, cluster: Arc<TempCluster>, pool: PgPool) -> Self {
        Self {
            schedule,
            cluster,
            pool,
            counts: FaultCounts::default(),
            kills: Vec::new(),
            database_fault: None,
        }
    }

    /// Injects faults for `window`, then continues the frozen workers and waits for the database
    /// fault under way to end (the server is up again afterwards).
    pub async fn run(&mut self, fleet: &mut Fleet, window: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut next = started + self.schedule.pause();
        let mut tend = tokio::time::interval(TEND_EVERY);
        while started.elapsed() < window {
            tend.tick().await;
            fleet.tend()?;
            if Instant::now() >= next {
                let planned = self.schedule.next(started.elapsed());
                self.inject(fleet, planned).await?;
                next = Instant::now() + self.schedule.pause();
            }
        }
        fleet.thaw_all();
        if let Some(fault) = self.database_fault.take() {
            fault.await??;
        }
        Ok(())
    }

    async fn inject(&mut self, fleet: &mut Fleet, planned: Planned) -> anyhow::Result<()> {
        let Planned {
            fault,
            pick,
            planted,
        } = planned;
        match fault {
            Fault::Kill { leader } => {
                let Some((slot, on_leader)) = self.target(fleet, leader, pick).await else {
                    return Ok(());
                };
                let worker_id = fleet.kill(slot);
                self.kills.push(Kill {
                    worker_id,
                    at: Utc::now(),
                });
                self.counts.kill9 += 1;
                self.counts.kill9_leader += u32::from(on_leader);
            }
            Fault::Terminate => {
                if let Some((slot, _)) = self.target(fleet, false, pick).await {
                    fleet.terminate(slot);
                    self.counts.sigterm += 1;
                }
            }
            Fault::Freeze { leader, duration } => {
                if let Some((slot, on_leader)) = self.target(fleet, leader, pick).await {
                    fleet.freeze(slot, duration);
                    self.counts.sigstop += 1;
                    self.counts.sigstop_leader += u32::from(on_leader);
                }
            }
            Fault::RestartFast | Fault::RestartImmediate | Fault::Outage => {
                self.start_database_fault(fault, planted).await?;
            }
        }
        Ok(())
    }

    /// The slot to hit and whether its worker leads the ticker: the leader when `leader` and it is
    /// live, else the `pick`th live worker; None (counted as skipped) with fewer than two live.
    async fn target(&mut self, fleet: &Fleet, leader: bool, pick: usize) -> Option<(usize, bool)> {
        let live = fleet.live();
        if live.len() < 2 {
            self.counts.skipped += 1;
            return None;
        }
        let leader = match leader {
            true => self.leader().await,
            false => None,
        };
        Some(
            match live.iter().find(|(_, id)| Some(id) == leader.as_ref()) {
                Some((slot, _)) => (*slot, true),
                None => (live[pick % live.len()].0, false),
            },
        )
    }

    async fn start_database_fault(&mut self, fault: Fault, planted: bool) -> anyhow::Result<()> {
        if let Some(under_way) = self.database_fault.take() {
            // A drawn one is skipped while another is under way; a planted one waits for it.
            if !under_way.is_finished() && !planted {
                self.database_fault = Some(under_way);
                self.counts.skipped += 1;
                return Ok(());
            }
            under_way.await??;
        }
        let cluster = self.cluster.clone();
        self.database_fault = Some(tokio::spawn(async move {
            match fault {
                Fault::RestartFast => cluster.restart_server().await,
                Fault::RestartImmediate => cluster.restart_server_immediately().await,
                _ => {
                    cluster.stop_server().await?;
                    tokio::time::sleep(OUTAGE).await;
                    cluster.start_server().await
                }
            }
        }));
        match fault {
            Fault::RestartFast => self.counts.restart_fast += 1,
            Fault::RestartImmediate => self.counts.restart_immediate += 1,
            _ => self.counts.outages += 1,
        }
        Ok(())
    }

    /// The ticker's leader, when one holds a live lease and the database answers within a second.
    async fn leader(&self) -> Option<String> {
        tokio::time::timeout(
            Duration::from_secs(1),
            ktrdr_testkit::ticker_leader(&self.pool),
        )
        .await
        .ok()?
    }
}
