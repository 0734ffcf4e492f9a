//! `ktrdr results <op id>`: the outcome of a training (history, accuracy against its baseline,
//! confusion matrix with per-class figures, a sparkline of the validation loss) or a backtest
//! (whether it is in sample, metrics, a sparkline of the equity, trades) as tables, with their
//! warnings and reproducibility block; the raw result with `--json`; an offline HTML page with
//! `--html FILE`.

use chrono::{DateTime, Utc};
use clap::Args;
use ktrdr::{
    job_kinds::JobKind,
    operations::{self, Status},
};
use ktrdr_trading::{
    features::LABEL_NAMES,
    kinds::{BacktestResult, Backtesting, Reproducibility, Training, TrainingResult, WindowSource},
};

use crate::{
    output,
    report::{html, sparkline::sparkline},
};

#[derive(Debug, Args)]
pub struct ResultsArgs {
    operation_id: String,
    /// Show at most this many trades (backtests).
    #[arg(long, default_value_t = 20)]
    trades: usize,
    #[arg(long)]
    json: bool,
    /// Also write a self-contained HTML page of the result (charts; works offline) to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<std::path::PathBuf>,
}

/// Characters of a sparkline.
const SPARKLINE_WIDTH: usize = 60;

pub async fn run(args: ResultsArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let id = super::operation_id(&pool, &args.operation_id).await?;
    let mut op = operations::get(&pool, &id).await?;
    // Taken, not copied: a backtest's result holds every trade and the whole equity curve.
    let Some(result) = op.result.take().filter(|_| op.status == Status::Completed) else {
        anyhow::bail!(
            "{} has no results: it is {}{}",
            op.operation_id,
            op.status,
            op.error_message
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        );
    };
    if let Some(file) = &args.html {
        let page = match op.operation_type.as_str() {
            Training::NAME => {
                html::training_page(&op.operation_id, &Training::parse_result(&result)?)
            }
            Backtesting::NAME => {
                html::backtest_page(&op.operation_id, &Backtesting::parse_result(&result)?)
            }
            other => {
                anyhow::bail!("--html: {other} results have no page, only trainings and backtests")
            }
        };
        std::fs::write(file, page)
            .map_err(|err| anyhow::anyhow!("--html: cannot write {}: {err}", file.display()))?;
        if !args.json {
            eprintln!("wrote {}", file.display());
        }
    }
    if args.json {
        return output::print_json(&result);
    }
    match op.operation_type.as_str() {
        Training::NAME => print_training(&Training::parse_result(&result)?),
        Backtesting::NAME => print_backtest(&Backtesting::parse_result(&result)?, args.trades),
        _ => output::print_json(&result)?,
    }
    Ok(())
}

fn print_warnings(warnings: &[String]) {
    for warning in warnings {
        println!("warning: {warning}");
    }
}

fn print_reproducibility(reproducibility: Option<&Reproducibility>) {
    match reproducibility {
        Some(r) => println!(
            "Reproducibility: ktrdr {} ({}), libtorch {}, {} threads on {}, seed {}, {} bars sha256 {}",
            r.ktrdr_version,
            r.git_commit,
            r.libtorch_version,
            r.threads,
            r.device,
            r.seed,
            r.bars,
            r.bars_sha256
        ),
        None => println!("Reproducibility: not recorded (a result from before ktrdr recorded it)"),
    }
}

fn number(value: f64, digits: usize) -> String {
    format!("{value:.digits$}")
}

fn print_training(result: &TrainingResult) {
    println!(
        "Training of {} on {} {}: {} epochs (best {}), test accuracy {}",
        result.strategy,
        result.symbol,
        result.timeframe,
        result.epochs_run,
        result.best_epoch,
        number(result.test_accuracy, 3)
    );
    if let (Some(baseline), Some(class)) = (result.baseline_accuracy, &result.baseline_class) {
        println!(
            "Baseline: {} for always predicting {class}",
            number(baseline, 3)
        );
    }
    if let Some(split) = result.split {
        println!(
            "Split: train {} ({} rows), validation {} ({} rows), test {} ({} rows)",
            split.train,
            result.bars.train,
            split.validation,
            result.bars.validation,
            split.test,
            result.bars.test
        );
    }
    print_warnings(&result.warnings);
    let mut history = output::table(&["EPOCH", "TRAIN LOSS", "VAL LOSS", "VAL ACCURACY"]);
    for epoch in &result.history {
        history.add_row(vec![
            epoch.epoch.to_string(),
            number(epoch.train_loss, 4),
            number(epoch.val_loss, 4),
            number(epoch.val_accuracy, 3),
        ]);
    }
    println!("{history}");
    let val_loss: Vec<f64> = result.history.iter().map(|e| e.val_loss).collect();
    println!("Validation loss: {}", sparkline(&val_loss, SPARKLINE_WIDTH));
    let classes = LABEL_NAMES;
    let mut confusion = output::table(
        &[
            &["TRUE \\ PREDICTED"],
            &classes[..],
            &["PRECISION", "RECALL", "F1", "TRAIN BALANCE"],
        ]
        .concat(),
    );
    let ratio = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| number(v, 3));
    for (class, row) in classes.iter().zip(&result.confusion_matrix) {
        let mut cells = vec![class.to_string()];
        cells.extend(row.iter().map(u64::to_string));
        let metrics = result.class_metrics.get(*class);
        cells.push(ratio(metrics.and_then(|m| m.precision)));
        cells.push(ratio(metrics.and_then(|m| m.recall)));
        cells.push(ratio(metrics.and_then(|m| m.f1)));
        cells.push(
            result
                .class_balance
                .get(*class)
                .map_or_else(|| "-".into(), usize::to_string),
        );
        confusion.add_row(cells);
    }
    println!("{confusion}");
    println!("Model: {}", result.model.weights.location);
    print_reproducibility(result.reproducibility.as_ref());
    println!(
        "{}",
        checkpoint_summary(
            result.checkpoints_saved,
            result.checkpoint_save_failures,
            result.resumed_from_epoch,
            "epoch"
        )
    );
}

