//! The worker registry (sql/70_workers.sql) and its read side (`ktrdr workers`).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::{FromRow, PgPool};

use crate::Result;

/// How a worker describes itself when it registers.
#[derive(Debug, Clone)]
pub struct WorkerIdentity {
    pub worker_id: String,
    pub types: Vec<String>,
    pub host: String,
    pub pid: i32,
    pub concurrency: i32,
    pub capabilities: Value,
}

/// A worker's state in `ktrdr.workers_overview`: lowercase there and in JSON, uppercase in tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum WorkerStatus {
    Active,
    /// Its lease lapsed without a deregistration: the process died or is cut off.
    Lost,
    Stopped,
}

impl fmt::Display for WorkerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorkerStatus::Active => "ACTIVE",
            WorkerStatus::Lost => "LOST",
            WorkerStatus::Stopped => "STOPPED",
        })
    }
}

/// A row of `ktrdr.workers_overview`.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct WorkerInfo {
    pub worker_id: String,
    pub types: Vec<String>,
    pub host: String,
    pub pid: i32,
    pub version: String,
    pub concurrency: i32,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    pub lease_expires_at: DateTime<Utc>,
    pub status: WorkerStatus,
    pub running_operations: i64,
    /// Outcomes waiting in the worker's outbox (the database refused or could not take them).
    pub undelivered_outcomes: i32,
}

/// Registers (or re-registers) a worker; refuses types the database does not know.
pub async fn register(pool: &PgPool, worker: &WorkerIdentity, lease_seconds: f64) -> Result<()> {
    sqlx::query("SELECT ktrdr.register_worker($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(&worker.worker_id)
        .bind(&worker.types)
        .bind(&worker.host)
        .bind(worker.pid)
        .bind(crate::VERSION)
        .bind(worker.concurrency)
        .bind(lease_seconds)
        .bind(&worker.capabilities)
        .execute(pool)
        .await?;
    Ok(())
}

/// Renews the worker's lease and records the outcomes waiting in its outbox (`None`: unchanged);
/// false when the registry does not know it (register again).
pub async fn heartbeat(
    pool: &PgPool,
    worker_id: &str,
    lease_seconds: f64,
    undelivered_outcomes: Option<i32>,
) -> Result<bool> {
    let known = sqlx::query_scalar("SELECT ktrdr.worker_heartbeat($1, $2, $3)")
        .bind(worker_id)
        .bind(lease_seconds)
        .bind(undelivered_outcomes)
        .fetch_one(pool)
        .await?;
    Ok(known)
}

pub async fn deregister(pool: &PgPool, worker_id: &str) -> Result<()> {
    sqlx::query("SELECT ktrdr.deregister_worker($1)")
        .bind(worker_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Every registered worker, active ones first.
pub async fn list(pool: &PgPool) -> Result<Vec<WorkerInfo>> {
    let rows = sqlx::query_as(
        "SELECT worker_id, types, host, pid, version, concurrency, started_at, heartbeat_at,
                lease_expires_at, status, running_operations, undelivered_outcomes
         FROM ktrdr.workers_overview
         ORDER BY status = 'active' DESC, started_at DESC",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// How many active workers take operations of `operation_type`: none means a submitted one waits
/// in PENDING until such a worker starts, which the CLI says at once.
pub async fn active_takers(pool: &PgPool, operation_type: &str) -> Result<i64> {
    let count = sqlx::query_scalar(
        "SELECT count(*) FROM ktrdr.workers_overview WHERE status = 'active' AND $1 = ANY(types)",
    )
    .bind(operation_type)
    .fetch_one(pool)
    .await?;
    Ok(count)
}

/// The warning for operations of a type no active worker takes, naming the worker to start.
pub fn no_taker_warning(operation_type: &str) -> String {
    format!(
        "no active worker takes `{operation_type}` operations: they stay PENDING until one starts \
         (`ktrdr-worker --types {operation_type}`)"
    )
}
