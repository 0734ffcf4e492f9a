//! Rate of change in percent, as `ta.momentum.ROCIndicator` (ta 0.11.0, `fillna=False`) computes it:
//! `(close - close[period bars ago]) / close[period bars ago] * 100`, NaN for the first `period` bars.

/// ROC of `close` over `period` bars.
pub(crate) fn roc(close: &[f64], period: usize) -> Vec<f64> {
    (0..close.len())
        .map(|i| {
            if period == 0 || i < period {
                f64::NAN
            } else {
                let before = close[i - period];
                // Same operation order as ta, so the values agree to the last bits.
                ((close[i] - before) / before) * 100.0
            }
        })
        .collect()
}
