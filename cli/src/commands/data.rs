//! `ktrdr data import|synth|list|delete`.

use std::{path::PathBuf, time::Instant};

use clap::{Args, Subcommand};
use ktrdr_trading::market_data::{self, CsvOptions, Existing, Source, SynthSpec, Timeframe};
use serde_json::json;

use crate::output;

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Load bars from a CSV file (pandas, MetaTrader, Dukascopy, HistData, Binance and plain
    /// timestamp,open,high,low,close[,volume] files; see README "Market data"); re-importing is harmless.
    Import(ImportArgs),
    /// Generate deterministic synthetic bars (trends, regime changes, volatility clustering, FX weekends).
    Synth(SynthArgs),
    /// List the loaded series and where their bars came from.
    List(ListArgs),
    /// Delete a series' bars (and its recorded sources).
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// CSV file.
    file: PathBuf,
    #[arg(long)]
    symbol: String,
    /// 1m, 5m, 15m, 30m, 1h, 4h or 1d; the bars' spacing must agree.
    #[arg(long)]
    timeframe: String,
    /// The field separator: ',', ';', 'tab' (or any one character); detected when not given.
    #[arg(long, value_parser = parse_delimiter)]
    delimiter: Option<u8>,
    /// The fields' names in order, for a file without a header (e.g.
    /// timestamp,open,high,low,close,volume); names not understood are ignored.
    #[arg(long, value_delimiter = ',')]
    columns: Option<Vec<String>>,
    /// Delete the series' bars first (needed to load real bars over synthetic ones or the reverse).
    #[arg(long)]
    replace: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    symbol: String,
    /// 1m, 5m, 15m, 30m, 1h, 4h or 1d.
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
    /// Delete the series' bars first (needed to generate over imported bars).
    #[arg(long)]
    replace: bool,
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
            let options = CsvOptions {
                delimiter: args.delimiter,
                columns: args.columns,
                timeframe: Some(timeframe),
            };
            // Streamed: the header is checked before connecting, the rows chunk by chunk.
            let mut bars = market_data::CsvBars::open_with(&args.file, &options)?;
            let pool = super::connect(migrate_first).await?;
            let (count, report) = market_data::store_stream(
                &pool,
                &symbol,
                timeframe,
                existing(args.replace),
                &mut bars,
            )
            .await?;
            let stored = Stored {
                symbol: &symbol,
                timeframe,
                bars: count,
                report,
                source: bars.source(),
                notes: bars.notes(),
            };
            stored.print(args.json, started)
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
            let source = Source::Synth { seed: spec.seed };
            let (count, report) = market_data::store_stream(
                &pool,
                &spec.symbol,
                spec.timeframe,
                existing(args.replace),
                &mut market_data::with_source(&bars, &source),
            )
            .await?;
            let stored = Stored {
                symbol: &spec.symbol,
                timeframe: spec.timeframe,
                bars: count,
                report,
                source,
                notes: Vec::new(),
            };
            stored.print(args.json, started)
        }
        DataCommand::Delete(args) => {
            let timeframe: Timeframe = args.timeframe.parse()?;
            let symbol = args.symbol.trim();
            let pool = super::connect(migrate_first).await?;
            let deleted = market_data::delete(&pool, symbol, timeframe).await?;
            if deleted == 0 {
                anyhow::bail!(
                    "no bars for {symbol} {timeframe}: `ktrdr data list` shows what is loaded"
                );
            }
            if args.json {
                return output::print_json(&json!({
                    "symbol": symbol, "timeframe": timeframe, "deleted": deleted,
                }));
            }
            println!("{symbol} {timeframe}: {deleted} bars deleted");
            Ok(())
        }
        DataCommand::List(args) => {
            let pool = super::connect(migrate_first).await?;
            let series = market_data::list(&pool).await?;
            if args.json {
                return output::print_json(&series);
            }
            let mut table =
                output::table(&["SYMBOL", "TIMEFRAME", "BARS", "FIRST", "LAST", "SOURCE"]);
            for s in &series {
                let sources: Vec<String> = s.sources.iter().map(ToString::to_string).collect();
                table.add_row(vec![
                    s.symbol.clone(),
                    s.timeframe.clone(),
                    s.bars.to_string(),
                    output::time(Some(s.first_ts)),
                    output::time(Some(s.last_ts)),
                    if sources.is_empty() {
                        "-".to_string()
                    } else {
                        sources.join("\n")
                    },
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

/// What an import or a generation stored, for its summary.
struct Stored<'a> {
    symbol: &'a str,
    timeframe: Timeframe,
    bars: usize,
    report: market_data::StoreReport,
    source: Source,
    notes: Vec<String>,
}

impl Stored<'_> {
    fn print(&self, as_json: bool, started: Instant) -> anyhow::Result<()> {
        let report = &self.report;
        if as_json {
            return output::print_json(&json!({
                "symbol": self.symbol, "timeframe": self.timeframe, "bars": self.bars,
                "inserted": report.inserted, "updated": report.updated,
                "replaced": report.replaced, "source": self.source, "notes": self.notes,
            }));
        }
        let replaced = if report.replaced > 0 {
            format!(", {} old bars replaced", report.replaced)
        } else {
            String::new()
        };
        println!(
            "{} {}: {} bars ({} new, {} updated{replaced}) in {:.2} s from {}",
            self.symbol,
            self.timeframe,
            self.bars,
            report.inserted,
            report.updated,
            started.elapsed().as_secs_f64(),
            self.source
        );
        if !self.notes.is_empty() {
            println!("read with: {}", self.notes.join("; "));
        }
        Ok(())
    }
}

fn existing(replace: bool) -> Existing {
    if replace {
        Existing::Replace
    } else {
        Existing::Keep
    }
}

/// `--delimiter`: one ASCII character, or `tab`.
fn parse_delimiter(text: &str) -> Result<u8, String> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if text.len() == 1 && text.is_ascii() => Ok(text.as_bytes()[0]),
        _ => Err(format!(
            "'{text}' is not one character: use ',', ';', 'tab' or another single character"
        )),
    }
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
