//! The `backtesting` kind: a trained model's signals traded over a range of bars.

use chrono::{DateTime, Utc};
use ktrdr::job_kinds::JobKind;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{DateRange, Overlap, Reproducibility, WindowSource, check_run, deserialize_params};
use crate::{
    Error, Result,
    backtest::BacktestMetrics,
    market_data::{BarRange, Calendar, Timeframe},
    strategy::Strategy,
};

pub struct Backtesting;

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

    /// The bars this run reads.
    pub fn bars(&self) -> BarRange<'_> {
        let given = (self.symbol.as_deref(), self.timeframe);
        BarRange::of(&self.strategy, given, (self.start, self.end))
    }
}

/// Result of a `backtesting` operation (contract: these JSON field names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BacktestResult {
    pub strategy: String,
    /// The training whose model was traded.
    pub model: String,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub metrics: BacktestMetrics,
    pub resumed_from_bar: Option<usize>,
    pub checkpoints_saved: usize,
    pub checkpoint_save_failures: usize,
    // Added later: absent from results stored before, hence the defaults.
    /// The first and last bar traded.
    #[serde(default)]
    pub window: Option<DateRange>,
    /// Where the window came from (`None` in results from before it was recorded).
    #[serde(default)]
    pub window_source: Option<WindowSource>,
    /// Whether any traded bar lies in the model's train or validation period (`kinds::sample`).
    #[serde(default)]
    pub in_sample: bool,
    /// The traded bars in those periods.
    #[serde(default)]
    pub overlap: Overlap,
    /// Bars before the window loaded only to warm the indicators up (at most the strategy's
    /// `training_data.history_required`).
    #[serde(default)]
    pub warmup_bars: usize,
    /// What `metrics.periods_per_year` was measured from (`market_data::calendar`).
    #[serde(default)]
    pub calendar: Option<Calendar>,
    /// What a reader should know before trusting the figures (in sample, short calendar …).
    #[serde(default)]
    pub warnings: Vec<String>,
    #[serde(default)]
    pub reproducibility: Option<Reproducibility>,
}

impl JobKind for Backtesting {
    const NAME: &'static str = "backtesting";
    type Params = BacktestParams;
    type Result = BacktestResult;

    fn parse_params(params: &Value) -> Result<BacktestParams> {
        let parsed: BacktestParams = deserialize_params::<Self>(params)?;
        check_run(
            Self::NAME,
            &parsed.strategy,
            parsed.symbol.as_deref(),
            parsed.bars(),
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
}
