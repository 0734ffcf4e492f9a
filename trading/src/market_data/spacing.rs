//! Whether a file's bars are as far apart as the timeframe they are imported under says: daily bars
//! stored as `1h` would make every indicator and annualisation wrong without any error.
//!
//! Gaps are normal (weekends, holidays, nights of an exchange), so the check is not on every
//! interval: it takes the smallest spacing that is *common* — at least [`COMMON_SHARE`] of all
//! intervals — and requires it to equal the timeframe. A rare shorter interval (a clock change in
//! a local-time file) is tolerated; 1h bars 1d apart, or daily bars 7d apart, are not.

use std::collections::BTreeMap;

use crate::market_data::Timeframe;

/// The share of intervals a spacing needs to count as common (one in twenty).
const COMMON_SHARE: f64 = 0.05;
/// Distinct spacings counted; intervals of further spacings count only towards the total (real
/// files have a handful of distinct gaps, so memory stays bounded for any file).
const MAX_DISTINCT: usize = 4096;

/// The intervals between consecutive bars, counted by length in seconds.
#[derive(Debug, Default)]
pub struct SpacingTally {
    counts: BTreeMap<i64, u64>,
    intervals: u64,
}

impl SpacingTally {
    pub fn add(&mut self, seconds: i64) {
        self.intervals += 1;
        if let Some(count) = self.counts.get_mut(&seconds) {
            *count += 1;
        } else if self.counts.len() < MAX_DISTINCT {
            self.counts.insert(seconds, 1);
        }
    }

    /// The smallest spacing common in the file, with how many intervals have it.
    fn smallest_common(&self) -> Option<(i64, u64)> {
        let needed = (self.intervals as f64 * COMMON_SHARE).ceil() as u64;
        self.counts
            .iter()
            .find(|&(_, &count)| count >= needed.max(1))
            .map(|(&seconds, &count)| (seconds, count))
    }

    /// Why these bars are not `timeframe` bars, if they are not.
    pub fn contradiction(&self, timeframe: Timeframe) -> Option<String> {
        let (seconds, count) = self.smallest_common()?;
        if seconds == timeframe.duration().num_seconds() {
            return None;
        }
        let advice = match Timeframe::ALL
            .into_iter()
            .find(|tf| tf.duration().num_seconds() == seconds)
        {
            Some(fitting) => format!("import them with --timeframe {fitting}"),
            None => "no supported timeframe has that spacing".to_string(),
        };
        Some(format!(
            "the bars are {} apart ({count} of {} intervals; gaps longer than that are ignored), \
             not {timeframe} as --timeframe says: {advice}",
            spacing(seconds),
            self.intervals
        ))
    }
}

/// A spacing in the largest unit that divides it (`1d`, `4h`, `90s`).
fn spacing(seconds: i64) -> String {
    for (unit, length) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds % length == 0 {
            return format!("{}{unit}", seconds / length);
        }
    }
    format!("{seconds}s")
}
