//! `ktrdr data import|synth|list`.

use std::{path::PathBuf, time::Instant};

use clap::{Args, Subcommand};
use ktrdr_trading::market_data::{self, SynthSpec, Timeframe};
use serde_json::json;

use crate::output;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Load bars from a CSV file (timestamp,open,high,low,close[,volume]); re-importing is harmless.
    Import(ImportArgs),
    /// Generate deterministic synthetic bars (trends, regime changes, volatility clustering, FX weekends).
    Synth(SynthArgs),
    /// List the loaded series.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV file.
    file: PathBuf,
    #[arg(long)]
    symbol: String,
    /// 1m, 5m, 15m, 30m, 1h, 4h or 1d.
    #[arg(long)]
    timeframe: String,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    #[arg(long, default_value = "EURUSD")]
    symbol: String,
    #[arg(long, default_value = "1h")]
    timeframe: String,
    /// First day (YYYY-MM-DD, UTC).
    #[arg(long, default_value = "2020-01-01")]
    start: String,
    /// Day after the last (YYYY-MM-DD, UTC).
    #[arg(long, default_value = "2024-01-01")]
    end: String,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    json: bool,
}

pub async fn run(command: DataCommand, migrate_first: bool) -> anyhow::Result<()> {
    match command {
        DataCommand::Import(args) => {
            let timeframe: Timeframe = args.timeframe.parse()?;
            let symbol = checked_symbol(&args.symbol)?;
            let started = Instant::now();
            // Streamed: the header is checked before connecting, the rows chunk by chunk.
            let bars = market_data::CsvBars::open(&args.file)?;
            let pool = super::connect(migrate_first).await?;
            let (count, report) =
                market_data::store_stream(&pool, &symbol, timeframe, bars).await?;
            finish(args.json, &symbol, timeframe, count, report, started)
        }
        DataCommand::Synth(args) => {
            let spec = SynthSpec {
                symbol: checked_symbol(&args.symbol)?,
                timeframe: args.timeframe.parse()?,
                start: super::train::parse_day("--start", &args.start)?,
                end: super::train::parse_day("--end", &args.end)?,
                seed: args.seed,
            };
            let started = Instant::now();
            let bars = market_data::synthesize(&spec)?;
            let pool = super::connect(migrate_first).await?;
            let report = market_data::store(&pool, &spec.symbol, spec.timeframe, &bars).await?;
            finish(
                args.json,
                &spec.symbol,
                spec.timeframe,
                bars.len(),
                report,
                started,
            )
        }
        DataCommand::List(args) => {
            let pool = super::connect(migrate_first).await?;
            let series = market_data::list(&pool).await?;
            if args.json {
                return output::print_json(&series);
            }
            let mut table = output::table(&["SYMBOL", "TIMEFRAME", "BARS", "FIRST", "LAST"]);
            for s in &series {
                table.add_row(vec![
                    s.symbol.clone(),
                    s.timeframe.clone(),
                    s.bars.to_string(),
                    output::time(Some(s.first_ts)),
                    output::time(Some(s.last_ts)),
                ]);
            }
            println!("{table}");
            if series.is_empty() {
                println!(
                    "No market data yet: `ktrdr data synth` generates some, `ktrdr data import` loads a CSV."
                );
            }
            Ok(())
        }
    }
}

fn finish(
    as_json: bool,
    symbol: &str,
    timeframe: Timeframe,
    bars: usize,
    report: market_data::StoreReport,
    started: Instant,
) -> anyhow::Result<()> {
    if as_json {
        return output::print_json(&json!({
            "symbol": symbol, "timeframe": timeframe, "bars": bars,
            "inserted": report.inserted, "updated": report.updated,
        }));
    }
    println!(
        "{symbol} {timeframe}: {bars} bars ({} new, {} updated) in {:.2} s",
        report.inserted,
        report.updated,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn checked_symbol(symbol: &str) -> anyhow::Result<String> {
    let symbol = symbol.trim();
    if !market_data::is_valid_symbol(symbol) {
        anyhow::bail!(
            "--symbol '{symbol}' is invalid: use {}",
            market_data::SYMBOL_RULE
        );
    }
    Ok(symbol.to_string())
}
