//! The training loop, synchronous and deterministic: from the seed alone follow the initial weights
//! (ChaCha8 stream 0), and each epoch's data order and dropout masks (ChaCha8 streams 2·epoch + 1 and
//! 2·epoch + 2) — so nothing but the weights, the optimizer and the early-stopping state is needed to
//! continue a run exactly, and concurrent trainings in one process cannot disturb each other.
//!
//! An epoch that fails — a panic inside torch (running out of memory, a device error) or a loss that
//! is no longer finite — ends the run with the state as it was when that epoch began: the weights and
//! Adam's moments are copied at every epoch boundary, because a failed epoch may have left them
//! half-updated.

use std::{
    collections::BTreeMap,
    panic::{AssertUnwindSafe, catch_unwind},
};

use chrono::{DateTime, Utc};
use ktrdr_trading::{
    features::{self, LABEL_NAMES, Scaler},
    kinds::{DateRange, EpochRecord, SplitDates, TestPredictions, model_files},
    market_data::Bar,
    strategy::Strategy,
};
use ktrdr_worker::jobs::panics;
use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Reduction, Tensor, nn, no_grad};

use super::{
    adam::{Adam, clip_gradients},
    checkpoint::{TrainState, TrainingCheckpoint},
    model::{self, CLASSES, Mlp},
};

/// How a call of [`train`] ended.
pub enum TrainEnd {
    Finished(TrainingRun),
    /// `should_stop` answered true at an epoch boundary: the state to continue from.
    Stopped(TrainingCheckpoint),
    /// An epoch failed: why, whether trying again may help, and the state before that epoch.
    Failed {
        message: String,
        retryable: bool,
        checkpoint: TrainingCheckpoint,
    },
}

/// When and from where a run checkpoints and continues.
pub struct CheckpointPolicy<'a> {
    /// Continue from this checkpoint instead of epoch 0.
    pub resume: Option<&'a TrainingCheckpoint>,
    /// Offer a checkpoint after every this many completed epochs…
    pub every_epochs: usize,
    /// …or when this much time passed since the last one.
    pub every: std::time::Duration,
}

impl CheckpointPolicy<'_> {
    /// From scratch, never checkpointing (benchmarks, tests).
    pub const NONE: CheckpointPolicy<'static> = CheckpointPolicy {
        resume: None,
        every_epochs: usize::MAX,
        every: std::time::Duration::MAX,
    };
}

/// Features and labels, split chronologically and scaled with statistics of the training part.
pub struct Prepared {
    pub feature_names: Vec<String>,
    pub scaler: Scaler,
    pub train: (Tensor, Tensor),
    pub validation: (Tensor, Tensor),
    pub test: (Tensor, Tensor),
    pub class_balance: [usize; 3],
    /// The dates of the three parts (the train part from the first bar loaded).
    pub split_dates: SplitDates,
    /// Fraction of the rows on which each fuzzy set is active (`features::set_activity`).
    pub set_activity: BTreeMap<String, f64>,
    /// The test rows whose predictions are stored with the model, unscaled.
    pub test_sample: TestSample,
}

/// The rows of the test part that `test_predictions.json` holds (`model_files::test_sample_rows`):
/// their index in the test part, their bars' times, and their features before scaling — what a
/// reader of the exported model feeds it.
pub struct TestSample {
    pub rows: Vec<usize>,
    pub timestamps: Vec<DateTime<Utc>>,
    pub inputs: Vec<Vec<f32>>,
}

pub struct TrainingRun {
    pub stopped_early: bool,
    pub test_accuracy: f64,
    /// Rows: true class, columns: predicted class (BUY, HOLD, SELL).
    pub confusion_matrix: [[u64; 3]; 3],
    /// The best model in torch's format (which embeds a random serialization id: compare
    /// `parameters_sha256`, not these bytes).
    pub weights: Vec<u8>,
    /// The same weights as safetensors under PyTorch's names (see `export`).
    pub safetensors: Vec<u8>,
    /// SHA-256 of the best model's parameter values (little-endian f32, in name order): equal for
    /// runs that ended with the same weights.
    pub parameters_sha256: String,
    /// The sampled test rows with the best model's probabilities and predictions (boxed: the
    /// other ends of a run are small).
    pub test_predictions: Box<TestPredictions>,
    /// The state after the last epoch (history and best epoch included): resuming from it skips
    /// straight to the evaluation, so a run whose model could not be stored need not train again.
    pub final_checkpoint: TrainingCheckpoint,
}

