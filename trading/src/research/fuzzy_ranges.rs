//! Fuzzy sets a design gives an indicator output. Bounded oscillators (RSI, stochastic, ADX and its
//! DIs) get thresholds within their natural 0–100 range. Everything measured in the instrument's
//! units (MACD, ATR, bands, averages) or scaled by its volatility (ROC) gets sets at quantiles of
//! the output over the training window, so that the same design fits EURUSD at 1.1 and a stock at
//! 150: the middle set peaks at the median, the outer ones are shoulders reaching well beyond the
//! window's extremes, so a later bar outside the window still belongs to one of them.

use std::collections::BTreeMap;

use rand::{Rng, seq::IndexedRandom};

use super::catalogue::{Kind, Scale};
use crate::{
    indicators::{Bars, IndicatorSpec},
    market_data::Bar,
    strategy::fuzzy::MembershipFunction,
};

/// The fewest defined values of an output that quantiles are taken from.
pub const MIN_QUANTILE_VALUES: usize = 50;

pub type FuzzySets = BTreeMap<String, MembershipFunction>;

/// The bars of the training window as the columns indicators read.
pub struct Columns {
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
}

impl Columns {
    pub fn of(bars: &[Bar]) -> Columns {
        let column = |field: fn(&Bar) -> f64| bars.iter().map(field).collect();
        Columns {
            open: column(|bar| bar.open),
            high: column(|bar| bar.high),
            low: column(|bar| bar.low),
            close: column(|bar| bar.close),
            volume: column(|bar| bar.volume),
        }
    }

    pub fn bars(&self) -> Bars<'_> {
        Bars {
            open: &self.open,
            high: &self.high,
            low: &self.low,
            close: &self.close,
            volume: &self.volume,
        }
    }

    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// The defined values of `output` of `spec` over these bars.
    pub fn values(&self, spec: &IndicatorSpec, output: &str) -> Vec<f64> {
        spec.compute(&self.bars())
            .into_iter()
            .find(|(name, _)| *name == output)
            .map(|(_, values)| values.into_iter().filter(|v| v.is_finite()).collect())
            .unwrap_or_default()
    }

    /// Whether there are enough bars for quantile sets over `spec`'s outputs.
    pub fn can_place(&self, spec: &IndicatorSpec) -> bool {
        self.len() >= spec.warmup() + MIN_QUANTILE_VALUES
    }
}

/// Fuzzy sets for `output` of `spec`; `None` when it needs quantiles and the bars are too few.
pub fn sets_for(
    spec: &IndicatorSpec,
    output: &str,
    columns: &Columns,
    rng: &mut impl Rng,
) -> Option<FuzzySets> {
    let kind = Kind::of(spec);
    match kind.scale() {
        Scale::Bounded => Some(bounded_sets(kind, output, rng)),
        Scale::Quantile => quantile_sets(&columns.values(spec, output), rng),
    }
}

fn sets<const N: usize>(entries: [(&str, Vec<f64>); N]) -> FuzzySets {
    entries
        .into_iter()
        .map(|(name, points)| {
            let function = MembershipFunction::try_from(points).expect("ascending fixed points");
            (name.to_string(), function)
        })
        .collect()
}

