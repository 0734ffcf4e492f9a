//! What a training's test figures mean, from its confusion matrix: per-class precision, recall and
//! F1, the accuracy of the best constant prediction (the baseline a model must beat), and plain
//! warnings where the figures cannot be trusted — a tiny or single-class test set, a model below
//! its baseline, fuzzy sets that are (almost) never active on the data.
//!
//! Definitions, with `M[t][p]` the test rows of true class `t` predicted as `p`:
//! `precision(c) = M[c][c] / Σ_t M[t][c]`, `recall(c) = M[c][c] / Σ_p M[c][p]`,
//! `f1 = 2·precision·recall / (precision + recall)` (each `None` where its denominator is 0:
//! a class never predicted has no precision, one absent from the test set no recall), `support(c)
//! = Σ_p M[c][p]`; `baseline_accuracy = max_c support(c) / rows`: always predicting the test set's
//! most frequent class (`baseline_class`), the best any constant prediction does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Fewer test rows than this make a test accuracy noise (its standard error is about 5 points at
/// 100 rows).
pub const MIN_TEST_ROWS: u64 = 100;

/// A fuzzy set whose membership is positive on less than this fraction of the rows is (almost)
/// never active: its feature is a constant to the network.
pub const MIN_SET_ACTIVITY: f64 = 0.01;

/// Precision, recall and F1 of one class on the test set.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub precision: Option<f64>,
    pub recall: Option<f64>,
    pub f1: Option<f64>,
    /// Test rows of this class.
    pub support: u64,
}

/// The figures derived from a confusion matrix over `classes` (in the matrix's order).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub per_class: BTreeMap<String, ClassMetrics>,
    pub baseline_accuracy: f64,
    pub baseline_class: String,
    pub rows: u64,
}

/// Evaluates `confusion` (rows: true class, columns: predicted class).
pub fn evaluate(confusion: &[[u64; 3]; 3], classes: &[&str; 3]) -> Evaluation {
    let ratio = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
    let support: Vec<u64> = confusion.iter().map(|row| row.iter().sum()).collect();
    let predicted: Vec<u64> = (0..3)
        .map(|p| confusion.iter().map(|row| row[p]).sum())
        .collect();
    let rows: u64 = support.iter().sum();
    let per_class = (0..3)
        .map(|c| {
            let precision = ratio(confusion[c][c], predicted[c]);
            let recall = ratio(confusion[c][c], support[c]);
            let f1 = precision.zip(recall).map(|(p, r)| {
                if p + r > 0.0 {
                    2.0 * p * r / (p + r)
                } else {
                    0.0
                }
            });
            let metrics = ClassMetrics {
                precision,
                recall,
                f1,
                support: support[c],
            };
            (classes[c].to_string(), metrics)
        })
        .collect();
    // The first of the most frequent classes, so ties are decided by class order.
    let majority = (0..3).fold(
        0,
        |best, c| if support[c] > support[best] { c } else { best },
    );
    Evaluation {
        per_class,
        baseline_accuracy: ratio(support[majority], rows).unwrap_or(0.0),
        baseline_class: classes[majority].to_string(),
        rows,
    }
}

impl Evaluation {
    /// Warnings about the test set and the accuracy `test_accuracy` measured on it.
    pub fn warnings(&self, test_accuracy: f64) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.rows < MIN_TEST_ROWS {
            warnings.push(format!(
                "tiny test set: {} rows (fewer than {MIN_TEST_ROWS}); its accuracy is mostly noise \
                 — train on a longer range",
                self.rows
            ));
        }
        let present: Vec<&str> = self
            .per_class
            .iter()
            .filter(|(_, m)| m.support > 0)
            .map(|(name, _)| name.as_str())
            .collect();
        if present.len() == 1 {
            warnings.push(format!(
                "single-class test set: every test row is {}; the accuracy says nothing about the \
                 other classes",
                present[0]
            ));
        }
        if self.rows > 0 && test_accuracy <= self.baseline_accuracy {
            warnings.push(format!(
                "no better than the baseline: test accuracy {test_accuracy:.3} against {:.3} for \
                 always predicting {}",
                self.baseline_accuracy, self.baseline_class
            ));
        }
        warnings
    }
}

/// Warnings for the fuzzy sets active (membership above 0) on less than [`MIN_SET_ACTIVITY`] of
/// the rows; `activity` maps each set's feature to that fraction.
pub fn inactive_set_warnings(activity: &BTreeMap<String, f64>) -> Vec<String> {
    activity
        .iter()
        .filter(|(_, share)| **share < MIN_SET_ACTIVITY)
        .map(|(set, share)| {
            format!(
                "fuzzy set {set} is active on {:.1} % of the bars: its range probably does not fit \
                 this instrument's values",
                share * 100.0
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLASSES: [&str; 3] = ["BUY", "HOLD", "SELL"];

    #[test]
    fn per_class_figures_follow_the_confusion_matrix() {
        // 10 BUY rows (6 right), 20 HOLD (15 right), 10 SELL (none right).
        let confusion = [[6, 4, 0], [3, 15, 2], [5, 5, 0]];
        let evaluation = evaluate(&confusion, &CLASSES);
        let buy = evaluation.per_class["BUY"];
        assert_eq!(buy.precision, Some(6.0 / 14.0));
        assert_eq!(buy.recall, Some(0.6));
        let (p, r) = (6.0 / 14.0, 0.6);
        assert_eq!(buy.f1, Some(2.0 * p * r / (p + r)));
        assert_eq!(buy.support, 10);
        let sell = evaluation.per_class["SELL"];
        assert_eq!(
            (sell.precision, sell.recall, sell.f1),
            (Some(0.0), Some(0.0), Some(0.0))
        );
        assert_eq!(evaluation.baseline_accuracy, 0.5);
        assert_eq!(evaluation.baseline_class, "HOLD");
        assert_eq!(evaluation.rows, 40);
    }

    #[test]
    fn undefined_ratios_are_none() {
        // SELL is never predicted and absent from the test set.
        let evaluation = evaluate(&[[1, 1, 0], [0, 2, 0], [0, 0, 0]], &CLASSES);
        let sell = evaluation.per_class["SELL"];
        assert_eq!((sell.precision, sell.recall, sell.f1), (None, None, None));
        assert_eq!(sell.support, 0);
    }

    #[test]
    fn tiny_single_class_and_below_baseline_sets_are_warned_about() {
        let evaluation = evaluate(&[[0, 0, 0], [0, 24, 0], [0, 0, 0]], &CLASSES);
        // The headline of the issue: accuracy 1.000 on 24 HOLD rows, which always-HOLD matches.
        let warnings = evaluation.warnings(1.0);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(
            warnings[0].starts_with("tiny test set: 24 rows"),
            "{warnings:?}"
        );
        assert!(warnings[1].starts_with("single-class test set: every test row is HOLD"));
        assert!(warnings[2].starts_with("no better than the baseline: test accuracy 1.000"));

        let big = evaluate(&[[10, 0, 390], [50, 400, 50], [390, 0, 10]], &CLASSES);
        let accuracy = 420.0 / 1300.0;
        let warnings = big.warnings(accuracy);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("always predicting HOLD"),
            "{warnings:?}"
        );
        assert!(big.warnings(0.6).is_empty());
    }

    #[test]
    fn sets_almost_never_active_are_warned_about() {
        let activity = BTreeMap::from([
            ("macd.macd:positive".to_string(), 0.004),
            ("rsi_14:low".to_string(), 0.3),
        ]);
        let warnings = inactive_set_warnings(&activity);
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with("fuzzy set macd.macd:positive is active on 0.4 % of the bars")
        );
    }
}
