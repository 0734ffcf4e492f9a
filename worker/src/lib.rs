//! # ktrdr-worker — claims operations from PostgreSQL, runs them, heartbeats, reports
//!
//! The library behind the `ktrdr-worker` binary, and the only crate that links libtorch (tch).
//! [`runner`] is the claim loop; `claim_ahead` the buffer of operations claimed ahead of free
//! slots; `attempt` the life of one claimed operation (heartbeats, stop requests, the one fenced
//! report of its outcome); `reporter` batches completions; `outbox` keeps outcomes the database
//! could not take yet; [`stores`] locates and probes where jobs write; [`jobs`] holds one computation per job kind — `dummy`, `training` (tch) and
//! `backtesting` — with the checkpointing they share. Everything a worker does to an operation goes
//! through the fenced SQL functions of the `ktrdr` library; it keeps no state another process needs.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use clap::Parser;
//!
//! let args = ktrdr_worker::settings::Args::parse_from(["ktrdr-worker", "--types", "dummy"]);
//! let settings = ktrdr_worker::settings::WorkerSettings::from_args(&args)?;
//! let url = ktrdr::db::resolve_database_url()?;
//! let pool = ktrdr::db::connect(&url).await?;
//! ktrdr_worker::runner::run(pool, settings).await // until SIGTERM
//! # }
//! ```

mod attempt;
mod claim_ahead;
pub mod jobs;
mod outbox;
mod reporter;
pub mod runner;
pub mod settings;
pub mod stores;
