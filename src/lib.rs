//! # ktrdr — the queue core: long-running jobs coordinated by PostgreSQL
//!
//! Operations (training runs, backtests, research steps) are rows in `ktrdr.operations`. Every state
//! transition is one SQL function call (see `sql/`): workers claim with `FOR UPDATE SKIP LOCKED`, hold a
//! lease renewed by heartbeats, and present a fencing token (`attempt`) on every write, so a stale
//! worker can never complete an operation that moved on. This crate holds what any job needs —
//! connection and embedded-cluster handling, migrations, typed calls of the SQL API, the worker
//! registry, notifications, the maintenance ticker, checkpoint and artifact stores, health — and
//! knows nothing of trading and links no libtorch. What a job *is* comes from outside: a program
//! hands [`operations::submit`] the [`job_kinds::JobKinds`] it knows (ktrdr's are in the
//! `ktrdr-trading` crate; [`job_kinds::Dummy`] is the queue's own).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ktrdr::Error> {
//! use ktrdr::{
//!     job_kinds::JobKinds,
//!     operations::{self, NewOperation, Outcome},
//! };
//!
//! let pool = ktrdr::db::connect(&ktrdr::db::resolve_database_url()?).await?;
//! ktrdr::db::migrate(&pool).await?;
//! let id = operations::submit(&pool, &JobKinds::BUILT_IN, &NewOperation::new("dummy")).await?;
//! let claimed = operations::claim(&pool, "worker-1", &["dummy".into()], 1, 60.0).await?;
//! for op in claimed {
//!     let done = Outcome::Completed(serde_json::json!({"steps": 1, "step_ms": 0}));
//!     op.lease.report(&pool, &done).await?;
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
pub mod leader;
pub mod logging;
pub mod maintenance;
pub mod notify;
pub mod operations;
pub mod research;
pub mod shutdown;
pub mod ticker;
pub mod workers;

pub use error::{Error, RedactedUrl, Result};

/// Version of this build, recorded in the worker registry.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
