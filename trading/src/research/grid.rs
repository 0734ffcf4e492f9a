//! The values the built-in designer picks a strategy's model, training, labels and decisions from.
//! They are small on purpose: a research trains many strategies, and these train in seconds on the
//! example data, like the strategies in strategies/.

use rand::{Rng, seq::IndexedRandom};

use super::fuzzy_ranges::Columns;
use crate::strategy::{
    Activation, BacktestDefaults, DecisionSpec, EarlyStopping, ModelSpec, Split, Strategy,
    TrainingSpec, ZigzagLabels,
};

pub const HIDDEN_LAYERS: [&[usize]; 6] = [&[16], &[24], &[32], &[16, 8], &[32, 16], &[24, 12]];
pub const DROPOUT: [f64; 4] = [0.0, 0.1, 0.2, 0.3];
pub const ACTIVATION: [Activation; 3] = [Activation::Relu, Activation::Tanh, Activation::LeakyRelu];
pub const LEARNING_RATE: [f64; 4] = [0.0005, 0.001, 0.002, 0.005];
pub const EPOCHS: [usize; 3] = [20, 30, 40];
pub const BATCH_SIZE: [usize; 2] = [32, 64];
pub const LOOKAHEAD: [usize; 3] = [8, 12, 24];
/// The ZigZag threshold is this many times the instrument's typical move over the lookahead.
pub const THRESHOLD_FACTOR: [f64; 4] = [0.75, 1.0, 1.5, 2.0];
/// Thresholds to pick from when there are too few bars to measure the typical move.
pub const THRESHOLD_FALLBACK: [f64; 5] = [0.003, 0.005, 0.008, 0.01, 0.02];
pub const CONFIDENCE: [f64; 4] = [0.45, 0.5, 0.55, 0.6];
pub const SEPARATION: [usize; 4] = [2, 4, 6, 8];
pub const LAGS: [usize; 4] = [0, 1, 1, 2];
/// The training part of every built-in design's chronological split.
pub const TRAIN_SHARE: f64 = 0.7;
/// The training seed of every built-in design: results differ by design, not by chance.
pub const TRAINING_SEED: u64 = 42;

pub fn pick<T: Clone>(rng: &mut impl Rng, values: &[T]) -> T {
    values.choose(rng).expect("grids are not empty").clone()
}

/// Another value of `values` than `current`, when there is one.
pub fn another<T: Clone + PartialEq>(rng: &mut impl Rng, values: &[T], current: &T) -> Option<T> {
    let others: Vec<&T> = values.iter().filter(|value| *value != current).collect();
    others.choose(rng).map(|value| (*value).clone())
}

pub fn model(rng: &mut impl Rng) -> ModelSpec {
    ModelSpec {
        hidden_layers: pick(rng, &HIDDEN_LAYERS).to_vec(),
        dropout: pick(rng, &DROPOUT),
        activation: pick(rng, &ACTIVATION),
    }
}

pub fn training(rng: &mut impl Rng, columns: &Columns) -> TrainingSpec {
    let lookahead = pick(rng, &LOOKAHEAD);
    TrainingSpec {
        epochs: pick(rng, &EPOCHS),
        batch_size: pick(rng, &BATCH_SIZE),
        learning_rate: pick(rng, &LEARNING_RATE),
        early_stopping: EarlyStopping {
            patience: 6,
            min_delta: 0.0001,
        },
        split: Split {
            train: TRAIN_SHARE,
            validation: 0.15,
            test: 0.15,
        },
        labels: ZigzagLabels {
            zigzag_threshold: zigzag_threshold(rng, columns, lookahead),
            lookahead,
        },
        seed: TRAINING_SEED,
        checkpoint_interval: 10,
    }
}

/// A ZigZag threshold that suits the instrument: a multiple of the median absolute move over
/// `lookahead` bars of the training window (EURUSD moves far less in 12 hours than a stock), two
/// significant digits.
pub fn zigzag_threshold(rng: &mut impl Rng, columns: &Columns, lookahead: usize) -> f64 {
    match columns.typical_move(lookahead) {
        Some(typical) => {
            let threshold = two_digits(typical * pick(rng, &THRESHOLD_FACTOR));
            threshold.clamp(0.0001, 0.5)
        }
        None => pick(rng, &THRESHOLD_FALLBACK),
    }
}

/// `x` rounded to two significant digits.
pub fn two_digits(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powf(x.log10().floor() - 1.0);
    // Divided rather than multiplied by the inverse, so 0.0015 stays 0.0015 and not 0.0015000000000000002.
    let digits = (x / scale).round();
    if scale < 1.0 {
        digits / (1.0 / scale).round()
    } else {
        digits * scale
    }
}

pub fn decisions(rng: &mut impl Rng) -> DecisionSpec {
    DecisionSpec {
        confidence_threshold: pick(rng, &CONFIDENCE),
        min_separation_bars: pick(rng, &SEPARATION),
    }
}

pub fn backtest() -> BacktestDefaults {
    BacktestDefaults {
        initial_capital: 100_000.0,
        commission: 0.0001,
        slippage: 0.00005,
    }
}

/// Bars of history a strategy needs before its first training bar: the longest warm-up among its
/// indicators plus its longest lag, rounded up to 50 (at least 100).
pub fn history_required(strategy: &Strategy) -> usize {
    let warmup = strategy
        .indicators
        .values()
        .map(|spec| spec.warmup())
        .max()
        .unwrap_or(0);
    let lags = strategy
        .nn_inputs
        .iter()
        .map(|input| input.lags)
        .max()
        .unwrap_or(0);
    (warmup + lags + 1).div_ceil(50).max(2) * 50
}
