//! `ktrdr results`: what a person reads — in sample or not, the baseline, per-class figures,
//! sparklines, warnings, reproducibility — for results of today and of before these fields
//! existed; and the `--html` page, rendered by a real headless chromium (scripts/ensure-chromium.sh
//! installs it): the screenshot is not blank, and the coordinates of the drawn lines, turned back
//! through the chart's scales, are the result's own numbers.

mod support;

use std::{collections::BTreeMap, path::Path, process::Command};

use chrono::{TimeZone, Utc};
use ktrdr::artifacts::ArtifactRef;
use ktrdr_testkit::TestDatabase;
use ktrdr_trading::{
    backtest::{self, BacktestConfig, Prediction, Signal},
    features::LABEL_NAMES,
    kinds::{
        BacktestResult, DateRange, EpochRecord, ModelArtifacts, Overlap, Reproducibility,
        SplitDates, SplitRows, TrainingResult, WindowSource, evaluation,
    },
    market_data::{Calendar, SynthSpec, Timeframe, bars_sha256, synthesize},
};
use serde_json::Value;
use sqlx::PgPool;
use support::{ktrdr, stderr};

#[path = "support/png.rs"]
mod png;

/// Stores `result` as the result of a completed operation of `operation_type`; returns its id.
async fn completed_with(pool: &PgPool, operation_type: &str, result: Value) -> String {
    let id = ktrdr_testkit::submit_through_sql(pool, operation_type, serde_json::json!({}))
        .await
        .unwrap();
    let claimed = ktrdr_testkit::claim_next(pool, "results-test", operation_type)
        .await
        .unwrap()
        .expect("the submitted operation");
    claimed.lease.complete(pool, result).await.unwrap();
    id
}

fn reproducibility(bars: &[ktrdr_trading::market_data::Bar]) -> Reproducibility {
    Reproducibility {
        ktrdr_version: "0.1.0".into(),
        git_commit: "0123456789abcdef0123456789abcdef01234567".into(),
        libtorch_version: "2.13.0+cu130".into(),
        threads: 2,
        device: "Cpu".into(),
        bars_sha256: bars_sha256(bars),
        bars: bars.len(),
        seed: 42,
    }
}

/// A backtest result from the real engine: three months of synthetic EURUSD, a signal flipping
/// every 50 bars, traded in sample (its range overlaps a training period).
fn backtest_result() -> BacktestResult {
    let bars = synthesize(&SynthSpec {
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        start: Utc.with_ymd_and_hms(2023, 1, 2, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2023, 4, 1, 0, 0, 0).unwrap(),
        seed: 4,
    })
    .unwrap();
    let predictions: Vec<Prediction> = (0..bars.len())
        .map(|i| Prediction {
            signal: if (i / 50) % 2 == 0 {
                Signal::Buy
            } else {
                Signal::Sell
            },
            confidence: 0.9,
        })
        .collect();
    let timestamps: Vec<_> = bars.iter().map(|bar| bar.ts).collect();
    let calendar = Calendar::of_timestamps(&timestamps, Timeframe::H1).unwrap();
    let config = BacktestConfig {
        periods_per_year: calendar.periods_per_year,
        ..BacktestConfig::for_timeframe(Timeframe::H1)
    };
    let metrics = backtest::backtest(&bars, &predictions, config).unwrap();
    BacktestResult {
        strategy: "rsi_macd_trend".into(),
        model: "op_training_x".into(),
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        metrics,
        resumed_from_bar: None,
        checkpoints_saved: 0,
        checkpoint_save_failures: 0,
        window: Some(DateRange {
            start: bars[0].ts,
            end: bars[bars.len() - 1].ts,
        }),
        window_source: Some(WindowSource::Given),
        in_sample: true,
        overlap: Overlap {
            train: 700,
            validation: 150,
        },
        warmup_bars: 0,
        calendar: Some(calendar),
        warnings: vec![
            "in sample: 700 of the bars traded lie in the model's training period".into(),
        ],
        reproducibility: Some(reproducibility(&bars)),
    }
}

