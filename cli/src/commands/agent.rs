//! `ktrdr agent trigger|status|list|cancel|history`: the research loop's sessions. The database
//! runs them (`ktrdr.advance_researches`, called by the ticker); these commands start, read and
//! cancel them.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use ktrdr::{
    operations::Status,
    research::{self, CancelOutcome, GivenStrategy, Research, ResearchRequest},
};
use ktrdr_trading::{
    kinds::TrainingParams,
    market_data::{self, Timeframe},
    research::{brief_timeframe, fingerprint},
};
use serde_json::json;

use crate::{follow, output};

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Start a research: design, train, backtest and assess a strategy; prints its id last (with
    /// `--json`, an object with `operation_id`).
    Trigger(TriggerArgs),
    /// One research with its children, gates and verdict; without an id, every active research.
    Status(StatusArgs),
    /// Every research, newest first.
    List(output::JsonArgs),
    /// Cancel a research in any state, and its active operations.
    Cancel(CancelArgs),
    /// The research memory: experiments, best first.
    History(output::JsonArgs),
}

#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct TriggerArgs {
    /// Keywords for the designer ("mean reversion", "rsi", "4h").
    #[arg(long)]
    brief: Option<String>,
    /// Research this strategy file instead of designing one.
    #[arg(long)]
    strategy: Option<PathBuf>,
    /// The symbol to research (default: the strategy's, else the series with the most bars).
    #[arg(long)]
    symbol: Option<String>,
    /// The timeframe to research (default: the strategy's or the brief's, else the series with
    /// the most bars).
    #[arg(long)]
    timeframe: Option<String>,
    /// Record the gates, but never stop on them.
    #[arg(long)]
    bypass_gates: bool,
    /// The designer's seed (default: random).
    #[arg(long)]
    seed: Option<u64>,
    /// Show progress until the research ends; exit non-zero unless it completed.
    #[arg(long)]
    follow: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Research (operation) id; every active research without it.
    research_id: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Research (operation) id.
    research_id: String,
    /// Why (stored with the research).
    #[arg(long)]
    reason: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn run(command: AgentCommand, migrate_first: bool) -> anyhow::Result<()> {
    match command {
        AgentCommand::Trigger(args) => trigger(args, migrate_first).await,
        AgentCommand::Status(args) => status(args, migrate_first).await,
        AgentCommand::List(args) => list(args, migrate_first).await,
        AgentCommand::Cancel(args) => cancel(args, migrate_first).await,
        AgentCommand::History(args) => history(args, migrate_first).await,
    }
}

/// The request, every option checked before the database is touched.
fn request(args: &TriggerArgs) -> anyhow::Result<ResearchRequest> {
    if let Some(symbol) = &args.symbol
        && !market_data::is_valid_symbol(symbol)
    {
        anyhow::bail!(
            "--symbol '{symbol}' is invalid: use {}",
            market_data::SYMBOL_RULE
        );
    }
    let mut timeframe = args
        .timeframe
        .as_deref()
        .map(str::parse::<Timeframe>)
        .transpose()?;
    if timeframe.is_none() && args.strategy.is_none() {
        timeframe = brief_timeframe(args.brief.as_deref())?;
    }
    let seed = args
        .seed
        .map(|seed| {
            i64::try_from(seed)
                .map_err(|_| anyhow::anyhow!("--seed must be below 2^63, got {seed}"))
        })
        .transpose()?;
    let strategy = args
        .strategy
        .as_deref()
        .map(|path| given_strategy(path, args.symbol.as_deref(), timeframe))
        .transpose()?;
    Ok(ResearchRequest {
        symbol: args.symbol.clone(),
        timeframe: timeframe.map(|t| t.to_string()),
        seed,
        brief: args.brief.clone(),
        bypass_gates: args.bypass_gates,
        strategy,
        ..ResearchRequest::default()
    })
}

/// A strategy file, validated, as the research's strategy and its training's params.
fn given_strategy(
    path: &std::path::Path,
    symbol: Option<&str>,
    timeframe: Option<Timeframe>,
) -> anyhow::Result<GivenStrategy> {
    let yaml = std::fs::read_to_string(path)
        .map_err(|err| anyhow::anyhow!("cannot read {}: {err}", path.display()))?;
    let strategy = ktrdr_trading::strategy::load(path)?;
    let params = TrainingParams {
        symbol: Some(symbol.unwrap_or(&strategy.training_data.symbol).to_string()),
        timeframe: Some(timeframe.unwrap_or(strategy.training_data.timeframe)),
        ..TrainingParams::new(strategy.clone())
    };
    Ok(GivenStrategy {
        strategy_name: strategy.name.clone(),
        strategy_yaml: yaml,
        strategy_file: Some(path.display().to_string()),
        fingerprint: Some(fingerprint(&strategy)),
        training_params: serde_json::to_value(params)?,
    })
}

async fn trigger(args: TriggerArgs, migrate_first: bool) -> anyhow::Result<()> {
    let request = request(&args)?;
    let pool = super::connect(migrate_first).await?;
    let id = research::trigger(&pool, &request).await?;
    if !args.follow {
        if args.json {
            return output::print_json(&json!({ "operation_id": id }));
        }
        println!("{id}");
        return Ok(());
    }
    eprintln!("{id}");
    let followed = follow::follow(&pool, &id).await;
    let research = research::get(&pool, &id).await?;
    if args.json {
        output::print_json(&research)?;
    } else {
        print_research(&research);
        println!("{id}");
    }
    followed.map(drop)
}

