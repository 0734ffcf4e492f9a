//! The training loop, synchronous and deterministic: from the seed alone, the initial weights
//! (`manual_seed(seed)`), each epoch's data order (ChaCha8 seeded with seed + epoch) and each epoch's
//! dropout masks (`manual_seed(seed + epoch + 1)`) follow, so nothing but the weights, the optimizer and
//! the early-stopping state is needed to continue a run exactly.

use std::collections::BTreeMap;

use ktrdr::{
    features::{self, Scaler},
    market_data::Bar,
    strategy::Strategy,
};
use rand::{SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::{Device, Kind, Reduction, Tensor, nn, no_grad};

use super::{
    adam::{Adam, clip_gradients},
    model::{CLASSES, Mlp},
};

/// Features and labels, split chronologically and scaled with statistics of the training part.
pub struct Prepared {
    pub feature_names: Vec<String>,
    pub scaler: Scaler,
    pub train: (Tensor, Tensor),
    pub validation: (Tensor, Tensor),
    pub test: (Tensor, Tensor),
    pub class_balance: [usize; 3],
}

#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
}

pub struct TrainingRun {
    pub history: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub stopped_early: bool,
    pub test_accuracy: f64,
    /// Rows: true class, columns: predicted class (BUY, HOLD, SELL).
    pub confusion_matrix: [[u64; 3]; 3],
    pub weights: Vec<u8>,
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
    let scaler = Scaler::fit(&matrix.data[..train.end * cols], cols);
    let mut data = matrix.data.clone();
    scaler.transform(&mut data);
    let y: Vec<i64> = matrix
        .bar_index
        .iter()
        .map(|&i| i64::from(labels[i]))
        .collect();
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
        feature_names: matrix.names,
        scaler,
        train: part(train),
        validation: part(validation),
        test: part(test),
        class_balance,
    })
}

/// Trains until the epochs are done, early stopping triggers, or `should_stop` answers true (then
/// `None`). `on_epoch` sees every finished epoch.
pub fn train(
    strategy: &Strategy,
    prepared: &Prepared,
    device: Device,
    on_epoch: &mut dyn FnMut(&EpochRecord),
    should_stop: &dyn Fn() -> bool,
) -> Option<TrainingRun> {
    let spec = &strategy.training;
    let seed = spec.seed as i64;
    tch::manual_seed(seed);
    let vs = nn::VarStore::new(device);
    let model = Mlp::new(
        &vs.root(),
        prepared.feature_names.len() as i64,
        &strategy.model,
    );
    let parameters: BTreeMap<String, Tensor> = vs.variables().into_iter().collect();
    let mut adam = Adam::new(spec.learning_rate, &parameters);
    let class_weights = class_weights(&prepared.class_balance).to_device(device);

    let (x_train, y_train) = (
        prepared.train.0.to_device(device),
        prepared.train.1.to_device(device),
    );
    let (x_val, y_val) = (
        prepared.validation.0.to_device(device),
        prepared.validation.1.to_device(device),
    );
    let rows = x_train.size()[0] as usize;
    let mut history = Vec::new();
    let (mut best_loss, mut best_epoch, mut since_best) = (f64::INFINITY, 0, 0);
    let mut best_weights = snapshot(&parameters);
    let mut stopped_early = false;

    for epoch in 0..spec.epochs {
        if should_stop() {
            return None;
        }
        tch::manual_seed(seed + epoch as i64 + 1);
        let mut order: Vec<i64> = (0..rows as i64).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(
            spec.seed.wrapping_add(epoch as u64),
        ));
        let (mut loss_sum, mut batches) = (0.0, 0);
        for batch in order.chunks(spec.batch_size) {
            let index = Tensor::from_slice(batch).to_device(device);
            let logits = model.forward(&x_train.index_select(0, &index), true);
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
        on_epoch(&record);
        history.push(record);
        if val_loss < best_loss - spec.early_stopping.min_delta {
            (best_loss, best_epoch, since_best) = (val_loss, epoch, 0);
            best_weights = snapshot(&parameters);
        } else {
            since_best += 1;
            if since_best >= spec.early_stopping.patience {
                stopped_early = true;
                break;
            }
        }
    }

    restore(&parameters, &best_weights);
    let x_test = prepared.test.0.to_device(device);
    let predicted = no_grad(|| model.forward(&x_test, false).argmax(-1, false));
    let predicted: Vec<i64> =
        Vec::try_from(predicted.to_device(Device::Cpu)).expect("predictions are i64");
    let truth: Vec<i64> = Vec::try_from(&prepared.test.1).expect("labels are i64");
    let mut confusion_matrix = [[0u64; 3]; 3];
    for (&t, &p) in truth.iter().zip(&predicted) {
        confusion_matrix[t as usize][p as usize] += 1;
    }
    let correct: u64 = (0..3).map(|c| confusion_matrix[c][c]).sum();
    let mut weights = Vec::new();
    vs.save_to_stream(&mut weights)
        .expect("saving to memory cannot fail");
    Some(TrainingRun {
        history,
        best_epoch,
        stopped_early,
        test_accuracy: correct as f64 / truth.len().max(1) as f64,
        confusion_matrix,
        weights,
    })
}

/// Inverse class frequencies, normalised to average 1 (absent classes weigh 1).
fn class_weights(balance: &[usize; 3]) -> Tensor {
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
        let logits = model.forward(x, false);
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
