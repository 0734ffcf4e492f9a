//! `ktrdr results <op id>`: the outcome of a training (history, accuracy, confusion matrix) or a
//! backtest (metrics, trades) as tables, or the raw result with `--json`.

use clap::Args;
use ktrdr::operations::{self, Status};
use serde_json::Value;

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
    let op = operations::get(&pool, &args.operation_id).await?;
    let Some(result) = op.result.clone().filter(|_| op.status == Status::Completed) else {
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
        "training" => print_training(&result),
        "backtesting" => print_backtest(&result, args.trades),
        _ => output::print_json(&result)?,
    }
    Ok(())
}

fn number(value: &Value, digits: usize) -> String {
    value
        .as_f64()
        .map(|v| format!("{v:.digits$}"))
        .unwrap_or_else(|| "-".into())
}

fn print_training(result: &Value) {
    println!(
        "Training of {} on {} {}: {} epochs (best {}), test accuracy {}",
        result["strategy"].as_str().unwrap_or("?"),
        result["symbol"].as_str().unwrap_or("?"),
        result["timeframe"].as_str().unwrap_or("?"),
        result["epochs_run"],
        result["best_epoch"],
        number(&result["test_accuracy"], 3)
    );
    let mut history = output::table(&["EPOCH", "TRAIN LOSS", "VAL LOSS", "VAL ACCURACY"]);
    for epoch in result["history"].as_array().into_iter().flatten() {
        history.add_row(vec![
            epoch["epoch"].to_string(),
            number(&epoch["train_loss"], 4),
            number(&epoch["val_loss"], 4),
            number(&epoch["val_accuracy"], 3),
        ]);
    }
    println!("{history}");
    let classes = ktrdr_trading::features::LABEL_NAMES;
    let mut confusion =
        output::table(&[&["TRUE \\ PREDICTED"], &classes[..], &["TRAIN BALANCE"]].concat());
    for (i, row) in result["confusion_matrix"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let mut cells = vec![classes[i].to_string()];
        cells.extend(row.as_array().into_iter().flatten().map(|v| v.to_string()));
        cells.push(result["class_balance"][classes[i]].to_string());
        confusion.add_row(cells);
    }
    println!("{confusion}");
    println!(
        "Model: {}",
        result["model"]["weights"]["location"]
            .as_str()
            .unwrap_or("-")
    );
    println!(
        "{}",
        checkpoint_summary(result, "resumed_from_epoch", "epoch")
    );
}

/// `Checkpoints: N saved[, N failed to save]; resumed from <unit> N` (or `started from scratch`).
fn checkpoint_summary(result: &Value, resumed_key: &str, unit: &str) -> String {
    let failures = result["checkpoint_save_failures"].as_u64().unwrap_or(0);
    let failed = if failures > 0 {
        format!(", {failures} failed to save")
    } else {
        String::new()
    };
    let start = match result[resumed_key].as_u64() {
        Some(at) => format!("resumed from {unit} {at}"),
        None => "started from scratch".into(),
    };
    format!(
        "Checkpoints: {} saved{failed}; {start}",
        result["checkpoints_saved"].as_u64().unwrap_or(0)
    )
}

fn print_backtest(result: &Value, max_trades: usize) {
    let m = &result["metrics"];
    let percent = |v: &Value| {
        v.as_f64()
            .map(|v| format!("{:.2}%", v * 100.0))
            .unwrap_or_else(|| "-".into())
    };
    let mut metrics = output::table(&["METRIC", "VALUE"]);
    for (name, value) in [
        ("initial capital", number(&m["initial_capital"], 2)),
        ("final equity", number(&m["final_equity"], 2)),
        ("total return", percent(&m["total_return"])),
        ("annualized return", percent(&m["annualized_return"])),
        ("volatility", percent(&m["volatility"])),
        ("sharpe", number(&m["sharpe"], 2)),
        ("sortino", number(&m["sortino"], 2)),
        ("max drawdown", percent(&m["max_drawdown"])),
        ("calmar", number(&m["calmar"], 2)),
        ("trades", m["trades"].to_string()),
        ("win rate", percent(&m["win_rate"])),
        ("profit factor", number(&m["profit_factor"], 2)),
        ("average win", number(&m["avg_win"], 2)),
        ("average loss", number(&m["avg_loss"], 2)),
        ("commission", number(&m["total_commission"], 2)),
    ] {
        metrics.add_row(vec![name.to_string(), value]);
    }
    println!(
        "Backtest of {} ({}) on {} {}, {} bars:\n{metrics}",
        result["strategy"].as_str().unwrap_or("?"),
        result["model"].as_str().unwrap_or("?"),
        result["symbol"].as_str().unwrap_or("?"),
        result["timeframe"].as_str().unwrap_or("?"),
        m["bars"]
    );
    let trades = m["trade_list"].as_array().cloned().unwrap_or_default();
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
    // `2022-03-01T14:00:00Z` → `2022-03-01 14:00`
    let minute = |time: &Value| -> String {
        time.as_str()
            .unwrap_or("")
            .replace('T', " ")
            .chars()
            .take(16)
            .collect()
    };
    for trade in trades.iter().take(max_trades) {
        table.add_row(vec![
            trade["side"].as_str().unwrap_or("?").to_uppercase(),
            minute(&trade["entry_time"]),
            minute(&trade["exit_time"]),
            trade["quantity"].to_string(),
            number(&trade["entry_price"], 5),
            number(&trade["exit_price"], 5),
            number(&trade["net_pnl"], 2),
            number(&trade["mfe"], 2),
            number(&trade["mae"], 2),
        ]);
    }
    println!(
        "Trades ({} of {}):\n{table}",
        trades.len().min(max_trades),
        trades.len()
    );
    println!("{}", checkpoint_summary(result, "resumed_from_bar", "bar"));
}
