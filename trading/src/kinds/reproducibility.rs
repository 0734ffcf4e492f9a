//! What a training or backtest ran with, beyond its params: enough to rerun it and to see why a
//! rerun differs. Filled in by the worker, which knows its build and its libtorch.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reproducibility {
    /// The worker's ktrdr version (the workspace's package version).
    pub ktrdr_version: String,
    /// `git rev-parse HEAD` when the worker was built, or `unknown` (built outside a checkout).
    pub git_commit: String,
    /// The libtorch the worker was built against (torch's `__version__`), or `unknown`.
    pub libtorch_version: String,
    /// libtorch's intra-op threads (`KTRDR_TORCH_THREADS`).
    pub threads: i64,
    /// Where the tensors were computed (`Cpu`, `Cuda(0)`).
    pub device: String,
    /// SHA-256 of the bars read, warm-up included (see `market_data::bars_sha256`).
    pub bars_sha256: String,
    /// How many bars that is.
    pub bars: usize,
    /// The training's seed (for a backtest: its model's).
    pub seed: u64,
}
