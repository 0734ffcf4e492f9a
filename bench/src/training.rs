//! `ktrdr-bench training`: training and backtesting speed, without a database (and with
//! `--database`, checkpoint saves and resume latency: see `with_database`).
//!
//! Synthesizes 1h EURUSD bars (fixed seed), prepares them exactly as a `training` operation does,
//! trains the strategy's MLP for a few epochs with batch 32 and no early stopping, and reports the
//! median seconds per epoch. It then backtests the trained model over the same bars the way a
//! `backtesting` operation does (features, one forward pass, the engine) and reports the median
//! times and bars per second.
//!
//! With `--export DIR` it writes the scaled training and validation rows it trained on, with a
//! `meta.json` describing them and the model, so `bench/train_baseline.py` can train the same
//! network on the same data with a plain PyTorch loop (`scripts/bench.sh` runs both).

use std::{
    fs,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::{Context, bail};
use clap::Args;
use ktrdr_trading::{
    backtest, features,
    market_data::{Bar, SynthSpec, synthesize},
    strategy::Strategy,
};
use serde::Serialize;
use serde_json::json;
use tch::{Device, Tensor};

use crate::stats::median;

mod with_database;

use ktrdr_worker_torch::{
    backtesting,
    training::{
        checkpoint::TrainingCheckpoint,
        trainer::{self, Prepared},
    },
};

/// Backtests timed; the median is reported.
const BACKTEST_RUNS: usize = 5;

#[derive(Debug, Args)]
pub struct TrainingArgs {
    /// Strategy file (its features, model, split, labels and backtest settings are used).
    #[arg(long, default_value = "strategies/rsi_macd_trend.yaml")]
    strategy: PathBuf,
    /// Synthetic 1h bars to train and backtest on.
    #[arg(long, default_value_t = 35_000, value_parser = clap::value_parser!(u32).range(1_000..=200_000))]
    bars: u32,
    /// Epochs timed (early stopping is off).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    epochs: u32,
    /// libtorch intra-op threads.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=256))]
    threads: i32,
    /// Directory to write the scaled training data and model description to (for the PyTorch
    /// baseline, bench/train_baseline.py).
    #[arg(long)]
    export: Option<PathBuf>,
    /// Also time checkpoint saves (database and directory store) and a real worker's resume
    /// latency, in a scratch database on the server DATABASE_URL (or the embedded cluster) points at.
    #[arg(long)]
    database: bool,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    strategy: String,
    bars: usize,
    threads: i32,
    features: usize,
    train_rows: i64,
    validation_rows: i64,
    batch_size: usize,
    epoch_seconds: Vec<f64>,
    median_epoch_seconds: f64,
    /// Validation loss after each epoch, to see that both loops learn alike.
    val_loss: Vec<f64>,
    checkpoint: CheckpointCost,
    backtest: BacktestTimes,
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<with_database::DatabaseFigures>,
}

/// What a training checkpoint costs in the worker (capturing the tensors and serializing the state;
/// the artifact and row writes to the store come on top: `--database`).
#[derive(Debug, Serialize)]
struct CheckpointCost {
    capture_seconds: f64,
    tensor_bytes: usize,
    /// Copying weights and Adam's state at every epoch boundary (for failure checkpoints).
    boundary_copy_seconds: f64,
    /// At the strategy's checkpoint interval: (capture time / interval + boundary copy) / epoch
    /// time.
    overhead_share_at_interval: f64,
    /// The same with the median save to the database store added (`--database`).
    #[serde(skip_serializing_if = "Option::is_none")]
    overhead_share_with_save: Option<f64>,
    interval_epochs: usize,
}

#[derive(Debug, Serialize)]
struct BacktestTimes {
    runs: usize,
    /// Features, scaling, model load and the batched forward pass (the worker's `predict_with`).
    predict_seconds: f64,
    /// Of which the features alone (`ktrdr_trading::features::build_features`, timed separately).
    features_seconds: f64,
    /// `ktrdr_trading::backtest::backtest` over the predictions.
    engine_seconds: f64,
    /// Median of predict + engine per run.
    total_seconds: f64,
    bars_per_second: f64,
    trades: usize,
}

/// The seed of the benchmark's synthetic bars.
pub(crate) const BARS_SEED: u64 = 7;

pub async fn run(args: TrainingArgs) -> anyhow::Result<()> {
    let mut strategy = ktrdr_trading::strategy::load(&args.strategy)?;
    // The comparison is at batch 32; patience = epochs turns early stopping off, so every
    // requested epoch runs.
    let epochs = args.epochs as usize;
    strategy.training.batch_size = 32;
    strategy.training.epochs = epochs;
    strategy.training.early_stopping.patience = epochs;
    tch::set_num_threads(args.threads);

    let bars = bench_bars(args.bars as usize)?;
    let prepared = trainer::prepare(&strategy, &bars).map_err(anyhow::Error::msg)?;
    if let Some(dir) = &args.export {
        export(dir, &strategy, &prepared)?;
    }

    let (mut epoch_seconds, mut val_loss) = (Vec::new(), Vec::new());
    let mut last = Instant::now();
    // No checkpoints: the figure is the training loop itself.
    let policy = trainer::CheckpointPolicy::NONE;
    let end = trainer::train(
        &strategy,
        &prepared,
        Device::Cpu,
        &policy,
        &mut |record| {
            epoch_seconds.push(last.elapsed().as_secs_f64());
            val_loss.push(record.val_loss);
            last = Instant::now();
        },
        &mut |_| {},
        &|| false,
    )
    .map_err(anyhow::Error::msg)?;
    let trainer::TrainEnd::Finished(run) = end else {
        anyhow::bail!("training stopped");
    };

    let timeframe = strategy.training_data.timeframe;
    let (mut runs, mut features_seconds) = (Vec::new(), Vec::new());
    let mut trades = 0;
    for _ in 0..BACKTEST_RUNS {
        let started = Instant::now();
        features::build_features(&strategy, &bars)?;
        features_seconds.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let predictions = backtesting::predict_with(
            &strategy,
            &prepared.feature_names,
            &prepared.scaler,
            &run.weights,
            &bars,
        )
        .map_err(anyhow::Error::msg)?;
        let predicted = Instant::now();
        let config = backtesting::backtest_config(&strategy, timeframe, None);
        let result = backtest::backtest(&bars, &predictions, config)?;
        let done = Instant::now();
        trades = result.trades;
        runs.push((
            (predicted - started).as_secs_f64(),
            (done - predicted).as_secs_f64(),
        ));
    }
    let total_seconds = median(runs.iter().map(|(p, e)| p + e).collect());
    let median_epoch_seconds = median(epoch_seconds.clone());
    let (mut checkpoint, example) = checkpoint_cost(&strategy, &prepared, median_epoch_seconds);
    let database = if args.database {
        let figures = with_database::measure(&strategy, &bars, &example, args.threads).await?;
        checkpoint.overhead_share_with_save = Some(
            checkpoint.overhead_share_at_interval
                + figures.save_database_store_seconds
                    / (checkpoint.interval_epochs as f64 * median_epoch_seconds),
        );
        Some(figures)
    } else {
        None
    };
    let report = Report {
        strategy: strategy.name.clone(),
        bars: bars.len(),
        threads: args.threads,
        features: prepared.feature_names.len(),
        train_rows: prepared.train.0.size()[0],
        validation_rows: prepared.validation.0.size()[0],
        batch_size: strategy.training.batch_size,
        median_epoch_seconds,
        epoch_seconds,
        val_loss,
        checkpoint,
        backtest: BacktestTimes {
            runs: BACKTEST_RUNS,
            predict_seconds: median(runs.iter().map(|r| r.0).collect()),
            features_seconds: median(features_seconds),
            engine_seconds: median(runs.iter().map(|r| r.1).collect()),
            total_seconds,
            bars_per_second: bars.len() as f64 / total_seconds,
            trades,
        },
        database,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &strategy);
    }
    Ok(())
}

