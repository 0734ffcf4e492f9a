//! `ktrdr migrate`.

use clap::Args;

use crate::output;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: MigrateArgs) -> anyhow::Result<()> {
    let pool = super::connect(false).await?;
    let report = ktrdr::db::migrate(&pool).await?;
    if args.json {
        return output::print_json(&report);
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
    Ok(())
}
