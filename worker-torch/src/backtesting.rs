//! The `backtesting` operation: a trained model's signals traded over a range of bars.
//!
//! Loads the model of a completed `training` operation (weights and metadata, verified by SHA-256),
//! refuses one trained with another strategy, and chooses the window: the params' range, else the
//! model's test period (out of sample by default), counting the traded bars that lie in the model's
//! train or validation period (`kinds::sample`). It loads the window after up to the strategy's
//! `history_required` bars of warm-up, recomputes the features with the model's scaler, predicts
//! every bar in one batched forward pass, measures the series' bars per year
//! (`market_data::calendar`) for annualising, and runs the backtest engine (`ktrdr::backtest`)
//! over the window in chunks of 500 bars, reporting bar and equity after each. The engine's exact state is saved as a
//! checkpoint every 10,000 bars (`checkpoint_interval_bars`) or 300 s, and when the operation is
//! cancelled or its worker shuts down; an operation with a checkpoint continues from it with
//! identical trades and equity. Once the engine runs nothing can fail (pure arithmetic over
//! validated bars), so backtests take no `failure` checkpoints.

use std::io::Cursor;

use chrono::{DateTime, Utc};
use ktrdr::{checkpoints::CheckpointKind, operations::Progress};
use ktrdr_trading::{
    backtest::{BacktestConfig, BacktestState, Backtester, Prediction, Signal},
    features::{self, Scaler},
    kinds::{
        BacktestParams, BacktestResult, DateRange, ModelMetadata, Overlap, SplitDates,
        TrainingResult, WindowSource, completed_training,
    },
    market_data::{self, Bar, BarRange, Calendar, Timeframe, WithHistory},
    strategy::Strategy,
};
use serde_json::json;
use tch::{Device, Kind, Tensor, nn, no_grad};

use ktrdr_worker::jobs::{
    JobContext, JobEnd, JobResult,
    checkpointing::{CheckpointSaver, Snapshot},
};

use crate::training::model::Mlp;

const CHUNK: usize = 500;
/// Checkpoint every this many bars unless the params say otherwise…
const CHECKPOINT_EVERY_BARS: usize = 10_000;
/// …or this often.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(300);

/// The `backtesting` job: trades the model over its window, from its last checkpoint, if any.
pub async fn run(params: BacktestParams, mut ctx: JobContext) -> JobResult<BacktestResult> {
    let (training, metadata, weights) = load_model(&ctx, &params).await?;
    let window = Window::choose(&params, training.split.as_ref());
    let range = BarRange {
        start: window.start,
        end: window.end,
        ..params.bars()
    };
    let (symbol, timeframe) = (range.symbol.to_string(), range.timeframe);
    let history = params.strategy.training_data.history_required;
    let loaded = load_with_history(&ctx, &range, history).await?;
    let calendar = match Calendar::of_series(&ctx.pool, &range).await {
        Ok(calendar) => calendar.expect("the window's bars are in the series"),
        Err(err) => return Err(JobEnd::from_error("cannot measure the calendar", err)),
    };
    let reproducibility = crate::reproducibility::reproducibility(
        Device::Cpu,
        &loaded.bars,
        metadata.strategy.training.seed,
    );
    // Features and the forward pass over every bar, warm-up included: CPU work for a blocking
    // thread, not for the runtime that heartbeats this worker's operations.
    let predicted = tokio::task::spawn_blocking(move || {
        let predictions = predict_with(
            &metadata.strategy,
            &metadata.feature_names,
            &metadata.scaler,
            &weights,
            &loaded.bars,
        );
        (loaded, predictions)
    })
    .await;
    let (loaded, all_predictions) = match predicted {
        Ok((loaded, Ok(predictions))) => (loaded, predictions),
        Ok((_, Err(message))) => return Err(JobEnd::fatal(message)),
        Err(panic) => return Err(JobEnd::crashed("prediction", panic)),
    };
    let bars = loaded.window();
    let predictions = &all_predictions[loaded.warmup..];
    let sample = window.assess(training.split.as_ref(), bars);
    let mut warnings = sample.warnings.clone();
    if calendar.is_short() {
        warnings.push(format!(
            "periods per year ({:.1}) measured over {:.0} days of {symbol} {timeframe}, less \
             than a year: weekends and holidays at the edges make the annualised figures rough",
            calendar.periods_per_year,
            (calendar.last - calendar.first).as_seconds_f64() / 86_400.0
        ));
    }

    let strategy = &params.strategy;
    let config = BacktestConfig {
        periods_per_year: calendar.periods_per_year,
        ..backtest_config(strategy, timeframe, params.initial_capital)
    };
    let saver = CheckpointSaver::for_job(&ctx);
    let resume = saver
        .load::<BacktestState>()
        .await?
        .map(|saved| saved.state);
    let resumed_from_bar = resume.as_ref().map(|state| state.next_bar);
    let mut backtester = match resume {
        Some(state) => match Backtester::resume(bars, predictions, config, state) {
            Ok(backtester) => backtester,
            // The engine's error says how the state does not fit these bars.
            Err(err) => return Err(saver.unusable(&err.to_string()).await),
        },
        None => Backtester::new(bars, predictions, config)
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
        window: Some(DateRange {
            start: bars[0].ts,
            end: bars[bars.len() - 1].ts,
        }),
        window_source: Some(window.source),
        in_sample: sample.in_sample,
        overlap: sample.overlap,
        warmup_bars: loaded.warmup,
        calendar: Some(calendar),
        warnings,
        reproducibility: Some(reproducibility),
    })
}

