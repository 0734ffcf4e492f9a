//! `ktrdr-bench training --database`: what checkpoints cost once a database is involved, in a scratch
//! database (created and dropped here) on the server `DATABASE_URL` points at.
//!
//! - **Save**: the example model's training checkpoint saved the way a worker saves it — artifact
//!   written (durably, for the directory store), fenced row, previous artifact deleted — to the
//!   database store and to a directory store; median of [`SAVES`] saves each.
//! - **Resume latency**: a real worker process (the `ktrdr-worker` built beside this benchmark) trains the example strategy on the
//!   benchmark's bars; [`RESUMES`] times it is cancelled and resumed, timing from the `resume` call to
//!   the claim and to the first new epoch in the operation's progress (polled every 2 ms).

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use ktrdr::{
    artifacts::ArtifactStore,
    checkpoints::{self, CheckpointKind},
    db::scratch::ScratchDatabase,
    job_kinds::JobKinds,
    operations::{self, NewOperation, Operation, Status},
};
use ktrdr_trading::{
    kinds::TrainingParams,
    market_data::{self, Bar, Timeframe},
    strategy::Strategy,
};
use serde::Serialize;

use super::median;
use ktrdr_worker::jobs::checkpointing::CheckpointSaver;
use ktrdr_worker_torch::training::checkpoint::TrainingCheckpoint;

/// Checkpoint saves timed per store.
const SAVES: usize = 20;
/// Cancel-and-resume cycles timed.
const RESUMES: usize = 5;
/// How long any one step of the resume cycle may take before the benchmark gives up.
const STEP_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, Serialize)]
pub struct DatabaseFigures {
    /// Median seconds for one full checkpoint save.
    pub save_database_store_seconds: f64,
    pub save_directory_store_seconds: f64,
    pub directory: String,
    pub saves: usize,
    /// Medians over the cancel/resume cycles.
    pub resume_to_claim_seconds: f64,
    pub resume_to_first_epoch_seconds: f64,
    pub resume_samples: Vec<f64>,
}

pub async fn measure(
    strategy: &Strategy,
    bars: &[Bar],
    checkpoint: &TrainingCheckpoint,
    threads: i32,
) -> anyhow::Result<DatabaseFigures> {
    let admin_url = ktrdr::db::resolve_database_url()?;
    let scratch = ScratchDatabase::create(&admin_url, "ktrdr_bench").await?;
    let directory = std::env::temp_dir().join(format!("ktrdr-bench-{:x}", rand::random::<u64>()));
    let figures = run(&scratch, &directory, strategy, bars, checkpoint, threads).await;
    let _ = std::fs::remove_dir_all(&directory);
    scratch.drop_database().await?;
    figures
}

async fn run(
    scratch: &ScratchDatabase,
    directory: &std::path::Path,
    strategy: &Strategy,
    bars: &[Bar],
    checkpoint: &TrainingCheckpoint,
    threads: i32,
) -> anyhow::Result<DatabaseFigures> {
    let pool = scratch.pool(4).await?;
    // Saves need an attempt's lease: a claimed dummy operation lends one.
    operations::submit(&pool, &JobKinds::BUILT_IN, &NewOperation::new("dummy")).await?;
    let lease = operations::claim(&pool, "bench", &["dummy".into()], 1, 3600.0)
        .await?
        .remove(0)
        .lease;
    let mut save_seconds = Vec::new();
    for store in [
        ArtifactStore::Database(pool.clone()),
        ArtifactStore::Directory(directory.to_path_buf()),
    ] {
        let saver = CheckpointSaver::new(pool.clone(), store, lease.clone());
        let mut times = Vec::new();
        for _ in 0..SAVES {
            let started = Instant::now();
            saver
                .save(CheckpointKind::Periodic, checkpoint.snapshot())
                .await;
            times.push(started.elapsed().as_secs_f64());
        }
        anyhow::ensure!(saver.saved() == SAVES, "a checkpoint save failed");
        save_seconds.push(median(times));
    }

    let source = market_data::Source::Synth {
        seed: super::BARS_SEED,
    };
    market_data::store(&pool, "EURUSD", Timeframe::H1, &source, bars).await?;
    let resume_samples = resume_cycles(scratch, &pool, strategy, threads).await?;
    pool.close().await;
    Ok(DatabaseFigures {
        save_database_store_seconds: save_seconds[0],
        save_directory_store_seconds: save_seconds[1],
        directory: directory.display().to_string(),
        saves: SAVES,
        resume_to_claim_seconds: median(resume_samples.iter().map(|s| s.0).collect()),
        resume_to_first_epoch_seconds: median(resume_samples.iter().map(|s| s.1).collect()),
        resume_samples: resume_samples.iter().map(|s| s.1).collect(),
    })
}

