//! The built-in assessment: rules over the typed training and backtest results. It finds the
//! experiment's strengths and weaknesses — the edge over the majority-class baseline (from the
//! confusion matrix when the result has no baseline), the gap between validation and test
//! accuracy, classes never predicted, whether the validation loss fell, the number of trades,
//! profit factor, Sharpe and drawdown — and turns them into a verdict, a score that ranks
//! experiments, and the suggestion the next design carries out.
//!
//! The verdict: **no_signal** when test accuracy is within [`EDGE_NONE`] of the baseline (or the
//! backtest made no trade); **strong** when the edge is at least [`EDGE_STRONG`], validation and
//! test agree, every class is predicted, and the backtest has at least [`MIN_TRADES`] trades,
//! Sharpe ≥ [`SHARPE_STRONG`], profit factor ≥ [`PROFIT_FACTOR_STRONG`] and drawdown ≤
//! [`DRAWDOWN_STRONG`]; **weak** otherwise. The score is the verdict's tier (strong 2, weak 1,
//! no_signal 0) plus 0.5·tanh(quality), quality = 4·edge + 0.5·Sharpe (clamped to ±4) +
//! 0.5·ln(profit factor) − drawdown (− 0.5 with fewer than [`MIN_TRADES`] trades): within a tier,
//! better numbers rank higher, and a tier always outranks the one below.

use serde::Deserialize;

use super::{
    context::{Assessment, AssessmentContext, Verdict},
    suggestion::Suggestion,
};
use crate::{Error, Result};

/// Test accuracy at most this far above the baseline is no signal.
pub const EDGE_NONE: f64 = 0.01;
/// The edge over the baseline of a strong result.
pub const EDGE_STRONG: f64 = 0.05;
/// Validation accuracy (at the best epoch) more than this above test accuracy is overfitting to
/// the validation period.
pub const MAX_ACCURACY_GAP: f64 = 0.10;
/// Fewer trades than this are too few to judge a backtest by.
pub const MIN_TRADES: usize = 20;
pub const SHARPE_STRONG: f64 = 0.5;
pub const PROFIT_FACTOR_STRONG: f64 = 1.1;
pub const DRAWDOWN_STRONG: f64 = 0.3;
/// The backtest gate's drawdown limit: beyond it, a weakness.
pub const DRAWDOWN_MAX: f64 = 0.4;

const CLASSES: [&str; 3] = ["BUY", "HOLD", "SELL"];

/// What the rules read of a training result (`kinds::training::TrainingResult`).
#[derive(Deserialize)]
struct Training {
    test_accuracy: f64,
    #[serde(default)]
    history: Vec<Epoch>,
    #[serde(default)]
    best_epoch: Option<usize>,
    /// Rows: true class, columns: predicted (BUY, HOLD, SELL).
    confusion_matrix: [[u64; 3]; 3],
    #[serde(default)]
    baseline_accuracy: Option<f64>,
}

#[derive(Deserialize)]
struct Epoch {
    epoch: usize,
    val_loss: f64,
    val_accuracy: f64,
}

/// What the rules read of a backtest result (`kinds::backtesting::BacktestResult`).
#[derive(Deserialize)]
struct Backtest {
    metrics: Metrics,
}

#[derive(Deserialize)]
struct Metrics {
    trades: usize,
    win_rate: f64,
    sharpe: f64,
    profit_factor: Option<f64>,
    max_drawdown: f64,
    total_return: f64,
}

fn read<T: for<'de> Deserialize<'de>>(value: &serde_json::Value, what: &str) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        Error::InvalidInput(format!(
            "the {what} result cannot be assessed: {}: {}",
            err.path(),
            err.inner()
        ))
    })
}

/// The majority-class share of the test rows: the accuracy of always answering the commonest
/// class.
pub fn baseline_accuracy(confusion: &[[u64; 3]; 3]) -> Option<f64> {
    let rows: Vec<u64> = confusion.iter().map(|row| row.iter().sum()).collect();
    let total: u64 = rows.iter().sum();
    (total > 0).then(|| *rows.iter().max().expect("three rows") as f64 / total as f64)
}

