//! The built-in assessment: each rule fires on a result built for it, the verdicts follow the
//! rules, and the score ranks experiments. Results are the real typed results, serialised as the
//! training and backtesting jobs store them.

use std::collections::BTreeMap;

use ktrdr::artifacts::ArtifactRef;
use ktrdr_trading::{
    backtest::BacktestMetrics,
    kinds::{BacktestResult, EpochRecord, ModelArtifacts, SplitRows, TrainingResult},
    market_data::Timeframe,
    research::{self, Assessment, AssessmentContext, Suggestion, Verdict},
};

/// A training whose test rows are 30 BUY, 40 HOLD, 30 SELL (baseline 0.4), predicted with the
/// given matrix; validation accuracy at the best epoch `val_accuracy`.
fn training(confusion: [[u64; 3]; 3], val_accuracy: f64) -> TrainingResult {
    let total: u64 = confusion.iter().flatten().sum();
    let correct: u64 = (0..3).map(|i| confusion[i][i]).sum();
    let artifact = ArtifactRef {
        location: "db:1".into(),
        sha256: "0".repeat(64),
        size_bytes: 1,
    };
    TrainingResult {
        strategy: "r_momentum_0123456789".into(),
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        bars: SplitRows {
            train: 700,
            validation: 150,
            test: total as i64,
        },
        features: 9,
        epochs_run: 3,
        best_epoch: 2,
        stopped_early: false,
        history: vec![
            EpochRecord {
                epoch: 1,
                train_loss: 1.1,
                val_loss: 1.1,
                val_accuracy: 0.35,
            },
            EpochRecord {
                epoch: 2,
                train_loss: 0.9,
                val_loss: 0.95,
                val_accuracy,
            },
            EpochRecord {
                epoch: 3,
                train_loss: 0.8,
                val_loss: 0.97,
                val_accuracy: val_accuracy - 0.01,
            },
        ],
        test_accuracy: correct as f64 / total as f64,
        parameters_sha256: "0".repeat(64),
        resumed_from_epoch: None,
        checkpoints_saved: 0,
        checkpoint_save_failures: 0,
        confusion_matrix: confusion,
        class_balance: BTreeMap::from([
            ("BUY".into(), 210),
            ("HOLD".into(), 280),
            ("SELL".into(), 210),
        ]),
        device: "cpu".into(),
        model: ModelArtifacts {
            weights: artifact.clone(),
            metadata: artifact,
            safetensors: None,
            test_predictions: None,
            store: "database".into(),
        },
        split: None,
        baseline_accuracy: None,
        baseline_class: None,
        class_metrics: BTreeMap::new(),
        fuzzy_set_activity: BTreeMap::new(),
        warnings: vec![],
        reproducibility: None,
    }
}

/// 55 of 100 right (baseline 0.40): an edge of 0.15, every class predicted.
const GOOD: [[u64; 3]; 3] = [[17, 8, 5], [6, 24, 10], [5, 11, 14]];

fn backtest(
    trades: usize,
    sharpe: f64,
    profit_factor: Option<f64>,
    drawdown: f64,
) -> BacktestResult {
    BacktestResult {
        strategy: "r_momentum_0123456789".into(),
        model: "op_training".into(),
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        metrics: BacktestMetrics {
            bars: 1000,
            periods_per_year: 6_200.0,
            initial_capital: 100_000.0,
            final_equity: 104_000.0,
            total_return: 0.04,
            annualized_return: 0.3,
            volatility: 0.1,
            sharpe,
            sortino: sharpe,
            max_drawdown: drawdown,
            calmar: 1.0,
            trades,
            win_rate: 0.55,
            profit_factor,
            avg_win: 300.0,
            avg_loss: -200.0,
            total_commission: 50.0,
            buy_and_hold_return: 0.0,
            exposure: 0.5,
            max_drawdown_duration_bars: 0,
            max_drawdown_duration_days: 0.0,
            expectancy: 40.0,
            sqn: 1.0,
            equity_curve: vec![],
            trade_list: vec![],
        },
        resumed_from_bar: None,
        checkpoints_saved: 0,
        checkpoint_save_failures: 0,
        window: None,
        window_source: None,
        in_sample: false,
        overlap: Default::default(),
        warmup_bars: 0,
        calendar: None,
        warnings: vec![],
        reproducibility: None,
    }
}