impl TrainingRun {
    pub fn history(&self) -> &[EpochRecord] {
        &self.final_checkpoint.state.history
    }

    pub fn best_epoch(&self) -> usize {
        self.final_checkpoint.state.best_epoch
    }
}

pub fn prepare(strategy: &Strategy, bars: &[Bar]) -> Result<Prepared, String> {
    let matrix = features::build_features(strategy, bars).map_err(|err| err.to_string())?;
    let close: Vec<f64> = bars.iter().map(|bar| bar.close).collect();
    let labels = features::zigzag_labels(
        &close,
        strategy.training.labels.zigzag_threshold,
        strategy.training.labels.lookahead,
    );
    let rows = matrix.rows();
    let cols = matrix.cols();
    let split = &strategy.training.split;
    let (train, validation, test) =
        features::chronological_split(rows, split.train, split.validation);
    if train.len() < 10 || validation.is_empty() || test.is_empty() {
        return Err(format!(
            "not enough data: {rows} usable bars after indicator warm-up ({} train, {} validation, {} test); \
             load a longer range",
            train.len(),
            validation.len(),
            test.len()
        ));
    }
    let set_activity = features::set_activity(&matrix);
    let at = |row: usize| bars[matrix.bar_index[row]].ts;
    let dates = |rows: &std::ops::Range<usize>| DateRange {
        start: at(rows.start),
        end: at(rows.end - 1),
    };
    let split_dates = SplitDates {
        train: DateRange {
            start: bars[0].ts,
            end: at(train.end - 1),
        },
        validation: dates(&validation),
        test: dates(&test),
    };
    let sample_rows = model_files::test_sample_rows(test.len());
    let sample_timestamps = sample_rows.iter().map(|&r| at(test.start + r)).collect();
    let features::FeatureMatrix {
        names,
        mut data,
        bar_index,
    } = matrix;
    let scaler = Scaler::fit(&data[..train.end * cols], cols);
    let test_sample = TestSample {
        inputs: sample_rows
            .iter()
            .map(|&r| {
                let row = test.start + r;
                data[row * cols..(row + 1) * cols].to_vec()
            })
            .collect(),
        timestamps: sample_timestamps,
        rows: sample_rows,
    };
    scaler.transform(&mut data);
    let y: Vec<i64> = bar_index.iter().map(|&i| i64::from(labels[i])).collect();
    let mut class_balance = [0usize; 3];
    for &label in &y[train.clone()] {
        class_balance[label as usize] += 1;
    }
    let part = |range: std::ops::Range<usize>| {
        let x = Tensor::from_slice(&data[range.start * cols..range.end * cols])
            .view([range.len() as i64, cols as i64]);
        (x, Tensor::from_slice(&y[range]))
    };
    Ok(Prepared {
        feature_names: names,
        scaler,
        train: part(train),
        validation: part(validation),
        test: part(test),
        class_balance,
        split_dates,
        set_activity,
        test_sample,
    })
}

