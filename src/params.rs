//! Validation of operation params for the types ktrdr knows, run before a submit (so bad input is
//! refused at once, with the offending key) and again by the worker that runs the operation.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{Error, Result, market_data::Timeframe, strategy::Strategy};

/// Params of a `training` operation: the whole strategy (so the run does not depend on a file that
/// may change), and optionally another symbol, timeframe or date range than the strategy's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingParams {
    pub strategy: Strategy,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub timeframe: Option<Timeframe>,
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
}

/// Deserializes the params of an `operation_type`, naming the key path of the first problem.
fn deserialize_params<T: serde::de::DeserializeOwned>(
    operation_type: &str,
    params: &Value,
) -> Result<T> {
    serde_path_to_error::deserialize(params.clone()).map_err(|err| {
        Error::InvalidInput(format!(
            "invalid params for {operation_type} at {}: {}",
            err.path(),
            err.inner()
        ))
    })
}

/// What trainings and backtests share: a valid strategy, and a symbol and date range, when given
/// instead of the strategy's, that make sense.
fn check_run(
    operation_type: &str,
    strategy: &Strategy,
    symbol: Option<&str>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> Result<()> {
    check_range(start, end)?;
    check_symbol(operation_type, symbol)?;
    check_strategy(operation_type, strategy)
}

/// A symbol given instead of the strategy's follows the same rule.
fn check_symbol(operation_type: &str, symbol: Option<&str>) -> Result<()> {
    match symbol {
        Some(symbol) if !crate::market_data::is_valid_symbol(symbol) => {
            Err(Error::InvalidInput(format!(
                "invalid params for {operation_type}: symbol '{symbol}' is invalid: use {}",
                crate::market_data::SYMBOL_RULE
            )))
        }
        _ => Ok(()),
    }
}

fn check_range(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> Result<()> {
    match (start, end) {
        (Some(start), Some(end)) if end <= start => Err(Error::InvalidInput(format!(
            "empty date range: end {end} is not after start {start}"
        ))),
        _ => Ok(()),
    }
}

/// Runs every check of a strategy file on a strategy that arrived inside params (the submitting
/// program may have built it without `ktrdr validate`): its JSON is valid YAML for the same
/// validator. Problems are named by key path; line numbers of the one-line JSON would mislead.
fn check_strategy(operation_type: &str, strategy: &Strategy) -> Result<()> {
    let json = serde_json::to_string(strategy).expect("a strategy serializes");
    crate::strategy::parse(&json).map(drop).map_err(|problems| {
        let problems: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        Error::InvalidInput(format!(
            "invalid params for {operation_type}: the strategy is not valid: {}",
            problems.join("; ")
        ))
    })
}

impl TrainingParams {
    /// A training of `strategy` on its own symbol and timeframe, over all stored bars.
    pub fn new(strategy: Strategy) -> Self {
        Self {
            strategy,
            symbol: None,
            timeframe: None,
            start: None,
            end: None,
        }
    }

    pub fn parse(params: &Value) -> Result<Self> {
        let parsed: Self = deserialize_params("training", params)?;
        check_run(
            "training",
            &parsed.strategy,
            parsed.symbol.as_deref(),
            parsed.start,
            parsed.end,
        )?;
        Ok(parsed)
    }

    pub fn symbol(&self) -> &str {
        self.symbol
            .as_deref()
            .unwrap_or(&self.strategy.training_data.symbol)
    }

    pub fn timeframe(&self) -> Timeframe {
        self.timeframe
            .unwrap_or(self.strategy.training_data.timeframe)
    }
}

/// Params of the built-in `dummy` type: `steps` steps of `step_ms` milliseconds; with `fail_at`, the
/// operation fails when it reaches that step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DummyParams {
    #[serde(default = "DummyParams::default_steps")]
    pub steps: u32,
    #[serde(default = "DummyParams::default_step_ms")]
    pub step_ms: u64,
    #[serde(default)]
    pub fail_at: Option<u32>,
}

impl DummyParams {
    fn default_steps() -> u32 {
        10
    }

    fn default_step_ms() -> u64 {
        1000
    }

    pub fn parse(params: &Value) -> Result<Self> {
        let parsed: Self = serde_json::from_value(params.clone()).map_err(|err| {
            Error::InvalidInput(format!(
                "invalid params for dummy: {err} (expected {{\"steps\":N,\"step_ms\":M,\"fail_at\":K}})"
            ))
        })?;
        if parsed.steps == 0 {
            return Err(Error::InvalidInput(
                "invalid params for dummy: steps must be at least 1".into(),
            ));
        }
        if parsed.step_ms > 86_400_000 {
            return Err(Error::InvalidInput(
                "invalid params for dummy: step_ms must be at most 86400000 (one day)".into(),
            ));
        }
        Ok(parsed)
    }
}

/// Params of a `backtesting` operation: the strategy (decisions and costs come from it), the
/// training operation whose model to use, and optionally another symbol, timeframe, range or capital.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestParams {
    pub strategy: Strategy,
    /// Id of a completed `training` operation of the same strategy.
    pub model: String,
    #[serde(default)]
    pub symbol: Option<String>,
    #[serde(default)]
    pub timeframe: Option<Timeframe>,
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub initial_capital: Option<f64>,
    /// Checkpoint every this many bars instead of every 10,000.
    #[serde(default)]
    pub checkpoint_interval_bars: Option<usize>,
}

