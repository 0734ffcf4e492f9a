//! The classifier: an MLP from the feature vector to BUY/HOLD/SELL logits, shaped by the strategy's
//! `model` section (hidden layer sizes, activation, dropout).
//!
//! Randomness never comes from libtorch's global generator, which every operation running in the
//! process shares (two trainings at once would disturb each other's draws): initial weights and
//! dropout masks are drawn from ChaCha8 generators the caller owns and seeds.

use std::collections::BTreeMap;

use ktrdr_trading::strategy::{Activation, ModelSpec};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Tensor, nn, no_grad};

pub const CLASSES: i64 = ktrdr_trading::features::LABEL_NAMES.len() as i64;

pub struct Mlp {
    layers: Vec<nn::Linear>,
    activation: Activation,
    dropout: f64,
}

impl Mlp {
    pub fn new(root: &nn::Path, inputs: i64, spec: &ModelSpec) -> Self {
        let mut layers = Vec::new();
        let mut width = inputs;
        for (index, &size) in spec.hidden_layers.iter().enumerate() {
            layers.push(nn::linear(
                root / format!("hidden{index}"),
                width,
                size as i64,
                Default::default(),
            ));
            width = size as i64;
        }
        layers.push(nn::linear(
            root / "output",
            width,
            CLASSES,
            Default::default(),
        ));
        Self {
            layers,
            activation: spec.activation,
            dropout: spec.dropout,
        }
    }

    /// Logits. With `dropout` (training), hidden units are dropped with the strategy's probability
    /// using masks drawn from that generator; without it (evaluation), nothing is dropped.
    pub fn forward(&self, input: &Tensor, mut dropout: Option<&mut ChaCha8Rng>) -> Tensor {
        let (output, hidden) = self.layers.split_last().expect("at least the output layer");
        let mut x = input.shallow_clone();
        for layer in hidden {
            x = x.apply(layer);
            x = match self.activation {
                Activation::Relu => x.relu(),
                Activation::LeakyRelu => x.leaky_relu(),
                Activation::Tanh => x.tanh(),
                Activation::Sigmoid => x.sigmoid(),
            };
            if let Some(rng) = dropout.as_deref_mut()
                && self.dropout > 0.0
            {
                let mask = dropout_mask(rng, &x.size(), self.dropout, x.device());
                // Not `*=`: an in-place product would overwrite what autograd saved for the backward pass.
                x = x.g_mul(&mask);
            }
        }
        x.apply(output)
    }
}

/// Inverted dropout: each unit kept with probability 1 − p and scaled by 1 / (1 − p).
fn dropout_mask(rng: &mut ChaCha8Rng, shape: &[i64], p: f64, device: Device) -> Tensor {
    let count: i64 = shape.iter().product();
    let keep = 1.0 / (1.0 - p);
    let values: Vec<f32> = (0..count)
        .map(|_| {
            if rng.random::<f64>() < p {
                0.0
            } else {
                keep as f32
            }
        })
        .collect();
    Tensor::from_slice(&values).view(shape).to_device(device)
}

/// Overwrites every parameter with PyTorch's default Linear initialisation, U(−1/√fan_in, 1/√fan_in),
/// drawn from `rng` in parameter-name order. The values are staged in a buffer reserved fallibly:
/// a failed Rust allocation would abort the whole worker, not panic.
pub fn initialize(
    parameters: &BTreeMap<String, Tensor>,
    rng: &mut ChaCha8Rng,
) -> Result<(), String> {
    // Bias and weight of a layer share the layer's fan-in, the weight's second dimension.
    let fan_in = |name: &str| {
        let layer = name.rsplit_once('.').map_or(name, |(layer, _)| layer);
        parameters[&format!("{layer}.weight")].size()[1] as f64
    };
    no_grad(|| {
        for (name, parameter) in parameters {
            let bound = 1.0 / fan_in(name).sqrt();
            let mut values: Vec<f32> = Vec::new();
            values.try_reserve_exact(parameter.numel()).map_err(|err| {
                format!(
                    "cannot allocate the model: {} values of {name}: {err}",
                    parameter.numel()
                )
            })?;
            values.extend((0..parameter.numel()).map(|_| rng.random_range(-bound..bound) as f32));
            let mut target = parameter.shallow_clone();
            target.copy_(&Tensor::from_slice(&values).view(parameter.size().as_slice()));
        }
        Ok(())
    })
}
