//! What a training's model is, written down for readers without ktrdr (and without libtorch): the
//! architecture of the MLP as a list of layers naming their safetensors tensors, and a sample of
//! the test set with the raw features and the probabilities ktrdr's model gave them, so that a
//! reimplementation (Python's `safetensors` + `numpy`, `ktrdr models export`'s check) can prove it
//! computes what ktrdr computes — and [`ExportedModel`], the `model.json` of `ktrdr models export`
//! that puts them together with the features, the scaler and the strategy.
//!
//! The architecture is derived, never guessed: [`ModelArchitecture::of`] follows exactly what the
//! worker builds from the strategy's `model` section (`worker-torch/src/training/model.rs`), and
//! [`ModelArchitecture::check_shapes`] holds it against the shapes the weights really have.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Reproducibility;
use crate::{
    features::Scaler,
    market_data::Timeframe,
    strategy::{Activation, ModelSpec, Strategy},
};

/// The MLP: `inputs` features, then `layers` in order; the last one's outputs are the logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelArchitecture {
    /// Always `mlp`.
    pub kind: String,
    /// The features the model reads, in the order of `features` (after scaling).
    pub inputs: usize,
    pub layers: Vec<LinearLayer>,
    pub dropout: Dropout,
    pub output: Output,
    /// The whole forward pass in one sentence.
    pub forward: String,
}

/// `y = x · weightᵀ + bias` (PyTorch's `nn.Linear`: `weight` is `[out_features, in_features]`),
/// then `activation` when there is one (every layer but the last).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearLayer {
    /// The safetensors names of its weight and bias.
    pub weight: String,
    pub bias: String,
    pub in_features: usize,
    pub out_features: usize,
    pub activation: Option<ActivationFunction>,
}

/// `relu`, `leaky_relu` (with its `negative_slope`), `tanh` or `sigmoid`, as PyTorch defines them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivationFunction {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_slope: Option<f64>,
}

/// Dropout after each hidden activation while training; at inference it is the identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dropout {
    pub p: f64,
    pub at_inference: String,
}

/// The last layer's outputs are logits; probabilities are their softmax, in `classes`' order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    pub logits: usize,
    pub function: String,
    pub classes: Vec<String>,
}

/// libtorch's default slope of `leaky_relu`, which the worker uses.
pub const LEAKY_RELU_SLOPE: f64 = 0.01;

impl ModelArchitecture {
    /// The network the worker builds for `spec` on `inputs` features with `classes` outputs.
    pub fn of(spec: &ModelSpec, inputs: usize, classes: &[String]) -> Self {
        let activation = ActivationFunction::of(spec.activation);
        let widths: Vec<usize> = std::iter::once(inputs)
            .chain(spec.hidden_layers.iter().copied())
            .chain(std::iter::once(classes.len()))
            .collect();
        let last = widths.len() - 2;
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(index, pair)| LinearLayer {
                weight: format!("layers.{index}.weight"),
                bias: format!("layers.{index}.bias"),
                in_features: pair[0],
                out_features: pair[1],
                activation: (index < last).then(|| activation.clone()),
            })
            .collect();
        Self {
            kind: "mlp".into(),
            inputs,
            layers,
            dropout: Dropout {
                p: spec.dropout,
                at_inference: "identity (not applied)".into(),
            },
            output: Output {
                logits: classes.len(),
                function: "softmax".into(),
                classes: classes.to_vec(),
            },
            forward: "x = (features - scaler.mean) / scaler.std; for each layer in order: \
                      x = x @ weight.T + bias, then its activation if it has one; \
                      probabilities = softmax(x) over the classes"
                .into(),
        }
    }

    /// Every tensor the layers name, with the shape they imply, and nothing else, is in `shapes`
    /// (safetensors name → shape): else what differs, in one line.
    pub fn check_shapes(&self, shapes: &BTreeMap<String, Vec<usize>>) -> Result<(), String> {
        let mut expected = BTreeMap::new();
        for layer in &self.layers {
            expected.insert(
                layer.weight.clone(),
                vec![layer.out_features, layer.in_features],
            );
            expected.insert(layer.bias.clone(), vec![layer.out_features]);
        }
        for (name, shape) in &expected {
            match shapes.get(name) {
                None => return Err(format!("the weights have no tensor {name}")),
                Some(actual) if actual != shape => {
                    return Err(format!(
                        "tensor {name} has shape {actual:?}, the architecture says {shape:?}"
                    ));
                }
                Some(_) => {}
            }
        }
        match shapes.keys().find(|name| !expected.contains_key(*name)) {
            Some(extra) => Err(format!(
                "the weights hold tensor {extra}, which the architecture does not use"
            )),
            None => Ok(()),
        }
    }
}

impl ActivationFunction {
    pub fn of(activation: Activation) -> Self {
        let (name, negative_slope) = match activation {
            Activation::Relu => ("relu", None),
            Activation::LeakyRelu => ("leaky_relu", Some(LEAKY_RELU_SLOPE)),
            Activation::Tanh => ("tanh", None),
            Activation::Sigmoid => ("sigmoid", None),
        };
        Self {
            name: name.into(),
            negative_slope,
        }
    }
}

/// The version of [`ExportedModel`]'s layout; raised when a field changes meaning or goes away.
pub const EXPORT_FORMAT_VERSION: u32 = 1;

