//! `ktrdr db up|down|status|url`: the embedded cluster (or, with DATABASE_URL, the configured server).

use clap::{Args, Subcommand};
use ktrdr::{
    config,
    db::embedded::{ClusterState, EmbeddedCluster},
};
use serde_json::json;

use crate::output;

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create (if needed) and start the embedded cluster, and migrate it.
    Up,
    /// Stop the embedded cluster.
    Down,
    /// Show where the database is and whether it answers.
    Status(StatusArgs),
    /// Print the database URL (for psql, DATABASE_URL, scripts).
    Url,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[arg(long)]
    json: bool,
}

pub async fn run(command: DbCommand) -> anyhow::Result<()> {
    let external = config::database_url_from_env();
    match command {
        DbCommand::Up => {
            let url = match &external {
                Some(url) => {
                    println!("DATABASE_URL is set: using that server, not the embedded cluster.");
                    url.clone()
                }
                None => {
                    let cluster = EmbeddedCluster::locate()?;
                    let url = cluster.ensure_running()?;
                    println!(
                        "Embedded PostgreSQL running in {}",
                        cluster.home().display()
                    );
                    url
                }
            };
            let pool = ktrdr::db::connect(&url).await?;
            ktrdr::db::migrate(&pool).await?;
            println!("{url}");
        }
        DbCommand::Down => {
            if external.is_some() {
                anyhow::bail!("DATABASE_URL is set: `db down` only stops the embedded cluster");
            }
            let cluster = EmbeddedCluster::locate()?;
            cluster.stop()?;
            println!(
                "Embedded PostgreSQL stopped ({}).",
                cluster.home().display()
            );
        }
        DbCommand::Status(args) => status(external, args.json).await?,
        DbCommand::Url => match external {
            Some(url) => println!("{url}"),
            None => println!("{}", EmbeddedCluster::locate()?.url()?),
        },
    }
    Ok(())
}

async fn status(external: Option<String>, as_json: bool) -> anyhow::Result<()> {
    let (kind, location, state, url) = match external {
        Some(url) => ("external", "DATABASE_URL".to_string(), None, Some(url)),
        None => {
            let cluster = EmbeddedCluster::locate()?;
            let state = cluster.status()?;
            let url = cluster.url().ok();
            (
                "embedded",
                cluster.home().display().to_string(),
                Some(state),
                url,
            )
        }
    };
    let reachable = match (&url, &state) {
        (Some(_), Some(ClusterState::NotInitialized | ClusterState::Stopped)) | (None, _) => false,
        (Some(url), _) => ktrdr::db::connect_with_size(url, 1).await.is_ok(),
    };
    let state_text = match state {
        Some(ClusterState::NotInitialized) => "not initialized",
        Some(ClusterState::Stopped) => "stopped",
        Some(ClusterState::Running) => "running",
        None => "n/a",
    };
    if as_json {
        return output::print_json(&json!({
            "kind": kind, "location": location, "state": state_text,
            "reachable": reachable, "url": url,
        }));
    }
    println!("Database:  {kind} ({location})");
    if kind == "embedded" {
        println!("Cluster:   {state_text}");
    }
    println!("Reachable: {}", if reachable { "yes" } else { "no" });
    if let Some(url) = url {
        println!("URL:       {url}");
    }
    Ok(())
}