/// Trains until the epochs are done or early stopping triggers, or until `should_stop` answers true
/// at an epoch boundary (then the state to continue from). `on_epoch` sees every finished epoch;
/// `on_checkpoint` receives a checkpoint whenever the policy asks for one. A run continued from a
/// checkpoint ends exactly as if it had never stopped.
pub fn train(
    strategy: &Strategy,
    prepared: &Prepared,
    device: Device,
    policy: &CheckpointPolicy,
    on_epoch: &mut dyn FnMut(&EpochRecord),
    on_checkpoint: &mut dyn FnMut(TrainingCheckpoint),
    should_stop: &dyn Fn() -> bool,
) -> Result<TrainEnd, String> {
    let spec = &strategy.training;
    let stream = |n: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        rng.set_stream(n);
        rng
    };
    // Allocating the model and the data on the device is where a model too large for the machine
    // fails (tch panics on libtorch's errors): a failure of the run, not a crash of the worker,
    // and not retried — another attempt would allocate the same. The validator's estimate
    // (`ktrdr_trading::strategy::resources`) refuses most such models before they are submitted.
    let built = catch_unwind(AssertUnwindSafe(|| {
        let vs = nn::VarStore::new(device);
        let model = Mlp::new(
            &vs.root(),
            prepared.feature_names.len() as i64,
            &strategy.model,
        );
        let parameters: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
        model::initialize(&parameters, &mut stream(0))?;
        let adam = Adam::new(spec.learning_rate, &parameters);
        let class_weights = class_weights(&prepared.class_balance).to_device(device);
        let train = (
            prepared.train.0.to_device(device),
            prepared.train.1.to_device(device),
        );
        let validation = (
            prepared.validation.0.to_device(device),
            prepared.validation.1.to_device(device),
        );
        Ok::<_, String>((
            vs,
            model,
            parameters,
            adam,
            class_weights,
            train,
            validation,
        ))
    }));
    let (vs, model, parameters, mut adam, class_weights, (x_train, y_train), (x_val, y_val)) =
        match built {
            Ok(Ok(built)) => built,
            Ok(Err(message)) => return Err(message),
            Err(panic) => {
                return Err(format!(
                    "cannot allocate the model on {device:?}: {}",
                    panics::first_line(panics::message(&*panic))
                ));
            }
        };
    let rows = x_train.size()[0] as usize;
    let mut best_weights = snapshot(&parameters);
    let mut state = TrainState {
        next_epoch: 0,
        history: Vec::new(),
        best_loss: None,
        best_epoch: 0,
        since_best: 0,
        adam_step: 0,
    };
    if let Some(checkpoint) = policy.resume {
        checkpoint.restore(&parameters, &mut best_weights, &mut adam)?;
        state = checkpoint.state.clone();
    }
    let mut stopped_early = state.since_best >= spec.early_stopping.patience;
    let mut last_checkpoint = std::time::Instant::now();

    while state.next_epoch < spec.epochs && !stopped_early {
        if should_stop() {
            return Ok(TrainEnd::Stopped(TrainingCheckpoint::capture(
                state,
                &parameters,
                &best_weights,
                &adam,
            )));
        }
        let epoch = state.next_epoch;
        let boundary = EpochBoundary::take(&parameters, &adam);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let mut order: Vec<i64> = (0..rows as i64).collect();
            order.shuffle(&mut stream(2 * epoch as u64 + 1));
            let mut dropout = stream(2 * epoch as u64 + 2);
            let (mut loss_sum, mut batches) = (0.0, 0);
            for batch in order.chunks(spec.batch_size) {
                let index = Tensor::from_slice(batch).to_device(device);
                let logits = model.forward(&x_train.index_select(0, &index), Some(&mut dropout));
                let loss = logits.cross_entropy_loss(
                    &y_train.index_select(0, &index),
                    Some(&class_weights),
                    Reduction::Mean,
                    -100,
                    0.0,
                );
                for p in parameters.values() {
                    let mut grad = p.grad();
                    if grad.defined() {
                        let _ = grad.zero_();
                    }
                }
                loss.backward();
                clip_gradients(&parameters, 1.0);
                adam.step(&parameters);
                loss_sum += loss.double_value(&[]);
                batches += 1;
            }
            let (val_loss, val_accuracy) = evaluate(&model, &x_val, &y_val, &class_weights);
            let record = EpochRecord {
                epoch,
                train_loss: loss_sum / batches.max(1) as f64,
                val_loss,
                val_accuracy,
            };
            if record.is_finite() {
                on_epoch(&record);
            }
            record
        }));
        let record = match outcome {
            Ok(record) if record.is_finite() => Ok(record),
            Ok(record) => Err((
                format!(
                    "training diverged in epoch {epoch}: train loss {}, validation loss {} \
                     (a learning rate of {} may be too high)",
                    record.train_loss, record.val_loss, spec.learning_rate
                ),
                false,
            )),
            // Only the first line: libtorch's errors go on with a C++ backtrace. Running out of
            // memory recurs on every attempt (same model, same batches); other errors may not.
            Err(panic) => {
                let text = panics::message(&*panic);
                Err((
                    format!(
                        "training failed in epoch {epoch}: {}",
                        panics::first_line(text)
                    ),
                    !panics::is_allocation_failure(text),
                ))
            }
        };
        let record = match record {
            Ok(record) => record,
            Err((message, retryable)) => {
                return Ok(TrainEnd::Failed {
                    message,
                    retryable,
                    checkpoint: TrainingCheckpoint::capture(
                        state,
                        &boundary.parameters,
                        &best_weights,
                        &boundary.adam,
                    ),
                });
            }
        };
        let val_loss = record.val_loss;
        state.history.push(record);
        state.next_epoch = epoch + 1;
        if state
            .best_loss
            .is_none_or(|best| val_loss < best - spec.early_stopping.min_delta)
        {
            (state.best_loss, state.best_epoch, state.since_best) = (Some(val_loss), epoch, 0);
            best_weights = snapshot(&parameters);
        } else {
            state.since_best += 1;
            stopped_early = state.since_best >= spec.early_stopping.patience;
        }
        let due = state.next_epoch.is_multiple_of(policy.every_epochs.max(1))
            || last_checkpoint.elapsed() >= policy.every;
        if due && state.next_epoch < spec.epochs && !stopped_early {
            on_checkpoint(TrainingCheckpoint::capture(
                state.clone(),
                &parameters,
                &best_weights,
                &adam,
            ));
            last_checkpoint = std::time::Instant::now();
        }
    }
    let final_checkpoint = TrainingCheckpoint::capture(state, &parameters, &best_weights, &adam);

    restore(&parameters, &best_weights);
    let x_test = prepared.test.0.to_device(device);
    let (predicted, probabilities) = no_grad(|| {
        let logits = model.forward(&x_test, None);
        (logits.argmax(-1, false), logits.softmax(-1, Kind::Float))
    });
    let predicted: Vec<i64> =
        Vec::try_from(predicted.to_device(Device::Cpu)).expect("predictions are i64");
    let probabilities: Vec<f32> =
        Vec::try_from(probabilities.flatten(0, -1).to_device(Device::Cpu))
            .expect("probabilities are f32");
    let truth: Vec<i64> = Vec::try_from(&prepared.test.1).expect("labels are i64");
    let mut confusion_matrix = [[0u64; 3]; 3];
    for (&t, &p) in truth.iter().zip(&predicted) {
        confusion_matrix[t as usize][p as usize] += 1;
    }
    let correct: u64 = (0..3).map(|c| confusion_matrix[c][c]).sum();
    let mut weights = Vec::new();
    vs.save_to_stream(&mut weights)
        .expect("saving to memory cannot fail");
    let mut parameter_bytes = Vec::new();
    for tensor in best_weights.values() {
        let values = Vec::<f32>::try_from(tensor.flatten(0, -1).to_device(Device::Cpu))
            .expect("float parameters");
        parameter_bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
    Ok(TrainEnd::Finished(TrainingRun {
        stopped_early,
        test_accuracy: correct as f64 / truth.len().max(1) as f64,
        confusion_matrix,
        weights,
        safetensors: super::export::safetensors_bytes(
            &best_weights,
            strategy.model.hidden_layers.len(),
        )?,
        parameters_sha256: ktrdr::artifacts::hex_sha256(&parameter_bytes),
        test_predictions: Box::new(test_predictions(prepared, &predicted, &probabilities)),
        final_checkpoint,
    }))
}

