//! Technical indicators computed from OHLCV bars in pure Rust: the [`Bars`] they read, the
//! [`IndicatorSpec`] a strategy file names them with, and the dispatch from one to the other.
//!
//! # Reference
//!
//! Every indicator reproduces one implementation: the Python package `ta` by bukosabino
//! (<https://github.com/bukosabino/ta>, PyPI `ta`), version 0.11.0, with `fillna=False`, running on
//! pandas 3.1.1 and numpy 2.4.6. Whatever `ta` does, quirks included, is what is done here, apart
//! from the warm-up values listed below.
//!
//! | spec                | `ta` class                                 | outputs                          | NaN warm-up (bars)                              |
//! |---------------------|--------------------------------------------|----------------------------------|-------------------------------------------------|
//! | `rsi`               | `momentum.RSIIndicator`                    | `value`                          | `period - 1`                                    |
//! | `sma`               | `trend.SMAIndicator`                       | `value`                          | `period - 1`                                    |
//! | `ema`               | `trend.EMAIndicator`                       | `value`                          | `period - 1`                                    |
//! | `macd`              | `trend.MACD`                               | `macd`, `signal`, `histogram`    | `slow - 1`; `slow + signal - 2`                 |
//! | `adx`               | `trend.ADXIndicator`                       | `adx`, `plus_di`, `minus_di`     | `2 * period - 1`; `period`                      |
//! | `atr`               | `volatility.AverageTrueRange`              | `value`                          | `period - 1`                                    |
//! | `bollinger_bands`   | `volatility.BollingerBands`                | `upper`, `middle`, `lower`       | `period - 1`                                    |
//! | `roc`               | `momentum.ROCIndicator`                    | `value`                          | `period`                                        |
//! | `stochastic`        | `momentum.StochasticOscillator`            | `k`, `d`                         | `k_period + smooth - 2`; `+ d_period - 1`       |
//!
//! `tests/indicators.rs` checks every output against values computed by `ta` itself
//! (`tests/fixtures/indicators/reference.json`, written by `generate.py` beside it), to 1e-9
//! relative.
//!
//! # Where this differs from `ta`
//!
//! - Warm-up bars are always `f64::NAN`. `ta` writes 0 for the first `period - 1` ATR bars, for the
//!   ADX before bar `2 * period - 1` and for +DI/-DI up to bar `period` included.
//! - +DI/-DI are defined from bar `period`, one bar earlier than `ta` reports them: `ta`'s
//!   `adx_pos`/`adx_neg` loops skip that bar although its own ADX uses the value (see `adx.rs`).
//! - `stochastic` has a `smooth` parameter `ta` lacks: `smooth = 1` is `ta`'s oscillator,
//!   `smooth > 1` applies an SMA of that length to %K before %D is taken (see `stochastic.rs`).
//!   The default, 3, is therefore the slow stochastic, not `ta`'s.
//! - Input `ta` rejects or answers with garbage gives NaN here instead of an exception: a series
//!   shorter than the warm-up (where `ta`'s ATR and ADX raise), an invalid spec, and a
//!   rolling window holding an infinity (pandas would carry the infinity).
//!
//! `ta` quirks that *are* reproduced: its RSI treats the missing change at bar 0 as a zero move, so
//! the RSI exists from bar `period - 1`; its EMA is seeded with the first close rather than an SMA;
//! RSI is 100 when the average loss is 0, a DI is 0 when the true-range sum is 0 and DX is 0 when
//! both DIs are 0; the stochastic is NaN where the high-low range is 0.
//!
//! # Example
//!
//! ```
//! use ktrdr_trading::indicators::{Bars, IndicatorSpec};
//!
//! let spec: IndicatorSpec = serde_json::from_str(r#"{"type": "sma", "period": 2}"#).unwrap();
//! spec.validate().unwrap();
//! let close = [1.0, 2.0, 3.0];
//! let bars = Bars { open: &close, high: &close, low: &close, close: &close, volume: &close };
//! let outputs = spec.compute(&bars);
//! assert_eq!(outputs[0].0, "value");
//! assert!(outputs[0].1[0].is_nan());
//! assert_eq!(&outputs[0].1[1..], &[1.5, 2.5]);
//! ```

mod adx;
mod atr;
mod bollinger;
mod macd;
mod moving_average;
mod roc;
mod rsi;
mod stochastic;

use serde::{Deserialize, Serialize};

