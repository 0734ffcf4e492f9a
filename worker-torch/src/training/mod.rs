//! The `training` operation: a strategy's MLP trained with tch on its market data.
//!
//! Loads the bars, builds features and labels (`ktrdr::features`), trains on a blocking thread (see
//! `trainer`), reports progress after every epoch, stores the best model — weights (tch `.ot` and
//! safetensors), a metadata document with the scaler, feature names, architecture and the strategy,
//! and a sample of the test part with the model's probabilities (`test_predictions.json`, for
//! `ktrdr models export`) — in the artifact store, and returns the per-epoch history, test
//! accuracy, confusion matrix and class balance, with what makes them readable: the split's dates,
//! the baseline, per-class figures, warnings and the reproducibility block.
//!
//! Checkpoints: every `checkpoint_interval` epochs (or 300 s), and on a cancel or a shutdown, the
//! state at the last epoch boundary is saved (see `super::checkpointing`); an operation that has a
//! checkpoint — resumed, or re-queued after its worker died — continues from it and ends exactly as
//! an uninterrupted run would. A failed epoch (see `trainer`) saves a `failure` checkpoint of the
//! state before it; a model that cannot be stored, one of the finished state, so that resuming
//! only stores it again.

pub mod adam;
pub mod checkpoint;
pub mod export;
pub mod model;
pub mod trainer;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use ktrdr::{checkpoints::CheckpointKind, operations::Progress};
use ktrdr_trading::{
    features::LABEL_NAMES,
    kinds::{
        ModelArchitecture, ModelArtifacts, ModelMetadata, SplitRows, TrainingParams,
        TrainingResult, evaluation,
    },
};
use serde_json::json;
use tch::Device;

use self::{checkpoint::TrainingCheckpoint, trainer::TrainEnd};
use ktrdr_worker::jobs::{
    JobContext, JobEnd, JobResult, StopRequest,
    checkpointing::{CheckpointSaver, Saved, Snapshot},
};

/// Checkpoint at least this often, whatever the epoch interval.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(300);

impl TrainingCheckpoint {
    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot {
            unit: "epoch",
            unit_value: self.state.next_epoch,
            state: serde_json::to_value(&self.state).expect("serializable state"),
            artifact: Some(&self.tensors),
        }
    }
}

