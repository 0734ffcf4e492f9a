//! `ktrdr backtest <strategy.yaml> --model <training op id>`: submits a `backtesting` operation and
//! with `--follow` shows bar and equity live. Without `--start`/`--end` it trades the model's test
//! period; a range overlapping the training or validation period is warned about on stderr.

use std::path::PathBuf;

use clap::Args;
use ktrdr::{
    job_kinds::JobKind,
    operations::{self, NewOperation},
};
use ktrdr_trading::kinds::{self, BacktestParams, Backtesting, completed_training};

use super::train::{DataArgs, at_least_one, require_market_data, submitted};

#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Strategy file (decisions and costs come from it).
    strategy: PathBuf,
    /// The completed training operation whose model to trade.
    #[arg(long)]
    model: String,
    #[command(flatten)]
    data: DataArgs,
    /// Starting capital (default: the strategy's).
    #[arg(long, allow_negative_numbers = true)]
    capital: Option<f64>,
    /// Checkpoint every this many bars (default 10,000).
    #[arg(long, allow_negative_numbers = true)]
    checkpoint_interval_bars: Option<i64>,
    /// Show progress until the operation ends; exit non-zero unless it completed.
    #[arg(long)]
    follow: bool,
    #[arg(long)]
    json: bool,
}

pub async fn run(args: BacktestArgs, migrate_first: bool) -> anyhow::Result<()> {
    let strategy = ktrdr_trading::strategy::load(&args.strategy)?;
    let (symbol, timeframe, start, end) = args.data.parse()?;
    let mut params = BacktestParams {
        strategy,
        model: args.model,
        symbol,
        timeframe,
        start,
        end,
        initial_capital: args.capital,
        checkpoint_interval_bars: args
            .checkpoint_interval_bars
            .map(|n| at_least_one("--checkpoint-interval-bars", n))
            .transpose()?,
    };
    // Every check of the params (range, capital, symbol, strategy) before touching the database.
    Backtesting::parse_params(&serde_json::to_value(&params)?)?;
    let pool = super::connect(migrate_first).await?;
    params.model = super::operation_id(&pool, &params.model)
        .await
        .map_err(|err| anyhow::anyhow!("--model: {err}"))?;
    let (_, training) = completed_training(&pool, &params.model)
        .await
        .map_err(|err| anyhow::anyhow!("--model: {err}"))?;
    // Out of sample unless asked otherwise: a range that reaches into the bars the model was
    // fitted or early-stopped on still runs, but is said to be in sample, here and in its result.
    let ranged = params.start.is_some() || params.end.is_some();
    match &training.split {
        Some(split) if ranged => {
            if let Some(warning) = split.overlap_warning(params.start, params.end) {
                eprintln!("warning: {warning}");
            }
        }
        None => eprintln!(
            "warning: in sample (assumed): the training {} recorded no split dates, so the bars \
             its model was fitted on are unknown",
            params.model
        ),
        Some(_) => {}
    }
    require_market_data(&pool, params.bars()).await?;
    let op = NewOperation::new(Backtesting::NAME).with_params(serde_json::to_value(&params)?);
    let id = operations::submit(&pool, &kinds::ALL, &op).await?;
    super::warn_without_taker(&pool, Backtesting::NAME).await?;
    submitted(&pool, &id, args.follow, args.json).await
}
