//! The research loop's designer and assessor, as pure functions the `agent_design` and
//! `agent_assessment` jobs call: what they are given and answer ([`context`]), the built-in
//! designer ([`design`]: deterministic, offline, seeded by the research's seed and cycle), the
//! strategy [`fingerprint`] by which a research knows what it has tried, the built-in
//! assessment ([`assess`]: rules over the typed training and backtest results), and the external
//! commands that replace either ([`external`]).
//!
//! ```
//! use ktrdr_trading::research::{self, DesignContext};
//!
//! let ctx = DesignContext {
//!     research_id: "op_1".into(),
//!     seed: 7,
//!     cycle: 0,
//!     brief: Some("momentum with rsi".into()),
//!     symbol: "EURUSD".into(),
//!     timeframe: "1h".into(),
//!     data: vec![],
//!     indicators: research::indicator_catalogue(),
//!     experiments: vec![],
//!     tried_fingerprints: vec![],
//! };
//! // Without bars, only the bounded indicators (RSI, stochastic, ADX) can be given fuzzy sets.
//! let design = research::design(&ctx, &[]).unwrap();
//! assert_eq!(design.archetype, "momentum");
//! assert!(design.strategy_yaml.contains("type: rsi"));
//! assert!(ktrdr_trading::strategy::parse(&design.strategy_yaml).is_ok());
//! ```

mod archetypes;
pub mod assessment;
mod brief;
mod catalogue;
mod compose;
pub mod context;
mod designer;
pub mod external;
mod fingerprint;
mod fuzzy_ranges;
mod grid;
mod layout;
mod mutation;
mod suggestion;

pub use assessment::{assess, baseline_accuracy};
pub use brief::brief_timeframe;
pub use catalogue::{IndicatorInfo, ParamInfo, indicator_catalogue};
pub use context::{
    Assessment, AssessmentContext, Design, DesignContext, ExperimentSummary, SeriesRange, Tried,
    Verdict,
};
pub use designer::design;
pub use external::{run_external_assessor, run_external_designer};
pub use fingerprint::fingerprint;
pub use suggestion::Suggestion;
