//! The chaos run's trainings: `--trainings` identical trainings of the strategy on six months of
//! synthetic bars, submitted when the run starts, and the reference they must match — the same
//! training run once here, uninterrupted, on the same bars read back from the database.
//!
//! Under chaos each training is killed, frozen and shut down on its workers and continues from its
//! last checkpoint (every [`CHECKPOINT_EVERY_EPOCHS`]); determinism (DESIGN.md, principle 5) says it
//! must end with the reference's weights, compared by `parameters_sha256`.

use ktrdr::operations::{self, NewOperation};
use ktrdr_trading::{
    kinds::TrainingParams,
    market_data::{self, SynthSpec},
    strategy::Strategy,
};
use ktrdr_worker_torch::training::trainer::{self, CheckpointPolicy, TrainEnd};
use sqlx::PgPool;

const CHECKPOINT_EVERY_EPOCHS: usize = 10;

/// Attempts of a training: far more than the faults that can hit it while it runs (each kill or
/// freeze of its worker costs one), so that it runs to its end and its weights can be compared.
/// Dummies keep `--max-attempts`, which the run may exhaust.
const MAX_ATTEMPTS: i32 = 1000;

/// The params of every chaos training: `strategy` for `epochs` epochs, early stopping off.
pub fn params(strategy: &Strategy, epochs: usize) -> TrainingParams {
    let mut strategy = strategy.clone();
    strategy.training.epochs = epochs;
    strategy.training.early_stopping.patience = epochs;
    strategy.training.checkpoint_interval = CHECKPOINT_EVERY_EPOCHS;
    TrainingParams::new(strategy)
}

/// Stores six months of synthetic bars of the strategy's series (fixed seed).
pub async fn store_bars(pool: &PgPool, strategy: &Strategy) -> anyhow::Result<()> {
    let series = &strategy.training_data;
    let spec = SynthSpec {
        symbol: series.symbol.clone(),
        timeframe: series.timeframe,
        start: "2022-01-01T00:00:00Z".parse()?,
        end: "2022-07-01T00:00:00Z".parse()?,
        seed: 5,
    };
    let bars = market_data::synthesize(&spec)?;
    let source = market_data::Source::Synth { seed: spec.seed };
    market_data::store(pool, &series.symbol, series.timeframe, &source, &bars).await?;
    Ok(())
}

/// Submits `count` trainings with `params`; returns their ids.
pub async fn submit(
    pool: &PgPool,
    params: &TrainingParams,
    count: i32,
) -> anyhow::Result<Vec<String>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let op = NewOperation {
        max_attempts: MAX_ATTEMPTS,
        ..NewOperation::new("training").with_params(serde_json::to_value(params)?)
    };
    Ok(operations::submit_many(pool, &ktrdr_trading::kinds::ALL, &op, count).await?)
}

/// The `parameters_sha256` of an uninterrupted run of `params` on the bars the workers read, with
/// one libtorch thread as the workers have.
pub async fn reference(pool: &PgPool, params: &TrainingParams) -> anyhow::Result<String> {
    let bars = market_data::load(pool, &params.bars()).await?;
    let strategy = params.strategy.clone();
    tokio::task::spawn_blocking(move || {
        tch::set_num_threads(1);
        let prepared = trainer::prepare(&strategy, &bars).map_err(anyhow::Error::msg)?;
        let end = trainer::train(
            &strategy,
            &prepared,
            tch::Device::cuda_if_available(),
            &CheckpointPolicy::NONE,
            &mut |_| {},
            &mut |_| {},
            &|| false,
        )
        .map_err(anyhow::Error::msg)?;
        match end {
            TrainEnd::Finished(run) => Ok(run.parameters_sha256),
            TrainEnd::Stopped(_) => anyhow::bail!("the reference training stopped"),
            TrainEnd::Failed { message, .. } => {
                anyhow::bail!("the reference training failed: {message}")
            }
        }
    })
    .await?
}
