//! # ktrdr — a job system for long-running machine-learning work, coordinated by PostgreSQL
//!
//! Operations (training runs, backtests, research steps) are rows in `ktrdr.operations`. Every state
//! transition is one SQL function call (see `sql/`): workers claim with `FOR UPDATE SKIP LOCKED`, hold a
//! lease renewed by heartbeats, and present a fencing token (`attempt`) on every write, so a stale
//! worker can never complete an operation that moved on. This crate is the library both binaries
//! (`ktrdr-worker` and the `ktrdr` CLI) stand on: connection and embedded-cluster handling, migrations,
//! and typed calls of the SQL API.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ktrdr::Error> {
//! use ktrdr::operations::{self, NewOperation};
//!
//! let pool = ktrdr::db::connect(&ktrdr::db::resolve_database_url()?).await?;
//! ktrdr::db::migrate(&pool).await?;
//! let id = operations::submit(&pool, &NewOperation::new("dummy")).await?;
//! let claimed = operations::claim(&pool, "worker-1", &["dummy".into()], 1, 60.0).await?;
//! for op in claimed {
//!     op.lease.complete(&pool, serde_json::json!({"ok": true})).await?;
//! }
//! println!("{id} done");
//! # Ok(()) }
//! ```

pub mod artifacts;
pub mod checkpoints;
pub mod config;
pub mod db;
mod error;
pub mod health;
pub mod job_kinds;
pub mod maintenance;
pub mod notify;
pub mod operations;
pub mod shutdown;
pub mod ticker;
pub mod workers;

pub use error::{Error, Result};

/// Version of this build, recorded in the worker registry.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
