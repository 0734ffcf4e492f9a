//! The `backtesting` operation: a trained model's signals traded over a range of bars.
//!
//! Loads the model of a completed `training` operation (weights and metadata, verified by SHA-256),
//! refuses one trained with another strategy, recomputes the features with the model's scaler,
//! predicts every bar in one batched forward pass, and runs the backtest engine (`ktrdr::backtest`)
//! in chunks of 500 bars, reporting bar and equity after each. The engine's exact state is saved as a
//! checkpoint every 10,000 bars (`checkpoint_interval_bars`) or 300 s, and when the operation is
//! cancelled or its worker shuts down; an operation with a checkpoint continues from it with
//! identical trades and equity. Once the engine runs nothing can fail (pure arithmetic over
//! validated bars), so backtests take no `failure` checkpoints.

use std::io::Cursor;

use ktrdr::{checkpoints::CheckpointKind, operations::Progress};
use ktrdr_trading::{
    backtest::{BacktestConfig, BacktestState, Backtester, Prediction, Signal},
    features::{self, Scaler},
    kinds::{BacktestParams, BacktestResult, Backtesting, ModelMetadata, completed_training},
    market_data::{Bar, Timeframe},
    strategy::Strategy,
};
use serde_json::json;
use tch::{Device, Kind, Tensor, nn, no_grad};

use super::{
    Job, JobContext, JobEnd, JobResult,
    checkpointing::{CheckpointSaver, Snapshot},
    training::model::Mlp,
};

const CHUNK: usize = 500;
/// Checkpoint every this many bars unless the params say otherwise…
const CHECKPOINT_EVERY_BARS: usize = 10_000;
/// …or this often.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

impl Job for Backtesting {
    async fn run(params: BacktestParams, mut ctx: JobContext) -> JobResult<BacktestResult> {
        let (metadata, weights) = load_model(&ctx, &params).await?;
        let wanted = params.bars();
        let (symbol, timeframe) = (wanted.symbol.to_string(), wanted.timeframe);
        let bars = super::load_bars(&ctx, &wanted).await?;
        // Features and the forward pass over every bar: CPU work for a blocking thread, not for the
        // runtime that heartbeats this worker's operations.
        let predicted = tokio::task::spawn_blocking(move || {
            let predictions = predict_with(
                &metadata.strategy,
                &metadata.feature_names,
                &metadata.scaler,
                &weights,
                &bars,
            );
            (bars, predictions)
        })
        .await;
        let (bars, predictions) = match predicted {
            Ok((bars, Ok(predictions))) => (bars, predictions),
            Ok((_, Err(message))) => return Err(JobEnd::fatal(message)),
            Err(panic) => return Err(JobEnd::crashed("prediction", panic)),
        };

        let strategy = &params.strategy;
        let config = backtest_config(strategy, timeframe, params.initial_capital);
        let saver = CheckpointSaver::for_job(&ctx);
        let resume = saver
            .load::<BacktestState>()
            .await?
            .map(|saved| saved.state);
        let resumed_from_bar = resume.as_ref().map(|state| state.next_bar);
        let mut backtester = match resume {
            Some(state) => match Backtester::resume(&bars, &predictions, config, state) {
                Ok(backtester) => backtester,
                // The engine's error says how the state does not fit these bars.
                Err(err) => return Err(saver.unusable(&err.to_string()).await),
            },
            None => Backtester::new(&bars, &predictions, config)
                .map_err(|err| JobEnd::fatal(err.to_string()))?,
        };
        // No artifact: indicators and predictions are recomputed on resume; the engine state is JSON.
        let snapshot = |state: &BacktestState| Snapshot {
            unit: "bar",
            unit_value: state.next_bar,
            state: serde_json::to_value(state).expect("serializable state"),
            artifact: None,
        };
        let every_bars = params
            .checkpoint_interval_bars
            .unwrap_or(CHECKPOINT_EVERY_BARS);
        let mut last_checkpoint = (backtester.next_bar(), std::time::Instant::now());
        while !backtester.is_finished() {
            let next = backtester.next_bar() + CHUNK;
            backtester.run_until(next);
            let state = backtester.state();
            let done = state.next_bar.min(bars.len());
            ctx.report(Progress {
                percent: (done * 100 / bars.len()) as f32,
                message: Some(format!(
                    "bar {done}/{}: equity {:.2}",
                    bars.len(),
                    state.equity
                )),
                details: Some(json!({ "bar": done, "bars": bars.len(), "equity": state.equity })),
            });
            if checkpoint_due(last_checkpoint, done, every_bars) && !backtester.is_finished() {
                saver.save(CheckpointKind::Periodic, snapshot(state)).await;
                last_checkpoint = (done, std::time::Instant::now());
            }
            tokio::select! {
                biased;
                request = ctx.stop_requested() => {
                    return Err(saver.stop(request, snapshot(backtester.state())).await);
                }
                _ = tokio::task::yield_now() => {}
            }
        }
        Ok(BacktestResult {
            strategy: strategy.name.clone(),
            model: params.model,
            symbol,
            timeframe,
            metrics: backtester.finish(),
            resumed_from_bar,
            checkpoints_saved: saver.saved(),
            checkpoint_save_failures: saver.failed(),
        })
    }
}