/// A training result whose test accuracy (0.226) is below always-HOLD's (0.467), as in issue 14.
fn training_result() -> TrainingResult {
    let confusion = [[30, 40, 30], [90, 35, 85], [50, 45, 25]];
    let evaluation = evaluation::evaluate(&confusion, &LABEL_NAMES);
    let test_accuracy = 90.0 / 430.0;
    let day = |d| Utc.with_ymd_and_hms(2023, 1, d, 0, 0, 0).unwrap();
    let range = |start, end| DateRange {
        start: day(start),
        end: day(end),
    };
    TrainingResult {
        strategy: "rsi_macd_trend".into(),
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        bars: SplitRows {
            train: 2000,
            validation: 430,
            test: 430,
        },
        features: 12,
        epochs_run: 6,
        best_epoch: 3,
        stopped_early: true,
        history: (0..6)
            .map(|epoch| EpochRecord {
                epoch,
                train_loss: 1.1 - 0.05 * epoch as f64,
                val_loss: 1.08 - 0.03 * epoch as f64 + 0.012 * (epoch as f64 - 3.0).powi(2),
                val_accuracy: 0.30 + 0.02 * epoch as f64,
            })
            .collect(),
        test_accuracy,
        parameters_sha256: "ab".repeat(32),
        resumed_from_epoch: None,
        checkpoints_saved: 1,
        checkpoint_save_failures: 0,
        confusion_matrix: confusion,
        class_balance: BTreeMap::from([
            ("BUY".into(), 500),
            ("HOLD".into(), 1000),
            ("SELL".into(), 500),
        ]),
        device: "Cpu".into(),
        model: ModelArtifacts {
            weights: ArtifactRef {
                location: "db:models/x/weights.ot".into(),
                sha256: "cd".repeat(32),
                size_bytes: 1000,
            },
            metadata: ArtifactRef {
                location: "db:models/x/model.json".into(),
                sha256: "ef".repeat(32),
                size_bytes: 100,
            },
            safetensors: None,
            test_predictions: None,
            store: "database".into(),
        },
        split: Some(SplitDates {
            train: range(1, 20),
            validation: range(21, 25),
            test: range(26, 30),
        }),
        warnings: evaluation.warnings(test_accuracy),
        baseline_accuracy: Some(evaluation.baseline_accuracy),
        baseline_class: Some(evaluation.baseline_class),
        class_metrics: evaluation.per_class,
        fuzzy_set_activity: BTreeMap::new(),
        reproducibility: None,
    }
}

/// `value` without the fields ktrdr added to results in issue 14: what an older worker stored.
fn as_stored_before(mut value: Value, added: &[&str], added_metrics: &[&str]) -> Value {
    for field in added {
        value.as_object_mut().unwrap().remove(*field);
    }
    if let Some(metrics) = value.get_mut("metrics") {
        for field in added_metrics {
            metrics.as_object_mut().unwrap().remove(*field);
        }
    }
    value
}

fn stdout(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn results_say_in_sample_baseline_and_show_sparklines() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let backtest = completed_with(
        pool,
        "backtesting",
        serde_json::to_value(backtest_result())?,
    )
    .await;
    let training = completed_with(pool, "training", serde_json::to_value(training_result())?).await;

    let shown = stdout(&ktrdr(test_db.url(), &["results", &backtest]));
    for expected in [
        "IN SAMPLE: 700 bars in the model's training period, 150 in its validation period",
        "warning: in sample: 700 of the bars traded",
        "buy and hold return",
        "max drawdown duration",
        "SQN",
        "exposure",
        "periods per year",
        "Reproducibility: ktrdr 0.1.0 (0123456789abcdef0123456789abcdef01234567), libtorch 2.13.0+cu130",
    ] {
        assert!(shown.contains(expected), "no {expected:?} in:\n{shown}");
    }
    let equity = shown.lines().find(|l| l.starts_with("Equity: ")).unwrap();
    assert_eq!(equity.chars().count(), "Equity: ".len() + 60, "{equity}");

    let shown = stdout(&ktrdr(test_db.url(), &["results", &training]));
    for expected in [
        "Baseline: 0.488 for always predicting HOLD",
        "warning: no better than the baseline: test accuracy 0.209 against 0.488",
        "PRECISION",
        "Split: train 2023-01-01 00:00 – 2023-01-20 00:00 (2000 rows)",
        "Reproducibility: not recorded",
    ] {
        assert!(shown.contains(expected), "no {expected:?} in:\n{shown}");
    }
    let loss = shown
        .lines()
        .find(|l| l.starts_with("Validation loss: "))
        .unwrap();
    assert_eq!(
        loss.chars().count(),
        "Validation loss: ".len() + 6,
        "{loss}"
    );

    // --json is the stored result, new fields included.
    let json: Value = serde_json::from_str(&stdout(&ktrdr(
        test_db.url(),
        &["results", &backtest, "--json"],
    )))?;
    assert_eq!(json["in_sample"], true);
    assert_eq!(json["overlap"]["train"], 700);
    assert!(json["metrics"]["periods_per_year"].as_f64().unwrap() > 6000.0);
    Ok(())
}

