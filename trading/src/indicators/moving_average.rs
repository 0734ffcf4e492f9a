//! Moving averages the indicators are built from, each written to reproduce what the Python
//! package `ta` (0.11.0, on pandas) computes:
//!
//! - [`sma`]: pandas `rolling(period, min_periods=period).mean()` (`ta.trend.SMAIndicator`);
//! - [`ema`]: `ta.trend.EMAIndicator`, i.e. [`ewm`] with `alpha = 2 / (period + 1)`;
//! - [`ewm`]: pandas `ewm(alpha=…, min_periods=…, adjust=False).mean()`, behind the EMA and the
//!   Wilder smoothing of `ta`'s RSI (with `alpha = 1 / period`);
//! - [`wilder_average`] and [`wilder_sum`]: the explicit Wilder recursions `ta` writes out in its ATR
//!   and ADX loops, seeded with a plain mean (or sum) of the first `period` values.
//!
//! Every function returns a series as long as its input, with `f64::NAN` where the value is not
//! defined, and never panics (a period of 0 or a series shorter than the period gives all NaN).

/// Rolling mean over the last `period` values, defined once the window is full.
///
/// A window holding a NaN is undefined, as in pandas with `min_periods = period` (pandas skips NaN
/// and then lacks observations). A window holding an infinity is undefined too, where pandas would
/// carry the infinity: treating it as missing keeps the running sum from turning into `inf - inf`
/// and staying NaN for the rest of the series. The sum is kept with Kahan compensation (as pandas
/// does) so that a long series does not drift from the exact window sum; the whole thing is O(n).
pub(crate) fn sma(values: &[f64], period: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; values.len()];
    slide(values, period, &mut KahanSum::default(), |i, window| {
        if let Some(sum) = window {
            out[i] = sum.value() / period as f64;
        }
    });
    out
}

/// What a rolling statistic keeps about the finite values of its window.
pub(crate) trait Window {
    fn add(&mut self, x: f64);
    fn remove(&mut self, x: f64);
}

/// Slides a window of the last `period` values over `values` in O(n), keeping `window` up to date
/// with the finite ones, and calls `at(i, window)` for every index: with the window when it is full
/// and holds no non-finite value (which is never added to it), with `None` otherwise.
pub(crate) fn slide<W: Window>(
    values: &[f64],
    period: usize,
    window: &mut W,
    mut at: impl FnMut(usize, Option<&W>),
) {
    if period == 0 {
        return;
    }
    // Non-finite values inside the current window.
    let mut bad_in_window = 0usize;
    for (i, &x) in values.iter().enumerate() {
        if x.is_finite() {
            window.add(x);
        } else {
            bad_in_window += 1;
        }
        if i >= period {
            let leaving = values[i - period];
            if leaving.is_finite() {
                window.remove(leaving);
            } else {
                bad_in_window -= 1;
            }
        }
        let defined = i + 1 >= period && bad_in_window == 0;
        at(i, defined.then_some(&*window));
    }
}

/// EMA as `ta.trend.EMAIndicator` computes it: pandas `ewm(span=period, min_periods=period,
/// adjust=False)`, seeded with the first value (not with an SMA of the first window), NaN for the
/// first `period - 1` bars.
pub(crate) fn ema(values: &[f64], period: usize) -> Vec<f64> {
    if period == 0 {
        return vec![f64::NAN; values.len()];
    }
    ewm(values, 2.0 / (period as f64 + 1.0), period)
}

/// Exponentially weighted mean with pandas' `adjust=False` recursion,
/// `y[0] = x[0]`, `y[t] = ((1 - alpha) * y[t-1] + alpha * x[t]) / ((1 - alpha) + alpha)`,
/// output once `min_periods` non-NaN values have been seen.
///
/// The recursion starts at the first non-NaN value and runs from there regardless of
/// `min_periods` (which only hides the first outputs): `ta`'s EMA, MACD and RSI all rely on that.
/// A NaN in the middle keeps the previous value and ages it one more step (pandas'
/// `ignore_na=False`). The expression, including the division by `(1 - alpha) + alpha` (which is
/// not always exactly 1 in floating point), is written as pandas writes it so that the results agree
/// to the last bits rather than merely to rounding.
pub(crate) fn ewm(values: &[f64], alpha: f64, min_periods: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; values.len()];
    let min_periods = min_periods.max(1);
    let mut weighted = f64::NAN;
    let mut old_weight = 1.0;
    let mut observations = 0usize;
    for (i, &x) in values.iter().enumerate() {
        let observed = !x.is_nan();
        if observed {
            observations += 1;
        }
        if !weighted.is_nan() {
            old_weight *= 1.0 - alpha;
            if observed {
                // pandas skips the update when it would not change anything, so a constant series
                // stays exactly constant.
                if weighted != x {
                    weighted = (old_weight * weighted + alpha * x) / (old_weight + alpha);
                }
                old_weight = 1.0;
            }
        } else if observed {
            weighted = x;
        }
        if observations >= min_periods {
            out[i] = weighted;
        }
    }
    out
}