fn assess(training: &TrainingResult, backtest: Option<&BacktestResult>) -> Assessment {
    research::assess(&AssessmentContext {
        strategy_name: training.strategy.clone(),
        strategy_yaml: String::new(),
        training: serde_json::to_value(training).unwrap(),
        backtest: backtest.map_or(serde_json::Value::Null, |b| {
            serde_json::to_value(b).unwrap()
        }),
    })
    .unwrap()
}

fn has(texts: &[String], part: &str) -> bool {
    texts.iter().any(|text| text.contains(part))
}

fn suggests(assessment: &Assessment) -> Suggestion {
    Suggestion::parse(&assessment.suggestion)
        .unwrap_or_else(|| panic!("no tag in {:?}", assessment.suggestion))
}

#[test]
fn a_good_model_that_trades_well_is_strong() {
    let strong = assess(
        &training(GOOD, 0.56),
        Some(&backtest(60, 1.4, Some(1.5), 0.08)),
    );
    assert_eq!(strong.verdict, Verdict::Strong, "{strong:#?}");
    assert!(
        has(
            &strong.strengths,
            "beats the majority-class baseline 0.400 by 0.150"
        ),
        "{strong:#?}"
    );
    assert!(has(&strong.strengths, "validation and test accuracy agree"));
    assert!(has(
        &strong.strengths,
        "validation loss fell from 1.100 to 0.950"
    ));
    assert!(has(&strong.strengths, "60 trades"));
    assert!(has(&strong.strengths, "profit factor 1.50"));
    assert!(strong.weaknesses.is_empty(), "{:?}", strong.weaknesses);
    assert_eq!(suggests(&strong), Suggestion::Refine);
    assert!(strong.score > 2.0);
}

#[test]
fn a_validation_test_gap_is_overfitting() {
    let gap = assess(
        &training(GOOD, 0.75),
        Some(&backtest(60, 1.4, Some(1.5), 0.08)),
    );
    assert!(
        has(
            &gap.weaknesses,
            "validation accuracy 0.750 but test accuracy 0.550"
        ),
        "{gap:#?}"
    );
    assert_eq!(gap.verdict, Verdict::Weak);
    assert_eq!(suggests(&gap), Suggestion::Regularize);
}

#[test]
fn fewer_than_20_trades_are_too_few_to_judge() {
    let few = assess(
        &training(GOOD, 0.56),
        Some(&backtest(7, 1.4, Some(1.5), 0.08)),
    );
    assert!(
        has(&few.weaknesses, "only 7 trades (fewer than 20)"),
        "{few:#?}"
    );
    assert_eq!(few.verdict, Verdict::Weak);
    assert_eq!(suggests(&few), Suggestion::MoreTrades);
    let enough = assess(
        &training(GOOD, 0.56),
        Some(&backtest(20, 1.4, Some(1.5), 0.08)),
    );
    assert!(!has(&enough.weaknesses, "trades"), "{enough:#?}");
}

#[test]
fn a_profit_factor_below_1_is_a_weakness() {
    let losing = assess(
        &training(GOOD, 0.56),
        Some(&backtest(60, -0.3, Some(0.8), 0.2)),
    );
    assert!(
        has(&losing.weaknesses, "profit factor 0.80 < 1"),
        "{losing:#?}"
    );
    assert!(has(&losing.weaknesses, "negative Sharpe ratio -0.30"));
    assert_eq!(losing.verdict, Verdict::Weak);
    assert_eq!(suggests(&losing), Suggestion::Enrich);
}

#[test]
fn a_class_never_predicted_is_a_weakness() {
    // Never SELL, although 30 test rows are SELL; accuracy 0.57 is still above the baseline.
    let confusion = [[20, 10, 0], [7, 33, 0], [10, 20, 0]];
    let blind = assess(
        &training(confusion, 0.55),
        Some(&backtest(60, 1.4, Some(1.5), 0.08)),
    );
    assert!(
        has(
            &blind.weaknesses,
            "SELL is never predicted (30 test rows are SELL)"
        ),
        "{blind:#?}"
    );
    assert!(!has(&blind.weaknesses, "BUY is never"));
    assert_ne!(blind.verdict, Verdict::Strong);
    assert_eq!(suggests(&blind), Suggestion::RetuneLabels);
}

