//! Average Directional Index with its directional indicators, as `ta.trend.ADXIndicator`
//! (ta 0.11.0: `adx`, `adx_pos`, `adx_neg`) computes them.
//!
//! From bar 1 on: the true range, `+DM = up` when `up > down` and `up > 0` (else 0) and
//! `-DM = down` when `down > up` and `down > 0` (else 0), with `up = high - prev high` and
//! `down = prev low - low`. Each is kept as a Wilder running sum seeded with the sum over bars
//! `1..=period` ([`wilder_sum`]), so the sums are defined from bar `period`. Then
//! `+DI = 100 * +DM sum / TR sum` (0 when the TR sum is 0), likewise `-DI`,
//! `DX = 100 * |(+DI - -DI) / (+DI + -DI)|` (0 when both are 0), and the ADX is Wilder's average of
//! DX seeded with the mean of the first `period` DX values, so defined from bar `2 * period - 1`.
//!
//! Warm-up versus `ta`: `ta` writes 0, not NaN, before those bars, and its `adx_pos`/`adx_neg`
//! loops start one step after the first sum, leaving bar `period` at 0 too although `ta` uses the
//! value of that bar in its own DX. Here +DI/-DI are defined from bar `period` (the value `ta`'s DX
//! uses) and every bar before that is NaN, as is every ADX bar before `2 * period - 1`.

use super::atr::true_range;
use super::moving_average::{wilder_average, wilder_sum};

/// ADX, +DI and -DI over `period` bars.
pub(crate) fn adx(high: &[f64], low: &[f64], close: &[f64], period: usize) -> [Vec<f64>; 3] {
    let len = close.len();
    let mut plus_dm = vec![f64::NAN; len];
    let mut minus_dm = vec![f64::NAN; len];
    for i in 1..len {
        let up = high[i] - high[i - 1];
        let down = low[i - 1] - low[i];
        plus_dm[i] = if up > down && up > 0.0 { up } else { 0.0 };
        minus_dm[i] = if down > up && down > 0.0 { down } else { 0.0 };
    }
    // Bar 0 has neither a true range nor a movement in ta's ADX: every sum starts at bar 1.
    let tr_sum = wilder_sum(&true_range(high, low, close), period, 1);
    let plus_sum = wilder_sum(&plus_dm, period, 1);
    let minus_sum = wilder_sum(&minus_dm, period, 1);

    let directional = |dm_sum: &[f64]| -> Vec<f64> {
        dm_sum
            .iter()
            .zip(&tr_sum)
            .map(|(&dm, &tr)| {
                if tr == 0.0 {
                    // ta's guard: a stretch without any range has a DI of 0, not NaN.
                    0.0
                } else {
                    // NaN during the warm-up flows through.
                    100.0 * (dm / tr)
                }
            })
            .collect()
    };
    let plus_di = directional(&plus_sum);
    let minus_di = directional(&minus_sum);

    let dx: Vec<f64> = plus_di
        .iter()
        .zip(&minus_di)
        .map(|(&p, &m)| {
            if p + m == 0.0 {
                0.0
            } else {
                // NaN during the warm-up flows through (NaN == 0 is false).
                100.0 * ((p - m) / (p + m)).abs()
            }
        })
        .collect();
    // DX is defined from bar `period`; the ADX averages it from there.
    let adx = wilder_average(&dx, period, period);
    [adx, plus_di, minus_di]
}
