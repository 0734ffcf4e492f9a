//! `ktrdr ops submit|list|show|cancel|resume|retry`.

use std::io::Read;

use clap::{Args, Subcommand};
use ktrdr::{
    artifacts::ArtifactStore,
    checkpoints,
    operations::{self, CancelOutcome, ListFilter, NewOperation, Status},
};
use serde_json::{Value, json};

use crate::output;

#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Submit operations; prints their ids, one per line.
    Submit(SubmitArgs),
    /// List operations, newest first.
    List(ListArgs),
    /// Show one operation with its status history.
    Show(ShowArgs),
    /// Cancel an operation: a pending one at once, a running one within one heartbeat.
    Cancel(CancelArgs),
    /// Resume a failed or cancelled operation from its checkpoint.
    Resume(ResumeArgs),
    /// Run a failed or cancelled operation again from scratch, deleting its checkpoint (the way on
    /// when the checkpoint is corrupt).
    Retry(ResumeArgs),
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Operation id.
    operation_id: String,
    /// Show progress until the operation ends; exit non-zero unless it completed.
    #[arg(long)]
    follow: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
#[command(allow_negative_numbers = true)]
pub struct SubmitArgs {
    /// Operation type (dummy, training, backtesting, agent_design, agent_assessment).
    operation_type: String,
    /// Parameters as a JSON object, e.g. '{"steps":5,"step_ms":200}'; `@FILE` reads them from a
    /// file, `-` from stdin. At most 1 MiB (as PostgreSQL prints them) and 32 levels deep.
    #[arg(long, default_value = "{}")]
    params: String,
    /// Higher runs first (0 or more).
    #[arg(long, default_value_t = 0)]
    priority: i32,
    /// Attempts before the operation fails for good (1 or more).
    #[arg(long, default_value_t = 1)]
    max_attempts: i32,
    /// Submit this many identical operations (1 to 1,000,000).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i32).range(1..=1_000_000))]
    count: i32,
    /// Parent operation id.
    #[arg(long)]
    parent: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this status (pending, running, completed, failed, cancelled, pending_reconciliation).
    #[arg(short, long)]
    status: Option<Status>,
    /// Only this operation type.
    #[arg(short = 't', long = "type")]
    operation_type: Option<String>,
    /// Only operations claimed by this worker.
    #[arg(short, long)]
    worker: Option<String>,
    /// At most this many rows (1 to 1,000,000).
    #[arg(short, long, default_value_t = 50, value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    limit: i64,
    /// Only active operations (pending, running, pending_reconciliation).
    #[arg(short, long)]
    active: bool,
    /// Only operations that can be resumed (failed or cancelled, with a checkpoint).
    #[arg(short, long)]
    resumable: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Operation id.
    operation_id: String,
    /// Show live progress until the operation ends, then the details; exit non-zero unless it
    /// completed.
    #[arg(long)]
    follow: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Operation id.
    operation_id: String,
    /// Why (stored with the operation).
    #[arg(long)]
    reason: Option<String>,
    #[arg(long)]
    json: bool,
}

/// Each command checks its input before it touches the database.
pub async fn run(command: OpsCommand, migrate_first: bool) -> anyhow::Result<()> {
    match command {
        OpsCommand::Submit(args) => submit(args, migrate_first).await,
        OpsCommand::List(args) => list(args, migrate_first).await,
        OpsCommand::Show(args) => show(args, migrate_first).await,
        OpsCommand::Cancel(args) => cancel(args, migrate_first).await,
        OpsCommand::Resume(args) => resume(args, migrate_first).await,
        OpsCommand::Retry(args) => retry(args, migrate_first).await,
    }
}

async fn submit(args: SubmitArgs, migrate_first: bool) -> anyhow::Result<()> {
    let (text, from) = params_text(&args.params)?;
    operations::check_params_text_depth(&text)?;
    let params: Value = serde_json::from_str(&text)
        .map_err(|err| anyhow::anyhow!("--params{from} is not valid JSON: {err}"))?;
    // Before connecting: the submit would check the same, after the connection was made.
    operations::check_params_limits(&params)?;
    let op = NewOperation {
        operation_type: args.operation_type,
        params,
        priority: args.priority,
        max_attempts: args.max_attempts,
        parent_id: args.parent,
    };
    let pool = super::connect(migrate_first).await?;
    let ids = operations::submit_many(&pool, &ktrdr_trading::kinds::ALL, &op, args.count).await?;
    super::warn_without_taker(&pool, &op.operation_type).await?;
    if args.json {
        output::print_json(&json!({ "operation_ids": ids }))
    } else {
        println!("{}", ids.join("\n"));
        Ok(())
    }
}

