//! The `agent_design` operation: a research's strategy design.
//!
//! Builds the design context from the database — every series with bars and its range, the
//! indicator catalogue, the research memory (`ktrdr.experiment_history`, best first) and the
//! research's seed, cycle and brief — and asks the built-in designer (deterministic, offline,
//! given the training window's bars so its fuzzy sets fit the instrument) or, when
//! `KTRDR_DESIGNER_CMD` is set, that command (context as JSON on stdin, a strategy YAML on
//! stdout, killed after `KTRDR_DESIGNER_TIMEOUT_SECONDS`). A designer that fails, hangs or prints
//! an invalid strategy fails this design, for good, with its reason; the research then starts
//! another attempt. The result carries the training child's params, so that the research's next
//! step (in SQL) submits them as they are.

use ktrdr::operations::Progress;
use ktrdr_trading::{
    kinds::{DesignParams, DesignResult, TrainingParams},
    market_data::{self, BarRange},
    research::{self, Design, DesignContext, ExperimentSummary, SeriesRange},
    strategy,
};
use sqlx::PgPool;

use super::{
    JobContext, JobEnd, JobResult,
    research_commands::{self, ExternalCommand},
};

/// Experiments of the research memory a design is shown, best first.
const EXPERIMENTS_SHOWN: i64 = 50;

/// The `agent_design` job.
pub async fn run(params: DesignParams, mut ctx: JobContext) -> JobResult<DesignResult> {
    let context = design_context(&ctx.pool, &params)
        .await
        .map_err(|err| JobEnd::from_error("cannot read the design context", err))?;
    ctx.report(Progress {
        percent: 10.0,
        message: Some(format!("designing (cycle {})", params.cycle)),
        details: None,
    });
    let designed = match research_commands::designer().map_err(JobEnd::fatal)? {
        Some(command) => run_external(command, context, &mut ctx).await?,
        None => run_built_in(&params, context, &ctx).await?,
    };
    let design = designed.map_err(JobEnd::fatal)?;
    let training_params = training_params(&design, &params).map_err(JobEnd::fatal)?;
    Ok(DesignResult {
        design,
        training_params,
    })
}

/// The built-in designer over the training window's bars, on a blocking thread.
async fn run_built_in(
    params: &DesignParams,
    context: DesignContext,
    ctx: &JobContext,
) -> JobResult<Result<Design, String>> {
    let range = BarRange {
        symbol: &params.symbol,
        timeframe: params.timeframe,
        start: None,
        end: None,
    };
    let bars = super::load_bars(ctx, &range).await?;
    tokio::task::spawn_blocking(move || {
        research::design(&context, &bars).map_err(|err| err.to_string())
    })
    .await
    .map_err(|panic| JobEnd::crashed("the designer", panic))
}

/// The designer command, on a blocking thread; a cancel or shutdown stops waiting for it (the
/// command itself is killed by its timeout).
async fn run_external(
    command: ExternalCommand,
    context: DesignContext,
    ctx: &mut JobContext,
) -> JobResult<Result<Design, String>> {
    let run = tokio::task::spawn_blocking(move || {
        research::run_external_designer(&command.command, &context, command.timeout)
    });
    tokio::select! {
        done = run => done.map_err(|panic| JobEnd::crashed("the designer command", panic)),
        request = ctx.stop_requested() => Err(JobEnd::Stopped(request)),
    }
}

/// The training the design asks for: its strategy on the research's series, its epochs capped at
/// the research's `max_epochs`.
fn training_params(design: &Design, params: &DesignParams) -> Result<TrainingParams, String> {
    let mut strategy = strategy::parse(&design.strategy_yaml).map_err(|problems| {
        let problems: Vec<String> = problems.iter().map(ToString::to_string).collect();
        format!("the designed strategy is invalid: {}", problems.join("; "))
    })?;
    if let Some(max_epochs) = params.max_epochs {
        strategy.training.epochs = strategy.training.epochs.min(max_epochs);
        strategy.training.early_stopping.patience =
            strategy.training.early_stopping.patience.min(max_epochs);
    }
    Ok(TrainingParams {
        symbol: Some(params.symbol.clone()),
        timeframe: Some(params.timeframe),
        ..TrainingParams::new(strategy)
    })
}

/// What the designer is given, read from the database now.
async fn design_context(
    pool: &PgPool,
    params: &DesignParams,
) -> ktrdr_trading::Result<DesignContext> {
    let data = market_data::list(pool)
        .await?
        .into_iter()
        .map(|series| SeriesRange {
            symbol: series.symbol,
            timeframe: series.timeframe,
            first: series.first_ts,
            last: series.last_ts,
            bars: series.bars,
        })
        .collect();
    let experiments = ktrdr::research::history(pool, EXPERIMENTS_SHOWN)
        .await?
        .into_iter()
        .map(|e| ExperimentSummary {
            research_id: e.research_id,
            strategy_name: e.strategy_name,
            fingerprint: e.fingerprint.unwrap_or_default(),
            strategy_yaml: e.strategy_yaml,
            verdict: e.verdict,
            test_accuracy: e.test_accuracy,
            baseline_accuracy: e.baseline_accuracy,
            sharpe: e.sharpe,
            total_return: e.total_return,
            win_rate: e.win_rate,
            max_drawdown: e.max_drawdown,
            trades: e.trades,
            score: e.score,
            suggestion: e.suggestion,
        })
        .collect();
    let timeframe = params.timeframe.to_string();
    let tried_fingerprints =
        ktrdr::research::tried_fingerprints(pool, &params.symbol, &timeframe, &params.research_id)
            .await?;
    Ok(DesignContext {
        research_id: params.research_id.clone(),
        seed: params.seed,
        cycle: params.cycle,
        brief: params.brief.clone(),
        symbol: params.symbol.clone(),
        timeframe,
        data,
        indicators: research::indicator_catalogue(),
        experiments,
        tried_fingerprints,
    })
}
