//! `ktrdr-worker`: claims operations of its types from PostgreSQL, runs them, heartbeats, reports.
//! Thin over the `ktrdr_worker` library (see its `runner` and `jobs`).

use std::process::ExitCode;

use clap::Parser;

use ktrdr_worker::{
    runner,
    settings::{Args, WorkerSettings},
};

#[tokio::main]
async fn main() -> ExitCode {
    ktrdr::config::load_dotenv();
    let args = Args::parse();
    if let Err(err) = ktrdr::logging::init("info,sqlx=warn,refinery_core=warn") {
        return ktrdr::logging::exit_code(Err(err));
    }
    ktrdr::logging::exit_code(run(args).await)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let settings = WorkerSettings::from_args(&args)?;
    let url = ktrdr::db::resolve_database_url()?;
    if ktrdr::config::database_url_from_env().is_none() {
        tracing::info!(
            "using the embedded PostgreSQL cluster ({}); set DATABASE_URL for another server",
            ktrdr::RedactedUrl(&url)
        );
    }
    let pool = ktrdr::db::wait_until_reachable(&url, settings.startup_timeout).await?;
    if !args.no_migrate {
        ktrdr::db::migrate(&pool).await?;
    }
    runner::run(pool, settings).await
}
