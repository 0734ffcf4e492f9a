//! Moving Average Convergence Divergence, as `ta.trend.MACD` (ta 0.11.0, `fillna=False`) computes it.
//!
//! `macd = EMA(close, fast) - EMA(close, slow)`, `signal = EMA(macd, signal)`,
//! `histogram = macd - signal`, every EMA being pandas' `ewm(span=n, min_periods=n, adjust=False)`.
//! Both EMAs of the close run from bar 0 (`min_periods` only hides their first values), so MACD is
//! defined from bar `slow - 1`; the signal EMA starts at the first defined MACD value and is defined
//! `signal - 1` bars later.

use super::moving_average::ema;

/// The three MACD series: macd, signal, histogram.
pub(crate) fn macd(close: &[f64], fast: usize, slow: usize, signal: usize) -> [Vec<f64>; 3] {
    let ema_fast = ema(close, fast);
    let ema_slow = ema(close, slow);
    let line: Vec<f64> = ema_fast.iter().zip(&ema_slow).map(|(f, s)| f - s).collect();
    let signal_line = ema(&line, signal);
    let histogram = line.iter().zip(&signal_line).map(|(m, s)| m - s).collect();
    [line, signal_line, histogram]
}
