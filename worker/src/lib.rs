//! # ktrdr-worker — claims operations from PostgreSQL, runs them, heartbeats, reports
//!
//! The library behind the `ktrdr-worker` binary, and behind `ktrdr-worker-torch` (the crate of that
//! name adds the libtorch kinds). It links no libtorch, so a worker of the other kinds starts in
//! milliseconds. [`launch`] starts a worker binary; [`runner`] is the claim loop; `claim_ahead` the
//! buffer of operations claimed ahead of free slots; `attempt` the life of one claimed operation
//! (heartbeats, stop requests, the one fenced report of its outcome); `reporter` batches
//! completions; `outbox` keeps outcomes the database could not take yet; [`stores`] locates and
//! probes where jobs write; [`jobs`] holds the kinds without libtorch (`dummy`, `agent_design`,
//! `agent_assessment`), the registry [`jobs::Jobs`] of a binary's kinds, and the checkpointing
//! every kind shares. Everything a worker does to an operation goes through the fenced SQL
//! functions of the `ktrdr` library; it keeps no state another process needs.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use clap::Parser;
//!
//! let args = ktrdr_worker::settings::Args::parse_from(["ktrdr-worker", "--types", "dummy"]);
//! let settings = ktrdr_worker::settings::WorkerSettings::from_args(&args)?;
//! let url = ktrdr::db::resolve_database_url()?;
//! let pool = ktrdr::db::connect(&url).await?;
//! let jobs = ktrdr_worker::jobs::Jobs::without_torch();
//! ktrdr_worker::runner::run(pool, settings, jobs).await // until SIGTERM
//! # }
//! ```

mod attempt;
mod claim_ahead;
pub mod jobs;
pub mod launch;
mod outbox;
mod reporter;
pub mod runner;
pub mod settings;
pub mod stores;
