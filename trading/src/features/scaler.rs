//! Standard scaling (zero mean, unit variance per column), fitted on the training rows only so that
//! nothing of the validation or test period leaks into training. Stored with the model.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl Scaler {
    /// Fits on `rows` rows of `cols` columns (row-major). Constant columns get std 1.
    pub fn fit(data: &[f32], cols: usize) -> Self {
        let rows = (data.len() / cols.max(1)).max(1) as f64;
        let mut mean = vec![0.0_f64; cols];
        let mut square = vec![0.0_f64; cols];
        for row in data.chunks(cols) {
            for (c, &value) in row.iter().enumerate() {
                mean[c] += f64::from(value);
                square[c] += f64::from(value) * f64::from(value);
            }
        }
        let mean: Vec<f64> = mean.iter().map(|sum| sum / rows).collect();
        let std = square
            .iter()
            .zip(&mean)
            .map(|(sq, m)| {
                let variance = (sq / rows - m * m).max(0.0);
                if variance.sqrt() < 1e-9 {
                    1.0
                } else {
                    variance.sqrt() as f32
                }
            })
            .collect();
        Self {
            mean: mean.into_iter().map(|m| m as f32).collect(),
            std,
        }
    }

    /// Scales row-major `data` in place.
    pub fn transform(&self, data: &mut [f32]) {
        let cols = self.mean.len();
        for row in data.chunks_mut(cols) {
            for (c, value) in row.iter_mut().enumerate() {
                *value = (*value - self.mean[c]) / self.std[c];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scaler;

    #[test]
    fn fitted_columns_become_standard_and_constant_columns_stay_finite() {
        let mut data = vec![1.0, 5.0, 3.0, 5.0, 5.0, 5.0];
        let scaler = Scaler::fit(&data, 2);
        assert_eq!(scaler.mean, vec![3.0, 5.0]);
        assert_eq!(scaler.std[1], 1.0);
        scaler.transform(&mut data);
        let first: Vec<f32> = data.iter().step_by(2).copied().collect();
        let mean: f32 = first.iter().sum::<f32>() / 3.0;
        let variance: f32 = first.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / 3.0;
        assert!(
            mean.abs() < 1e-6 && (variance - 1.0).abs() < 1e-5,
            "{first:?}"
        );
        assert!(data.iter().skip(1).step_by(2).all(|v| *v == 0.0));
    }
}