/// The sampled test rows with what the model answered for the whole test part: `predicted` (one
/// class index per row) and `probabilities` (row-major, one row of classes per row).
fn test_predictions(
    prepared: &Prepared,
    predicted: &[i64],
    probabilities: &[f32],
) -> TestPredictions {
    let sample = &prepared.test_sample;
    let classes = CLASSES as usize;
    TestPredictions {
        sample: model_files::test_sample_description(predicted.len()),
        test_rows: predicted.len(),
        features: prepared.feature_names.clone(),
        classes: LABEL_NAMES.map(String::from).to_vec(),
        timestamps: sample.timestamps.clone(),
        inputs: sample.inputs.clone(),
        probabilities: sample
            .rows
            .iter()
            .map(|&r| probabilities[r * classes..(r + 1) * classes].to_vec())
            .collect(),
        predicted: sample.rows.iter().map(|&r| predicted[r] as usize).collect(),
    }
}

/// Copies of the weights and Adam's state as an epoch begins: what a failure checkpoint holds,
/// since a failed epoch may leave the live tensors half-updated.
pub struct EpochBoundary {
    pub parameters: BTreeMap<String, Tensor>,
    pub adam: Adam,
}

impl EpochBoundary {
    pub fn take(parameters: &BTreeMap<String, Tensor>, adam: &Adam) -> Self {
        Self {
            parameters: snapshot(parameters),
            adam: adam.copy(),
        }
    }
}

