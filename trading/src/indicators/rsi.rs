//! Relative Strength Index, as `ta.momentum.RSIIndicator` (ta 0.11.0, `fillna=False`) computes it.
//!
//! Gains and losses are smoothed with Wilder's average written as pandas' exponentially weighted
//! mean with `alpha = 1 / period, adjust=False` ([`ewm`]). `ta` takes the close-to-close changes
//! with `diff(1)` and maps the undefined first change to 0 (its `where(diff > 0, 0.0)` sends NaN to
//! 0), so the averages start at bar 0 with a zero move and the RSI is defined from bar
//! `period - 1`. That is reproduced here rather than corrected: the values must be the ones `ta`
//! gives. When the average loss is 0 the RSI is 100, as in `ta`.

use super::moving_average::ewm;

/// RSI of `close` over `period` bars; NaN for the first `period - 1` bars.
pub(crate) fn rsi(close: &[f64], period: usize) -> Vec<f64> {
    if period == 0 {
        return vec![f64::NAN; close.len()];
    }
    let mut gains = Vec::with_capacity(close.len());
    let mut losses = Vec::with_capacity(close.len());
    for i in 0..close.len() {
        // Bar 0 has no previous close: NaN, which ta turns into "no move" (see the module doc).
        let change = if i == 0 {
            f64::NAN
        } else {
            close[i] - close[i - 1]
        };
        gains.push(if change > 0.0 { change } else { 0.0 });
        losses.push(if change < 0.0 { -change } else { 0.0 });
    }
    let alpha = 1.0 / period as f64;
    let avg_gain = ewm(&gains, alpha, period);
    let avg_loss = ewm(&losses, alpha, period);
    avg_gain
        .iter()
        .zip(&avg_loss)
        .map(|(&gain, &loss)| {
            if loss == 0.0 {
                100.0
            } else {
                // NaN during the warm-up flows through: NaN == 0 is false.
                100.0 - 100.0 / (1.0 + gain / loss)
            }
        })
        .collect()
}