#[tokio::test]
async fn results_stored_before_the_new_fields_still_display() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let old_backtest = as_stored_before(
        serde_json::to_value(backtest_result())?,
        &[
            "window",
            "window_source",
            "in_sample",
            "overlap",
            "warmup_bars",
            "calendar",
            "warnings",
            "reproducibility",
        ],
        &[
            "periods_per_year",
            "buy_and_hold_return",
            "exposure",
            "max_drawdown_duration_bars",
            "max_drawdown_duration_days",
            "expectancy",
            "sqn",
        ],
    );
    let old_training = as_stored_before(
        serde_json::to_value(training_result())?,
        &[
            "split",
            "baseline_accuracy",
            "baseline_class",
            "class_metrics",
            "fuzzy_set_activity",
            "warnings",
            "reproducibility",
        ],
        &[],
    );
    let backtest = completed_with(pool, "backtesting", old_backtest).await;
    let training = completed_with(pool, "training", old_training).await;
    let shown = stdout(&ktrdr(test_db.url(), &["results", &backtest]));
    assert!(
        shown.contains("Sample: not recorded (a result from before ktrdr checked it)"),
        "{shown}"
    );
    assert!(shown.contains("Reproducibility: not recorded"), "{shown}");
    let shown = stdout(&ktrdr(test_db.url(), &["results", &training]));
    assert!(shown.contains("test accuracy 0.209"), "{shown}");
    assert!(!shown.contains("Baseline:"), "{shown}");
    let page = test_db_page(test_db.url(), &backtest);
    assert!(page.contains("Sample: not recorded"));
    Ok(())
}

/// The page `ktrdr results <id> --html` writes.
fn test_db_page(url: &str, id: &str) -> String {
    let dir = std::env::temp_dir().join(format!("ktrdr-page-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("page.html");
    let output = ktrdr(url, &["results", id, "--html", file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    std::fs::read_to_string(&file).unwrap()
}

/// Debian's chromium, as scripts/ensure-chromium.sh installs it.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn headless(browser: &str, args: &[&str]) -> std::process::Output {
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .args(args)
        .output()
        .expect("chromium runs");
    assert!(output.status.success(), "chromium: {}", stderr(&output));
    output
}

/// The attribute `name` of the first tag in `tag` (an element's opening text).
fn attribute<'a>(tag: &'a str, name: &str) -> &'a str {
    let start = tag
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
        + name.len()
        + 3;
    &tag[start..start + tag[start..].find('"').unwrap()]
}

/// Every value the polyline `series` of the page's DOM draws, read back through its chart's scales:
/// (x, y) in the data's units.
fn plotted(dom: &str, series: &str) -> Vec<(f64, f64)> {
    let at = dom
        .find(&format!("data-series=\"{series}\""))
        .unwrap_or_else(|| panic!("no {series} line"));
    let svg_start = dom[..at].rfind("<svg").unwrap();
    let svg = &dom[svg_start..svg_start + dom[svg_start..].find('>').unwrap()];
    let number = |name: &str| attribute(svg, name).parse::<f64>().unwrap();
    let (left, right, top, bottom) = (
        number("data-left"),
        number("data-right"),
        number("data-top"),
        number("data-bottom"),
    );
    let (x_min, x_max, y_min, y_max) = (
        number("data-x-min"),
        number("data-x-max"),
        number("data-y-min"),
        number("data-y-max"),
    );
    let line_start = dom[..at].rfind('<').unwrap();
    let line = &dom[line_start..line_start + dom[line_start..].find('>').unwrap()];
    attribute(line, "points")
        .split(' ')
        .map(|point| {
            let (x, y) = point.split_once(',').unwrap();
            let (x, y): (f64, f64) = (x.parse().unwrap(), y.parse().unwrap());
            (
                x_min + (x - left) / (right - left) * (x_max - x_min),
                y_min + (bottom - y) / (bottom - top) * (y_max - y_min),
            )
        })
        .collect()
}

fn assert_plotted(drawn: &[(f64, f64)], expected: &[(f64, f64)], what: &str) {
    assert_eq!(drawn.len(), expected.len(), "{what}: points");
    let span = |f: fn(&(f64, f64)) -> f64| {
        let values: Vec<f64> = expected.iter().map(f).collect();
        values.iter().copied().fold(f64::MIN, f64::max)
            - values.iter().copied().fold(f64::MAX, f64::min)
    };
    let (x_span, y_span) = (span(|p| p.0).max(1.0), span(|p| p.1).max(1e-9));
    for (i, (d, e)) in drawn.iter().zip(expected).enumerate() {
        // Coordinates are written to 1/1000 of a pixel on a plot of 800 × 210 pixels.
        assert!(
            (d.0 - e.0).abs() <= 1e-5 * x_span,
            "{what} point {i}: x {} against {}",
            d.0,
            e.0
        );
        assert!(
            (d.1 - e.1).abs() <= 1e-5 * y_span,
            "{what} point {i}: y {} against {}",
            d.1,
            e.1
        );
    }
}

fn render(browser: &str, page: &Path) -> (String, png::Image) {
    let url = format!("file://{}", page.display());
    let dom = String::from_utf8(headless(browser, &["--dump-dom", &url]).stdout).unwrap();
    let shot = page.with_extension("png");
    headless(
        browser,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1000,900",
            &url,
        ],
    );
    let image = png::decode(&std::fs::read(&shot).unwrap());
    (dom, image)
}