#[test]
fn accuracy_at_the_majority_class_baseline_is_no_signal() {
    // Test rows: 20 BUY, 60 HOLD, 20 SELL; always HOLD is right 60 % of the time, so is the
    // model, which never says SELL.
    let confusion = [[5, 15, 0], [5, 55, 0], [5, 15, 0]];
    let baseline = research::baseline_accuracy(&confusion).unwrap();
    assert!((baseline - 0.6).abs() < 1e-12);
    let none = assess(
        &training(confusion, 0.55),
        Some(&backtest(60, 1.4, Some(1.5), 0.08)),
    );
    assert_eq!(none.verdict, Verdict::NoSignal, "{none:#?}");
    assert!(
        has(
            &none.weaknesses,
            "test accuracy 0.600 is not above the majority-class baseline 0.600"
        ),
        "{none:#?}"
    );
    assert!(has(&none.weaknesses, "SELL is never predicted"));
    assert_eq!(suggests(&none), Suggestion::RetuneLabels);
    assert!(none.score < 1.0);
}

#[test]
fn a_baseline_in_the_result_is_used_over_the_confusion_matrix() {
    let mut value = serde_json::to_value(training(GOOD, 0.56)).unwrap();
    value["baseline_accuracy"] = serde_json::json!(0.545);
    let assessment = research::assess(&AssessmentContext {
        strategy_name: "s".into(),
        strategy_yaml: String::new(),
        training: value,
        backtest: serde_json::to_value(backtest(60, 1.4, Some(1.5), 0.08)).unwrap(),
    })
    .unwrap();
    // 0.55 against 0.545: no edge worth the name.
    assert_eq!(assessment.verdict, Verdict::NoSignal, "{assessment:#?}");
}

#[test]
fn without_a_backtest_the_verdict_is_at_best_weak() {
    let alone = assess(&training(GOOD, 0.56), None);
    assert_eq!(alone.verdict, Verdict::Weak);
    assert!(has(&alone.weaknesses, "no backtest"));
    let no_trades = assess(&training(GOOD, 0.56), Some(&backtest(0, 0.0, None, 0.0)));
    assert_eq!(no_trades.verdict, Verdict::NoSignal, "{no_trades:#?}");
}

#[test]
fn the_score_ranks_verdicts_then_numbers() {
    let strong = assess(
        &training(GOOD, 0.56),
        Some(&backtest(60, 1.4, Some(1.5), 0.08)),
    );
    let weak_better = assess(
        &training(GOOD, 0.56),
        Some(&backtest(60, 0.3, Some(1.05), 0.1)),
    );
    let weak_worse = assess(
        &training(GOOD, 0.56),
        Some(&backtest(60, -1.0, Some(0.7), 0.35)),
    );
    let none = assess(
        &training([[5, 15, 0], [5, 55, 0], [5, 15, 0]], 0.55),
        Some(&backtest(60, 3.0, Some(3.0), 0.01)),
    );
    assert_eq!(
        [
            strong.verdict,
            weak_better.verdict,
            weak_worse.verdict,
            none.verdict
        ],
        [
            Verdict::Strong,
            Verdict::Weak,
            Verdict::Weak,
            Verdict::NoSignal
        ]
    );
    assert!(
        strong.score > weak_better.score,
        "{} {}",
        strong.score,
        weak_better.score
    );
    assert!(
        weak_better.score > weak_worse.score,
        "{} {}",
        weak_better.score,
        weak_worse.score
    );
    assert!(
        weak_worse.score > none.score,
        "{} {}",
        weak_worse.score,
        none.score
    );
}

#[test]
fn a_result_that_is_not_a_training_result_is_refused_with_the_field() {
    let err = research::assess(&AssessmentContext {
        strategy_name: "s".into(),
        strategy_yaml: String::new(),
        training: serde_json::json!({"confusion_matrix": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}),
        backtest: serde_json::Value::Null,
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("the training result cannot be assessed"),
        "{err}"
    );
    assert!(err.contains("test_accuracy"), "{err}");
    let err = research::assess(&AssessmentContext {
        strategy_name: "s".into(),
        strategy_yaml: String::new(),
        training: serde_json::to_value(training(GOOD, 0.56)).unwrap(),
        backtest: serde_json::json!({"metrics": {"trades": "many"}}),
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("the backtest result cannot be assessed: metrics.trades"),
        "{err}"
    );
}

#[test]
fn the_verdict_serialises_snake_case() {
    let strong = assess(
        &training(GOOD, 0.56),
        Some(&backtest(60, 1.4, Some(1.5), 0.08)),
    );
    let json = serde_json::to_value(&strong).unwrap();
    assert_eq!(json["verdict"], "strong");
    assert_eq!(
        serde_json::to_value(Verdict::NoSignal).unwrap(),
        "no_signal"
    );
}
