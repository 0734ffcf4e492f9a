//! `ktrdr ticker`: a maintenance ticker without a worker (only one process per database leads; see
//! the library's `ticker` module). Runs until SIGINT or SIGTERM.

use clap::Args;
use ktrdr::config::TickerSettings;

#[derive(Debug, Args)]
pub struct TickerArgs {
    /// Name shown as the leader (default: ticker-host-pid).
    #[arg(long)]
    id: Option<String>,
}

pub async fn run(args: TickerArgs, migrate_first: bool) -> anyhow::Result<()> {
    let settings = TickerSettings::from_env()?;
    let url = ktrdr::db::resolve_database_url()?;
    if migrate_first {
        let pool = ktrdr::db::connect_with_size(&url, 1).await?;
        ktrdr::db::migrate(&pool).await?;
        pool.close().await;
    }
    let id = args
        .id
        .unwrap_or_else(|| format!("ticker-{}", std::process::id()));
    let stop = ktrdr::shutdown::install()?;
    eprintln!(
        "ticker {id}: orphan timeout {} s, check interval {} s (Ctrl-C stops)",
        settings.lease.orphan_timeout_seconds, settings.check_interval_seconds
    );
    ktrdr::ticker::run(url, id, settings, stop).await;
    Ok(())
}
