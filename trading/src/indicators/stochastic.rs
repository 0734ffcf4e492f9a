//! Stochastic oscillator, as `ta.momentum.StochasticOscillator` (ta 0.11.0, `fillna=False`)
//! computes it, with an optional smoothing of %K that `ta` does not have.
//!
//! `raw %K = 100 * (close - lowest low) / (highest high - lowest low)` over the last `k_period`
//! bars (NaN when the range is 0, as in `ta`); `%D = SMA(%K, d_period)`. `ta`'s `window` is our
//! `k_period` and its `smooth_window` our `d_period`. `smooth = 1` is exactly `ta`'s (fast)
//! stochastic; `smooth > 1` first replaces %K with `SMA(raw %K, smooth)` (the "slow"/"full"
//! stochastic, where %K is smoothed before %D is taken), which `ta` cannot produce. Warm-up:
//! `k_period - 1 + smooth - 1` bars for %K, `d_period - 1` more for %D.
//!
//! The highest high and lowest low are kept in O(n) with monotonic deques.

use std::collections::VecDeque;

use super::moving_average::sma;

/// %K and %D.
pub(crate) fn stochastic(
    high: &[f64],
    low: &[f64],
    close: &[f64],
    k_period: usize,
    d_period: usize,
    smooth: usize,
) -> [Vec<f64>; 2] {
    let lowest = rolling_extreme(low, k_period, |new, old| new <= old);
    let highest = rolling_extreme(high, k_period, |new, old| new >= old);
    let raw_k: Vec<f64> = (0..close.len())
        // Same operation order as ta, so the values agree to the last bits.
        .map(|i| 100.0 * (close[i] - lowest[i]) / (highest[i] - lowest[i]))
        .collect();
    let k = if smooth > 1 {
        sma(&raw_k, smooth)
    } else {
        raw_k
    };
    let d = sma(&k, d_period);
    [k, d]
}

/// Rolling minimum (with `dominates = <=`) or maximum (`>=`) of the last `period` values, NaN until
/// the window is full and for windows holding a NaN (pandas with `min_periods = period`).
///
/// The deque holds indices of the values that can still become the extreme, in window order; a new
/// value evicts every queued value it dominates, so each index is pushed and popped once.
fn rolling_extreme(values: &[f64], period: usize, dominates: fn(f64, f64) -> bool) -> Vec<f64> {
    let mut out = vec![f64::NAN; values.len()];
    if period == 0 {
        return out;
    }
    let mut candidates: VecDeque<usize> = VecDeque::new();
    // NaN cannot be ordered, so it never enters the deque; its position makes windows undefined.
    let mut last_nan: Option<usize> = None;
    for (i, &x) in values.iter().enumerate() {
        if x.is_nan() {
            last_nan = Some(i);
        } else {
            while candidates.back().is_some_and(|&j| dominates(x, values[j])) {
                candidates.pop_back();
            }
            candidates.push_back(i);
        }
        let window_start = (i + 1).saturating_sub(period);
        while candidates.front().is_some_and(|&j| j < window_start) {
            candidates.pop_front();
        }
        let full = i + 1 >= period;
        let has_nan = last_nan.is_some_and(|j| j >= window_start);
        if full
            && !has_nan
            && let Some(&j) = candidates.front()
        {
            out[i] = values[j];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rolling_extremes_follow_the_window() {
        let values = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let min = rolling_extreme(&values, 3, |new, old| new <= old);
        let max = rolling_extreme(&values, 3, |new, old| new >= old);
        for i in 0..values.len() {
            if i < 2 {
                assert!(min[i].is_nan() && max[i].is_nan());
                continue;
            }
            let window = &values[i - 2..=i];
            assert_eq!(min[i], window.iter().copied().fold(f64::INFINITY, f64::min));
            assert_eq!(
                max[i],
                window.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            );
        }
    }

    #[test]
    fn rolling_extremes_are_undefined_while_a_nan_is_in_the_window() {
        let max = rolling_extreme(&[1.0, f64::NAN, 3.0, 2.0, 1.0], 2, |new, old| new >= old);
        assert!(max[..3].iter().all(|v| v.is_nan()));
        assert_eq!(&max[3..], &[3.0, 2.0]);
    }
}
