//! Average True Range, as `ta.volatility.AverageTrueRange` (ta 0.11.0) computes it, and the true
//! range it is built from (also used by the ADX).
//!
//! The true range of bar `i` is `max(high - low, |high - prev close|, |low - prev close|)`; bar 0 has
//! no previous close and `ta` (a pandas row-wise `max` that skips NaN) takes `high - low` there. The
//! ATR is Wilder's average of it: the mean of bars `0..period` at bar `period - 1`, then
//! `(atr * (period - 1) + tr) / period`. `ta` writes 0 for the first `period - 1` bars; they are NaN
//! here (nothing is defined there yet).

use super::moving_average::wilder_average;

/// True range per bar; bar 0 is `high - low`.
pub(crate) fn true_range(high: &[f64], low: &[f64], close: &[f64]) -> Vec<f64> {
    (0..close.len())
        .map(|i| {
            let range = high[i] - low[i];
            if i == 0 {
                return range;
            }
            let prev = close[i - 1];
            // f64::max ignores a NaN operand, as pandas' row-wise max skips NaN.
            range.max((high[i] - prev).abs()).max((low[i] - prev).abs())
        })
        .collect()
}

/// ATR over `period` bars; NaN for the first `period - 1` bars.
pub(crate) fn atr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Vec<f64> {
    wilder_average(&true_range(high, low, close), period, 0)
}
