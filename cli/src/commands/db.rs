//! `ktrdr db up|down|status|url`: the embedded cluster (or, with DATABASE_URL, the configured server);
//! `ktrdr db roles` (in `db_roles`): ktrdr's group roles and their logins, on either.

use clap::Subcommand;
use ktrdr::{
    RedactedUrl, config,
    db::embedded::{ClusterState, EmbeddedCluster},
};
use serde_json::json;

use crate::{
    commands::db_roles::{self, RolesArgs},
    output::{self, JsonArgs},
};

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Create (if needed) and start the embedded cluster, and migrate it.
    Up(JsonArgs),
    /// Stop the embedded cluster.
    Down(JsonArgs),
    /// Show where the database is and whether it answers.
    Status(JsonArgs),
    /// Print the database URL, password included (for psql, DATABASE_URL, scripts); every other
    /// command masks the password.
    Url(JsonArgs),
    /// Apply ktrdr's roles (ktrdr_worker, ktrdr_reader, ktrdr_admin) and their grants again, and
    /// show what each may do and its members; with --create-login, add a login to one.
    Roles(RolesArgs),
}

pub async fn run(command: DbCommand, migrate_first: bool) -> anyhow::Result<()> {
    let external = config::database_url_from_env();
    match command {
        DbCommand::Roles(args) => db_roles::run(args, migrate_first).await?,
        DbCommand::Up(args) => {
            let (kind, url) = match &external {
                Some(url) => {
                    if !args.json {
                        println!(
                            "DATABASE_URL is set: using that server, not the embedded cluster."
                        );
                    }
                    ("external", url.clone())
                }
                None => {
                    let cluster = EmbeddedCluster::locate()?;
                    let url = cluster.ensure_running()?;
                    if !args.json {
                        println!(
                            "Embedded PostgreSQL running in {}",
                            cluster.home().display()
                        );
                    }
                    ("embedded", url)
                }
            };
            let pool = ktrdr::db::connect(&url).await?;
            ktrdr::db::migrate(&pool).await?;
            let shown = RedactedUrl(&url).to_string();
            if args.json {
                output::print_json(&json!({ "kind": kind, "state": "running", "url": shown }))?;
            } else {
                println!("{shown}");
            }
        }
        DbCommand::Down(args) => {
            if external.is_some() {
                anyhow::bail!("DATABASE_URL is set: `db down` only stops the embedded cluster");
            }
            let cluster = EmbeddedCluster::locate()?;
            cluster.stop()?;
            if args.json {
                output::print_json(&json!({ "kind": "embedded", "state": "stopped" }))?;
            } else {
                println!(
                    "Embedded PostgreSQL stopped ({}).",
                    cluster.home().display()
                );
            }
        }
        DbCommand::Status(args) => status(external, args.json).await?,
        DbCommand::Url(args) => {
            let url = match external {
                Some(url) => url,
                None => EmbeddedCluster::locate()?.url()?,
            };
            if args.json {
                output::print_json(&json!({ "url": url }))?;
            } else {
                println!("{url}");
            }
        }
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
            "reachable": reachable, "url": url.as_deref().map(|url| RedactedUrl(url).to_string()),
        }));
    }
    println!("Database:  {kind} ({location})");
    if kind == "embedded" {
        println!("Cluster:   {state_text}");
    }
    println!("Reachable: {}", if reachable { "yes" } else { "no" });
    if let Some(url) = url {
        println!("URL:       {}", RedactedUrl(&url));
    }
    Ok(())
}
