//! `ktrdr results <op id>`: the outcome of a training (history, accuracy, confusion matrix) or a
//! backtest (metrics, trades) as tables, or the raw result with `--json`.

use chrono::{DateTime, Utc};
use clap::Args;
use ktrdr::{
    job_kinds::JobKind,
    operations::{self, Status},
};
use ktrdr_trading::{
    features::LABEL_NAMES,
    kinds::{BacktestResult, Backtesting, Training, TrainingResult},
};

use crate::output;

#[derive(Debug, Args)]
pub struct ResultsArgs {
    operation_id: String,
    /// Show at most this many trades (backtests).
    #[arg(long, default_value_t = 20)]
    trades: usize,
    #[arg(long)]
    json: bool,
}

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
    let classes = LABEL_NAMES;
    let mut confusion =
        output::table(&[&["TRUE \\ PREDICTED"], &classes[..], &["TRAIN BALANCE"]].concat());
    for (class, row) in classes.iter().zip(&result.confusion_matrix) {
        let mut cells = vec![class.to_string()];
        cells.extend(row.iter().map(u64::to_string));
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
        ("calmar", number(m.calmar, 2)),
        ("trades", m.trades.to_string()),
        ("win rate", percent(m.win_rate)),
        (
            "profit factor",
            m.profit_factor.map_or_else(|| "-".into(), |v| number(v, 2)),
        ),
        ("average win", number(m.avg_win, 2)),
        ("average loss", number(m.avg_loss, 2)),
        ("commission", number(m.total_commission, 2)),
    ] {
        metrics.add_row(vec![name.to_string(), value]);
    }
    println!(
        "Backtest of {} ({}) on {} {}, {} bars:\n{metrics}",
        result.strategy, result.model, result.symbol, result.timeframe, m.bars
    );
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
}
