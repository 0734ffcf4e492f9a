//! Bollinger Bands, as `ta.volatility.BollingerBands` (ta 0.11.0, `fillna=False`) computes them:
//! `middle = SMA(close, period)`, `upper/lower = middle ± std_dev * σ`, where σ is the rolling
//! *population* standard deviation (pandas `rolling(period).std(ddof=0)`), all NaN for the first
//! `period - 1` bars.
//!
//! σ is kept in O(n) with Welford's add/remove updates of the window's mean and sum of squared
//! deviations, the method pandas uses: the textbook `E[x²] - E[x]²` loses most of its digits to
//! cancellation when prices are large relative to their spread.

use super::moving_average::{Window, slide, sma};

/// The three bands: upper, middle, lower.
pub(crate) fn bollinger(close: &[f64], period: usize, std_dev: f64) -> [Vec<f64>; 3] {
    let middle = sma(close, period);
    let sigma = rolling_population_std(close, period);
    let upper = middle
        .iter()
        .zip(&sigma)
        .map(|(m, s)| m + std_dev * s)
        .collect();
    let lower = middle
        .iter()
        .zip(&sigma)
        .map(|(m, s)| m - std_dev * s)
        .collect();
    [upper, middle, lower]
}

/// Population standard deviation of the last `period` values; NaN until the window is full and
/// for windows holding a non-finite value (see [`sma`] for why infinities count as missing).
fn rolling_population_std(values: &[f64], period: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; values.len()];
    // Length of the run of equal values ending at the current bar: a window made of one repeated
    // value has a variance of exactly 0, which the incremental updates only approximate (pandas
    // makes the same special case).
    let mut same_run = 0usize;
    slide(values, period, &mut Welford::default(), |i, window| {
        same_run = if i > 0 && values[i - 1] == values[i] {
            same_run + 1
        } else {
            1
        };
        if let Some(window) = window {
            out[i] = if same_run >= period {
                0.0
            } else {
                window.population_variance().sqrt()
            };
        }
    });
    out
}

/// Running count, mean and sum of squared deviations from the mean of a window of values.
#[derive(Default)]
struct Welford {
    count: usize,
    mean: f64,
    squared_deviations: f64,
}

impl Window for Welford {
    fn add(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.squared_deviations += delta * (x - self.mean);
    }

    fn remove(&mut self, x: f64) {
        self.count -= 1;
        if self.count == 0 {
            // Start the next window from a clean state instead of a residue of rounding errors.
            *self = Self::default();
            return;
        }
        let delta = x - self.mean;
        self.mean -= delta / self.count as f64;
        self.squared_deviations -= delta * (x - self.mean);
    }
}

impl Welford {
    fn population_variance(&self) -> f64 {
        // Rounding can leave a tiny negative sum for a window of (nearly) equal values.
        (self.squared_deviations / self.count as f64).max(0.0)
    }
}
