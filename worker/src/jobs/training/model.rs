//! The classifier: an MLP from the feature vector to BUY/HOLD/SELL logits, shaped by the strategy's
//! `model` section (hidden layer sizes, activation, dropout).

use ktrdr::strategy::{Activation, ModelSpec};
use tch::{Tensor, nn};

pub const CLASSES: i64 = 3;

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

    pub fn forward(&self, input: &Tensor, train: bool) -> Tensor {
        let (output, hidden) = self.layers.split_last().expect("at least the output layer");
        let x = hidden.iter().fold(input.shallow_clone(), |x, layer| {
            let x = x.apply(layer);
            let x = match self.activation {
                Activation::Relu => x.relu(),
                Activation::LeakyRelu => x.leaky_relu(),
                Activation::Tanh => x.tanh(),
                Activation::Sigmoid => x.sigmoid(),
            };
            x.dropout(self.dropout, train)
        });
        x.apply(output)
    }
}
