//! `ktrdr checkpoints list | show <id> [-v] | delete <id> [-f] | stats | cleanup [--max-age-days N]`.

use clap::{Args, Subcommand};
use ktrdr::{
    artifacts::ArtifactStore,
    checkpoints::{self, Checkpoint, CheckpointKind},
    config,
};
use serde_json::json;

use crate::output;

#[derive(Debug, Subcommand)]
pub enum CheckpointsCommand {
    /// Every checkpoint, newest first.
    List(JsonArg),
    /// One operation's checkpoint.
    Show(ShowArgs),
    /// Delete an operation's checkpoint and its artifact (the operation can then not be resumed).
    Delete(DeleteArgs),
    /// Counts and sizes.
    Stats(JsonArg),
    /// Delete checkpoints older than the maximum age and sweep unreferenced checkpoint artifacts.
    Cleanup(CleanupArgs),
}

#[derive(Debug, Args)]
pub struct JsonArg {
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    operation_id: String,
    /// Include the saved state.
    #[arg(short, long)]
    verbose: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    operation_id: String,
    /// Really delete (required).
    #[arg(short, long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct CleanupArgs {
    /// Default: CHECKPOINT_MAX_AGE_DAYS (30).
    #[arg(long, allow_negative_numbers = true)]
    max_age_days: Option<f64>,
    #[arg(long)]
    json: bool,
}

pub async fn run(command: CheckpointsCommand, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let store = ArtifactStore::for_checkpoints(&pool)?;
    match command {
        CheckpointsCommand::List(args) => {
            let all = checkpoints::list(&pool).await?;
            if args.json {
                return output::print_json(&all);
            }
            let mut table = output::table(&[
                "OPERATION ID",
                "KIND",
                "AT",
                "ATTEMPT",
                "SIZE",
                "CREATED",
                "INTEGRITY",
            ]);
            for c in &all {
                table.add_row(vec![
                    c.operation_id.clone(),
                    c.kind.to_string(),
                    format!("{} {}", c.unit, c.unit_value),
                    c.attempt.to_string(),
                    output::bytes(c.total_bytes()),
                    output::time(Some(c.created_at)),
                    if c.corrupt_reason.is_some() {
                        "CORRUPT"
                    } else {
                        "ok"
                    }
                    .into(),
                ]);
            }
            let corrupt = all.iter().filter(|c| c.corrupt_reason.is_some()).count();
            println!(
                "{table}\nTotal: {} checkpoints ({corrupt} corrupt: `ktrdr checkpoints show <id>` says why)",
                all.len()
            );
        }
        CheckpointsCommand::Show(mut args) => {
            args.operation_id = super::operation_id(&pool, &args.operation_id).await?;
            let c = checkpoints::get(&pool, &args.operation_id)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "CHECKPOINT_NOT_FOUND: operation {} has no checkpoint",
                        args.operation_id
                    )
                })?;
            if args.json {
                return output::print_json(&c);
            }
            println!(
                "Operation: {}\nKind:      {}\nAt:        {} {}\nAttempt:   {}",
                c.operation_id, c.kind, c.unit, c.unit_value, c.attempt
            );
            println!(
                "Created:   {}\nArtifact:  {} ({})",
                output::time(Some(c.created_at)),
                c.artifact_location.as_deref().unwrap_or("-"),
                output::bytes(c.artifact_size_bytes.unwrap_or(0))
            );
            println!(
                "SHA-256:   {}\nState:     {} (sha256 {})",
                c.artifact_sha256.as_deref().unwrap_or("-"),
                output::bytes(i64::from(c.state_size_bytes)),
                c.state_sha256
            );
            if let Some(why) = &c.corrupt_reason {
                println!(
                    "CORRUPT:   {why}\n           `ktrdr ops retry {}` runs the operation again from scratch",
                    c.operation_id
                );
            }
            if args.verbose {
                println!("{}", serde_json::to_string_pretty(&c.state)?);
            }
        }
        CheckpointsCommand::Delete(mut args) => {
            args.operation_id = super::operation_id(&pool, &args.operation_id).await?;
            if !args.force {
                anyhow::bail!(
                    "deleting the checkpoint of {} makes it impossible to resume: repeat with --force (-f)",
                    args.operation_id
                );
            }
            checkpoints::delete(&pool, &store, &args.operation_id).await?;
            if args.json {
                return output::print_json(
                    &json!({ "operation_id": args.operation_id, "checkpoint_deleted": true }),
                );
            }
            println!("Deleted the checkpoint of {}.", args.operation_id);
        }
        CheckpointsCommand::Stats(args) => {
            let all = checkpoints::list(&pool).await?;
            let total: i64 = all.iter().map(Checkpoint::total_bytes).sum();
            let by_kind = |kind: CheckpointKind| all.iter().filter(|c| c.kind == kind).count();
            let oldest = all.iter().map(|c| c.created_at).min();
            let mut stats =
                json!({"checkpoints": all.len(), "total_bytes": total, "oldest": oldest});
            for kind in CheckpointKind::ALL {
                stats[kind.as_str()] = json!(by_kind(kind));
            }
            if args.json {
                return output::print_json(&stats);
            }
            println!(
                "Checkpoints: {} ({}), oldest {}",
                all.len(),
                output::bytes(total),
                output::time(oldest)
            );
            for kind in CheckpointKind::ALL {
                println!("  {:<13}{}", kind.as_str(), by_kind(kind));
            }
        }
        CheckpointsCommand::Cleanup(args) => {
            let max_age_days = match args.max_age_days {
                Some(days) if !(days.is_finite() && days >= 0.0) => {
                    anyhow::bail!("--max-age-days must be 0 or more, got {days}")
                }
                Some(days) => days,
                None => config::checkpoint_max_age_days()?,
            };
            let report = checkpoints::cleanup(
                &pool,
                &store,
                max_age_days,
                checkpoints::SWEEP_MIN_AGE,
                None,
            )
            .await?;
            if args.json {
                return output::print_json(&report);
            }
            println!(
                "Deleted {} checkpoints older than {max_age_days} days ({} artifacts), swept {} unreferenced artifacts.",
                report.checkpoints_deleted,
                report.artifacts_deleted,
                report.unreferenced_artifacts_swept
            );
        }
    }
    Ok(())
}