/// Judges one experiment by its training and (when there was one) backtest result.
pub fn assess(ctx: &AssessmentContext) -> Result<Assessment> {
    let training: Training = read(&ctx.training, "training")?;
    let backtest: Option<Backtest> = match &ctx.backtest {
        serde_json::Value::Null => None,
        value => Some(read(value, "backtest")?),
    };
    let baseline = training
        .baseline_accuracy
        .or_else(|| baseline_accuracy(&training.confusion_matrix))
        .ok_or_else(|| {
            Error::InvalidInput(
                "the training result cannot be assessed: its confusion matrix is empty (no test \
                 rows)"
                    .into(),
            )
        })?;
    let mut findings = Findings::default();
    let edge = training.test_accuracy - baseline;

    // The model.
    if edge >= EDGE_STRONG {
        findings.strength(format!(
            "test accuracy {:.3} beats the majority-class baseline {baseline:.3} by {edge:.3}",
            training.test_accuracy
        ));
    } else if edge <= 0.0 {
        findings.weakness(
            Suggestion::RetuneLabels,
            format!(
                "test accuracy {:.3} is not above the majority-class baseline {baseline:.3}",
                training.test_accuracy
            ),
        );
    }
    let confusion = &training.confusion_matrix;
    for (class, name) in CLASSES.iter().enumerate() {
        let predicted: u64 = confusion.iter().map(|row| row[class]).sum();
        let present: u64 = confusion[class].iter().sum();
        if predicted == 0 && present > 0 {
            findings.weakness(
                Suggestion::RetuneLabels,
                format!("{name} is never predicted ({present} test rows are {name})"),
            );
        }
    }
    let best = training
        .best_epoch
        .and_then(|best| training.history.iter().find(|epoch| epoch.epoch == best))
        .or(training.history.last());
    if let Some(best) = best {
        let gap = best.val_accuracy - training.test_accuracy;
        if gap > MAX_ACCURACY_GAP {
            findings.weakness(
                Suggestion::Regularize,
                format!(
                    "validation accuracy {:.3} but test accuracy {:.3}: a gap of {gap:.3} \
                     (overfits the validation period)",
                    best.val_accuracy, training.test_accuracy
                ),
            );
        } else if gap.abs() <= 0.03 {
            findings.strength(format!(
                "validation and test accuracy agree ({:.3} and {:.3})",
                best.val_accuracy, training.test_accuracy
            ));
        }
        if let Some(first) = training.history.first()
            && first.val_loss.is_finite()
            && best.val_loss.is_finite()
        {
            if best.val_loss < first.val_loss * 0.95 {
                findings.strength(format!(
                    "validation loss fell from {:.3} to {:.3}",
                    first.val_loss, best.val_loss
                ));
            } else if training.history.len() > 1 {
                findings.weakness(
                    Suggestion::Enrich,
                    format!(
                        "validation loss hardly fell ({:.3} to {:.3}): the inputs tell the model \
                         little",
                        first.val_loss, best.val_loss
                    ),
                );
            }
        }
    }

    // The backtest.
    let mut quality = 4.0 * edge;
    match &backtest {
        None => {
            findings.weakness(
                Suggestion::Explore,
                "no backtest to judge the trading by".into(),
            );
            quality -= 0.5;
        }
        Some(Backtest { metrics }) => {
            if metrics.trades < MIN_TRADES {
                findings.weakness(
                    Suggestion::MoreTrades,
                    format!(
                        "only {} trades (fewer than {MIN_TRADES}): too few to judge",
                        metrics.trades
                    ),
                );
                quality -= 0.5;
            } else if metrics.trades >= 50 {
                findings.strength(format!("{} trades: enough to judge by", metrics.trades));
            }
            match metrics.profit_factor {
                Some(factor) if factor < 1.0 => findings.weakness(
                    Suggestion::Enrich,
                    format!(
                        "profit factor {factor:.2} < 1: the losing trades outweigh the winners"
                    ),
                ),
                Some(factor) if factor >= 1.2 => {
                    findings.strength(format!("profit factor {factor:.2}"))
                }
                None if metrics.trades > 0 => findings.strength("no losing trade".into()),
                _ => {}
            }
            if metrics.sharpe < 0.0 {
                findings.weakness(
                    Suggestion::Enrich,
                    format!("negative Sharpe ratio {:.2}", metrics.sharpe),
                );
            } else if metrics.sharpe >= 1.0 {
                findings.strength(format!("Sharpe ratio {:.2}", metrics.sharpe));
            }
            if metrics.max_drawdown > DRAWDOWN_MAX {
                findings.weakness(
                    Suggestion::Regularize,
                    format!(
                        "max drawdown {:.1} % (over {:.0} %)",
                        metrics.max_drawdown * 100.0,
                        DRAWDOWN_MAX * 100.0
                    ),
                );
            } else if metrics.max_drawdown <= 0.15 && metrics.trades > 0 {
                findings.strength(format!(
                    "max drawdown only {:.1} %",
                    metrics.max_drawdown * 100.0
                ));
            }
            if metrics.trades > 0 && metrics.win_rate >= 0.5 {
                findings.strength(format!("win rate {:.0} %", metrics.win_rate * 100.0));
            }
            let factor = metrics.profit_factor.unwrap_or(10.0).clamp(0.1, 10.0);
            quality +=
                0.5 * metrics.sharpe.clamp(-4.0, 4.0) + 0.5 * factor.ln() - metrics.max_drawdown;
            if metrics.total_return > 0.0 && metrics.trades > 0 {
                findings.strength(format!(
                    "total return {:+.2} %",
                    metrics.total_return * 100.0
                ));
            }
        }
    }

    let no_trades = backtest.as_ref().is_some_and(|b| b.metrics.trades == 0);
    let verdict = if edge <= EDGE_NONE || no_trades {
        Verdict::NoSignal
    } else if edge >= EDGE_STRONG
        && !findings.has(Suggestion::Regularize)
        && !findings.has(Suggestion::RetuneLabels)
        && backtest.as_ref().is_some_and(|Backtest { metrics }| {
            metrics.trades >= MIN_TRADES
                && metrics.sharpe >= SHARPE_STRONG
                && metrics
                    .profit_factor
                    .is_none_or(|f| f >= PROFIT_FACTOR_STRONG)
                && metrics.max_drawdown <= DRAWDOWN_STRONG
        })
    {
        Verdict::Strong
    } else {
        Verdict::Weak
    };
    let tier = match verdict {
        Verdict::Strong => 2.0,
        Verdict::Weak => 1.0,
        Verdict::NoSignal => 0.0,
    };
    let suggestion = findings.suggestion(verdict);
    Ok(Assessment {
        verdict,
        strengths: findings.strengths,
        weaknesses: findings.weaknesses,
        suggestion: suggestion.text(),
        score: tier + 0.5 * quality.tanh(),
    })
}

#[derive(Default)]
struct Findings {
    strengths: Vec<String>,
    weaknesses: Vec<String>,
    /// What each weakness suggests, in the order found.
    suggests: Vec<Suggestion>,
}

impl Findings {
    fn strength(&mut self, text: String) {
        self.strengths.push(text);
    }

    fn weakness(&mut self, suggestion: Suggestion, text: String) {
        self.weaknesses.push(text);
        self.suggests.push(suggestion);
    }

    fn has(&self, suggestion: Suggestion) -> bool {
        self.suggests.contains(&suggestion)
    }

    /// The most pressing weakness's suggestion: labels a model cannot learn first, then
    /// overfitting, too few trades, unprofitable trades; a strong result is refined, anything
    /// else explored.
    fn suggestion(&self, verdict: Verdict) -> Suggestion {
        let order = [
            Suggestion::RetuneLabels,
            Suggestion::Regularize,
            Suggestion::MoreTrades,
            Suggestion::Enrich,
        ];
        order
            .into_iter()
            .find(|suggestion| self.has(*suggestion))
            .unwrap_or(if verdict == Verdict::Strong {
                Suggestion::Refine
            } else {
                Suggestion::Explore
            })
    }
}