async fn status(args: StatusArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let Some(id) = &args.research_id else {
        let active = research::list(&pool, true, i64::MAX).await?;
        if args.json {
            return output::print_json(&active);
        }
        if active.is_empty() {
            println!("No active research.");
        }
        for research in &active {
            print_research(research);
            println!();
        }
        return Ok(());
    };
    let research = research::get(&pool, id).await?;
    if args.json {
        output::print_json(&research)
    } else {
        print_research(&research);
        Ok(())
    }
}

async fn list(args: output::JsonArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let researches = research::list(&pool, false, 1000).await?;
    if args.json {
        return output::print_json(&researches);
    }
    let mut table = output::table(&[
        "RESEARCH ID",
        "STATUS",
        "PHASE",
        "STRATEGY",
        "OUTCOME",
        "VERDICT",
        "CREATED",
        "DURATION",
    ]);
    for r in &researches {
        table.add_row(vec![
            r.operation_id.clone(),
            r.status.to_string(),
            r.phase.clone(),
            r.strategy_name.clone().unwrap_or_else(|| "-".into()),
            r.outcome.clone().unwrap_or_else(|| "-".into()),
            r.verdict.clone().unwrap_or_else(|| "-".into()),
            output::time(Some(r.created_at)),
            output::duration(Some(r.created_at), r.completed_at),
        ]);
    }
    println!("{table}");
    Ok(())
}

async fn cancel(args: CancelArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let id = &args.research_id;
    let (status, message) = match research::cancel(&pool, id, args.reason.as_deref()).await? {
        CancelOutcome::Cancelled => (
            Status::Cancelled,
            format!("Cancelled {id} and its active operations."),
        ),
        CancelOutcome::AlreadyEnded(status) => (
            status,
            format!(
                "{id} had already ended ({status}); its active operations, if any, are cancelled."
            ),
        ),
    };
    if args.json {
        return output::print_json(&json!({ "operation_id": id, "status": status }));
    }
    println!("{message}");
    Ok(())
}

async fn history(args: output::JsonArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let experiments = research::history(&pool, 1000).await?;
    if args.json {
        return output::print_json(&experiments);
    }
    let mut table = output::table(&[
        "#",
        "STRATEGY",
        "OUTCOME",
        "VERDICT",
        "SCORE",
        "ACCURACY",
        "BASELINE",
        "SHARPE",
        "WIN RATE",
        "TRADES",
        "RESEARCH ID",
    ]);
    let number = |value: Option<f64>| value.map_or_else(|| "-".into(), |v| format!("{v:.3}"));
    for e in &experiments {
        table.add_row(vec![
            e.rank.to_string(),
            e.strategy_name.clone(),
            e.outcome.clone(),
            e.verdict.clone().unwrap_or_else(|| "-".into()),
            number(e.score),
            number(e.test_accuracy),
            number(e.baseline_accuracy),
            number(e.sharpe),
            number(e.win_rate),
            e.trades.map_or_else(|| "-".into(), |t| t.to_string()),
            e.research_id.clone(),
        ]);
    }
    println!("{table}");
    Ok(())
}

fn print_research(r: &Research) {
    let field = |name: &str, value: String| println!("{name:<15}{value}");
    let or_dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".into());
    field("Research:", r.operation_id.clone());
    field("Status:", r.status.to_string());
    field("Phase:", r.phase.clone());
    field(
        "Series:",
        format!("{} {} (seed {})", r.symbol, r.timeframe, r.seed),
    );
    if let Some(brief) = &r.brief {
        field("Brief:", brief.clone());
    }
    field("Strategy:", or_dash(&r.strategy_name));
    for (name, gate) in [
        ("Training gate:", &r.training_gate),
        ("Backtest gate:", &r.backtest_gate),
    ] {
        if let Some(gate) = gate {
            field(name, gate_line(gate));
        }
    }
    field("Outcome:", or_dash(&r.outcome));
    field("Verdict:", or_dash(&r.verdict));
    if let Some(error) = &r.error_message {
        field("Error:", error.clone());
    }
    if let Some(error) = &r.last_error {
        field("Last error:", error.clone());
    }
    field("Created:", output::time(Some(r.created_at)));
    field(
        "Duration:",
        output::duration(Some(r.created_at), r.completed_at),
    );
    if r.children.is_empty() {
        return;
    }
    let mut table = output::table(&["CHILD", "TYPE", "ATTEMPT", "STATUS", "ERROR"]);
    for child in &r.children {
        table.add_row(vec![
            child.operation_id.clone(),
            child.operation_type.clone(),
            child.attempt.to_string(),
            child
                .status
                .map_or_else(|| "DISAPPEARED".into(), |s| s.to_string()),
            or_dash(&child.error_message),
        ]);
    }
    println!("{table}");
}

/// `passed (accuracy 0.52 > 0.48, …)` from a gate's result.
fn gate_line(gate: &serde_json::Value) -> String {
    let passed = gate["passed"].as_bool().unwrap_or(false);
    let bypassed = gate["bypassed"].as_bool().unwrap_or(false);
    let checks: Vec<String> = gate["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let number =
                |v: &serde_json::Value| v.as_f64().map_or("-".into(), |v| format!("{v:.4}"));
            let mark = if c["passed"].as_bool() == Some(true) {
                "ok"
            } else {
                "FAIL"
            };
            format!(
                "{} {} vs {} {mark}",
                c["name"].as_str().unwrap_or("?"),
                number(&c["value"]),
                number(&c["threshold"])
            )
        })
        .collect();
    let verdict = match (passed, bypassed) {
        (true, _) => "passed",
        (false, true) => "failed (bypassed)",
        (false, false) => "failed",
    };
    format!("{verdict}: {}", checks.join(", "))
}