/// Thresholds within 0–100, drawn from a few classic choices (RSI 30/70, 25/75, …).
fn bounded_sets(kind: Kind, output: &str, rng: &mut impl Rng) -> FuzzySets {
    match (kind, output) {
        (Kind::Adx, "adx") => {
            let weak = *[15.0, 20.0, 25.0].choose(rng).expect("non-empty");
            let strong = *[35.0, 40.0, 50.0].choose(rng).expect("non-empty");
            sets([
                ("weak", vec![0.0, 0.0, weak]),
                (
                    "trending",
                    vec![weak - 5.0, weak + 5.0, strong - 5.0, strong + 5.0],
                ),
                ("strong", vec![strong, strong + 20.0, 100.0, 100.0]),
            ])
        }
        (Kind::Adx, _) => {
            // +DI and -DI rarely pass 50.
            let low = *[10.0, 15.0, 20.0].choose(rng).expect("non-empty");
            let high = *[25.0, 30.0, 35.0].choose(rng).expect("non-empty");
            sets([
                ("low", vec![0.0, 0.0, low]),
                ("mid", vec![low - 5.0, (low + high) / 2.0, high + 5.0]),
                ("high", vec![high, high + 15.0, 100.0, 100.0]),
            ])
        }
        _ => {
            // RSI and stochastic: an oversold zone, a neutral middle and the mirrored overbought.
            let choices: &[f64] = if kind == Kind::Rsi {
                &[20.0, 25.0, 30.0, 35.0]
            } else {
                &[15.0, 20.0, 25.0, 30.0]
            };
            let low = *choices.choose(rng).expect("non-empty");
            let high = 100.0 - low;
            if rng.random_bool(0.25) {
                sets([
                    ("oversold", vec![0.0, 0.0, low]),
                    ("overbought", vec![high, 100.0, 100.0]),
                ])
            } else {
                sets([
                    ("oversold", vec![0.0, 0.0, low]),
                    ("neutral", vec![low - 5.0, 45.0, 55.0, high + 5.0]),
                    ("overbought", vec![high, 100.0, 100.0]),
                ])
            }
        }
    }
}

/// low / mid / high at quantiles of `values` (the mid set peaks at the median; the cut quantiles
/// are drawn from 0.15–0.30 and their mirror), or `None` with fewer than [`MIN_QUANTILE_VALUES`]
/// values.
pub fn quantile_sets(values: &[f64], rng: &mut impl Rng) -> Option<FuzzySets> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.len() < MIN_QUANTILE_VALUES {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let cut = *[0.15, 0.2, 0.25, 0.3].choose(rng).expect("non-empty");
    let quantile = |q: f64| {
        let position = q * (sorted.len() - 1) as f64;
        let (below, above) = (position.floor() as usize, position.ceil() as usize);
        let weight = position - below as f64;
        sorted[below] * (1.0 - weight) + sorted[above] * weight
    };
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    // A constant output still gets sets around its value, a hair wide.
    let span = if max > min {
        max - min
    } else {
        (min.abs() * 1e-3).max(1e-9)
    };
    let step = 10f64.powf((span.log10() - 4.0).floor());
    let round = |x: f64| {
        let rounded = (x / step).round() * step;
        // Rounding must not turn 0 into -0 (a different fingerprint for the same set).
        if rounded == 0.0 { 0.0 } else { rounded }
    };
    let (outer_low, outer_high) = (round(min - span), round(max + span));
    let (low, median, high) = (
        round(quantile(cut)),
        round(quantile(0.5)),
        round(quantile(1.0 - cut)),
    );
    // Points of a set must span a range: widen one that rounding (or a spike of equal values)
    // collapsed.
    let spread = |points: Vec<f64>| {
        let mut points = points;
        let last = points.len() - 1;
        if points[last] <= points[0] {
            points[last] = points[0] + step;
            for index in 1..last {
                points[index] = points[0];
            }
        }
        points
    };
    Some(sets([
        (
            "low",
            spread(vec![outer_low, outer_low, low, median.max(low)]),
        ),
        ("mid", spread(vec![low, median, high.max(median)])),
        (
            "high",
            spread(vec![median.min(high), high, outer_high, outer_high]),
        ),
    ]))
}

impl Columns {
    /// The median absolute relative change of the close over `lookahead` bars, when the window has
    /// at least [`MIN_QUANTILE_VALUES`] such changes.
    pub fn typical_move(&self, lookahead: usize) -> Option<f64> {
        let mut moves: Vec<f64> = self
            .close
            .iter()
            .zip(self.close.iter().skip(lookahead))
            .filter(|(from, _)| **from > 0.0)
            .map(|(from, to)| (to / from - 1.0).abs())
            .filter(|change| change.is_finite())
            .collect();
        if moves.len() < MIN_QUANTILE_VALUES {
            return None;
        }
        moves.sort_by(f64::total_cmp);
        Some(moves[moves.len() / 2]).filter(|typical| *typical > 0.0)
    }
}