/// The first `count` bars of a fixed synthetic EURUSD 1h series. FX skips weekends (~6,240 bars a
/// year), so the range is sized from that with room to spare.
fn bench_bars(count: usize) -> anyhow::Result<Vec<Bar>> {
    let years = count.div_ceil(6_000) as i32 + 1;
    let spec = SynthSpec {
        symbol: "EURUSD".into(),
        timeframe: ktrdr_trading::market_data::Timeframe::H1,
        start: "2015-01-01T00:00:00Z".parse()?,
        end: format!("{}-01-01T00:00:00Z", 2015 + years).parse()?,
        seed: BARS_SEED,
    };
    let mut bars = synthesize(&spec)?;
    if bars.len() < count {
        bail!("only {} synthetic bars, {count} wanted", bars.len());
    }
    bars.truncate(count);
    Ok(bars)
}

/// Writes `train_x.f32`, `train_y.i64`, `validation_x.f32`, `validation_y.i64` (little-endian,
/// x row-major `[rows, features]`) and `meta.json` (shapes and everything else the baseline
/// needs to build and train the same model).
fn export(dir: &Path, strategy: &Strategy, prepared: &Prepared) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let write = |name: &str, tensor: &Tensor| -> anyhow::Result<()> {
        let flat = tensor.flatten(0, -1);
        let bytes: Vec<u8> = match tensor.kind() {
            tch::Kind::Float => Vec::<f32>::try_from(&flat)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
            _ => Vec::<i64>::try_from(&flat)?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        };
        let path = dir.join(name);
        fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))
    };
    write("train_x.f32", &prepared.train.0)?;
    write("train_y.i64", &prepared.train.1)?;
    write("validation_x.f32", &prepared.validation.0)?;
    write("validation_y.i64", &prepared.validation.1)?;
    let class_weights = Vec::<f32>::try_from(&trainer::class_weights(&prepared.class_balance))?;
    let meta = json!({
        "strategy": strategy.name,
        "features": prepared.feature_names.len(),
        "train_rows": prepared.train.0.size()[0],
        "validation_rows": prepared.validation.0.size()[0],
        "hidden_layers": strategy.model.hidden_layers,
        "activation": strategy.model.activation,
        "dropout": strategy.model.dropout,
        "learning_rate": strategy.training.learning_rate,
        "batch_size": strategy.training.batch_size,
        "epochs": strategy.training.epochs,
        "class_weights": class_weights,
        "clip_grad_norm": 1.0,
    });
    let path = dir.join("meta.json");
    fs::write(&path, serde_json::to_vec_pretty(&meta)?)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Times checkpoint capture on a model of the strategy's shape (median of 20); also returns one
