//! `ktrdr ticker`: a maintenance ticker without a worker (only one process per database leads; see
//! the library's `ticker` module). Runs until SIGINT or SIGTERM.

use clap::Args;
use ktrdr::{config::TickerSettings, ticker::Ticker};

#[derive(Debug, Args)]
pub struct TickerArgs {
    /// Name shown as the leader (default: ticker-host-pid).
    #[arg(long)]
    id: Option<String>,
}

pub async fn run(args: TickerArgs, migrate_first: bool) -> anyhow::Result<()> {
    let settings = TickerSettings::from_env()?;
    let url = super::database_url()?;
    // The services and the leadership calls run one at a time, so a small pool will do.
    let pool = ktrdr::db::connect_with_size(&url, 2).await?;
    if migrate_first {
        ktrdr::db::migrate(&pool).await?;
    }
    let id = args
        .id
        .unwrap_or_else(|| format!("ticker-{}", std::process::id()));
    let ticker = Ticker::new(pool.clone(), &id, &settings)?;
    let stop = ktrdr::shutdown::install()?;
    eprintln!(
        "ticker {id}: orphan timeout {} s, check interval {} s, cleanup every {} h (Ctrl-C stops)",
        settings.orphans.orphan_timeout.as_secs_f64(),
        settings.orphans.check_interval.as_secs_f64(),
        settings.checkpoint_cleanup.interval_hours
    );
    ticker.run(stop).await;
    pool.close().await;
    Ok(())
}