/// `model.json` of `ktrdr models export`: everything needed to run the model in
/// `model.safetensors` without ktrdr — which features in which order, how they are scaled, the
/// layers, what the outputs mean — and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedModel {
    pub format_version: u32,
    pub training_id: String,
    /// `ktrdr X.Y.Z`, the version that wrote the export.
    pub exported_by: String,
    /// The training's reproducibility block (ktrdr version and commit, libtorch, seed, bars);
    /// null for a training from before it was recorded.
    pub trained_with: Option<Reproducibility>,
    pub strategy: ExportedStrategy,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub test_accuracy: f64,
    /// The model's inputs, in order.
    pub features: Vec<String>,
    pub scaler: ExportedScaler,
    pub architecture: ModelArchitecture,
    /// The outputs, in order (also `architecture.output.classes`).
    pub classes: Vec<String>,
    pub files: ExportedFiles,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedStrategy {
    pub name: String,
    /// The strategy as the training ran it (its YAML, as JSON).
    pub config: Strategy,
}

/// Standard scaling fitted on the training part: feature `i` enters the model as
/// `(x[i] − mean[i]) / std[i]` in float32.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedScaler {
    /// Always `standard`.
    pub kind: String,
    pub formula: String,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// The other files of the export, by name, in the same directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportedFiles {
    /// f32 tensors named as `architecture.layers` says.
    pub weights: String,
    /// [`TestPredictions`]; null for a training from before they were stored.
    pub test_predictions: Option<String>,
}

impl ExportedScaler {
    pub fn of(scaler: &Scaler) -> Self {
        Self {
            kind: "standard".into(),
            formula: "(x - mean) / std per feature, in float32, with mean and std of the training \
                      part (population std); a feature constant there has std 1, so it becomes \
                      x - mean"
                .into(),
            mean: scaler.mean.clone(),
            std: scaler.std.clone(),
        }
    }
}

/// At most this many test rows go into [`TestPredictions`].
pub const TEST_SAMPLE_ROWS: usize = 1000;

/// A sample of the test part (`test_predictions.json`): for each row its bar's time, the raw
/// (unscaled) features in `features`' order, and what ktrdr's model answered — the softmax
/// probabilities in `classes`' order, and the predicted class's index (the argmax).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestPredictions {
    /// How the rows were chosen.
    pub sample: String,
    pub test_rows: usize,
    pub features: Vec<String>,
    pub classes: Vec<String>,
    pub timestamps: Vec<DateTime<Utc>>,
    /// One row per sampled bar, unscaled.
    pub inputs: Vec<Vec<f32>>,
    pub probabilities: Vec<Vec<f32>>,
    pub predicted: Vec<usize>,
}

/// The rows of a test part of `rows` rows that [`TestPredictions`] holds: all of them up to
/// [`TEST_SAMPLE_ROWS`], else that many evenly spaced, the first included.
pub fn test_sample_rows(rows: usize) -> Vec<usize> {
    let n = rows.min(TEST_SAMPLE_ROWS);
    (0..n).map(|i| i * rows / n).collect()
}

/// How [`test_sample_rows`] chose, for the document.
pub fn test_sample_description(rows: usize) -> String {
    if rows <= TEST_SAMPLE_ROWS {
        format!("all {rows} rows of the test part, in time order")
    } else {
        format!(
            "{TEST_SAMPLE_ROWS} of the test part's {rows} rows, evenly spaced (row i · {rows} / \
             {TEST_SAMPLE_ROWS}), in time order"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(activation: Activation) -> ModelSpec {
        ModelSpec {
            hidden_layers: vec![32, 16],
            dropout: 0.2,
            activation,
        }
    }

    fn classes() -> Vec<String> {
        ["BUY", "HOLD", "SELL"].map(String::from).to_vec()
    }

    #[test]
    fn the_architecture_chains_the_widths_with_no_activation_after_the_output() {
        let arch = ModelArchitecture::of(&spec(Activation::LeakyRelu), 12, &classes());
        let widths: Vec<(usize, usize)> = arch
            .layers
            .iter()
            .map(|l| (l.in_features, l.out_features))
            .collect();
        assert_eq!(widths, [(12, 32), (32, 16), (16, 3)]);
        assert_eq!(arch.layers[2].weight, "layers.2.weight");
        assert_eq!(
            arch.layers[0].activation.as_ref().unwrap().negative_slope,
            Some(0.01)
        );
        assert!(arch.layers[2].activation.is_none());

        let mut shapes: BTreeMap<String, Vec<usize>> = arch
            .layers
            .iter()
            .flat_map(|l| {
                [
                    (l.weight.clone(), vec![l.out_features, l.in_features]),
                    (l.bias.clone(), vec![l.out_features]),
                ]
            })
            .collect();
        assert_eq!(arch.check_shapes(&shapes), Ok(()));
        shapes.insert("layers.1.weight".into(), vec![16, 31]);
        assert_eq!(
            arch.check_shapes(&shapes).unwrap_err(),
            "tensor layers.1.weight has shape [16, 31], the architecture says [16, 32]"
        );
        shapes.insert("layers.1.weight".into(), vec![16, 32]);
        shapes.insert("layers.3.bias".into(), vec![3]);
        assert!(
            arch.check_shapes(&shapes)
                .unwrap_err()
                .contains("layers.3.bias")
        );
    }

    #[test]
    fn a_model_without_hidden_layers_is_one_linear_layer() {
        let mut spec = spec(Activation::Relu);
        spec.hidden_layers.clear();
        let arch = ModelArchitecture::of(&spec, 5, &classes());
        assert_eq!(arch.layers.len(), 1);
        assert!(arch.layers[0].activation.is_none());
    }

    #[test]
    fn the_test_sample_is_every_row_or_an_even_spread_of_them() {
        assert_eq!(test_sample_rows(4), [0, 1, 2, 3]);
        let spread = test_sample_rows(2500);
        assert_eq!(spread.len(), TEST_SAMPLE_ROWS);
        assert_eq!(
            (spread[0], spread[1], spread[2], spread[999]),
            (0, 2, 5, 2497)
        );
        assert!(spread.windows(2).all(|w| w[0] < w[1]));
    }
}