#[tokio::test]
async fn html_pages_render_in_chromium_and_plot_the_results_numbers() -> anyhow::Result<()> {
    let Some(browser) = chromium() else {
        eprintln!(
            "\n!!! SKIPPED: no chromium on this machine (scripts/ensure-chromium.sh installs it) !!!\n"
        );
        return Ok(());
    };
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let backtest_result = backtest_result();
    let training_result = training_result();
    let backtest =
        completed_with(pool, "backtesting", serde_json::to_value(&backtest_result)?).await;
    let training = completed_with(pool, "training", serde_json::to_value(&training_result)?).await;

    for (id, kind) in [(&backtest, "backtest"), (&training, "training")] {
        let page = test_db_page(test_db.url(), id);
        // Self-contained: nothing to fetch, so it works offline.
        for outside in ["http:", "https:", "src=", "<link", "@import", "<script"] {
            assert!(!page.contains(outside), "{kind} page holds {outside:?}");
        }
        let file = std::env::temp_dir()
            .join(format!("ktrdr-page-{id}"))
            .join("page.html");
        let (dom, image) = render(browser, &file);
        assert!(
            image.width >= 900 && image.height >= 800,
            "{}×{}",
            image.width,
            image.height
        );
        let share = image.non_white() as f64 / (image.width * image.height) as f64;
        assert!(
            share > 0.01,
            "{kind} screenshot is blank: {:.4} % non-white",
            share * 100.0
        );

        if kind == "backtest" {
            let m = &backtest_result.metrics;
            let seconds = |ts: chrono::DateTime<Utc>| ts.timestamp() as f64;
            let equity: Vec<(f64, f64)> = m
                .equity_curve
                .iter()
                .map(|p| (seconds(p.ts), p.equity))
                .collect();
            assert_plotted(&plotted(&dom, "equity"), &equity, "equity");
            let mut peak = m.initial_capital;
            let drawdown: Vec<(f64, f64)> = equity
                .iter()
                .map(|&(x, e)| {
                    peak = f64::max(peak, e);
                    (x, -(peak - e) / peak)
                })
                .collect();
            assert_plotted(&plotted(&dom, "drawdown"), &drawdown, "drawdown");
            assert!(m.trades > 5, "{} trades", m.trades);
            assert_eq!(dom.matches("data-trade=\"exit\"").count(), m.trades);
            let entries = dom.matches("data-trade=\"long-entry\"").count()
                + dom.matches("data-trade=\"short-entry\"").count();
            assert_eq!(entries, m.trades);
            assert!(dom.contains("IN SAMPLE"));
        } else {
            let history = &training_result.history;
            let series = |f: fn(&EpochRecord) -> f64| -> Vec<(f64, f64)> {
                history.iter().map(|e| (e.epoch as f64, f(e))).collect()
            };
            assert_plotted(
                &plotted(&dom, "val_loss"),
                &series(|e| e.val_loss),
                "val_loss",
            );
            assert_plotted(
                &plotted(&dom, "train_loss"),
                &series(|e| e.train_loss),
                "train_loss",
            );
            assert_plotted(
                &plotted(&dom, "val_accuracy"),
                &series(|e| e.val_accuracy),
                "val_accuracy",
            );
            assert!(dom.contains("no better than the baseline"));
        }
    }
    Ok(())
}
