//! The `training` operation: a strategy's MLP trained with tch on its market data.
//!
//! Loads the bars, builds features and labels (`ktrdr::features`), trains on a blocking thread (see
//! `trainer`), reports progress after every epoch, stores the best model — weights and a metadata
//! document with the scaler, feature names and the strategy — in the artifact store, and returns the
//! per-epoch history, test accuracy, confusion matrix and class balance.

mod adam;
pub mod model;
pub(crate) mod trainer;

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use ktrdr::{artifacts::ArtifactStore, market_data, operations::Progress, params::TrainingParams};
use serde_json::{Value, json};
use tch::Device;

use super::{JobContext, JobOutcome};

pub async fn run(params: &Value, mut ctx: JobContext) -> JobOutcome {
    let failed = |message: String| JobOutcome::Failed {
        message,
        retryable: false,
    };
    let params = match TrainingParams::parse(params) {
        Ok(params) => params,
        Err(err) => return failed(err.to_string()),
    };
    let (symbol, timeframe) = (params.symbol().to_string(), params.timeframe());
    let bars =
        match market_data::load(&ctx.pool, &symbol, timeframe, params.start, params.end).await {
            Ok(bars) => bars,
            Err(err) => {
                return JobOutcome::Failed {
                    message: format!("cannot load market data: {err}"),
                    retryable: true,
                };
            }
        };
    if bars.is_empty() {
        return failed(format!(
            "no market data for {symbol} {timeframe} in the requested range: load it with \
             `ktrdr data synth --symbol {symbol} --timeframe {timeframe}` or `ktrdr data import`"
        ));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let progress = ctx.progress_sender();
    let device = Device::cuda_if_available();
    let strategy = params.strategy.clone();
    let mut work = tokio::task::spawn_blocking({
        let stop = stop.clone();
        move || {
            let prepared = trainer::prepare(&strategy, &bars)?;
            let epochs = strategy.training.epochs;
            let run = trainer::train(
                &strategy,
                &prepared,
                device,
                &mut |record| {
                    progress.send_replace(Progress {
                        percent: ((record.epoch + 1) * 100 / epochs) as f32,
                        message: Some(format!(
                            "epoch {}/{epochs}: loss {:.4}, val loss {:.4}, val accuracy {:.3}",
                            record.epoch + 1,
                            record.train_loss,
                            record.val_loss,
                            record.val_accuracy
                        )),
                        details: Some(json!(record)),
                    });
                },
                &|| stop.load(Ordering::Relaxed),
            );
            Ok::<_, String>((prepared, run))
        }
    });
    let outcome = tokio::select! {
        outcome = &mut work => outcome,
        request = ctx.stop_requested() => {
            stop.store(true, Ordering::Relaxed);
            let _ = work.await;
            return JobOutcome::Stopped(request);
        }
    };
    let (prepared, run) = match outcome {
        Ok(Ok((prepared, Some(run)))) => (prepared, run),
        Ok(Ok((_, None))) => return JobOutcome::Stopped(super::StopRequest::Cancel),
        Ok(Err(message)) => return failed(message),
        Err(panic) => {
            return JobOutcome::Failed {
                message: format!("training crashed: {panic}"),
                retryable: true,
            };
        }
    };

    let store = ArtifactStore::from_env(&ctx.pool);
    let metadata = json!({
        "strategy": params.strategy,
        "symbol": symbol,
        "timeframe": timeframe,
        "feature_names": prepared.feature_names,
        "scaler": prepared.scaler,
        "classes": ["BUY", "HOLD", "SELL"],
    });
    let key = |name: &str| format!("models/{}/{name}", ctx.operation_id);
    let stored = async {
        let weights = store.put(&key("weights.ot"), &run.weights).await?;
        let metadata = store
            .put(
                &key("model.json"),
                &serde_json::to_vec(&metadata).expect("JSON"),
            )
            .await?;
        Ok::<_, ktrdr::Error>((weights, metadata))
    };
    let (weights, metadata) = match stored.await {
        Ok(stored) => stored,
        Err(err) => {
            return JobOutcome::Failed {
                message: format!("cannot store the model: {err}"),
                retryable: true,
            };
        }
    };
    let [buy, hold, sell] = prepared.class_balance;
    JobOutcome::Completed(json!({
        "strategy": params.strategy.name,
        "symbol": symbol,
        "timeframe": timeframe,
        "bars": prepared_rows(&prepared),
        "features": prepared.feature_names.len(),
        "epochs_run": run.history.len(),
        "best_epoch": run.best_epoch,
        "stopped_early": run.stopped_early,
        "history": run.history,
        "test_accuracy": run.test_accuracy,
        "parameters_sha256": run.parameters_sha256,
        "confusion_matrix": run.confusion_matrix,
        "class_balance": {"BUY": buy, "HOLD": hold, "SELL": sell},
        "device": format!("{device:?}"),
        "model": {"weights": weights, "metadata": metadata, "store": store.describe()},
    }))
}

fn prepared_rows(prepared: &trainer::Prepared) -> Value {
    let rows = |t: &tch::Tensor| t.size()[0];
    json!({
        "train": rows(&prepared.train.0),
        "validation": rows(&prepared.validation.0),
        "test": rows(&prepared.test.0),
    })
}
