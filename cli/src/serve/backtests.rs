//! `POST /api/v1/backtests/start`: `ktrdr backtest` over HTTP — a completed training's model traded
//! on the strategy's data, with capital and costs optionally overridden.

use axum::{extract::State, response::Response};
use chrono::{DateTime, Utc};
use ktrdr::{
    job_kinds::JobKind,
    operations::{self, NewOperation},
};
use ktrdr_trading::{
    kinds::{self, BacktestParams, Backtesting, completed_training},
    market_data::Timeframe,
};
use serde_json::Value;
use utoipa::ToSchema;

use super::{
    AppState,
    envelope::{ApiError, ErrorEnvelope, JsonBody, Success, ok},
    strategy_files,
    trainings::require_market_data,
    validate::Fields,
    views::{Accepted, ApiStatus},
};

#[derive(Debug, ToSchema)]
pub struct BacktestStart {
    /// A strategy file under the server's strategies directory (decisions and costs come from it).
    strategy_path: String,
    /// The completed training whose model to trade.
    model_operation_id: String,
    symbol: Option<String>,
    #[schema(value_type = Option<String>)]
    timeframe: Option<Timeframe>,
    /// First day (YYYY-MM-DD, or an RFC 3339 time).
    #[schema(value_type = Option<String>)]
    start_date: Option<DateTime<Utc>>,
    /// Day after the last.
    #[schema(value_type = Option<String>)]
    end_date: Option<DateTime<Utc>>,
    /// Starting capital (default: the strategy's).
    #[schema(minimum = 0.0, maximum = 1e15)]
    initial_capital: Option<f64>,
    /// Commission, a fraction of the traded value (default: the strategy's).
    #[schema(minimum = 0.0, maximum = 1.0)]
    commission: Option<f64>,
    /// Slippage, a fraction of the price (default: the strategy's).
    #[schema(minimum = 0.0, maximum = 1.0)]
    slippage: Option<f64>,
    /// Checkpoint every this many bars (default 10,000).
    #[schema(minimum = 1, maximum = 100000000)]
    checkpoint_interval_bars: Option<i64>,
}

impl BacktestStart {
    fn parse(body: Value) -> Result<Self, ApiError> {
        let mut b = Fields::body(body)?;
        let parsed = Self {
            strategy_path: b.required_string("strategy_path").unwrap_or_default(),
            model_operation_id: b.id("model_operation_id", true).unwrap_or_default(),
            symbol: b.string("symbol"),
            timeframe: b.parsed("timeframe", str::parse),
            start_date: b.time("start_date"),
            end_date: b.time("end_date"),
            initial_capital: b.number("initial_capital", 0.0..=1e15),
            commission: b.number("commission", 0.0..=1.0),
            slippage: b.number("slippage", 0.0..=1.0),
            checkpoint_interval_bars: b.integer("checkpoint_interval_bars", 1..=100_000_000),
        };
        b.finish()?;
        Ok(parsed)
    }
}

#[utoipa::path(post, path = "/api/v1/backtests/start", tag = "backtests",
    request_body = BacktestStart,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Submitted: PENDING until a backtesting worker claims it", body = Success<Accepted>),
        (status = 401, description = "No or wrong token", body = ErrorEnvelope),
        (status = 422, description = "Invalid: every problem with its path (a model that is not a completed training, no market data …)", body = ErrorEnvelope),
    ))]
pub async fn start(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let request = BacktestStart::parse(body)?;
    let mut strategy = strategy_files::load(&request.strategy_path)?;
    if let Some(commission) = request.commission {
        strategy.backtest.commission = commission;
    }
    if let Some(slippage) = request.slippage {
        strategy.backtest.slippage = slippage;
    }
    let params = BacktestParams {
        strategy,
        model: request.model_operation_id,
        symbol: request.symbol,
        timeframe: request.timeframe,
        start: request.start_date,
        end: request.end_date,
        initial_capital: request.initial_capital,
        checkpoint_interval_bars: request.checkpoint_interval_bars.map(|n| n as usize),
    };
    let value = serde_json::to_value(&params).map_err(|_| super::envelope::internal())?;
    Backtesting::parse_params(&value).map_err(ApiError::at_path("body"))?;
    completed_training(&state.pool, &params.model)
        .await
        .map_err(ApiError::at_path("body.model_operation_id"))?;
    require_market_data(&state, params.bars()).await?;
    let op = NewOperation::new(Backtesting::NAME).with_params(value);
    let id = operations::submit(&state.pool, &kinds::ALL, &op)
        .await
        .map_err(ApiError::at_path("body"))?;
    Ok(ok(Accepted {
        operation_id: id,
        status: ApiStatus::Pending,
    }))
}
