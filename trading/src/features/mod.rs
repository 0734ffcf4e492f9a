//! From bars and a strategy to what a neural network learns from: indicator outputs turned into fuzzy
//! memberships (plus lags) as features, ZigZag labels as targets, a chronological split, and a scaler
//! fitted on the training part only. Pure computation, shared by training and backtesting so both see
//! exactly the same features.

mod activity;
mod dataset;
mod scaler;
mod zigzag;

pub use activity::set_activity;
pub use dataset::{FeatureMatrix, build_features};
pub use scaler::Scaler;
pub use zigzag::{BUY, HOLD, LABEL_NAMES, Label, SELL, zigzag_labels};

/// Row ranges of a chronological train / validation / test split of `rows` rows.
pub fn chronological_split(
    rows: usize,
    train: f64,
    validation: f64,
) -> (
    std::ops::Range<usize>,
    std::ops::Range<usize>,
    std::ops::Range<usize>,
) {
    let train_end = ((rows as f64) * train).round() as usize;
    let validation_end = (((rows as f64) * (train + validation)).round() as usize).max(train_end);
    let validation_end = validation_end.min(rows);
    (
        0..train_end.min(rows),
        train_end.min(rows)..validation_end,
        validation_end..rows,
    )
}

#[cfg(test)]
mod tests {
    use super::chronological_split;

    #[test]
    fn split_is_chronological_and_covers_every_row_once() {
        let (train, validation, test) = chronological_split(1000, 0.7, 0.15);
        assert_eq!((train, validation, test), (0..700, 700..850, 850..1000));
        let (train, validation, test) = chronological_split(7, 0.7, 0.15);
        assert_eq!(train.len() + validation.len() + test.len(), 7);
        assert_eq!(train.end, validation.start);
        assert_eq!(validation.end, test.start);
    }
}
