//! Strategy files (strategies/*.yaml), in the shape of ktrdr's v3 strategies: which data to train
//! on, which indicators to compute, the fuzzy sets that turn indicator outputs into neural-network
//! inputs, the model, how to train it, how to turn its outputs into decisions, and backtest defaults.
//!
//! [`parse`] reports every problem it finds — unknown keys, wrong types, bad values, references to
//! indicators or fuzzy sets that do not exist — each with its key path and, where it can be found,
//! its line; `ktrdr validate` prints them. What a strategy may be — its file's size and nesting,
//! its text, the sizes of its training and its model's memory — is bounded ([`limits`],
//! [`resources`]), so that what validates can run.

pub mod fuzzy;
pub mod limits;
mod locate;
pub mod resources;
mod validate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use validate::{Problem, load, parse, parse_file};

use crate::{
    indicators::IndicatorSpec, market_data::Timeframe, strategy::fuzzy::MembershipFunction,
};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strategy {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
    pub training_data: TrainingData,
    /// Indicator id → type and parameters; multi-output indicators are addressed as `id.output`.
    pub indicators: BTreeMap<String, IndicatorSpec>,
    /// Indicator reference (`id` or `id.output`) → set name → membership function.
    pub fuzzy_sets: BTreeMap<String, BTreeMap<String, MembershipFunction>>,
    pub nn_inputs: Vec<NnInput>,
    pub model: ModelSpec,
    pub training: TrainingSpec,
    pub decisions: DecisionSpec,
    pub backtest: BacktestDefaults,
}

impl Strategy {
    /// The network's inputs: for every nn input, one membership per fuzzy set, now and at each lag
    /// (the columns of `features::build_features`).
    pub fn feature_count(&self) -> usize {
        self.nn_inputs
            .iter()
            .map(|input| {
                self.fuzzy_sets
                    .get(&input.input)
                    .map_or(0, |sets| sets.len())
                    * (1 + input.lags)
            })
            .sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingData {
    pub symbol: String,
    pub timeframe: Timeframe,
    /// Bars of history loaded before the first training bar, so indicators are warmed up.
    pub history_required: usize,
}

/// One group of network inputs: the memberships of every fuzzy set over `input`, and of its
/// `lags` previous bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NnInput {
    pub input: String,
    #[serde(default)]
    pub lags: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    LeakyRelu,
    Tanh,
    Sigmoid,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub hidden_layers: Vec<usize>,
    pub dropout: f64,
    pub activation: Activation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingSpec {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub early_stopping: EarlyStopping,
    pub split: Split,
    pub labels: ZigzagLabels,
    pub seed: u64,
    /// Save a checkpoint every this many epochs.
    #[serde(default = "TrainingSpec::default_checkpoint_interval")]
    pub checkpoint_interval: usize,
}

impl TrainingSpec {
    fn default_checkpoint_interval() -> usize {
        10
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    pub patience: usize,
    pub min_delta: f64,
}

/// Chronological split of the labelled bars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Split {
    pub train: f64,
    pub validation: f64,
    pub test: f64,
}

/// ZigZag labels: BUY before a rise of `zigzag_threshold` (a fraction) within `lookahead` bars, SELL
/// before such a fall, HOLD otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZigzagLabels {
    pub zigzag_threshold: f64,
    pub lookahead: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionSpec {
    /// A signal is acted on only when its class probability reaches this.
    pub confidence_threshold: f64,
    /// Bars that must pass between two trades.
    pub min_separation_bars: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BacktestDefaults {
    pub initial_capital: f64,
    /// Fraction of the traded value.
    pub commission: f64,
    /// Fraction of the price, against the trader.
    pub slippage: f64,
}
