//! Detection time per `kill -9`: from the kill to the moment the ticker had settled every operation
//! the dead worker held (re-queued, failed or cancelled it: the last of its `operation_events` by
//! the ticker after the kill). A kill of a worker that held nothing has no detection to measure.
//!
//! Kills are measured in two groups. A kill near a database restart or the outage is settled
//! through reconciliation: for a lease's length after the server came back the detector cannot
//! tell a dead worker from one that could not heartbeat, so it gives the lease a grace period
//! first (sql/80_orphans.sql). The other kills are plain orphans: lease, then detection. Printed,
//! never asserted: on a loaded machine the figures say how loaded it was.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use super::injector::Kill;
use crate::stats::{Percentiles, percentiles};

#[derive(Debug, Serialize)]
pub struct Detection {
    pub kills: usize,
    /// Seconds from the kill to the last of its worker's operations settled, for kills settled
    /// as plain orphans.
    pub orphans: Option<Percentiles>,
    /// The same for kills whose operations went through reconciliation (a restart came between).
    pub through_reconciliation: Option<Percentiles>,
}

pub async fn measure(pool: &PgPool, kills: &[Kill]) -> anyhow::Result<Detection> {
    let killed: Vec<String> = kills.iter().map(|k| k.worker_id.clone()).collect();
    // A worker id names one process, and a killed one never comes back: every settlement of its
    // operations after the kill is the detection of that kill.
    let settled: Vec<(String, DateTime<Utc>, bool)> = sqlx::query_as(
        "SELECT worker_id, at, from_status = 'pending_reconciliation'
         FROM ktrdr.operation_events
         WHERE actor = 'ticker' AND from_status IN ('running', 'pending_reconciliation')
           AND to_status IN ('pending', 'failed', 'cancelled') AND worker_id = ANY ($1)",
    )
    .bind(&killed)
    .fetch_all(pool)
    .await?;
    let (mut orphans, mut reconciled) = (Vec::new(), Vec::new());
    for kill in kills {
        let after: Vec<_> = settled
            .iter()
            .filter(|(id, at, _)| *id == kill.worker_id && *at > kill.at)
            .collect();
        let Some(last) = after.iter().map(|(_, at, _)| *at).max() else {
            continue;
        };
        let seconds = (last - kill.at).as_seconds_f64();
        match after
            .iter()
            .any(|(_, _, through_reconciliation)| *through_reconciliation)
        {
            true => reconciled.push(seconds),
            false => orphans.push(seconds),
        }
    }
    let summary = |samples: Vec<f64>| (!samples.is_empty()).then(|| percentiles(samples));
    Ok(Detection {
        kills: kills.len(),
        orphans: summary(orphans),
        through_reconciliation: summary(reconciled),
    })
}
