//! What the designer and the assessor are given and what they answer, as plain serialisable data:
//! these structs are exactly the JSON an external designer (`KTRDR_DESIGNER_CMD`) or assessor
//! (`KTRDR_ASSESSOR_CMD`) reads on its stdin and, for the assessor, prints.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::catalogue::IndicatorInfo;

/// Everything a design may look at: the research, its brief and target series, the data there is,
/// the indicators there are, and the research memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignContext {
    pub research_id: String,
    pub seed: u64,
    /// 0 for the research's first design, +1 for each later one.
    pub cycle: u32,
    /// `--brief` keywords ("mean reversion", "rsi", "4h").
    pub brief: Option<String>,
    /// The research's target series: every design trains on it.
    pub symbol: String,
    pub timeframe: String,
    /// Every series with bars.
    pub data: Vec<SeriesRange>,
    /// The indicator catalogue ([`super::indicator_catalogue`]).
    pub indicators: Vec<IndicatorInfo>,
    /// Earlier experiments, best first (the research memory; the best only, when there are many).
    pub experiments: Vec<ExperimentSummary>,
    /// Every fingerprint tried on the research's series — all its experiments', also those ranked
    /// below `experiments`, and other researches' designs not yet assessed: a design repeats none.
    #[serde(default)]
    pub tried_fingerprints: Vec<String>,
}

impl DesignContext {
    /// Whether a strategy with `fingerprint` was tried before, and by which experiment if it is
    /// one of those shown.
    pub fn tried(&self, fingerprint: &str) -> Option<Tried<'_>> {
        if let Some(experiment) = self
            .experiments
            .iter()
            .find(|e| e.fingerprint == fingerprint)
        {
            return Some(Tried::Experiment(experiment));
        }
        self.tried_fingerprints
            .iter()
            .any(|tried| tried == fingerprint)
            .then_some(Tried::Elsewhere)
    }
}

/// Where a fingerprint was tried before.
#[derive(Debug)]
pub enum Tried<'a> {
    /// An experiment shown in the memory.
    Experiment(&'a ExperimentSummary),
    /// An experiment ranked lower, or another research's design.
    Elsewhere,
}

/// One stored series: its symbol, timeframe, first and last bar, and how many bars it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesRange {
    pub symbol: String,
    pub timeframe: String,
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub bars: i64,
}

/// One earlier experiment: the strategy it tried, its headline results and their assessment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentSummary {
    pub research_id: String,
    pub strategy_name: String,
    pub fingerprint: String,
    pub strategy_yaml: String,
    /// strong | weak | no_signal
    pub verdict: Option<String>,
    pub test_accuracy: Option<f64>,
    pub baseline_accuracy: Option<f64>,
    pub sharpe: Option<f64>,
    pub total_return: Option<f64>,
    pub win_rate: Option<f64>,
    pub max_drawdown: Option<f64>,
    pub trades: Option<i64>,
    pub score: Option<f64>,
    /// The assessment's suggestion: a tag (see [`super::Suggestion`]), a colon, and prose.
    pub suggestion: Option<String>,
}

/// What a design produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub strategy_name: String,
    /// A strategy file that `strategy::parse` accepts.
    pub strategy_yaml: String,
    /// [`super::fingerprint`] of the parsed strategy.
    pub fingerprint: String,
    /// momentum | mean_reversion | trend | breakout | external | given
    pub archetype: String,
    /// Why this design, in a sentence or two.
    pub rationale: String,
}

/// What an assessment judges: the strategy and the typed results of its training and backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssessmentContext {
    pub strategy_name: String,
    pub strategy_yaml: String,
    /// The training child's result (`kinds::training::TrainingResult`).
    pub training: serde_json::Value,
    /// The backtesting child's result (`kinds::backtesting::BacktestResult`); `null` when there was
    /// no backtest.
    pub backtest: serde_json::Value,
}

/// The judgement of one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assessment {
    pub verdict: Verdict,
    pub strengths: Vec<String>,
    pub weaknesses: Vec<String>,
    /// What the next design will try: a tag, a colon, and prose (see [`super::Suggestion`]).
    pub suggestion: String,
    /// Ranks experiments, higher is better.
    pub score: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// An edge over the baseline that also trades profitably.
    Strong,
    /// Something was learned, but the backtest or the generalisation falls short.
    Weak,
    /// Nothing beyond the majority-class baseline.
    NoSignal,
}

impl Verdict {
    pub const ALL: [Verdict; 3] = [Verdict::Strong, Verdict::Weak, Verdict::NoSignal];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Strong => "strong",
            Verdict::Weak => "weak",
            Verdict::NoSignal => "no_signal",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Verdict {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Verdict::ALL
            .into_iter()
            .find(|verdict| verdict.as_str() == text)
            .ok_or_else(|| format!("unknown verdict '{text}' (expected strong, weak or no_signal)"))
    }
}