/// The most `--params @FILE` and `--params -` read: the limit of params, with room for
/// pretty-printing (whitespace the database's measure does not count).
const MAX_PARAMS_INPUT_BYTES: usize = 4 * operations::MAX_PARAMS_BYTES;

/// The JSON text `--params` gives — itself, or what `@FILE` or `-` (stdin) holds, read up to
/// [`MAX_PARAMS_INPUT_BYTES`] — and where it came from, for messages.
fn params_text(given: &str) -> anyhow::Result<(String, String)> {
    let (reader, from): (Box<dyn Read>, String) = match given {
        "-" => (Box::new(std::io::stdin().lock()), " (stdin)".into()),
        _ => match given.strip_prefix('@') {
            Some(path) => {
                let file = std::fs::File::open(path)
                    .map_err(|err| anyhow::anyhow!("--params @{path}: cannot read: {err}"))?;
                (Box::new(file), format!(" (@{path})"))
            }
            None => return Ok((given.to_string(), String::new())),
        },
    };
    let mut text = String::new();
    reader
        .take(MAX_PARAMS_INPUT_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|err| anyhow::anyhow!("--params{from}: cannot read: {err}"))?;
    if text.len() > MAX_PARAMS_INPUT_BYTES {
        anyhow::bail!(
            "--params{from} is longer than {MAX_PARAMS_INPUT_BYTES} bytes (4 MiB), the most read \
             for params (themselves limited to {} bytes)",
            operations::MAX_PARAMS_BYTES
        );
    }
    Ok((text, from))
}

async fn list(args: ListArgs, migrate_first: bool) -> anyhow::Result<()> {
    let filter = ListFilter {
        status: args.status,
        operation_type: args.operation_type,
        worker_id: args.worker,
        active_only: args.active,
        resumable_only: args.resumable,
        limit: args.limit,
        ..ListFilter::default()
    };
    let pool = super::connect(migrate_first).await?;
    let ops = operations::list(&pool, &filter).await?;
    if args.json {
        return output::print_json(&ops);
    }
    // Fewer rows than the limit are all there are; a full page may be part of more.
    let total = if (ops.len() as i64) < filter.limit {
        ops.len() as i64
    } else {
        operations::count(&pool, &filter).await?
    };
    print_list(&ops, total);
    Ok(())
}

async fn show(args: ShowArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let id = &super::operation_id(&pool, &args.operation_id).await?;
    let outcome = if args.follow {
        Some(crate::follow::follow(&pool, id).await)
    } else {
        None
    };
    let op = operations::get(&pool, id).await?;
    let events = operations::events(&pool, id).await?;
    let checkpoint = checkpoints::get(&pool, id).await?;
    let children = operations::children(&pool, id).await?;
    if args.json {
        let mut value = serde_json::to_value(&op)?;
        value["events"] = serde_json::to_value(&events)?;
        value["checkpoint"] = serde_json::to_value(&checkpoint)?;
        value["children"] = serde_json::to_value(&children)?;
        output::print_json(&value)?;
    } else {
        print_operation(&op, &events, checkpoint.as_ref());
        if !children.is_empty() {
            println!("\nChildren:");
            print_list(&children, children.len() as i64);
        }
    }
    outcome.map_or(Ok(()), |outcome| outcome.map(drop))
}

async fn cancel(args: CancelArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let id = &super::operation_id(&pool, &args.operation_id).await?;
    let outcome = operations::request_cancel(&pool, id, args.reason.as_deref()).await?;
    let (status, message) = match outcome {
        CancelOutcome::Cancelled => (Status::Cancelled, format!("Cancelled {id}.")),
        CancelOutcome::Requested(status) => (
            status,
            format!("Cancel requested for {id}: its worker stops it within one heartbeat."),
        ),
    };
    if args.json {
        output::print_json(
            &json!({ "operation_id": id, "status": status, "cancel_requested": true }),
        )
    } else {
        println!("{message}");
        Ok(())
    }
}

async fn resume(args: ResumeArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let id = &super::operation_id(&pool, &args.operation_id).await?;
    operations::resume(&pool, id).await?;
    super::warn_without_taker(&pool, &operations::get(&pool, id).await?.operation_type).await?;
    if !args.follow && !args.json {
        // A research runs at once (the database advances it); other operations wait for a worker.
        let status = operations::get(&pool, id).await?.status;
        let on_worker = if status == Status::Pending {
            " on the next free worker"
        } else {
            ""
        };
        println!("Resumed {id}: it is {status} and continues from its checkpoint{on_worker}.");
        return Ok(());
    }
    super::train::submitted(&pool, id, args.follow, args.json).await
}

