//! `POST /api/v1/training/start` (also `/api/v1/trainings/start`): `ktrdr train` over HTTP — the
//! strategy file validated, overrides checked, its market data required, one `training` submitted.

use axum::{extract::State, response::Response};
use chrono::{DateTime, Utc};
use ktrdr::{
    job_kinds::JobKind,
    operations::{self, NewOperation},
};
use ktrdr_trading::{
    kinds::{self, Training, TrainingParams},
    market_data::{self, BarRange, Timeframe},
};
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    AppState,
    envelope::{ApiError, ErrorEnvelope, JsonBody, Success, ok},
    strategy_files,
    validate::Fields,
    views::{Accepted, ApiStatus},
};

#[derive(Debug, ToSchema)]
pub struct TrainingStart {
    /// A strategy file under the server's strategies directory, e.g. `rsi_macd_trend.yaml`.
    strategy_path: String,
    /// Instead of the strategy's symbol.
    symbol: Option<String>,
    /// Instead of the strategy's timeframe (1m, 5m, 15m, 30m, 1h, 4h, 1d).
    #[schema(value_type = Option<String>)]
    timeframe: Option<Timeframe>,
    /// First day of data (YYYY-MM-DD, or an RFC 3339 time).
    #[schema(value_type = Option<String>)]
    start_date: Option<DateTime<Utc>>,
    /// Day after the last (YYYY-MM-DD, or an RFC 3339 time).
    #[schema(value_type = Option<String>)]
    end_date: Option<DateTime<Utc>>,
    /// Attempts before the operation fails for good (default 1).
    #[schema(minimum = 1, maximum = 1000)]
    max_attempts: Option<i64>,
    /// Checkpoint every this many epochs (default: the strategy's).
    #[schema(minimum = 1, maximum = 1000000)]
    checkpoint_interval: Option<i64>,
}

impl TrainingStart {
    fn parse(body: Value) -> Result<Self, ApiError> {
        let mut b = Fields::body(body)?;
        let parsed = Self {
            strategy_path: b.required_string("strategy_path").unwrap_or_default(),
            symbol: b.string("symbol"),
            timeframe: b.parsed("timeframe", str::parse),
            start_date: b.time("start_date"),
            end_date: b.time("end_date"),
            max_attempts: b.integer("max_attempts", 1..=1000),
            checkpoint_interval: b.integer("checkpoint_interval", 1..=1_000_000),
        };
        b.finish()?;
        Ok(parsed)
    }
}

#[utoipa::path(post, path = "/api/v1/training/start", tag = "trainings",
    request_body = TrainingStart,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Submitted: PENDING until a training worker claims it", body = Success<Accepted>),
        (status = 401, description = "No or wrong token", body = ErrorEnvelope),
        (status = 422, description = "Invalid: every problem with its path (a strategy that does not validate, no market data, an empty range)", body = ErrorEnvelope),
    ))]
pub async fn start(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let request = TrainingStart::parse(body)?;
    let mut strategy = strategy_files::load(&request.strategy_path)?;
    if let Some(every) = request.checkpoint_interval {
        strategy.training.checkpoint_interval = every as usize;
    }
    let params = TrainingParams {
        strategy,
        symbol: request.symbol,
        timeframe: request.timeframe,
        start: request.start_date,
        end: request.end_date,
    };
    let value = serde_json::to_value(&params).map_err(|_| super::envelope::internal())?;
    Training::parse_params(&value).map_err(ApiError::at_path("body"))?;
    require_market_data(&state, params.bars()).await?;
    let op = NewOperation {
        max_attempts: request.max_attempts.unwrap_or(1) as i32,
        ..NewOperation::new(Training::NAME).with_params(value)
    };
    let id = operations::submit(&state.pool, &kinds::ALL, &op)
        .await
        .map_err(ApiError::at_path("body"))?;
    Ok(ok(Accepted {
        operation_id: id,
        status: ApiStatus::Pending,
    }))
}

/// Refuses, before submitting, a run whose symbol, timeframe and range hold no bars (as the CLI).
pub async fn require_market_data(state: &AppState, range: BarRange<'_>) -> Result<(), ApiError> {
    if market_data::has_bars(&state.pool, &range).await? {
        return Ok(());
    }
    let mut error = ApiError::invalid(
        "body",
        market_data::no_bars_message(range.symbol, range.timeframe),
    );
    error.set_code("NO_MARKET_DATA");
    Err(error)
}

/// The same as `POST /api/v1/training/start`, under the plural the other resources use.
#[utoipa::path(post, path = "/api/v1/trainings/start", tag = "trainings",
    request_body = TrainingStart,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Submitted: PENDING until a training worker claims it", body = Success<Accepted>),
        (status = 401, description = "No or wrong token", body = ErrorEnvelope),
        (status = 422, description = "Invalid: every problem with its path", body = ErrorEnvelope),
    ))]
pub async fn start_plural(state: State<AppState>, body: JsonBody) -> Result<Response, ApiError> {
    start(state, body).await
}
