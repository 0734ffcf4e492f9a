//! The chaos run's dummy operations: `--operations` of them submitted at a steady rate through the
//! chaos window, of mixed lengths — half instant, a third short (tens of ms), a sixth up to two
//! seconds, and one in twenty of 2.5–6 s, longer than a lease — each with `--max-attempts`.
//!
//! A submission that fails (the database restarting) is tried again on the next tick with the rest
//! of what is due; the ids the database acknowledged are kept, to check afterwards that none was
//! lost.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use ktrdr::{
    job_kinds::JobKinds,
    operations::{self, NewOperation},
};
use rand::{Rng, SeedableRng, rngs::StdRng, seq::IndexedRandom};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::watch;

/// How often a batch is submitted.
const TICK: Duration = Duration::from_millis(250);

/// What the submitter did.
#[derive(Debug, Default)]
pub struct Submitted {
    /// Ids the database acknowledged.
    pub ids: Vec<String>,
    /// Batches that failed and were tried again.
    pub retried_batches: u32,
}

/// (steps, step_ms) of one dummy, drawn from the mix.
fn draw(rng: &mut StdRng) -> (u32, u64) {
    match rng.random_range(0..100) {
        0..50 => (1, 0),
        50..80 => (
            rng.random_range(1..=5),
            *[10, 20, 50].choose(rng).expect("choices"),
        ),
        80..95 => (
            *[5, 10, 20].choose(rng).expect("choices"),
            *[50, 100].choose(rng).expect("choices"),
        ),
        _ => (*[25, 40, 60].choose(rng).expect("choices"), 100),
    }
}

/// Submits `total` dummies evenly over `window` (the last ones at its end), until done or `stop`.
pub async fn submit_dummies(
    pool: PgPool,
    total: u32,
    max_attempts: i32,
    window: Duration,
    seed: u64,
    mut stop: watch::Receiver<bool>,
) -> Submitted {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut submitted = Submitted::default();
    let started = Instant::now();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|stop| *stop) => return submitted,
        }
        let share = (started.elapsed().as_secs_f64() / window.as_secs_f64()).min(1.0);
        let due = (f64::from(total) * share).round() as usize - submitted.ids.len();
        let mut batch: BTreeMap<(u32, u64), i32> = BTreeMap::new();
        for _ in 0..due {
            *batch.entry(draw(&mut rng)).or_default() += 1;
        }
        for ((steps, step_ms), count) in batch {
            let op = NewOperation {
                max_attempts,
                ..NewOperation::new("dummy")
                    .with_params(json!({"steps": steps, "step_ms": step_ms}))
            };
            match operations::submit_many(&pool, &JobKinds::BUILT_IN, &op, count).await {
                Ok(ids) => submitted.ids.extend(ids),
                // Drawn again next tick (the draws after a failure differ, which is fine: the
                // mix stays the same).
                Err(_) => {
                    submitted.retried_batches += 1;
                    break;
                }
            }
        }
        if submitted.ids.len() >= total as usize {
            return submitted;
        }
    }
}