/// Price series of one instrument, oldest first, all the same length.
#[derive(Debug, Clone, Copy)]
pub struct Bars<'a> {
    pub open: &'a [f64],
    pub high: &'a [f64],
    pub low: &'a [f64],
    pub close: &'a [f64],
    pub volume: &'a [f64],
}

impl Bars<'_> {
    /// Number of bars (the length of `close`, which every output has).
    pub fn len(&self) -> usize {
        self.close.len()
    }

    /// Whether there are no bars.
    pub fn is_empty(&self) -> bool {
        self.close.is_empty()
    }
}

/// One indicator with its parameters, as written in a strategy file:
///
/// ```yaml
/// rsi_14: { type: rsi, period: 14 }
/// macd:   { type: macd, fast: 12, slow: 26, signal: 9 }
/// ```
///
/// Every parameter has a default, so `{ type: rsi }` is RSI(14); an unknown parameter or type is
/// refused when the spec is read, and [`IndicatorSpec::validate`] checks the values.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum IndicatorSpec {
    /// Relative Strength Index (Wilder smoothing), 0–100.
    Rsi {
        #[serde(default = "defaults::fourteen")]
        period: usize,
    },
    /// Simple moving average of the close.
    Sma {
        #[serde(default = "defaults::twenty")]
        period: usize,
    },
    /// Exponential moving average of the close.
    Ema {
        #[serde(default = "defaults::twenty")]
        period: usize,
    },
    /// MACD line, its signal line and their difference.
    Macd {
        #[serde(default = "defaults::twelve")]
        fast: usize,
        #[serde(default = "defaults::twenty_six")]
        slow: usize,
        #[serde(default = "defaults::nine")]
        signal: usize,
    },
    /// Average Directional Index with +DI and -DI, 0–100.
    Adx {
        #[serde(default = "defaults::fourteen")]
        period: usize,
    },
    /// Average True Range, in price units.
    Atr {
        #[serde(default = "defaults::fourteen")]
        period: usize,
    },
    /// Bollinger Bands: SMA ± `std_dev` population standard deviations.
    BollingerBands {
        #[serde(default = "defaults::twenty")]
        period: usize,
        #[serde(default = "defaults::two")]
        std_dev: f64,
    },
    /// Rate of change over `period` bars, in percent.
    Roc {
        #[serde(default = "defaults::ten")]
        period: usize,
    },
    /// Stochastic oscillator %K and %D, 0–100; `smooth` is an SMA of %K (1 = none, as in `ta`).
    Stochastic {
        #[serde(default = "defaults::fourteen")]
        k_period: usize,
        #[serde(default = "defaults::three")]
        d_period: usize,
        #[serde(default = "defaults::three")]
        smooth: usize,
    },
}

/// Default parameter values, as functions because that is what `#[serde(default = ...)]` takes.
mod defaults {
    pub(super) fn two() -> f64 {
        2.0
    }
    pub(super) fn three() -> usize {
        3
    }
    pub(super) fn nine() -> usize {
        9
    }
    pub(super) fn ten() -> usize {
        10
    }
    pub(super) fn twelve() -> usize {
        12
    }
    pub(super) fn fourteen() -> usize {
        14
    }
    pub(super) fn twenty() -> usize {
        20
    }
    pub(super) fn twenty_six() -> usize {
        26
    }
}

impl IndicatorSpec {
    /// Checks the parameter values: every period at least 1, `fast < slow`, `std_dev` positive.
    /// The message names the offending field, e.g. "period must be at least 1".
    pub fn validate(&self) -> Result<(), String> {
        fn at_least_one(name: &str, value: usize) -> Result<(), String> {
            if value == 0 {
                Err(format!("{name} must be at least 1"))
            } else {
                Ok(())
            }
        }
        match *self {
            Self::Rsi { period }
            | Self::Sma { period }
            | Self::Ema { period }
            | Self::Adx { period }
            | Self::Atr { period }
            | Self::Roc { period } => at_least_one("period", period),
            Self::Macd { fast, slow, signal } => {
                at_least_one("fast", fast)?;
                at_least_one("slow", slow)?;
                at_least_one("signal", signal)?;
                if fast >= slow {
                    return Err(format!(
                        "fast must be less than slow (got fast {fast}, slow {slow})"
                    ));
                }
                Ok(())
            }
            Self::BollingerBands { period, std_dev } => {
                at_least_one("period", period)?;
                // Written so that NaN fails too.
                if !(std_dev > 0.0 && std_dev.is_finite()) {
                    return Err(format!("std_dev must be a positive number (got {std_dev})"));
                }
                Ok(())
            }
            Self::Stochastic {
                k_period,
                d_period,
                smooth,
            } => {
                at_least_one("k_period", k_period)?;
                at_least_one("d_period", d_period)?;
                at_least_one("smooth", smooth)
            }
        }
    }