/// The bars a backtest trades: the range its params give, else the model's test period, else
/// (a model whose training recorded no split) the whole series.
struct Window {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    source: WindowSource,
}

/// Whether a window's traded bars are in sample, and what to say about it.
struct Sample {
    in_sample: bool,
    overlap: Overlap,
    warnings: Vec<String>,
}

impl Window {
    fn choose(params: &BacktestParams, split: Option<&SplitDates>) -> Self {
        let (start, end, source) = match (params.start, params.end, split) {
            (None, None, Some(split)) => {
                let (start, end) = split.test.as_bounds();
                (start, end, WindowSource::TestPeriod)
            }
            (None, None, None) => (None, None, WindowSource::WholeSeries),
            (start, end, _) => (start, end, WindowSource::Given),
        };
        Window { start, end, source }
    }

    /// Counts the traded `bars` in the model's train and validation periods. Without a recorded
    /// split nothing can be counted, and the run is taken to be in sample: by default it trades
    /// every bar, most of which such a model was trained on.
    fn assess(&self, split: Option<&SplitDates>, bars: &[Bar]) -> Sample {
        let Some(split) = split else {
            return Sample {
                in_sample: true,
                overlap: Overlap::default(),
                warnings: vec![
                    "in sample (assumed): the model's training recorded no split dates (it \
                     predates them), so the bars it was fitted on are unknown; train it again to \
                     backtest out of sample"
                        .into(),
                ],
            };
        };
        let overlap = split.overlap(bars.iter().map(|bar| bar.ts));
        let warnings = (overlap.total() > 0)
            .then(|| {
                format!(
                    "in sample: {} of the {} bars traded lie in the model's training period and \
                     {} in its validation period (the test period is {}; omit the range to trade \
                     it)",
                    overlap.train,
                    bars.len(),
                    overlap.validation,
                    split.test
                )
            })
            .into_iter()
            .collect();
        Sample {
            in_sample: overlap.total() > 0,
            overlap,
            warnings,
        }
    }
}

/// The bars of `range` after up to `history` bars of warm-up; no bars in the range fails the
/// operation for good, a database that cannot be read retryably.
async fn load_with_history(
    ctx: &JobContext,
    range: &BarRange<'_>,
    history: usize,
) -> JobResult<WithHistory> {
    match market_data::load_with_history(&ctx.pool, range, history).await {
        Ok(loaded) if loaded.window().is_empty() => Err(JobEnd::fatal(
            market_data::no_bars_message(range.symbol, range.timeframe),
        )),
        Ok(loaded) => Ok(loaded),
        Err(err) => Err(JobEnd::from_error("cannot load market data", err)),
    }
}

/// Every `every_bars` bars or 300 s since the last checkpoint (given as (bar, when)).
fn checkpoint_due(last: (usize, std::time::Instant), bar: usize, every_bars: usize) -> bool {
    bar >= last.0 + every_bars || last.1.elapsed() >= CHECKPOINT_EVERY
}

/// The training, and its model's metadata and weights, after checking it is a completed training
/// of this strategy.
async fn load_model(
    ctx: &JobContext,
    params: &BacktestParams,
) -> JobResult<(TrainingResult, ModelMetadata, Vec<u8>)> {
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
    Ok((training, metadata, weights))
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