/// (to claim, to first new epoch) in seconds, per cycle.
async fn resume_cycles(
    scratch: &ScratchDatabase,
    pool: &sqlx::PgPool,
    strategy: &Strategy,
    threads: i32,
) -> anyhow::Result<Vec<(f64, f64)>> {
    let mut strategy = strategy.clone();
    strategy.training.epochs = 10_000;
    strategy.training.early_stopping.patience = 10_000;
    let params = serde_json::to_value(TrainingParams::new(strategy))?;
    let _worker = Worker::spawn(&scratch.url, threads)?;
    let id = operations::submit(
        pool,
        &ktrdr_trading::kinds::ALL,
        &NewOperation::new("training").with_params(params),
    )
    .await?;
    let mut samples = Vec::new();
    let first = wait(pool, &id, "the first epoch", |op| epoch(op).is_some()).await?;
    let mut epoch_seen = epoch(&first).unwrap_or(0);
    for _ in 0..RESUMES {
        wait(pool, &id, "another epoch", |op| {
            epoch(op) > Some(epoch_seen)
        })
        .await?;
        operations::request_cancel(pool, &id, None).await?;
        wait(pool, &id, "the cancel", |op| op.status == Status::Cancelled).await?;
        let next = checkpoints::get(pool, &id)
            .await?
            .context("the cancel left no checkpoint")?
            .unit_value as u64;
        let started = Instant::now();
        operations::resume(pool, &id).await?;
        wait(pool, &id, "the claim", |op| op.status == Status::Running).await?;
        let claimed = started.elapsed().as_secs_f64();
        wait(pool, &id, "the first new epoch", |op| {
            epoch(op) >= Some(next)
        })
        .await?;
        samples.push((claimed, started.elapsed().as_secs_f64()));
        epoch_seen = next;
    }
    Ok(samples)
}

/// The last finished epoch in the operation's progress.
fn epoch(op: &Operation) -> Option<u64> {
    op.progress.as_ref().and_then(|p| p["epoch"].as_u64())
}

async fn wait(
    pool: &sqlx::PgPool,
    id: &str,
    what: &str,
    condition: impl Fn(&Operation) -> bool,
) -> anyhow::Result<Operation> {
    let deadline = Instant::now() + STEP_LIMIT;
    loop {
        let op = operations::get(pool, id).await?;
        if condition(&op) {
            return Ok(op);
        }
        anyhow::ensure!(
            !op.status.is_terminal(),
            "{id} ended ({}) while waiting for {what}: {:?}",
            op.status,
            op.error_message
        );
        anyhow::ensure!(
            Instant::now() < deadline,
            "{what} did not come within {STEP_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A `ktrdr-worker` child process for training, killed when dropped.
struct Worker(Child);

impl Worker {
    fn spawn(database_url: &str, threads: i32) -> anyhow::Result<Self> {
        let exe = std::env::current_exe()
            .context("cannot find this executable")?
            .with_file_name("ktrdr-worker");
        let child = Command::new(&exe)
            .args(["--types", "training", "--concurrency", "1", "--no-ticker"])
            .env("DATABASE_URL", database_url)
            .env("KTRDR_TORCH_THREADS", threads.to_string())
            .env("KTRDR_LOG", "warn")
            .env_remove("KTRDR_ARTIFACTS_PATH")
            .env_remove("CHECKPOINT_ARTIFACTS_PATH")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start {} (build it: `cargo build --release -p ktrdr-worker -p ktrdr-worker-torch`)",
                    exe.display()
                )
            })?;
        Ok(Self(child))
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