/// Every `every_bars` bars or 300 s since the last checkpoint (given as (bar, when)).
fn checkpoint_due(last: (usize, std::time::Instant), bar: usize, every_bars: usize) -> bool {
    bar >= last.0 + every_bars || last.1.elapsed() >= CHECKPOINT_EVERY
}

/// The model's metadata and weights, after checking it belongs to a completed training of this
/// strategy.
async fn load_model(
    ctx: &JobContext,
    params: &BacktestParams,
) -> JobResult<(ModelMetadata, Vec<u8>)> {
    let model_error = |err: ktrdr::Error| JobEnd::from_error("--model", err);
    let (_, training) = completed_training(&ctx.pool, &params.model)
        .await
        .map_err(model_error)?;
    let store = &ctx.stores.artifacts;
    let metadata = store
        .get(&training.model.metadata)
        .await
        .map_err(model_error)?;
    let weights = store
        .get(&training.model.weights)
        .await
        .map_err(model_error)?;
    let metadata: ModelMetadata = serde_json::from_slice(&metadata).map_err(|err| {
        JobEnd::fatal(format!(
            "model metadata of {} is unreadable: {err}",
            params.model
        ))
    })?;
    if metadata.strategy.name != params.strategy.name
        || metadata.strategy.indicators != params.strategy.indicators
        || metadata.strategy.fuzzy_sets != params.strategy.fuzzy_sets
        || metadata.strategy.nn_inputs != params.strategy.nn_inputs
    {
        return Err(JobEnd::fatal(format!(
            "model {} was trained with strategy '{}', whose features differ from strategy '{}': \
             train this strategy first (`ktrdr train`)",
            params.model, metadata.strategy.name, params.strategy.name
        )));
    }
    Ok((metadata, weights))
}

/// The strategy's backtest settings and decision filters for bars of `timeframe`; a given
/// `initial_capital` overrides the strategy's.
pub fn backtest_config(
    strategy: &Strategy,
    timeframe: Timeframe,
    initial_capital: Option<f64>,
) -> BacktestConfig {
    BacktestConfig {
        initial_capital: initial_capital.unwrap_or(strategy.backtest.initial_capital),
        commission: strategy.backtest.commission,
        slippage: strategy.backtest.slippage,
        confidence_threshold: strategy.decisions.confidence_threshold,
        min_separation_bars: strategy.decisions.min_separation_bars,
        ..BacktestConfig::for_timeframe(timeframe)
    }
}

/// One prediction per bar: the most probable class and its probability; bars without features
/// (indicator warm-up) hold. Takes the pieces of the model's metadata, so the benchmark (`bench`)
/// can predict with a model it has just trained.
pub fn predict_with(
    strategy: &Strategy,
    feature_names: &[String],
    scaler: &Scaler,
    weights: &[u8],
    bars: &[Bar],
) -> Result<Vec<Prediction>, String> {
    let matrix = features::build_features(strategy, bars).map_err(|err| err.to_string())?;
    if matrix.names != feature_names {
        return Err("the model's features do not match what its strategy computes".into());
    }
    let (rows, cols) = (matrix.rows(), matrix.cols());
    let features::FeatureMatrix {
        mut data,
        bar_index,
        ..
    } = matrix;
    scaler.transform(&mut data);
    let mut vs = nn::VarStore::new(Device::Cpu);
    let model = Mlp::new(&vs.root(), cols as i64, &strategy.model);
    vs.load_from_stream(Cursor::new(weights))
        .map_err(|err| format!("the model weights are unreadable: {err}"))?;

    let mut predictions = vec![
        Prediction {
            signal: Signal::Hold,
            confidence: 0.0
        };
        bars.len()
    ];
    if rows == 0 {
        return Ok(predictions);
    }
    let input = Tensor::from_slice(&data).view([rows as i64, cols as i64]);
    let probabilities = no_grad(|| model.forward(&input, None).softmax(-1, Kind::Float));
    let (confidence, class) = probabilities.max_dim(-1, false);
    let confidence = Vec::<f32>::try_from(&confidence).map_err(|err| err.to_string())?;
    let class = Vec::<i64>::try_from(&class).map_err(|err| err.to_string())?;
    for (row, &bar) in bar_index.iter().enumerate() {
        predictions[bar] = Prediction {
            signal: Signal::from_class(class[row] as usize).unwrap_or(Signal::Hold),
            confidence: f64::from(confidence[row]),
        };
    }
    Ok(predictions)
}
