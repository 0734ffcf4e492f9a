//! Adam, written out with its state as named tensors — first and second moments per parameter and
//! the step count — so the whole optimizer can be saved and restored exactly (checkpoints), which
//! tch's built-in optimizer does not allow.

use std::collections::BTreeMap;

use tch::{Tensor, no_grad};

pub struct Adam {
    pub learning_rate: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub step: i64,
    /// Parameter name → (first moment, second moment).
    pub moments: BTreeMap<String, (Tensor, Tensor)>,
}

impl Adam {
    pub fn new(learning_rate: f64, parameters: &BTreeMap<String, Tensor>) -> Self {
        let moments = parameters
            .iter()
            .map(|(name, p)| (name.clone(), (p.zeros_like(), p.zeros_like())))
            .collect();
        Self {
            learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            step: 0,
            moments,
        }
    }

    /// An independent copy of the optimizer state (moments copied, not shared).
    pub fn copy(&self) -> Self {
        let moments = no_grad(|| {
            self.moments
                .iter()
                .map(|(name, (m, v))| (name.clone(), (m.copy(), v.copy())))
                .collect()
        });
        Self { moments, ..*self }
    }

    /// One update of every parameter from its gradient (parameters without a gradient are skipped).
    pub fn step(&mut self, parameters: &BTreeMap<String, Tensor>) {
        self.step += 1;
        let bias1 = 1.0 - self.beta1.powi(self.step as i32);
        let bias2 = 1.0 - self.beta2.powi(self.step as i32);
        no_grad(|| {
            for (name, parameter) in parameters {
                let gradient = parameter.grad();
                if !gradient.defined() {
                    continue;
                }
                let (m, v) = self
                    .moments
                    .get_mut(name)
                    .expect("moments exist for every parameter");
                let _ = m
                    .g_mul_scalar_(self.beta1)
                    .g_add_(&(&gradient * (1.0 - self.beta1)));
                let _ = v
                    .g_mul_scalar_(self.beta2)
                    .g_add_(&(&gradient * &gradient * (1.0 - self.beta2)));
                let update =
                    (&*m / bias1) / ((&*v / bias2).sqrt() + self.epsilon) * self.learning_rate;
                let mut parameter = parameter.shallow_clone();
                let _ = parameter.g_sub_(&update);
            }
        });
    }
}

/// Scales all gradients down together when their global L2 norm exceeds `max_norm`.
pub fn clip_gradients(parameters: &BTreeMap<String, Tensor>, max_norm: f64) {
    no_grad(|| {
        let squares: Vec<Tensor> = parameters
            .values()
            .map(|p| p.grad())
            .filter(Tensor::defined)
            .map(|g| g.pow_tensor_scalar(2).sum(tch::Kind::Float))
            .collect();
        if squares.is_empty() {
            return;
        }
        let total = Tensor::stack(&squares, 0)
            .sum(tch::Kind::Float)
            .sqrt()
            .double_value(&[]);
        if total > max_norm {
            let scale = max_norm / (total + 1e-6);
            for p in parameters.values() {
                let mut gradient = p.grad();
                if gradient.defined() {
                    let _ = gradient.g_mul_scalar_(scale);
                }
            }
        }
    });
}