/// The `training` job: trains the strategy's model from its last checkpoint, if any.
pub async fn run(params: TrainingParams, mut ctx: JobContext) -> JobResult<TrainingResult> {
    let wanted = params.bars();
    let (symbol, timeframe) = (wanted.symbol.to_string(), wanted.timeframe);
    let bars = ktrdr_worker::jobs::load_bars(&ctx, &wanted).await?;
    let device = Device::cuda_if_available();
    let reproducibility =
        crate::reproducibility::reproducibility(device, &bars, params.strategy.training.seed);

    let saver = CheckpointSaver::for_job(&ctx);
    let resume = match saver.load().await? {
        Some(Saved {
            state,
            artifact: Some(tensors),
        }) => Some(TrainingCheckpoint { state, tensors }),
        Some(Saved { artifact: None, .. }) => {
            return Err(saver.unusable("the checkpoint has no artifact").await);
        }
        None => None,
    };
    let resumed_from_epoch = resume.as_ref().map(|c| c.state.next_epoch);

    let stop = Arc::new(AtomicBool::new(false));
    let milestones = ctx.milestone_sender();
    let strategy = params.strategy.clone();
    let runtime = tokio::runtime::Handle::current();
    let mut work = tokio::task::spawn_blocking({
        let stop = stop.clone();
        let saver = saver.clone();
        move || {
            let prepared = trainer::prepare(&strategy, &bars)?;
            let epochs = strategy.training.epochs;
            let policy = trainer::CheckpointPolicy {
                resume: resume.as_ref(),
                every_epochs: strategy.training.checkpoint_interval,
                every: CHECKPOINT_EVERY,
            };
            let end = trainer::train(
                &strategy,
                &prepared,
                device,
                &policy,
                &mut |record| {
                    // Each epoch is kept: `--follow` and the progress stream show every one.
                    milestones.send(Progress {
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
                &mut |checkpoint| {
                    runtime.block_on(saver.save(CheckpointKind::Periodic, checkpoint.snapshot()));
                },
                &|| stop.load(Ordering::Relaxed),
            )?;
            Ok::<_, String>((prepared, end))
        }
    });
    let (outcome, stop_request) = tokio::select! {
        outcome = &mut work => (outcome, None),
        request = ctx.stop_requested() => {
            stop.store(true, Ordering::Relaxed);
            (work.await, Some(request))
        }
    };
    let (prepared, run) = match outcome {
        // Also when the run finished just as a stop arrived: it is complete, report it.
        Ok(Ok((prepared, TrainEnd::Finished(run)))) => (prepared, run),
        Ok(Ok((_, TrainEnd::Stopped(checkpoint)))) => {
            let request = stop_request.unwrap_or(StopRequest::Cancel);
            return Err(saver.stop(request, checkpoint.snapshot()).await);
        }
        Ok(Ok((
            _,
            TrainEnd::Failed {
                message,
                retryable,
                checkpoint,
            },
        ))) => return Err(saver.fail(checkpoint.snapshot(), message, retryable).await),
        Ok(Err(message)) => return Err(JobEnd::fatal(message)),
        Err(panic) => return Err(JobEnd::crashed("training", panic)),
    };

    let metadata = ModelMetadata {
        strategy: params.strategy.clone(),
        symbol: symbol.clone(),
        timeframe,
        feature_names: prepared.feature_names.clone(),
        scaler: prepared.scaler.clone(),
        classes: LABEL_NAMES.map(String::from).to_vec(),
        architecture: Some(ModelArchitecture::of(
            &params.strategy.model,
            prepared.feature_names.len(),
            &LABEL_NAMES.map(String::from),
        )),
    };
    let key = |name: &str| format!("models/{}/{name}", ctx.lease.operation_id);
    let store = &ctx.stores.artifacts;
    let stored = async {
        let weights = store.put(&key("weights.ot"), &run.weights).await?;
        let safetensors = store
            .put(&key("model.safetensors"), &run.safetensors)
            .await?;
        let metadata = store
            .put(
                &key("model.json"),
                &serde_json::to_vec(&metadata).expect("JSON"),
            )
            .await?;
        let predictions = store
            .put(
                &key("test_predictions.json"),
                &serde_json::to_vec(&run.test_predictions).expect("JSON"),
            )
            .await?;
        Ok::<_, ktrdr::Error>((weights, safetensors, metadata, predictions))
    };
    let (weights, safetensors, metadata, predictions) = match stored.await {
        Ok(stored) => stored,
        Err(err) => {
            // Keep the training: resuming goes straight to storing the model again.
            let message = format!("cannot store the model: {err}");
            return Err(saver
                .fail(run.final_checkpoint.snapshot(), message, true)
                .await);
        }
    };
    let rows = |part: &(tch::Tensor, tch::Tensor)| part.0.size()[0];
    let evaluation = evaluation::evaluate(&run.confusion_matrix, &LABEL_NAMES);
    let mut warnings = evaluation.warnings(run.test_accuracy);
    warnings.extend(evaluation::inactive_set_warnings(&prepared.set_activity));
    Ok(TrainingResult {
        strategy: params.strategy.name,
        symbol,
        timeframe,
        bars: SplitRows {
            train: rows(&prepared.train),
            validation: rows(&prepared.validation),
            test: rows(&prepared.test),
        },
        features: prepared.feature_names.len(),
        epochs_run: run.history().len(),
        best_epoch: run.best_epoch(),
        stopped_early: run.stopped_early,
        history: run.history().to_vec(),
        test_accuracy: run.test_accuracy,
        parameters_sha256: run.parameters_sha256,
        resumed_from_epoch,
        checkpoints_saved: saver.saved(),
        checkpoint_save_failures: saver.failed(),
        confusion_matrix: run.confusion_matrix,
        class_balance: LABEL_NAMES
            .iter()
            .map(|name| name.to_string())
            .zip(prepared.class_balance)
            .collect(),
        device: format!("{device:?}"),
        model: ModelArtifacts {
            weights,
            metadata,
            safetensors: Some(safetensors),
            test_predictions: Some(predictions),
            store: store.describe(),
        },
        split: Some(prepared.split_dates),
        baseline_accuracy: Some(evaluation.baseline_accuracy),
        baseline_class: Some(evaluation.baseline_class),
        class_metrics: evaluation.per_class,
        fuzzy_set_activity: prepared.set_activity,
        warnings,
        reproducibility: Some(reproducibility),
    })
}
