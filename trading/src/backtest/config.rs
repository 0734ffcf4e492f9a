//! Backtest settings and the checks run before a backtest starts or resumes: the config's values,
//! the two input lengths, and every bar and prediction. Checking everything up front lets the bar
//! loop assume finite positive prices and finite confidences, so it needs no per-bar error paths
//! and its results cannot turn into NaN.

use serde::{Deserialize, Serialize};

use super::{BacktestError, Prediction};
use crate::market_data::{Bar, Timeframe};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestConfig {
    /// Starting cash; must be > 0.
    pub initial_capital: f64,
    /// Fraction of traded value, paid on entry and on exit; in `[0, 1)`.
    pub commission: f64,
    /// Fraction of price, always against the trader; in `[0, 1)`.
    pub slippage: f64,
    /// Fraction of current equity a new position uses (0.25: a quarter); in `(0, 1]`.
    pub position_fraction: f64,
    /// Predictions with a lower confidence are ignored; in `[0, 1]`.
    pub confidence_threshold: f64,
    /// Bars that must pass after a trade action before the next one (see the module docs).
    pub min_separation_bars: usize,
    /// Bars per year, for annualising volatility, Sharpe and Sortino: what the data's own calendar
    /// gives (`market_data::Calendar`), or [`Timeframe::bars_per_year`] for continuous trading;
    /// must be > 0.
    pub periods_per_year: f64,
    /// Most points in the sampled equity curve; at least 2 (the first and the last bar).
    pub equity_samples: usize,
}

impl BacktestConfig {
    /// Defaults for bars of `timeframe`: 100 000 capital, 0.1 % commission, 0.05 % slippage,
    /// positions of 25 % of equity, a 0.5 confidence threshold, no separation, 500 equity samples,
    /// and the periods per year of round-the-clock trading (a backtest of stored bars replaces them
    /// with the series' measured calendar).
    pub fn for_timeframe(timeframe: Timeframe) -> Self {
        BacktestConfig {
            initial_capital: 100_000.0,
            commission: 0.001,
            slippage: 0.0005,
            position_fraction: 0.25,
            confidence_threshold: 0.5,
            min_separation_bars: 0,
            periods_per_year: timeframe.bars_per_year(),
            equity_samples: 500,
        }
    }

    /// Checks every value; the error names the first bad field, its allowed range and its value.
    pub fn validate(&self) -> Result<(), BacktestError> {
        let bad = |field: &str, rule: &str, value: f64| {
            Err(BacktestError::InvalidConfig(format!(
                "{field} must be {rule}, got {value}"
            )))
        };
        // `!(x > 0.0)` rather than `x <= 0.0` so that NaN is refused too.
        if !(self.initial_capital.is_finite() && self.initial_capital > 0.0) {
            return bad(
                "initial_capital",
                "a finite number greater than 0",
                self.initial_capital,
            );
        }
        if !(0.0..1.0).contains(&self.commission) {
            return bad("commission", "a fraction in [0, 1)", self.commission);
        }
        if !(0.0..1.0).contains(&self.slippage) {
            return bad("slippage", "a fraction in [0, 1)", self.slippage);
        }
        if !(self.position_fraction > 0.0 && self.position_fraction <= 1.0) {
            return bad(
                "position_fraction",
                "a fraction in (0, 1]",
                self.position_fraction,
            );
        }
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return bad(
                "confidence_threshold",
                "a probability in [0, 1]",
                self.confidence_threshold,
            );
        }
        if !(self.periods_per_year.is_finite() && self.periods_per_year > 0.0) {
            return bad(
                "periods_per_year",
                "a finite number greater than 0",
                self.periods_per_year,
            );
        }
        if self.equity_samples < 2 {
            return Err(BacktestError::InvalidConfig(format!(
                "equity_samples must be at least 2 (the first and the last bar), got {}",
                self.equity_samples
            )));
        }
        Ok(())
    }
}

/// Everything [`super::Backtester::new`] and [`super::Backtester::resume`] check about their inputs.
pub(super) fn validate_inputs(
    bars: &[Bar],
    predictions: &[Prediction],
    config: &BacktestConfig,
) -> Result<(), BacktestError> {
    if bars.len() != predictions.len() {
        return Err(BacktestError::LengthMismatch {
            bars: bars.len(),
            predictions: predictions.len(),
        });
    }
    if bars.is_empty() {
        return Err(BacktestError::NoBars);
    }
    config.validate()?;
    for (index, bar) in bars.iter().enumerate() {
        let reason = bar.inconsistency().or_else(|| {
            // Quantities divide by prices: zero or negative ones would give nonsense or infinities.
            (bar.low <= 0.0).then(|| format!("prices must be positive, low is {}", bar.low))
        });
        if let Some(reason) = reason {
            return Err(BacktestError::InvalidBar {
                index,
                ts: bar.ts,
                reason,
            });
        }
    }
    for (index, prediction) in predictions.iter().enumerate() {
        if !(0.0..=1.0).contains(&prediction.confidence) {
            return Err(BacktestError::InvalidPrediction {
                index,
                reason: format!(
                    "confidence must be a probability in [0, 1], got {}",
                    prediction.confidence
                ),
            });
        }
    }
    Ok(())
}
