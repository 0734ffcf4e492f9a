//! `ktrdr migrate`: the schema and SQL bundle, then the settings pg_cron reads.

use clap::Args;
use ktrdr::maintenance::scheduled_settings::{self, ScheduledSettings};

use crate::output;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// `--json`: the migration report with the settings recorded for pg_cron.
#[derive(serde::Serialize)]
struct MigrateOutput<'a> {
    #[serde(flatten)]
    report: &'a ktrdr::db::MigrationReport,
    scheduled_settings: &'a ScheduledSettings,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let pool = super::connect(false).await?;
    let report = ktrdr::db::migrate(&pool).await?;
    let settings = scheduled_settings::record_from_env(&pool).await?;
    if args.json {
        return output::print_json(&MigrateOutput {
            report: &report,
            scheduled_settings: &settings,
        });
    }
    if report.applied_migrations.is_empty() {
        println!("Schema up to date.");
    } else {
        for migration in &report.applied_migrations {
            println!("Applied {migration}");
        }
    }
    if report.sql_bundle_applied {
        println!(
            "Installed SQL functions and views ({} files).",
            report.sql_files
        );
    } else {
        println!("SQL functions and views up to date.");
    }
    println!(
        "Settings for pg_cron (ktrdr.settings): orphan timeout {} s, checkpoints kept {} days, \
         retention {} days.",
        settings.orphan_timeout_seconds, settings.checkpoint_max_age_days, settings.retention_days
    );
    Ok(())
}
