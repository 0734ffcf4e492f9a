//! The memory a strategy's training needs, estimated from its `model` and `training` sections, and
//! the ceiling it must stay under (`KTRDR_MAX_MODEL_BYTES`, default [`DEFAULT_MAX_MODEL_BYTES`]).
//! A model that cannot be allocated is refused when it is validated — by `ktrdr validate`, at
//! submit, and by the worker — instead of failing inside libtorch after it was claimed.
//!
//! The estimate follows what the worker's trainer holds (worker-torch/src/training/trainer.rs):
//! [`PARAMETER_COPIES`] float32 copies of every parameter, and for one batch the activations of
//! every layer that autograd keeps for the backward pass. It leaves out the data set, whose size
//! depends on the bars found when the training runs.

use std::fmt;

use super::Strategy;

/// The environment variable that sets the ceiling, in bytes.
pub const MAX_MODEL_BYTES_VAR: &str = "KTRDR_MAX_MODEL_BYTES";
/// The ceiling without [`MAX_MODEL_BYTES_VAR`]: 2 GiB.
pub const DEFAULT_MAX_MODEL_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Copies of the parameters a training holds: the weights, their gradients, Adam's two moments,
/// the best weights so far, and the copy of weights and moments taken at each epoch boundary.
pub const PARAMETER_COPIES: u64 = 8;
/// Tensors per hidden unit and batch row kept for the backward pass: the linear output, the
/// activation, the dropout mask and the masked output (and as many gradients going back).
pub const ACTIVATION_COPIES: u64 = 8;
const FLOAT_BYTES: u64 = 4;

/// What a strategy's training is estimated to need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelEstimate {
    pub parameters: u64,
    pub parameter_bytes: u64,
    pub activation_bytes: u64,
}

impl ModelEstimate {
    pub fn of(strategy: &Strategy) -> Self {
        let inputs = strategy.feature_count() as u64;
        let widths: Vec<u64> = strategy
            .model
            .hidden_layers
            .iter()
            .map(|&w| w as u64)
            .chain([3]) // BUY, HOLD, SELL
            .collect();
        // Saturating: the point is to refuse absurd sizes, not to overflow computing them.
        let mut parameters = 0u64;
        let mut previous = inputs;
        for &width in &widths {
            let layer = previous.saturating_mul(width).saturating_add(width);
            parameters = parameters.saturating_add(layer);
            previous = width;
        }
        let units = widths.iter().fold(inputs, |sum, &w| sum.saturating_add(w));
        Self {
            parameters,
            parameter_bytes: parameters
                .saturating_mul(FLOAT_BYTES)
                .saturating_mul(PARAMETER_COPIES),
            activation_bytes: (strategy.training.batch_size as u64)
                .saturating_mul(units)
                .saturating_mul(FLOAT_BYTES)
                .saturating_mul(ACTIVATION_COPIES),
        }
    }

    pub fn total_bytes(&self) -> u64 {
        self.parameter_bytes.saturating_add(self.activation_bytes)
    }
}

impl fmt::Display for ModelEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} parameters × {FLOAT_BYTES} bytes × {PARAMETER_COPIES} copies = {}, \
             activations of one batch {})",
            bytes(self.total_bytes()),
            self.parameters,
            bytes(self.parameter_bytes),
            bytes(self.activation_bytes)
        )
    }
}

/// The ceiling: [`MAX_MODEL_BYTES_VAR`] when set, else [`DEFAULT_MAX_MODEL_BYTES`]; an error
/// naming the variable when it is not a positive number of bytes.
pub fn max_model_bytes() -> Result<u64, String> {
    match std::env::var(MAX_MODEL_BYTES_VAR) {
        Err(_) => Ok(DEFAULT_MAX_MODEL_BYTES),
        Ok(text) => match text.trim().parse::<u64>() {
            Ok(limit) if limit > 0 => Ok(limit),
            _ => Err(format!(
                "{MAX_MODEL_BYTES_VAR} must be a positive number of bytes, got '{text}'"
            )),
        },
    }
}

/// Why `strategy` cannot be trained within `limit` bytes, if it cannot.
pub fn check(strategy: &Strategy, limit: u64) -> Option<String> {
    let estimate = ModelEstimate::of(strategy);
    (estimate.total_bytes() > limit).then(|| {
        format!(
            "the model needs an estimated {estimate}, over the limit of {} \
             ({MAX_MODEL_BYTES_VAR}); use fewer or narrower hidden layers, fewer inputs or a \
             smaller batch_size",
            bytes(limit)
        )
    })
}

/// `n` bytes, exactly and in binary units for people: `2147483648 bytes (2.0 GiB)`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n as f64;
    let mut unit = "";
    for name in UNITS {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = name;
    }
    if unit.is_empty() {
        format!("{n} bytes")
    } else {
        format!("{n} bytes ({value:.1} {unit})")
    }
}
