//! How often each fuzzy set is active on the data: the fraction of feature rows on which its
//! membership (at lag 0) is above 0. A set over MACD in FX price units is zero on almost every bar
//! of a stock: its feature is a constant to the network, which a training result warns about.

use std::collections::BTreeMap;

use super::FeatureMatrix;

/// For every lag-0 column of `matrix` (`input:set`), the fraction of its rows with a membership
/// above 0 (0 for a matrix without rows). Read before scaling: memberships are in `[0, 1]`.
pub fn set_activity(matrix: &FeatureMatrix) -> BTreeMap<String, f64> {
    let (rows, cols) = (matrix.rows(), matrix.cols());
    matrix
        .names
        .iter()
        .enumerate()
        // Lagged columns (`input:set:lagN`) repeat the lag-0 column shifted by a few bars.
        .filter(|(_, name)| name.matches(':').count() == 1)
        .map(|(col, name)| {
            let active = (0..rows)
                .filter(|row| matrix.data[row * cols + col] > 0.0)
                .count();
            let share = if rows == 0 {
                0.0
            } else {
                active as f64 / rows as f64
            };
            (name.clone(), share)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_counts_positive_memberships_of_lag_0_columns() {
        let matrix = FeatureMatrix {
            names: vec!["rsi:low".into(), "rsi:low:lag1".into(), "rsi:high".into()],
            data: vec![
                0.5, 0.0, 0.0, //
                0.0, 0.5, 0.0, //
                1.0, 0.0, 0.0, //
                0.0, 1.0, 0.2,
            ],
            bar_index: vec![3, 4, 5, 6],
        };
        let activity = set_activity(&matrix);
        assert_eq!(
            activity,
            BTreeMap::from([("rsi:high".to_string(), 0.25), ("rsi:low".to_string(), 0.5)])
        );
    }
}
