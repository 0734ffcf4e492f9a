//! The research kinds: `agent_research` (the session, started by `ktrdr agent trigger`, never
//! submitted), and its in-process steps run by workers, `agent_design` and `agent_assessment`.
//! Their params are what `ktrdr.start_research_child` (sql/88_research.sql) builds; their results
//! are what the research's next step reads back in SQL — so the design's result carries the
//! training child's params, ready to submit.

use ktrdr::{job_kinds::JobKind, research::ResearchRequest};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{TrainingParams, check_symbol, deserialize_params};
use crate::{
    Error, Result,
    market_data::Timeframe,
    research::{Assessment, Design},
};

/// The research session. Not submitted as an operation: `ktrdr.trigger_research` creates it,
/// running, with its research row (and refuses when the capacity or budget is exhausted).
pub struct AgentResearch;

impl JobKind for AgentResearch {
    const NAME: &'static str = "agent_research";
    type Params = ResearchRequest;
    type Result = Value;

    fn parse_params(_params: &Value) -> Result<ResearchRequest> {
        Err(Error::InvalidInput(
            "agent_research operations are not submitted: start a research with `ktrdr agent trigger` \
             (or SELECT ktrdr.trigger_research(...) in psql)"
                .into(),
        ))
    }
}

pub struct AgentDesign;

/// Params of an `agent_design` operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DesignParams {
    pub research_id: String,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub seed: u64,
    /// 0 for the research's first design, +1 for each attempt after it.
    pub cycle: u32,
    #[serde(default)]
    pub brief: Option<String>,
    /// The designed strategy's epochs are capped at this.
    #[serde(default)]
    pub max_epochs: Option<usize>,
}

/// Result of an `agent_design` operation: the design, and the training it asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DesignResult {
    pub design: Design,
    pub training_params: TrainingParams,
}

impl JobKind for AgentDesign {
    const NAME: &'static str = "agent_design";
    type Params = DesignParams;
    type Result = DesignResult;

    fn parse_params(params: &Value) -> Result<DesignParams> {
        let parsed: DesignParams = deserialize_params::<Self>(params)?;
        check_symbol(Self::NAME, Some(&parsed.symbol))?;
        if parsed.max_epochs == Some(0) {
            return Err(Error::InvalidInput(
                "invalid params for agent_design: max_epochs must be at least 1".into(),
            ));
        }
        Ok(parsed)
    }
}

pub struct AgentAssessment;

/// Params of an `agent_assessment` operation: the research and its completed training and backtest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssessmentParams {
    pub research_id: String,
    pub training_id: String,
    pub backtest_id: String,
}

impl JobKind for AgentAssessment {
    const NAME: &'static str = "agent_assessment";
    type Params = AssessmentParams;
    type Result = Assessment;

    fn parse_params(params: &Value) -> Result<AssessmentParams> {
        deserialize_params::<Self>(params)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_research_is_never_submitted_as_an_operation() {
        let err = AgentResearch::parse_params(&json!({})).unwrap_err();
        assert!(err.to_string().contains("ktrdr agent trigger"), "{err}");
    }

    #[test]
    fn design_params_name_the_bad_key() {
        let err = AgentDesign::parse_params(&json!({
            "research_id": "r", "symbol": "EURUSD", "timeframe": "1h", "seed": 1, "cycle": 0, "colour": 1
        }))
        .unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
        let ok = AgentDesign::parse_params(&json!({
            "research_id": "r", "symbol": "EURUSD", "timeframe": "1h", "seed": 1, "cycle": 0
        }));
        assert!(ok.is_ok(), "{ok:?}");
    }
}
