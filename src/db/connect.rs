//! Picking the server and opening pools.

use std::time::Duration;

use sqlx::{
    PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::{Error, Result, config, db::embedded::EmbeddedCluster, error::RedactedUrl};

/// The URL to use: `DATABASE_URL` if set, else the embedded cluster, which is initialised and started
/// on demand.
pub fn resolve_database_url() -> Result<String> {
    match config::database_url_from_env() {
        Some(url) => Ok(url),
        None => {
            let cluster = EmbeddedCluster::locate()?;
            cluster.ensure_running()
        }
    }
}

/// A pool of up to 10 connections.
pub async fn connect(url: &str) -> Result<PgPool> {
    connect_with_size(url, 10).await
}

/// A pool of up to `max_connections`. Fails fast (with the server named) when PostgreSQL is down.
pub async fn connect_with_size(url: &str, max_connections: u32) -> Result<PgPool> {
    let options = connect_options(url, "ktrdr")?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        // Short, so that calls during a database outage fail and are retried by the caller instead
        // of hanging.
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .map_err(|source| Error::Unreachable {
            target: RedactedUrl(url).to_string(),
            source,
        })?;
    Ok(pool)
}

/// Waits until the server answers, retrying with backoff from 100 ms up to 2 s, for at most `limit`.
pub async fn wait_until_reachable(url: &str, limit: Duration) -> Result<PgPool> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut delay = Duration::from_millis(100);
    loop {
        match connect_with_size(url, 10).await {
            Ok(pool) => return Ok(pool),
            Err(err) if tokio::time::Instant::now() + delay < deadline => {
                tracing::debug!("database not reachable yet: {err}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(err) => return Err(err),
        }
    }
}

/// The options of `url`, named `application_name` in `pg_stat_activity`.
pub(crate) fn connect_options(url: &str, application_name: &str) -> Result<PgConnectOptions> {
    let options: PgConnectOptions = url.parse().map_err(|err| {
        Error::Config(format!(
            "DATABASE_URL {} is not a valid PostgreSQL URL: {err}",
            RedactedUrl(url)
        ))
    })?;
    Ok(options.application_name(application_name))
}
