//! Fuzzy sets a design gives an indicator output. Bounded oscillators (RSI, stochastic, ADX and its
//! DIs) get thresholds within their natural 0–100 range. Everything measured in the instrument's
//! units (MACD, ATR, bands, averages) or scaled by its volatility (ROC) gets sets at quantiles of
//! the output over the training window, so that the same design fits EURUSD at 1.1 and a stock at
//! 150: the middle set peaks at the median, the outer ones are shoulders reaching ten spans beyond
//! the window's extremes, so a later bar outside the window still belongs to one of them.

use std::{cell::RefCell, collections::BTreeMap, collections::HashMap, rc::Rc};

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

/// The bars of the training window as the columns indicators read, and the sorted values of
/// every output computed so far (a design tries many candidates over the same few indicators).
pub struct Columns {
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
    sorted: RefCell<HashMap<String, Rc<Vec<f64>>>>,
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
            sorted: RefCell::default(),
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

    /// The defined values of `output` of `spec` over these bars, in ascending order.
    pub fn sorted_values(&self, spec: &IndicatorSpec, output: &str) -> Rc<Vec<f64>> {
        let key = format!("{spec:?}.{output}");
        if let Some(values) = self.sorted.borrow().get(&key) {
            return Rc::clone(values);
        }
        let mut values: Vec<f64> = spec
            .compute(&self.bars())
            .into_iter()
            .find(|(name, _)| *name == output)
            .map(|(_, values)| values.into_iter().filter(|v| v.is_finite()).collect())
            .unwrap_or_default();
        values.sort_by(f64::total_cmp);
        let values = Rc::new(values);
        self.sorted.borrow_mut().insert(key, Rc::clone(&values));
        values
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
        Scale::Quantile => quantile_sets(&columns.sorted_values(spec, output), rng),
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

/// `x` rounded to a multiple of 10^`exponent`, as the shortest decimal (0.0026388, not
/// 0.0026387999999999997), never -0 (which would fingerprint apart from 0).
fn round_to(x: f64, exponent: i32) -> f64 {
    let rounded = if exponent < 0 {
        let decimals = exponent.unsigned_abs() as usize;
        format!("{x:.decimals$}").parse().unwrap_or(x)
    } else {
        let step = 10f64.powi(exponent);
        (x / step).round() * step
    };
    if rounded == 0.0 { 0.0 } else { rounded }
}

/// low / mid / high at quantiles of `sorted` (finite values in ascending order): the mid set peaks
/// at the median, the cut quantiles are drawn from 0.15–0.30 and their mirror; `None` with fewer
/// than [`MIN_QUANTILE_VALUES`] values.
pub fn quantile_sets(sorted: &[f64], rng: &mut impl Rng) -> Option<FuzzySets> {
    if sorted.len() < MIN_QUANTILE_VALUES {
        return None;
    }
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
    // Points are written to a ten-thousandth of the span: legible, and fine enough.
    let exponent = (span.log10() - 4.0).floor() as i32;
    let step = 10f64.powi(exponent);
    let round = |x: f64| round_to(x, exponent);
    // The outer sets are shoulders, 1 from far beyond the window's extremes (ten spans) to their
    // inner quantile: a later bar outside the window's range still belongs to one.
    let (outer_low, outer_high) = (round(min - 10.0 * span), round(max + 10.0 * span));
    let (low, median, high) = (
        round(quantile(cut)),
        round(quantile(0.5)),
        round(quantile(1.0 - cut)),
    );
    // Points of a set must span a range: widen one that rounding (or a spike of equal values)
    // collapsed.
    let spread = |points: Vec<f64>| {
        let mut points = points;
        let (first, last) = (points[0], points.len() - 1);
        if points[last] <= first {
            points.fill(first);
            points[last] = first + step;
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

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::{MIN_QUANTILE_VALUES, quantile_sets, round_to};

    #[test]
    fn points_are_short_decimals_and_never_negative_zero() {
        assert_eq!(round_to(0.002_638_799_999_999_999_7, -7), 0.0026388);
        assert_eq!(round_to(-0.000_000_01, -4).to_string(), "0");
        assert_eq!(round_to(1234.5, 1), 1230.0);
    }

    #[test]
    fn quantile_sets_span_the_values_and_reach_beyond_them() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let values: Vec<f64> = (0..1000).map(|i| 150.0 + i as f64 / 100.0).collect();
        let sets = quantile_sets(&values, &mut rng).unwrap();
        assert_eq!(sets.keys().collect::<Vec<_>>(), ["high", "low", "mid"]);
        for x in [60.0, 150.0, 155.0, 159.99, 250.0] {
            assert!(sets.values().any(|set| set.membership(x) > 0.0), "{x}");
        }
        // The middle set peaks at the median and is gone at the extremes.
        assert!(sets["mid"].membership(155.0) > 0.99);
        assert_eq!(sets["mid"].membership(150.0), 0.0);
        assert_eq!(sets["low"].membership(150.0), 1.0);
        assert_eq!(sets["high"].membership(159.99), 1.0);
    }

    #[test]
    fn a_constant_or_short_series_is_handled() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let constant = vec![1.1; 100];
        let sets = quantile_sets(&constant, &mut rng).unwrap();
        assert!(sets.values().any(|set| set.membership(1.1) > 0.0));
        assert!(quantile_sets(&constant[..MIN_QUANTILE_VALUES - 1], &mut rng).is_none());
    }
}
