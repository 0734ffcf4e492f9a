//! `/api/v1/agent/*`: the research loop over HTTP, as `ktrdr agent trigger|status|cancel|history`
//! — the same library calls (`ktrdr::research`), statuses uppercase as everywhere in the API.

use axum::{
    extract::{Path, State},
    response::Response,
};
use chrono::{DateTime, Utc};
use ktrdr::research::{self, CancelOutcome, Research, ResearchChild, ResearchRequest};
use ktrdr_trading::market_data::{self, Timeframe};
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    AppState,
    envelope::{ApiError, ErrorEnvelope, OptionalJsonBody, QueryParams, Success, ok},
    validate::{self, Fields},
    views::{Accepted, ApiStatus},
};

/// The most researches or experiments one answer lists.
const MAX_LIMIT: i64 = 1000;

/// What a trigger may ask for; every field optional (the built-in designer, the default series).
#[derive(Debug, ToSchema)]
pub struct TriggerRequest {
    /// Keywords that constrain the design ("mean reversion", "rsi", "4h").
    brief: Option<String>,
    /// The series to research (default: the first series with bars).
    symbol: Option<String>,
    /// 1m, 5m, 15m, 30m, 1h, 4h, 1d.
    #[schema(value_type = Option<String>)]
    timeframe: Option<Timeframe>,
    /// Seeds the designer (default: drawn at random and recorded).
    #[schema(minimum = 0)]
    seed: Option<i64>,
    /// Skip the training and backtest gates.
    bypass_gates: Option<bool>,
}

impl TriggerRequest {
    fn parse(body: Option<Value>) -> Result<ResearchRequest, ApiError> {
        let mut b = Fields::optional_body(body)?;
        let parsed = Self {
            brief: b.string("brief"),
            symbol: b.string("symbol"),
            timeframe: b.parsed("timeframe", str::parse),
            seed: b.integer("seed", 0..=i64::MAX),
            bypass_gates: b.boolean("bypass_gates"),
        };
        b.finish()?;
        if let Some(symbol) = &parsed.symbol
            && !market_data::is_valid_symbol(symbol)
        {
            return Err(ApiError::invalid(
                "body.symbol",
                format!("'{symbol}' is invalid: use {}", market_data::SYMBOL_RULE),
            ));
        }
        Ok(ResearchRequest {
            symbol: parsed.symbol,
            timeframe: parsed.timeframe.map(|t| t.to_string()),
            seed: parsed.seed,
            brief: parsed.brief,
            bypass_gates: parsed.bypass_gates.unwrap_or(false),
            ..ResearchRequest::default()
        })
    }
}

/// One child of a research.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResearchChildView {
    pub operation_id: String,
    pub operation_type: String,
    pub phase: String,
    pub attempt: i32,
    /// None when the child's operation no longer exists.
    pub status: Option<ApiStatus>,
    pub error_message: Option<String>,
}

impl From<ResearchChild> for ResearchChildView {
    fn from(child: ResearchChild) -> Self {
        Self {
            operation_id: child.operation_id,
            operation_type: child.operation_type,
            phase: child.phase,
            attempt: child.attempt,
            status: child.status.map(ApiStatus::from),
            error_message: child.error_message,
        }
    }
}

/// A research, as `ktrdr agent status --json` (statuses uppercase).
#[derive(Debug, Serialize, ToSchema)]
pub struct ResearchView {
    pub operation_id: String,
    pub status: ApiStatus,
    /// idle, designing, training, backtesting, assessing, completed, failed, cancelled.
    pub phase: String,
    pub symbol: String,
    pub timeframe: String,
    pub seed: i64,
    pub brief: Option<String>,
    pub bypass_gates: bool,
    pub strategy_name: Option<String>,
    pub fingerprint: Option<String>,
    pub archetype: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub training_gate: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub backtest_gate: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub assessment: Option<Value>,
    pub outcome: Option<String>,
    pub verdict: Option<String>,
    pub error_message: Option<String>,
    /// What `resume` continues from: phase, strategy, children, training checkpoint epoch.
    #[schema(value_type = Object)]
    pub checkpoint: Value,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    pub children: Vec<ResearchChildView>,
}

impl From<Research> for ResearchView {
    fn from(r: Research) -> Self {
        Self {
            operation_id: r.operation_id,
            status: r.status.into(),
            phase: r.phase,
            symbol: r.symbol,
            timeframe: r.timeframe,
            seed: r.seed,
            brief: r.brief,
            bypass_gates: r.bypass_gates,
            strategy_name: r.strategy_name,
            fingerprint: r.fingerprint,
            archetype: r.archetype,
            training_gate: r.training_gate,
            backtest_gate: r.backtest_gate,
            assessment: r.assessment,
            outcome: r.outcome,
            verdict: r.verdict,
            error_message: r.error_message,
            checkpoint: r.checkpoint,
            created_at: r.created_at,
            completed_at: r.completed_at,
            children: r.children.into_iter().map(Into::into).collect(),
        }
    }
}