/// `Checkpoints: N saved[, N failed to save]; resumed from <unit> N` (or `started from scratch`).
fn checkpoint_summary(
    saved: usize,
    failures: usize,
    resumed_from: Option<usize>,
    unit: &str,
) -> String {
    let failed = if failures > 0 {
        format!(", {failures} failed to save")
    } else {
        String::new()
    };
    let start = match resumed_from {
        Some(at) => format!("resumed from {unit} {at}"),
        None => "started from scratch".into(),
    };
    format!("Checkpoints: {saved} saved{failed}; {start}")
}

fn print_backtest(result: &BacktestResult, max_trades: usize) {
    let m = &result.metrics;
    let percent = |v: f64| format!("{:.2}%", v * 100.0);
    let mut metrics = output::table(&["METRIC", "VALUE"]);
    for (name, value) in [
        ("initial capital", number(m.initial_capital, 2)),
        ("final equity", number(m.final_equity, 2)),
        ("total return", percent(m.total_return)),
        ("annualized return", percent(m.annualized_return)),
        ("volatility", percent(m.volatility)),
        ("sharpe", number(m.sharpe, 2)),
        ("sortino", number(m.sortino, 2)),
        ("max drawdown", percent(m.max_drawdown)),
        (
            "max drawdown duration",
            format!(
                "{} bars ({} days)",
                m.max_drawdown_duration_bars,
                number(m.max_drawdown_duration_days, 1)
            ),
        ),
        ("calmar", number(m.calmar, 2)),
        ("buy and hold return", percent(m.buy_and_hold_return)),
        ("exposure", percent(m.exposure)),
        ("trades", m.trades.to_string()),
        ("win rate", percent(m.win_rate)),
        (
            "profit factor",
            m.profit_factor.map_or_else(|| "-".into(), |v| number(v, 2)),
        ),
        ("average win", number(m.avg_win, 2)),
        ("average loss", number(m.avg_loss, 2)),
        ("expectancy", number(m.expectancy, 2)),
        ("SQN", number(m.sqn, 2)),
        ("commission", number(m.total_commission, 2)),
        (
            "periods per year",
            if m.periods_per_year > 0.0 {
                number(m.periods_per_year, 1)
            } else {
                "-".into()
            },
        ),
        ("warm-up bars", result.warmup_bars.to_string()),
    ] {
        metrics.add_row(vec![name.to_string(), value]);
    }
    println!(
        "Backtest of {} ({}) on {} {}, {} bars{}",
        result.strategy,
        result.model,
        result.symbol,
        result.timeframe,
        m.bars,
        result
            .window
            .map(|window| format!(", {window}"))
            .unwrap_or_default()
    );
    println!("{}", sample_line(result));
    print_warnings(&result.warnings);
    println!("{metrics}");
    let equity: Vec<f64> = m.equity_curve.iter().map(|p| p.equity).collect();
    println!("Equity: {}", sparkline(&equity, SPARKLINE_WIDTH));
    let mut table = output::table(&[
        "SIDE",
        "ENTRY",
        "EXIT",
        "QTY",
        "ENTRY PRICE",
        "EXIT PRICE",
        "NET PNL",
        "MFE",
        "MAE",
    ]);
    let minute = |time: DateTime<Utc>| time.format("%Y-%m-%d %H:%M").to_string();
    for trade in m.trade_list.iter().take(max_trades) {
        table.add_row(vec![
            trade.side.to_string(),
            minute(trade.entry_time),
            minute(trade.exit_time),
            trade.quantity.to_string(),
            number(trade.entry_price, 5),
            number(trade.exit_price, 5),
            number(trade.net_pnl, 2),
            number(trade.mfe, 2),
            number(trade.mae, 2),
        ]);
    }
    println!(
        "Trades ({} of {}):\n{table}",
        m.trade_list.len().min(max_trades),
        m.trade_list.len()
    );
    println!(
        "{}",
        checkpoint_summary(
            result.checkpoints_saved,
            result.checkpoint_save_failures,
            result.resumed_from_bar,
            "bar"
        )
    );
    print_reproducibility(result.reproducibility.as_ref());
}

/// `IN SAMPLE: …` or `Out of sample: …`, or that a result from before does not say.
fn sample_line(result: &BacktestResult) -> String {
    match (result.window_source, result.in_sample) {
        (None, _) => "Sample: not recorded (a result from before ktrdr checked it)".into(),
        (_, true) => format!(
            "IN SAMPLE: {} bars in the model's training period, {} in its validation period",
            result.overlap.train, result.overlap.validation
        ),
        (Some(WindowSource::TestPeriod), false) => "Out of sample: the model's test period".into(),
        (Some(_), false) => {
            "Out of sample: no bar in the model's training or validation period".into()
        }
    }
}