/// Wilder's average as `ta` writes it for ATR and ADX: the mean of `values[first..first + period]`
/// at index `first + period - 1`, then `avg[i] = (avg[i-1] * (period - 1) + values[i]) / period`.
/// NaN before that index.
pub(crate) fn wilder_average(values: &[f64], period: usize, first: usize) -> Vec<f64> {
    let n = period as f64;
    wilder(
        values,
        period,
        first,
        |sum| sum / n,
        |avg, x| (avg * (n - 1.0) + x) / n,
    )
}

/// Wilder's running sum as `ta`'s ADX keeps it for the true range and the directional movements:
/// the sum of `values[first..first + period]` at index `first + period - 1`, then
/// `sum[i] = sum[i-1] - sum[i-1] / period + values[i]`. NaN before that index.
pub(crate) fn wilder_sum(values: &[f64], period: usize, first: usize) -> Vec<f64> {
    let n = period as f64;
    wilder(values, period, first, |sum| sum, |sum, x| sum - sum / n + x)
}

/// A Wilder recursion: `seed(sum of values[first..first + period])` at index `first + period - 1`,
/// then `out[i] = step(out[i-1], values[i])`; NaN before.
fn wilder(
    values: &[f64],
    period: usize,
    first: usize,
    seed: impl Fn(f64) -> f64,
    step: impl Fn(f64, f64) -> f64,
) -> Vec<f64> {
    let mut out = vec![f64::NAN; values.len()];
    let Some(seed_end) = seed_end(values.len(), period, first) else {
        return out;
    };
    let mut value = seed(values[first..seed_end].iter().sum::<f64>());
    out[seed_end - 1] = value;
    for i in seed_end..values.len() {
        value = step(value, values[i]);
        out[i] = value;
    }
    out
}

/// End (exclusive) of the seed window `first..first + period`, if the series is long enough to
/// hold it and the period is usable.
fn seed_end(len: usize, period: usize, first: usize) -> Option<usize> {
    if period == 0 {
        return None;
    }
    first.checked_add(period).filter(|&end| end <= len)
}

/// Kahan-compensated running sum: adding and removing values for a whole series would otherwise
/// accumulate rounding error that a fresh sum of the window does not have.
#[derive(Default)]
struct KahanSum {
    sum: f64,
    compensation: f64,
}

impl Window for KahanSum {
    fn add(&mut self, x: f64) {
        let y = x - self.compensation;
        let t = self.sum + y;
        self.compensation = (t - self.sum) - y;
        self.sum = t;
    }

    fn remove(&mut self, x: f64) {
        self.add(-x);
    }
}

impl KahanSum {
    fn value(&self) -> f64 {
        self.sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_series(actual: &[f64], expected: &[f64]) {
        assert_eq!(actual.len(), expected.len());
        for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
            assert!(
                (a.is_nan() && e.is_nan()) || (a - e).abs() <= 1e-12,
                "index {i}: {a} != {e}"
            );
        }
    }

    const NAN: f64 = f64::NAN;

    #[test]
    fn sma_is_defined_once_the_window_is_full() {
        assert_series(&sma(&[1.0, 2.0, 3.0, 4.0], 2), &[NAN, 1.5, 2.5, 3.5]);
        assert_series(&sma(&[1.0, 2.0], 3), &[NAN, NAN]);
        assert_series(&sma(&[1.0, 2.0], 0), &[NAN, NAN]);
        assert!(sma(&[], 3).is_empty());
    }

    #[test]
    fn sma_windows_holding_a_nan_or_infinity_are_undefined_and_later_ones_recover() {
        assert_series(
            &sma(&[1.0, NAN, 3.0, 4.0, f64::INFINITY, 6.0, 7.0], 2),
            &[NAN, NAN, NAN, 3.5, NAN, NAN, 6.5],
        );
    }

    #[test]
    fn ewm_starts_at_the_first_value_and_hides_outputs_before_min_periods() {
        // alpha = 0.5: 1, 1.5, 2.25, 3.125
        assert_series(
            &ewm(&[1.0, 2.0, 3.0, 4.0], 0.5, 2),
            &[NAN, 1.5, 2.25, 3.125],
        );
        // Leading NaN are skipped; the recursion seeds at the first observation.
        assert_series(&ewm(&[NAN, 2.0, 4.0], 0.5, 1), &[NAN, 2.0, 3.0]);
    }

    #[test]
    fn wilder_recursions_seed_with_the_mean_or_sum_of_the_first_window() {
        assert_series(
            &wilder_average(&[9.0, 1.0, 3.0, 5.0], 2, 1),
            &[NAN, NAN, 2.0, 3.5],
        );
        assert_series(
            &wilder_sum(&[9.0, 1.0, 3.0, 5.0], 2, 1),
            &[NAN, NAN, 4.0, 7.0],
        );
        assert_series(&wilder_sum(&[1.0], 2, 1), &[NAN]);
        assert_series(&wilder_average(&[1.0, 2.0], usize::MAX, 1), &[NAN, NAN]);
    }
}