/// What a cancel answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResearchCancelled {
    pub operation_id: String,
    /// True when this request ended the research; false when it had already ended.
    pub cancelled: bool,
    pub status: ApiStatus,
}

#[utoipa::path(post, path = "/api/v1/agent/trigger", tag = "research",
    request_body(content = Option<TriggerRequest>, description = "Optional: brief, series, seed, bypass_gates"),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Started: RUNNING, its first child pending", body = Success<Accepted>),
        (status = 401, description = "No or wrong token", body = ErrorEnvelope),
        (status = 409, description = "Capacity or daily budget exhausted (the reason says which)", body = ErrorEnvelope),
        (status = 422, description = "Invalid: every problem with its path", body = ErrorEnvelope),
    ))]
pub async fn trigger(
    State(state): State<AppState>,
    OptionalJsonBody(body): OptionalJsonBody,
) -> Result<Response, ApiError> {
    let request = TriggerRequest::parse(body)?;
    let id = research::trigger(&state.pool, &request)
        .await
        .map_err(ApiError::at_path("body"))?;
    Ok(ok(Accepted {
        operation_id: id,
        status: ApiStatus::Running,
    }))
}

#[utoipa::path(get, path = "/api/v1/agent/status", tag = "research",
    responses((status = 200, description = "Every active research, with its children", body = Success<Vec<ResearchView>>)))]
pub async fn status(State(state): State<AppState>) -> Result<Response, ApiError> {
    let researches = research::list(&state.pool, true, MAX_LIMIT).await?;
    Ok(ok(researches
        .into_iter()
        .map(ResearchView::from)
        .collect::<Vec<_>>()))
}

#[utoipa::path(get, path = "/api/v1/agent/researches/{operation_id}", tag = "research",
    params(("operation_id" = String, Path, description = "The research's operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$")),
    responses(
        (status = 200, description = "The research with its phase, children, gates and outcome", body = Success<ResearchView>),
        (status = 404, description = "No such research", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate::id("operation_id", &id)?;
    let r = research::get(&state.pool, &id).await?;
    Ok(ok(ResearchView::from(r)))
}

#[utoipa::path(post, path = "/api/v1/agent/cancel/{operation_id}", tag = "research",
    params(("operation_id" = String, Path, description = "The research's operation id", pattern = r"^[A-Za-z0-9_-]{1,200}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Cancelled with its active children, or already ended (`cancelled: false`)", body = Success<ResearchCancelled>),
        (status = 401, description = "No or wrong token", body = ErrorEnvelope),
        (status = 404, description = "No such research", body = ErrorEnvelope),
        (status = 422, description = "Not an id", body = ErrorEnvelope),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    validate::id("operation_id", &id)?;
    let outcome = research::cancel(&state.pool, &id, Some("cancelled over the HTTP API")).await?;
    let (cancelled, status) = match outcome {
        CancelOutcome::Cancelled => (true, ApiStatus::Cancelled),
        CancelOutcome::AlreadyEnded(status) => (false, status.into()),
    };
    Ok(ok(ResearchCancelled {
        operation_id: id,
        cancelled,
        status,
    }))
}

/// One experiment of the research memory, as `ktrdr agent history --json` (strategy, verdict,
/// the training's and the backtest's figures, score, strengths, weaknesses, suggestion).
#[derive(Debug, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = Object)]
pub struct ExperimentView(Value);

/// `GET /agent/history` takes at most this many experiments (default 50).
#[derive(Debug, IntoParams)]
pub struct HistoryQuery {
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

impl HistoryQuery {
    fn parse(query: QueryParams) -> Result<Self, ApiError> {
        let mut q = Fields::query(query.0);
        let parsed = Self {
            limit: q.integer("limit", 1..=MAX_LIMIT),
        };
        q.finish()?;
        Ok(parsed)
    }
}

#[utoipa::path(get, path = "/api/v1/agent/history", tag = "research",
    params(HistoryQuery),
    responses(
        (status = 200, description = "The experiments (the research memory), best first, as `ktrdr agent history --json`", body = Success<Vec<ExperimentView>>),
        (status = 422, description = "A bad limit", body = ErrorEnvelope),
    ))]
pub async fn history(
    State(state): State<AppState>,
    query: QueryParams,
) -> Result<Response, ApiError> {
    let limit = HistoryQuery::parse(query)?.limit.unwrap_or(50);
    let experiments = research::history(&state.pool, limit)
        .await?
        .into_iter()
        .map(|experiment| serde_json::to_value(experiment).map(ExperimentView))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| super::envelope::internal())?;
    Ok(ok(experiments))
}