    /// Names of the outputs [`IndicatorSpec::compute`] returns, in its order; `["value"]` for a
    /// single-output indicator.
    pub fn output_names(&self) -> &'static [&'static str] {
        match self {
            Self::Macd { .. } => &["macd", "signal", "histogram"],
            Self::Adx { .. } => &["adx", "plus_di", "minus_di"],
            Self::BollingerBands { .. } => &["upper", "middle", "lower"],
            Self::Stochastic { .. } => &["k", "d"],
            Self::Rsi { .. }
            | Self::Sma { .. }
            | Self::Ema { .. }
            | Self::Atr { .. }
            | Self::Roc { .. } => &["value"],
        }
    }

    /// Number of leading bars that are NaN in at least one output (the longest warm-up among the
    /// outputs); from this index on every output is defined, given long enough input.
    pub fn warmup(&self) -> usize {
        // Saturating: an absurd period must not overflow here, compute() just returns NaN for it.
        let minus_one = |n: usize| n.saturating_sub(1);
        match *self {
            Self::Rsi { period }
            | Self::Sma { period }
            | Self::Ema { period }
            | Self::Atr { period }
            | Self::BollingerBands { period, .. } => minus_one(period),
            Self::Roc { period } => period,
            Self::Macd { slow, signal, .. } => minus_one(slow).saturating_add(minus_one(signal)),
            Self::Adx { period } => minus_one(period.saturating_mul(2)),
            Self::Stochastic {
                k_period,
                d_period,
                smooth,
            } => minus_one(k_period)
                .saturating_add(minus_one(smooth))
                .saturating_add(minus_one(d_period)),
        }
    }

    /// Computes every output over `bars`: one `(name, series)` per output, in
    /// [`IndicatorSpec::output_names`] order, each series as long as `bars.close` with `f64::NAN`
    /// during the warm-up. O(n) per output.
    ///
    /// Never panics. An output is all NaN when the input has no more bars than that output's own
    /// warm-up (empty input included), so up to [`IndicatorSpec::warmup`] bars the slowest output
    /// is all NaN while, say, the MACD line may already have values; a value never depends on
    /// later bars. A spec that [`IndicatorSpec::validate`] refuses gives all NaN. Should the series differ in length, against the
    /// contract of [`Bars`], only the bars all the series read have in common are used and the rest
    /// is NaN.
    pub fn compute(&self, bars: &Bars) -> Vec<(&'static str, Vec<f64>)> {
        let len = bars.len();
        let names = self.output_names();
        if self.validate().is_err() {
            return names
                .iter()
                .map(|&name| (name, vec![f64::NAN; len]))
                .collect();
        }
        let common = bars.high.len().min(bars.low.len()).min(len);
        let (high, low, close_hlc) = (
            &bars.high[..common],
            &bars.low[..common],
            &bars.close[..common],
        );
        let close = bars.close;
        let series: Vec<Vec<f64>> = match *self {
            Self::Rsi { period } => vec![rsi::rsi(close, period)],
            Self::Sma { period } => vec![moving_average::sma(close, period)],
            Self::Ema { period } => vec![moving_average::ema(close, period)],
            Self::Macd { fast, slow, signal } => macd::macd(close, fast, slow, signal).into(),
            Self::Adx { period } => adx::adx(high, low, close_hlc, period).into(),
            Self::Atr { period } => vec![atr::atr(high, low, close_hlc, period)],
            Self::BollingerBands { period, std_dev } => {
                bollinger::bollinger(close, period, std_dev).into()
            }
            Self::Roc { period } => vec![roc::roc(close, period)],
            Self::Stochastic {
                k_period,
                d_period,
                smooth,
            } => stochastic::stochastic(high, low, close_hlc, k_period, d_period, smooth).into(),
        };
        debug_assert_eq!(series.len(), names.len());
        names
            .iter()
            .zip(series)
            .map(|(&name, mut values)| {
                // Only the high/low/close indicators can come back shorter (mismatched input).
                values.resize(len, f64::NAN);
                (name, values)
            })
            .collect()
    }
}