/// Inverse class frequencies, normalised to average 1 (absent classes weigh 1).
pub fn class_weights(balance: &[usize; 3]) -> Tensor {
    let total: usize = balance.iter().sum();
    let weights: Vec<f32> = balance
        .iter()
        .map(|&n| {
            if n == 0 {
                1.0
            } else {
                total as f32 / (CLASSES as f32 * n as f32)
            }
        })
        .collect();
    Tensor::from_slice(&weights)
}

fn evaluate(model: &Mlp, x: &Tensor, y: &Tensor, weights: &Tensor) -> (f64, f64) {
    no_grad(|| {
        let logits = model.forward(x, None);
        let loss = logits
            .cross_entropy_loss(y, Some(weights), Reduction::Mean, -100, 0.0)
            .double_value(&[]);
        let accuracy = logits
            .argmax(-1, false)
            .eq_tensor(y)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        (loss, accuracy)
    })
}

fn snapshot(parameters: &BTreeMap<String, Tensor>) -> BTreeMap<String, Tensor> {
    no_grad(|| {
        parameters
            .iter()
            .map(|(name, p)| (name.clone(), p.copy()))
            .collect()
    })
}

fn restore(parameters: &BTreeMap<String, Tensor>, saved: &BTreeMap<String, Tensor>) {
    no_grad(|| {
        for (name, p) in parameters {
            let mut p = p.shallow_clone();
            p.copy_(&saved[name]);
        }
    });
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use ktrdr_trading::market_data::{SynthSpec, Timeframe, synthesize};

    use super::*;

    fn example() -> (Strategy, Vec<Bar>) {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../strategies/rsi_macd_trend.yaml"
        );
        let mut strategy =
            ktrdr_trading::strategy::parse_file(std::path::Path::new(path)).expect("valid example");
        strategy.training.epochs = 3;
        let bars = synthesize(&SynthSpec {
            symbol: "EURUSD".into(),
            timeframe: Timeframe::H1,
            start: chrono::Utc.with_ymd_and_hms(2022, 1, 1, 0, 0, 0).unwrap(),
            end: chrono::Utc.with_ymd_and_hms(2022, 4, 1, 0, 0, 0).unwrap(),
            seed: 11,
        })
        .unwrap();
        (strategy, bars)
    }

    /// The example with `epochs` epochs, early stopping off, and its prepared data.
    fn example_without_early_stopping(epochs: usize) -> (Strategy, Vec<Bar>, Prepared) {
        let (mut strategy, bars) = example();
        strategy.training.epochs = epochs;
        strategy.training.early_stopping.patience = 100;
        let prepared = prepare(&strategy, &bars).unwrap();
        (strategy, bars, prepared)
    }

    /// Trains on the CPU without ever being asked to stop.
    fn train_to_the_end(
        strategy: &Strategy,
        prepared: &Prepared,
        policy: &CheckpointPolicy<'_>,
        on_epoch: &mut dyn FnMut(&EpochRecord),
        on_checkpoint: &mut dyn FnMut(TrainingCheckpoint),
    ) -> Result<TrainEnd, String> {
        train(
            strategy,
            prepared,
            Device::Cpu,
            policy,
            on_epoch,
            on_checkpoint,
            &|| false,
        )
    }

    /// The two runs ended with the same model: weights, history and test predictions.
    fn assert_same_model(a: &TrainingRun, b: &TrainingRun) {
        assert_eq!(a.parameters_sha256, b.parameters_sha256);
        assert_eq!(a.history(), b.history());
        assert_eq!(a.confusion_matrix, b.confusion_matrix);
    }

    fn finished(end: Result<TrainEnd, String>) -> TrainingRun {
        match end.unwrap() {
            TrainEnd::Finished(run) => run,
            TrainEnd::Stopped(_) => panic!("stopped unexpectedly"),
            TrainEnd::Failed { message, .. } => panic!("failed unexpectedly: {message}"),
        }
    }

    fn run_once(strategy: &Strategy, bars: &[Bar]) -> TrainingRun {
        let prepared = prepare(strategy, bars).unwrap();
        finished(train_to_the_end(
            strategy,
            &prepared,
            &CheckpointPolicy::NONE,
            &mut |_| {},
            &mut |_| {},
        ))
    }

    /// Trains from scratch and expects the run to fail: (message, retryable, checkpoint).
    fn failing_run(
        strategy: &Strategy,
        prepared: &Prepared,
        on_epoch: &mut dyn FnMut(&EpochRecord),
    ) -> (String, bool, TrainingCheckpoint) {
        let end = train_to_the_end(
            strategy,
            prepared,
            &CheckpointPolicy::NONE,
            on_epoch,
            &mut |_| {},
        );
        match end.unwrap() {
            TrainEnd::Failed {
                message,
                retryable,
                checkpoint,
            } => (message, retryable, checkpoint),
            _ => panic!("the run should have failed"),
        }
    }

    /// Runs from `resume` and stops after `epochs_more` epochs (or at the end); the checkpoint
    /// crosses a JSON round trip, as it does through the database.
    fn run_part(
        strategy: &Strategy,
        prepared: &Prepared,
        resume: Option<&TrainingCheckpoint>,
        epochs_more: usize,
    ) -> TrainEnd {
        let done = std::cell::Cell::new(0);
        let policy = CheckpointPolicy {
            resume,
            ..CheckpointPolicy::NONE
        };
        let end = train(
            strategy,
            prepared,
            Device::Cpu,
            &policy,
            &mut |_| done.set(done.get() + 1),
            &mut |_| {},
            &|| done.get() >= epochs_more,
        )
        .unwrap();
        match end {
            TrainEnd::Stopped(checkpoint) => {
                let json = serde_json::to_string(&checkpoint.state).unwrap();
                TrainEnd::Stopped(TrainingCheckpoint {
                    state: serde_json::from_str(&json).unwrap(),
                    tensors: checkpoint.tensors,
                })
            }
            finished => finished,
        }
    }

    #[test]
    fn a_run_stopped_and_resumed_twice_ends_bit_identical() {
        tch::set_num_threads(1);
        let (strategy, bars, prepared) = example_without_early_stopping(6);
        let uninterrupted = run_once(&strategy, &bars);

        let TrainEnd::Stopped(first) = run_part(&strategy, &prepared, None, 2) else {
            panic!("should stop after 2 epochs");
        };
        assert_eq!(first.state.next_epoch, 2);
        let TrainEnd::Stopped(second) = run_part(&strategy, &prepared, Some(&first), 2) else {
            panic!("should stop after 2 more epochs");
        };
        assert_eq!(second.state.next_epoch, 4);
        let TrainEnd::Finished(resumed) = run_part(&strategy, &prepared, Some(&second), usize::MAX)
        else {
            panic!("should finish");
        };
        assert_same_model(&resumed, &uninterrupted);
    }

    #[test]
    fn a_failed_epoch_leaves_the_state_before_it_and_resuming_ends_bit_identical() {
        tch::set_num_threads(1);
        let (strategy, bars, prepared) = example_without_early_stopping(5);
        let uninterrupted = run_once(&strategy, &bars);

        // Epoch 3 panics after its weights were updated (as torch does on a device error).
        let (message, retryable, checkpoint) = failing_run(&strategy, &prepared, &mut |record| {
            assert!(record.epoch != 3, "device lost")
        });
        assert!(
            message.starts_with("training failed in epoch 3: device lost"),
            "{message}"
        );
        assert!(retryable);
        assert_eq!(checkpoint.state.next_epoch, 3);
        assert_eq!(checkpoint.state.history, uninterrupted.history()[..3]);

        let TrainEnd::Finished(resumed) =
            run_part(&strategy, &prepared, Some(&checkpoint), usize::MAX)
        else {
            panic!("should finish");
        };
        assert_eq!(resumed.parameters_sha256, uninterrupted.parameters_sha256);
        assert_eq!(resumed.history(), uninterrupted.history());
    }

    #[test]
    fn a_diverging_run_fails_with_the_state_before_the_non_finite_epoch() {
        let (mut strategy, bars) = example();
        // Validation refuses such a rate; set directly, it overflows the weights within an epoch.
        strategy.training.learning_rate = 1e30;
        let prepared = prepare(&strategy, &bars).unwrap();
        let mut epochs_seen = 0;
        let (message, retryable, checkpoint) =
            failing_run(&strategy, &prepared, &mut |_| epochs_seen += 1);
        assert!(message.contains("diverged in epoch"), "{message}");
        assert!(!retryable, "diverging again would be certain");
        assert_eq!(checkpoint.state.next_epoch, epochs_seen);
        assert!(checkpoint.state.history.iter().all(EpochRecord::is_finite));
    }

    #[test]
    fn resuming_from_the_final_state_only_evaluates() {
        tch::set_num_threads(1);
        let (strategy, bars, prepared) = example_without_early_stopping(3);
        let first = run_once(&strategy, &bars);
        assert_eq!(first.final_checkpoint.state.next_epoch, 3);
        let mut epochs_run = 0;
        let policy = CheckpointPolicy {
            resume: Some(&first.final_checkpoint),
            ..CheckpointPolicy::NONE
        };
        let again = finished(train_to_the_end(
            &strategy,
            &prepared,
            &policy,
            &mut |_| epochs_run += 1,
            &mut |_| {},
        ));
        assert_eq!(epochs_run, 0);
        assert_same_model(&again, &first);
    }

    #[test]
    fn periodic_checkpoints_follow_the_epoch_interval() {
        let (strategy, _, prepared) = example_without_early_stopping(7);
        let mut at = Vec::new();
        let policy = CheckpointPolicy {
            every_epochs: 3,
            ..CheckpointPolicy::NONE
        };
        finished(train_to_the_end(
            &strategy,
            &prepared,
            &policy,
            &mut |_| {},
            &mut |c| at.push(c.state.next_epoch),
        ));
        // After 3 and 6 completed epochs; none after the last (the run completes instead).
        assert_eq!(at, vec![3, 6]);
    }

    #[test]
    fn training_twice_with_one_seed_gives_identical_weights() {
        tch::set_num_threads(1);
        let (strategy, bars) = example();
        let first = run_once(&strategy, &bars);
        let second = run_once(&strategy, &bars);
        assert_eq!(first.history().len(), 3);
        assert!(
            first.parameters_sha256 == second.parameters_sha256,
            "same seed, different weights"
        );
        assert_eq!(first.confusion_matrix, second.confusion_matrix);
        let mut other_seed = strategy.clone();
        other_seed.training.seed += 1;
        assert!(
            run_once(&other_seed, &bars).parameters_sha256 != first.parameters_sha256,
            "the seed changed nothing"
        );
    }

    #[test]
    fn the_loss_goes_down_and_the_scaler_sees_only_training_rows() {
        tch::set_num_threads(1);
        let (strategy, _, prepared) = example_without_early_stopping(8);
        assert_eq!(prepared.feature_names.len(), strategy.feature_count());
        let train_rows = prepared.train.0.size()[0];
        // The training part, scaled with its own statistics, has mean ~0 in every column.
        let column_means = prepared
            .train
            .0
            .mean_dim(0, false, Kind::Float)
            .abs()
            .max()
            .double_value(&[]);
        assert!(
            column_means < 1e-4,
            "max |column mean| {column_means} over {train_rows} rows"
        );
        let run = finished(train_to_the_end(
            &strategy,
            &prepared,
            &CheckpointPolicy::NONE,
            &mut |_| {},
            &mut |_| {},
        ));
        let (first, last) = (&run.history()[0], run.history().last().unwrap());
        assert!(last.train_loss < first.train_loss, "{first:?} → {last:?}");
    }

    #[test]
    fn a_model_too_large_to_allocate_fails_the_run_in_one_line() {
        // Past any validator, as a strategy built by hand could be: a first layer of 2⁴⁰ units
        // (terabytes), which libtorch's allocator refuses at once.
        let (mut strategy, _, prepared) = example_without_early_stopping(1);
        strategy.model.hidden_layers = vec![1 << 40];
        let end = train_to_the_end(
            &strategy,
            &prepared,
            &CheckpointPolicy::NONE,
            &mut |_| {},
            &mut |_| {},
        );
        let Err(message) = end else {
            panic!("a model of terabytes was allocated");
        };
        assert!(
            message.starts_with("cannot allocate the model on Cpu: ")
                && message
                    .contains("can't allocate memory: you tried to allocate 4398046511104 bytes"),
            "{message}"
        );
        assert!(panics::is_allocation_failure(&message), "{message}");
        assert!(
            !message.contains('\n') && !message.contains("\\n"),
            "{message}"
        );
        assert!(message.chars().count() < 400, "{message}");
    }

    #[test]
    fn too_little_data_is_refused_with_the_counts() {
        let (strategy, bars) = example();
        let Err(message) = prepare(&strategy, &bars[..45]) else {
            panic!("45 bars cannot be enough");
        };
        assert!(message.starts_with("not enough data:"), "{message}");
    }
}