async fn retry(args: ResumeArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let store = ArtifactStore::for_checkpoints(&pool)?;
    let id = &super::operation_id(&pool, &args.operation_id).await?;
    operations::retry(&pool, &store, id).await?;
    super::warn_without_taker(&pool, &operations::get(&pool, id).await?.operation_type).await?;
    if !args.follow && !args.json {
        println!(
            "Retrying {id}: it is PENDING and runs again from scratch on the next free worker."
        );
        return Ok(());
    }
    super::train::submitted(&pool, id, args.follow, args.json).await
}

fn print_list(ops: &[operations::Operation], total: i64) {
    let mut table = output::table(&[
        "OPERATION ID",
        "TYPE",
        "STATUS",
        "PROGRESS",
        "WORKER ID",
        "ATTEMPT",
        "CREATED",
        "DURATION",
        "RESUMABLE",
    ]);
    for op in ops {
        table.add_row(vec![
            op.operation_id.clone(),
            op.operation_type.clone(),
            op.status.to_string(),
            format!("{:.0}%", op.progress_percent),
            op.worker_id.clone().unwrap_or_else(|| "-".into()),
            format!("{}/{}", op.attempt, op.max_attempts),
            output::time(Some(op.created_at)),
            output::duration(op.started_at, op.completed_at),
            if op.resumable { "yes" } else { "" }.to_string(),
        ]);
    }
    println!("{table}");
    let resumable = ops.iter().filter(|op| op.resumable).count();
    let shown = ops.len();
    if shown as i64 == total {
        println!("Total: {shown} operations ({resumable} resumable)");
    } else {
        println!(
            "Total: {shown} shown of {total} ({resumable} of those shown resumable; --limit shows more)"
        );
    }
}

fn print_operation(
    op: &operations::Operation,
    events: &[operations::OperationEvent],
    checkpoint: Option<&checkpoints::Checkpoint>,
) {
    let field = |name: &str, value: String| println!("{name:<17}{value}");
    field("Operation:", op.operation_id.clone());
    field("Type:", op.operation_type.clone());
    field("Status:", op.status.to_string());
    field("Priority:", op.priority.to_string());
    field("Attempt:", format!("{} of {}", op.attempt, op.max_attempts));
    field(
        "Worker:",
        op.worker_id.clone().unwrap_or_else(|| "-".into()),
    );
    field(
        "Progress:",
        format!(
            "{:.1}%{}",
            op.progress_percent,
            op.progress_message
                .as_ref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        ),
    );
    field("Created:", output::time(Some(op.created_at)));
    field("Started:", output::time(op.started_at));
    field("Completed:", output::time(op.completed_at));
    field(
        "Duration:",
        output::duration(op.started_at, op.completed_at),
    );
    field("Params:", op.params.to_string());
    if let Some(at) = op.cancel_requested_at {
        field(
            "Cancel requested:",
            format!(
                "{}{}",
                output::time(Some(at)),
                op.cancel_reason
                    .as_ref()
                    .map(|r| format!(" ({r})"))
                    .unwrap_or_default()
            ),
        );
    }
    if let Some(error) = &op.error_message {
        field("Error:", error.clone());
    }
    if let Some(c) = checkpoint {
        let size = c.total_bytes();
        field(
            "Checkpoint:",
            format!(
                "{} at {} {} (attempt {}, {}, {}){}",
                c.kind,
                c.unit,
                c.unit_value,
                c.attempt,
                output::bytes(size),
                output::time(Some(c.created_at)),
                match &c.corrupt_reason {
                    Some(why) => format!(
                        ": CORRUPT ({why}); `ktrdr ops retry {}` runs it again from scratch",
                        op.operation_id
                    ),
                    None if op.resumable => {
                        format!(": `ktrdr resume {}` continues from it", op.operation_id)
                    }
                    None => String::new(),
                }
            ),
        );
    }
    if let Some(result) = &op.result {
        field("Result:", result.to_string());
    }
    let mut table = output::table(&["AT", "FROM", "TO", "ATTEMPT", "BY", "WHY"]);
    for event in events {
        table.add_row(vec![
            event.at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
            event
                .from_status
                .map_or_else(|| "-".into(), |status| status.to_string()),
            event.to_status.to_string(),
            event.attempt.to_string(),
            event.actor.clone().unwrap_or_default(),
            event.reason.clone().unwrap_or_default(),
        ]);
    }
    println!("History:\n{table}");
}