/// such checkpoint.
fn checkpoint_cost(
    strategy: &Strategy,
    prepared: &trainer::Prepared,
    epoch_seconds: f64,
) -> (CheckpointCost, TrainingCheckpoint) {
    use std::collections::BTreeMap;

    use ktrdr_worker_torch::training::{adam::Adam, checkpoint::TrainState, model::Mlp};
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let _model = Mlp::new(
        &vs.root(),
        prepared.feature_names.len() as i64,
        &strategy.model,
    );
    let parameters: BTreeMap<String, tch::Tensor> = vs.variables().into_iter().collect();
    let adam = Adam::new(strategy.training.learning_rate, &parameters);
    let state = TrainState {
        next_epoch: 10,
        history: Vec::new(),
        best_loss: Some(1.0),
        best_epoch: 9,
        since_best: 0,
        adam_step: 7650,
    };
    let mut times = Vec::new();
    let capture = || TrainingCheckpoint::capture(state.clone(), &parameters, &parameters, &adam);
    for _ in 0..20 {
        let started = Instant::now();
        let checkpoint = capture();
        let _json = serde_json::to_vec(&checkpoint.state).expect("serializable");
        times.push(started.elapsed().as_secs_f64());
    }
    let checkpoint = capture();
    let capture_seconds = median(times);
    let boundary_copy_seconds = median(
        (0..20)
            .map(|_| {
                let started = Instant::now();
                let _boundary = trainer::EpochBoundary::take(&parameters, &adam);
                started.elapsed().as_secs_f64()
            })
            .collect(),
    );
    let interval = strategy.training.checkpoint_interval;
    let cost = CheckpointCost {
        capture_seconds,
        tensor_bytes: checkpoint.tensors.len(),
        boundary_copy_seconds,
        overhead_share_at_interval: (capture_seconds / interval as f64 + boundary_copy_seconds)
            / epoch_seconds,
        overhead_share_with_save: None,
        interval_epochs: interval,
    };
    (cost, checkpoint)
}

