//! `ktrdr serve`: the HTTP API (`/api/v1`, contract) over the same library calls as the CLI. It
//! keeps no state of its own — every answer is read from or written to the database by one library
//! call — so any number of replicas can run behind a load balancer. The one thing a replica holds is
//! a LISTEN connection whose wake-ups it fans out to its progress streams, and those poll anyway.
//!
//! Layout: one module per resource (`operations`, `trainings`, `backtests`, `checkpoints`,
//! `workers`, `agent` for the research loop, `health`, `metrics`, `progress_stream`), the
//! envelope and error mapping (`envelope`), input checks (`validate`), what answers look like
//! (`views`), the token (`auth`) and the generated OpenAPI document with its docs page
//! (`openapi`).
//!
//! Bounded: request bodies up to [`MAX_BODY_BYTES`], each request answered within
//! [`REQUEST_TIMEOUT`] (progress streams excepted once their headers are sent), and on SIGTERM or
//! SIGINT the server stops accepting, closes its progress streams, lets requests in flight finish
//! for at most [`SHUTDOWN_GRACE`], and exits.

mod agent;
mod auth;
mod backtests;
mod checkpoints;
mod envelope;
mod health;
mod metrics;
mod openapi;
mod operations;
mod progress_stream;
mod strategy_files;
mod trainings;
mod validate;
mod views;
mod workers;

use std::{future::IntoFuture, net::SocketAddr, time::Duration};

use anyhow::Context;
use axum::{
    Router,
    extract::{DefaultBodyLimit, Request},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use clap::Args;
use ktrdr::notify::{self, Wakeup};
use sqlx::PgPool;
use tokio::sync::{broadcast, watch};

use envelope::ApiError;

/// The largest request body: params of up to 1 MiB as PostgreSQL prints them, with room for the
/// whitespace of pretty-printed JSON (as `ktrdr ops submit --params @FILE` reads).
pub const MAX_BODY_BYTES: usize = 4 * ktrdr::operations::MAX_PARAMS_BYTES;
/// The longest a request may take before it is answered 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long requests in flight may finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Connections to the database per server.
const POOL_SIZE: u32 = 16;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KTRDR_API_BIND", default_value = "127.0.0.1:8000")]
    bind: SocketAddr,
    /// Allow a non-loopback address without KTRDR_API_TOKEN (anyone who can reach it can then
    /// submit and cancel operations).
    #[arg(long)]
    insecure: bool,
}

/// What every handler gets: the pool, the token, the progress wake-ups and the shutdown signal.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub token: Option<String>,
    /// Operation ids from `ktrdr_progress`; an empty id after the listener (re)connected.
    pub progress: broadcast::Sender<String>,
    pub shutdown: watch::Receiver<bool>,
}

pub async fn run(args: ServeArgs, migrate_first: bool) -> anyhow::Result<()> {
    let token = std::env::var("KTRDR_API_TOKEN")
        .ok()
        .filter(|token| !token.is_empty());
    if token.is_none() && !args.bind.ip().is_loopback() && !args.insecure {
        anyhow::bail!(
            "refusing to listen on {} without KTRDR_API_TOKEN: set a token (writes then need \
             `Authorization: Bearer <token>`), bind a loopback address, or pass --insecure",
            args.bind
        );
    }
    let url = ktrdr::db::resolve_database_url()?;
    let pool = ktrdr::db::connect_with_size(&url, POOL_SIZE).await?;
    if migrate_first {
        ktrdr::db::migrate(&pool).await?;
    }
    let shutdown = ktrdr::shutdown::install().context("installing the signal handlers")?;
    let (progress, _) = broadcast::channel(1024);
    let listener_task = spawn_progress_fan_out(pool.clone(), progress.clone());
    let state = AppState {
        pool,
        token,
        progress,
        shutdown: shutdown.clone(),
    };
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    let local = listener.local_addr()?;
    eprintln!(
        "ktrdr API listening on http://{local} (docs: http://{local}/api/v1/docs){}",
        if state.token.is_some() {
            "; writes need the token"
        } else {
            ""
        }
    );
    let mut stop = shutdown.clone();
    let server = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        })
        .into_future();
    let mut stopping = shutdown;
    tokio::pin!(server);
    tokio::select! {
        served = &mut server => served?,
        _ = stopping.wait_for(|stopping| *stopping) => {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await.is_err() {
                eprintln!("requests still running after {SHUTDOWN_GRACE:?}: exiting anyway");
            }
        }
    }
    listener_task.abort();
    eprintln!("ktrdr API stopped");
    Ok(())
}

/// One LISTEN on `ktrdr_progress` for the whole server, its wake-ups sent to every progress stream.
fn spawn_progress_fan_out(
    pool: PgPool,
    progress: broadcast::Sender<String>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let (mut wakeups, listener) = notify::spawn_listener(pool, &[notify::PROGRESS]);
        while let Some(wakeup) = wakeups.recv().await {
            let id = match wakeup {
                Wakeup::Progress(id) => id,
                // Anything may have been missed: every stream looks again.
                Wakeup::Reconnected => String::new(),
                _ => continue,
            };
            // No stream open is no error.
            let _ = progress.send(id);
        }
        listener.abort();
    })
}

/// Every route.
fn router(state: AppState) -> Router {
    let api = Router::new()
        .route(
            "/operations",
            get(operations::list).post(operations::submit),
        )
        .route(
            "/operations/{operation_id}",
            get(operations::show).delete(operations::cancel),
        )
        .route(
            "/operations/{operation_id}/children",
            get(operations::children),
        )
        .route("/operations/{operation_id}/events", get(operations::events))
        .route(
            "/operations/{operation_id}/results",
            get(operations::results),
        )
        .route(
            "/operations/{operation_id}/progress",
            get(progress_stream::progress),
        )
        .route(
            "/operations/{operation_id}/resume",
            post(operations::resume),
        )
        .route("/operations/{operation_id}/retry", post(operations::retry))
        .route("/training/start", post(trainings::start))
        .route("/trainings/start", post(trainings::start_plural))
        .route("/backtests/start", post(backtests::start))
        .route("/checkpoints", get(checkpoints::list))
        .route("/checkpoints/stats", get(checkpoints::stats))
        .route("/checkpoints/cleanup", post(checkpoints::cleanup))
        .route(
            "/checkpoints/{operation_id}",
            get(checkpoints::show).delete(checkpoints::delete),
        )
        .route("/agent/trigger", post(agent::trigger))
        .route("/agent/status", get(agent::status))
        .route("/agent/researches/{operation_id}", get(agent::show))
        .route("/agent/cancel/{operation_id}", post(agent::cancel))
        .route("/agent/history", get(agent::history))
        .route("/workers", get(workers::list))
        .route("/workers/{worker_id}", get(workers::show))
        .route("/health", get(health::health))
        .route("/openapi.json", get(openapi::document))
        .route("/docs", get(openapi::docs_page));
    Router::new()
        .nest("/api/v1", api)
        .route("/metrics", get(metrics::metrics))
        .fallback(envelope::no_route)
        .method_not_allowed_fallback(envelope::wrong_method)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token_for_writes,
        ))
        .layer(middleware::from_fn(within_timeout))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            |_: Box<dyn std::any::Any + Send>| envelope::internal().into_response(),
        ))
        .with_state(state)
}

/// Answers 503 `REQUEST_TIMEOUT` for a request not answered within [`REQUEST_TIMEOUT`].
async fn within_timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "REQUEST_TIMEOUT",
            format!("no answer within {REQUEST_TIMEOUT:?}: the database may be overloaded; retry"),
        )
        .into_response(),
    }
}
