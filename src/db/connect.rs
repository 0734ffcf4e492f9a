//! Picking the server and opening pools.

use std::time::Duration;

use sqlx::{
    Connection, PgConnection, PgPool,
    postgres::{PgConnectOptions, PgPoolOptions},
};

use crate::{
    Error, Result, config,
    db::{ConnectFailure, embedded::EmbeddedCluster},
    error::RedactedUrl,
};

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

/// How long opening one connection may take before the server counts as unreachable; also how
/// long a call waits for a pooled connection, so that calls during a database outage fail and are
/// retried by their caller instead of hanging.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool of up to 10 connections.
pub async fn connect(url: &str) -> Result<PgPool> {
    connect_with_size(url, 10).await
}

/// A pool of up to `max_connections`. Fails at once, with one [`Error::Unreachable`] naming the
/// server and the [cause](ConnectFailure), when PostgreSQL cannot be reached or refuses the login.
pub async fn connect_with_size(url: &str, max_connections: u32) -> Result<PgPool> {
    let options = connect_options(url, "ktrdr")?;
    // One connection opened here first: the pool retries a refused connection until its acquire
    // timeout and then reports only that it timed out, where a single connection answers at once,
    // with the reason.
    let probe = connect_once(url, &options).await?;
    let _ = probe.close().await;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(CONNECT_TIMEOUT)
        // A wait for a connection outlasts the default 2 s threshold only while the database is
        // away, which the callers report once (see `db::outage`); a warning per call is noise.
        .acquire_slow_level(log::LevelFilter::Debug)
        .connect_lazy_with(options))
}

/// One connection to `url` (the server's default settings, named `ktrdr`), for administration.
pub(crate) async fn connect_single(url: &str) -> Result<PgConnection> {
    connect_once(url, &connect_options(url, "ktrdr")?).await
}

async fn connect_once(url: &str, options: &PgConnectOptions) -> Result<PgConnection> {
    let unreachable = |cause| Error::Unreachable {
        target: RedactedUrl(url).to_string(),
        cause,
    };
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(options)).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(err)) => Err(unreachable(ConnectFailure::of(&err))),
        Err(_) => Err(unreachable(ConnectFailure::TimedOut(CONNECT_TIMEOUT))),
    }
}

/// Waits until the server answers, retrying with backoff from 100 ms up to 2 s, for at most `limit`.
/// The first failure is logged (a warning with its cause); one that no wait can fix (a wrong
/// password, a missing database, an unknown host) is returned at once.
pub async fn wait_until_reachable(url: &str, limit: Duration) -> Result<PgPool> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut delay = Duration::from_millis(100);
    let mut warned = false;
    loop {
        match connect_with_size(url, 10).await {
            Ok(pool) => return Ok(pool),
            Err(err) if err.is_transient() && tokio::time::Instant::now() + delay < deadline => {
                if !warned {
                    tracing::warn!("{err}; retrying for up to {} s", limit.as_secs_f64());
                    warned = true;
                }
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