fn print_report(report: &Report, strategy: &Strategy) {
    println!(
        "Training benchmark: {} on {} synthetic 1h bars, {} thread(s)",
        report.strategy, report.bars, report.threads
    );
    println!(
        "  data                   {} train / {} validation rows, {} features",
        report.train_rows, report.validation_rows, report.features
    );
    println!(
        "  model                  MLP {:?} {:?}, dropout {}, batch {}",
        strategy.model.hidden_layers,
        strategy.model.activation,
        strategy.model.dropout,
        report.batch_size
    );
    println!(
        "  epoch                  {:>10.3} s   (median of {})",
        report.median_epoch_seconds,
        report.epoch_seconds.len()
    );
    let cp = &report.checkpoint;
    println!(
        "  checkpoint capture     {:>10.3} ms   ({} bytes of tensors), {:.3} ms epoch-boundary copy: {:.4} % of training at every {} epochs",
        cp.capture_seconds * 1e3,
        cp.tensor_bytes,
        cp.boundary_copy_seconds * 1e3,
        cp.overhead_share_at_interval * 100.0,
        cp.interval_epochs
    );
    if let Some(db) = &report.database {
        println!(
            "  checkpoint save        {:>10.3} ms   database store / {:.3} ms directory store ({}), median of {}",
            db.save_database_store_seconds * 1e3,
            db.save_directory_store_seconds * 1e3,
            db.directory,
            db.saves
        );
        println!(
            "  checkpoint overhead    {:>10.4} %    of training at every {} epochs, saves included",
            cp.overhead_share_with_save.unwrap_or(f64::NAN) * 100.0,
            cp.interval_epochs
        );
        println!(
            "  resume latency         {:>10.3} s    to the first new epoch ({:.3} s to the claim), median of {}",
            db.resume_to_first_epoch_seconds,
            db.resume_to_claim_seconds,
            db.resume_samples.len()
        );
    }
    let bt = &report.backtest;
    println!(
        "Backtest benchmark: {} bars, median of {} runs, {} trades",
        report.bars, bt.runs, bt.trades
    );
    println!(
        "  features + forward     {:>10.2} ms   (features alone {:.2} ms)",
        bt.predict_seconds * 1e3,
        bt.features_seconds * 1e3
    );
    println!(
        "  engine                 {:>10.2} ms",
        bt.engine_seconds * 1e3
    );
    println!(
        "  total                  {:>10.2} ms   ({:.0} bars/s)",
        bt.total_seconds * 1e3,
        bt.bars_per_second
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_has_the_documented_sizes() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../strategies/rsi_macd_trend.yaml"
        );
        let strategy = ktrdr_trading::strategy::parse_file(Path::new(path)).expect("valid example");
        let bars = bench_bars(2_000).unwrap();
        assert_eq!(bars.len(), 2_000);
        let prepared = trainer::prepare(&strategy, &bars).unwrap();
        let dir = std::env::temp_dir().join(format!("ktrdr-bench-export-{}", std::process::id()));
        export(&dir, &strategy, &prepared).unwrap();

        let meta: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("meta.json")).unwrap()).unwrap();
        let size = |name: &str| fs::metadata(dir.join(name)).unwrap().len();
        let features = meta["features"].as_u64().unwrap();
        for part in ["train", "validation"] {
            let rows = meta[format!("{part}_rows")].as_u64().unwrap();
            assert!(rows > 0);
            assert_eq!(size(&format!("{part}_x.f32")), rows * features * 4);
            assert_eq!(size(&format!("{part}_y.i64")), rows * 8);
        }
        assert_eq!(meta["class_weights"].as_array().unwrap().len(), 3);
        fs::remove_dir_all(&dir).unwrap();
    }
}