impl BacktestParams {
    /// A backtest of `strategy` with the model of the training `model`, on the strategy's symbol,
    /// timeframe and capital, over all stored bars.
    pub fn new(strategy: Strategy, model: String) -> Self {
        Self {
            strategy,
            model,
            symbol: None,
            timeframe: None,
            start: None,
            end: None,
            initial_capital: None,
            checkpoint_interval_bars: None,
        }
    }

    pub fn parse(params: &Value) -> Result<Self> {
        let parsed: Self = deserialize_params("backtesting", params)?;
        check_run(
            "backtesting",
            &parsed.strategy,
            parsed.symbol.as_deref(),
            parsed.start,
            parsed.end,
        )?;
        if let Some(capital) = parsed.initial_capital
            && !(capital.is_finite() && capital > 0.0)
        {
            return Err(Error::InvalidInput(format!(
                "initial capital must be positive, got {capital}"
            )));
        }
        if parsed.checkpoint_interval_bars == Some(0) {
            return Err(Error::InvalidInput(
                "checkpoint_interval_bars must be at least 1".into(),
            ));
        }
        Ok(parsed)
    }

    pub fn symbol(&self) -> &str {
        self.symbol
            .as_deref()
            .unwrap_or(&self.strategy.training_data.symbol)
    }

    pub fn timeframe(&self) -> Timeframe {
        self.timeframe
            .unwrap_or(self.strategy.training_data.timeframe)
    }
}

/// Checks `params` for `operation_type`. Types without a validator here are checked by the database
/// (which also refuses unknown types).
pub fn validate(operation_type: &str, params: &Value) -> Result<()> {
    if !params.is_object() {
        return Err(Error::InvalidInput(format!(
            "params must be a JSON object, got {params}"
        )));
    }
    match operation_type {
        "dummy" => {
            DummyParams::parse(params)?;
        }
        "training" => {
            TrainingParams::parse(params)?;
        }
        "backtesting" => {
            BacktestParams::parse(params)?;
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dummy_params_have_defaults_and_refuse_unknown_keys() {
        assert_eq!(
            DummyParams::parse(&json!({})).unwrap(),
            DummyParams {
                steps: 10,
                step_ms: 1000,
                fail_at: None
            }
        );
        let err = DummyParams::parse(&json!({"stepz": 3}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `stepz`"), "{err}");
        assert!(DummyParams::parse(&json!({"steps": -1})).is_err());
        assert!(DummyParams::parse(&json!({"steps": 0})).is_err());
        assert!(validate("dummy", &json!([1])).is_err());
    }
}
