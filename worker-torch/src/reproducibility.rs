//! The reproducibility block of a result: this build (version, commit and libtorch, recorded by
//! build.rs), libtorch's thread count and device as the job ran, the bars it read and the seed.

use ktrdr_trading::{
    kinds::Reproducibility,
    market_data::{Bar, bars_sha256},
};
use tch::Device;

/// What a job that read `bars` on `device` with `seed` ran with.
pub fn reproducibility(device: Device, bars: &[Bar], seed: u64) -> Reproducibility {
    Reproducibility {
        ktrdr_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: env!("KTRDR_GIT_COMMIT").to_string(),
        libtorch_version: env!("KTRDR_LIBTORCH_VERSION").to_string(),
        threads: i64::from(tch::get_num_threads()),
        device: format!("{device:?}"),
        bars_sha256: bars_sha256(bars),
        bars: bars.len(),
        seed,
    }
}
