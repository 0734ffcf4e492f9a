//! # ktrdr-worker-torch — the worker with the job kinds that need libtorch
//!
//! `training` (an MLP in tch, checkpointed at epoch boundaries) and `backtesting` (a trained model
//! traded over its window, checkpointed every N bars), added to the kinds of
//! [`ktrdr_worker::jobs::Jobs::without_torch`]. Everything else — the claim loop, attempts,
//! heartbeats, the outbox — is `ktrdr_worker`'s. `ktrdr-worker` execs this crate's binary when it
//! is asked for one of these kinds, so that workers of the other kinds never pay libtorch's start-up
//! (a fifth of a second per process).

pub mod backtesting;
mod reproducibility;
pub mod training;

use ktrdr_trading::kinds::{Backtesting, Training};
use ktrdr_worker::jobs::Jobs;

/// Every kind a worker runs: those without libtorch, training and backtesting.
pub fn jobs() -> Jobs {
    Jobs::without_torch()
        .with::<Training, _, _>(training::run)
        .with::<Backtesting, _, _>(backtesting::run)
}

#[cfg(test)]
mod tests {
    use ktrdr_worker::jobs::TYPES;

    #[test]
    fn the_torch_worker_runs_every_kind_a_worker_runs() {
        let jobs = super::jobs();
        for kind in TYPES {
            assert!(jobs.runs(kind), "{kind}");
        }
    }
}
