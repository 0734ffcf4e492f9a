//! The job kinds of ktrdr, in one place: each kind's name, params, result and validation. The CLI
//! checks submits with [`ALL`], the worker runs exactly these kinds, and `ktrdr.operation_types`
//! names the same ones (tests check that they agree).

mod backtesting;
pub mod evaluation;
pub mod model_files;
mod reproducibility;
mod research;
pub mod sample;
mod training;

use chrono::{DateTime, Utc};
use ktrdr::job_kinds::{Dummy, JobKind, JobKinds, KindInfo};
use serde_json::Value;

pub use backtesting::{BacktestParams, BacktestResult, Backtesting};
pub use evaluation::ClassMetrics;
pub use model_files::{ModelArchitecture, TestPredictions};
pub use reproducibility::Reproducibility;
pub use research::{
    AgentAssessment, AgentDesign, AgentResearch, AssessmentParams, DesignParams, DesignResult,
};
pub use sample::{DateRange, Overlap, SplitDates, WindowSource};
pub use training::{
    EpochRecord, ModelArtifacts, ModelMetadata, SplitRows, Training, TrainingParams,
    TrainingResult, completed_training,
};

use crate::{Error, Result, market_data::BarRange, strategy::Strategy};

/// Every kind ktrdr knows: the queue's built-in `dummy`, `training`, `backtesting`, and the
/// research's — `agent_research` (the session, which the database advances and no worker runs),
/// `agent_design` and `agent_assessment`.
pub const ALL: JobKinds = JobKinds::new(&[
    KindInfo::of::<Dummy>(),
    KindInfo::of::<Training>(),
    KindInfo::of::<Backtesting>(),
    KindInfo::of::<AgentResearch>(),
    KindInfo::of::<AgentDesign>(),
    KindInfo::of::<AgentAssessment>(),
]);

/// Deserializes the params of kind `K`, naming the key path of the first problem.
fn deserialize_params<K: JobKind>(params: &Value) -> Result<K::Params> {
    serde_path_to_error::deserialize(params).map_err(|err| {
        Error::InvalidInput(format!(
            "invalid params for {} at {}: {}",
            K::NAME,
            err.path(),
            err.inner()
        ))
    })
}

/// What trainings and backtests share: a valid strategy, and a symbol (`given_symbol`, when it is
/// given instead of the strategy's) and date range that make sense.
fn check_run(
    operation_type: &str,
    strategy: &Strategy,
    given_symbol: Option<&str>,
    bars: BarRange<'_>,
) -> Result<()> {
    check_range(bars.start, bars.end)?;
    check_symbol(operation_type, given_symbol)?;
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
