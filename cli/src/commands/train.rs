//! `ktrdr train <strategy.yaml>`: validates the strategy, checks its market data is loaded, submits a
//! `training` operation carrying the whole strategy, and with `--follow` shows its epochs live.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use ktrdr::{
    job_kinds::JobKind,
    operations::{self, NewOperation},
};
use ktrdr_trading::{
    kinds::{self, Training, TrainingParams},
    market_data::{self, BarRange, Timeframe},
};

use crate::{follow, output};

/// Which data an operation uses, when not the strategy's own.
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Instead of the strategy's symbol.
    #[arg(long)]
    symbol: Option<String>,
    /// Instead of the strategy's timeframe.
    #[arg(long)]
    timeframe: Option<String>,
    /// First day of data (YYYY-MM-DD).
    #[arg(long)]
    start: Option<String>,
    /// Day after the last (YYYY-MM-DD).
    #[arg(long)]
    end: Option<String>,
}

/// (symbol, timeframe, start, end), checked.
pub type DataChoice = (
    Option<String>,
    Option<Timeframe>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

impl DataArgs {
    pub fn parse(self) -> anyhow::Result<DataChoice> {
        let day = |flag: &str, text: Option<String>| text.map(|d| parse_day(flag, &d)).transpose();
        Ok((
            self.symbol,
            self.timeframe
                .as_deref()
                .map(str::parse::<Timeframe>)
                .transpose()?,
            day("--start", self.start)?,
            day("--end", self.end)?,
        ))
    }
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Strategy file (strategies/*.yaml).
    strategy: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Attempts before the operation fails for good.
    #[arg(long, default_value_t = 1)]
    max_attempts: i32,
    /// Checkpoint every this many epochs (default: the strategy's `checkpoint_interval`, 10).
    #[arg(long, allow_negative_numbers = true)]
    checkpoint_interval: Option<i64>,
    /// Show progress until the operation ends; exit non-zero unless it completed.
    #[arg(long)]
    follow: bool,
    #[arg(long)]
    json: bool,
}

pub async fn run(args: TrainArgs, migrate_first: bool) -> anyhow::Result<()> {
    let mut strategy = ktrdr_trading::strategy::load(&args.strategy)?;
    if let Some(every) = args.checkpoint_interval {
        strategy.training.checkpoint_interval = at_least_one("--checkpoint-interval", every)?;
    }
    let (symbol, timeframe, start, end) = args.data.parse()?;
    let params = TrainingParams {
        strategy,
        symbol,
        timeframe,
        start,
        end,
    };
    // Every check of the params (range, symbol, strategy) before touching the database.
    let value = serde_json::to_value(&params)?;
    Training::parse_params(&value)?;
    let pool = super::connect(migrate_first).await?;
    require_market_data(&pool, params.bars()).await?;
    let op = NewOperation {
        max_attempts: args.max_attempts,
        ..NewOperation::new(Training::NAME).with_params(value)
    };
    let id = operations::submit(&pool, &kinds::ALL, &op).await?;
    super::warn_without_taker(&pool, Training::NAME).await?;
    submitted(&pool, &id, args.follow, args.json).await
}

/// A count option's value, refused below 1 with the option's name.
pub fn at_least_one(option: &str, value: i64) -> anyhow::Result<usize> {
    usize::try_from(value)
        .ok()
        .filter(|&n| n >= 1)
        .ok_or_else(|| anyhow::anyhow!("{option} must be at least 1, got {value}"))
}

/// Prints the id, and with `follow` waits for the outcome.
pub async fn submitted(
    pool: &sqlx::PgPool,
    id: &str,
    follow: bool,
    as_json: bool,
) -> anyhow::Result<()> {
    if !follow {
        if as_json {
            return output::print_json(&serde_json::json!({ "operation_id": id }));
        }
        println!("{id}");
        return Ok(());
    }
    eprintln!("{id}");
    let op = follow::follow(pool, id).await?;
    if as_json {
        return output::print_json(&op);
    }
    println!(
        "{id} completed in {}. `ktrdr results {id}` shows the metrics.",
        output::duration(op.started_at, op.completed_at)
    );
    Ok(())
}

/// Refuses, before submitting, an operation whose symbol, timeframe and range hold no bars.
pub async fn require_market_data(pool: &sqlx::PgPool, range: BarRange<'_>) -> anyhow::Result<()> {
    if !market_data::has_bars(pool, &range).await? {
        anyhow::bail!(market_data::no_bars_message(range.symbol, range.timeframe));
    }
    Ok(())
}

pub fn parse_day(flag: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| anyhow::anyhow!("{flag} '{text}' is not a date (YYYY-MM-DD)"))?;
    Ok(day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc())
}
