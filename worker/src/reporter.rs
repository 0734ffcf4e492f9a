//! Completions, batched: attempts that completed hand their result to one task, which writes
//! every completion waiting at that moment with one `ktrdr.complete_operations` call (two such
//! calls at most at once). Nothing waits for a batch to fill — a lone completion goes out at once;
//! under load, the completions that arrive while batches are being written form the next. Every
//! completion stays fenced (the function refuses a stale attempt and says which), and each attempt
//! learns its own answer.
//!
//! When a batch cannot be written (the database away, or a result it refuses), each attempt is told
//! so and reports on its own, through the retrying path with the outbox — so one bad result fails
//! alone and an outage loses nothing.

use std::sync::Arc;

use ktrdr::operations::{self, Lease, Reported};
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// The most completions written by one call.
const MAX_BATCH: usize = 1000;

/// Batches written at once: the next one is built and sent while the last waits for its commit.
const BATCHES_IN_FLIGHT: usize = 2;

struct Completion {
    lease: Lease,
    result: Value,
    answer: oneshot::Sender<Option<Reported>>,
}

/// The handle attempts complete through; clones share one writing task.
#[derive(Clone)]
pub struct Reporter {
    completions: mpsc::UnboundedSender<Completion>,
}

impl Reporter {
    /// Starts the writing task for `worker_id` on `pool`; it ends when every handle is dropped.
    pub fn spawn(pool: PgPool, worker_id: String) -> Self {
        let (completions, incoming) = mpsc::unbounded_channel();
        tokio::spawn(write_batches(pool, worker_id, incoming));
        Self { completions }
    }

    /// Completes `lease` with `result` in the next batch: `Some(Completed)` or `Some(Stale)`, or
    /// `None` when the batch could not be written and the caller must report by itself.
    pub async fn complete(&self, lease: &Lease, result: &Value) -> Option<Reported> {
        let (answer, answered) = oneshot::channel();
        let completion = Completion {
            lease: lease.clone(),
            result: result.clone(),
            answer,
        };
        self.completions.send(completion).ok()?;
        answered.await.ok().flatten()
    }
}

async fn write_batches(
    pool: PgPool,
    worker_id: String,
    mut incoming: mpsc::UnboundedReceiver<Completion>,
) {
    let in_flight = Arc::new(Semaphore::new(BATCHES_IN_FLIGHT));
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let mut batch = Vec::with_capacity(MAX_BATCH);
        if incoming.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return; // every handle is gone
        }
        let (pool, worker_id) = (pool.clone(), worker_id.clone());
        tokio::spawn(async move {
            write_batch(&pool, &worker_id, batch).await;
            drop(permit);
        });
    }
}

/// Writes one batch and tells each attempt how it went.
async fn write_batch(pool: &PgPool, worker_id: &str, mut batch: Vec<Completion>) {
    let completions: Vec<(Lease, Value)> = batch
        .iter_mut()
        .map(|c| (c.lease.clone(), std::mem::take(&mut c.result)))
        .collect();
    match operations::complete_batch(pool, worker_id, &completions).await {
        Ok(refused) => {
            for completion in batch {
                let stale = refused.contains(&completion.lease.operation_id);
                let answer = if stale {
                    Reported::Stale
                } else {
                    Reported::Completed
                };
                let _ = completion.answer.send(Some(answer));
            }
        }
        Err(err) => {
            tracing::debug!(
                completions = batch.len(),
                "batch completion failed, each reports alone: {err}"
            );
            for completion in batch {
                let _ = completion.answer.send(None);
            }
        }
    }
}
