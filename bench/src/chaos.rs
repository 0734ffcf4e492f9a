//! `ktrdr-bench chaos`: the queue under random faults for `--duration` seconds, then its contract
//! checked from the database (`make chaos` runs it for five minutes; a one-minute run is part of
//! `make test`, bench/tests/chaos.rs).
//!
//! A throw-away cluster (`TempCluster`), `--workers` real `ktrdr-worker` processes (each with its
//! ticker, on 3 s leases), `--operations` dummies of mixed lengths submitted through the window and
//! `--trainings` trainings submitted at its start. Meanwhile the schedule (`faults`, seeded by
//! `--seed`) `kill -9`s, SIGTERMs and freezes workers (the ticker's leader among them; a freeze
//! lasts longer than a lease), restarts the server fast and immediately, and stops it once for a
//! few seconds; the fleet is refilled as workers die. Then the faults stop, the fleet settles
//! (every operation terminal, at most `--settle-timeout`), stops, and the verdicts are read
//! (`verdicts`), with the detection time of each kill (`detection`). Exits non-zero when a check
//! failed, keeping the workers' and the server's logs; the seed in the report replays the draws.

mod detection;
mod faults;
mod fleet;
mod injector;
mod report;
mod trainings;
mod verdicts;
mod workload;

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::bail;
use clap::Args;
use ktrdr_testkit::TempCluster;
use sqlx::PgPool;
use tokio::sync::watch;

use self::{faults::Schedule, fleet::Fleet, injector::Injector, report::Report};

/// Dummies submitted per second of the window when `--operations` is not given.
const OPERATIONS_PER_SECOND: u32 = 40;

#[derive(Debug, Args)]
pub struct ChaosArgs {
    /// Seconds of faults.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    duration: u64,
    /// Worker processes (each runs dummies, trainings and the ticker).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// `--concurrency` of each worker.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Dummy operations submitted through the window (default: 40 per second).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    operations: Option<u32>,
    /// `max_attempts` of each dummy.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(i32).range(2..=1000))]
    max_attempts: i32,
    /// Trainings submitted at the start, each compared with an uninterrupted reference run.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(0..=16))]
    trainings: i32,
    /// Epochs of each training (early stopping off, a checkpoint every 10 epochs).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(10..=100_000))]
    training_epochs: u32,
    /// Strategy the trainings train.
    #[arg(long, default_value = "strategies/rsi_macd_trend.yaml")]
    strategy: PathBuf,
    /// Seed of the fault schedule and of the dummies' mix (default: random; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Seconds to wait after the faults for every operation to end.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=86_400))]
    settle_timeout: u64,
    /// Directory of the `ktrdr-worker` binary (default: beside this program).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: ChaosArgs) -> anyhow::Result<()> {
    let worker_bin = crate::worker::worker_binary(args.bin_dir.as_deref())?;
    let strategy = ktrdr_trading::strategy::load(&args.strategy)?;
    let seed = args.seed.unwrap_or_else(rand::random);
    let dir = fleet::run_directory(seed)?;
    let note = |what: String| {
        if !args.json {
            eprintln!("{what}");
        }
    };
    let report = chaos(&args, seed, &worker_bin, &strategy, &dir, &note).await;
    let report = match report {
        Ok(report) => report,
        Err(err) => bail!(
            "the chaos run (seed {seed}) stopped: {err:#}; logs in {}",
            dir.display()
        ),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print();
    }
    let failed = report.checks.iter().filter(|c| !c.passed).count();
    if failed > 0 {
        bail!(
            "{failed} of {} checks failed (replay with --seed {seed}); logs in {}",
            report.checks.len(),
            dir.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

async fn chaos(
    args: &ChaosArgs,
    seed: u64,
    worker_bin: &Path,
    strategy: &ktrdr_trading::strategy::Strategy,
    dir: &Path,
    note: &impl Fn(String),
) -> anyhow::Result<Report> {
    let window = Duration::from_secs(args.duration);
    let operations = args
        .operations
        .unwrap_or(OPERATIONS_PER_SECOND * args.duration as u32);
    note(format!(
        "chaos: seed {seed}, {} workers × {}, {} s of faults, {operations} dummies, {} trainings; logs in {}",
        args.workers,
        args.concurrency,
        args.duration,
        args.trainings,
        dir.display()
    ));
    let cluster = Arc::new(tokio::task::spawn_blocking(TempCluster::start).await??);
    let outcome = async {
        let pool = prepared_pool(&cluster).await?;
        let training_params = trainings::params(strategy, args.training_epochs as usize);
        let reference = match args.trainings {
            0 => None,
            _ => {
                trainings::store_bars(&pool, strategy).await?;
                let (pool, params) = (pool.clone(), training_params.clone());
                Some(tokio::spawn(async move {
                    trainings::reference(&pool, &params).await
                }))
            }
        };
        let mut fleet = Fleet::start(
            worker_bin,
            &cluster.url,
            dir,
            usize::from(args.workers),
            args.concurrency,
        )?;
        let training_ids = trainings::submit(&pool, &training_params, args.trainings).await?;
        let (stop_submitting, stop) = watch::channel(false);
        let submitter = tokio::spawn(workload::submit_dummies(
            pool.clone(),
            operations,
            args.max_attempts,
            window,
            seed.wrapping_add(1),
            stop,
        ));

        let mut injector =
            Injector::new(Schedule::new(seed, window), cluster.clone(), pool.clone());
        injector.run(&mut fleet, window).await?;
        stop_submitting.send_replace(true);
        let submitted = submitter.await?;
        note(format!("faults over: {:?}; settling …", injector.counts));

        let settle_started = Instant::now();
        settle(
            &pool,
            &mut fleet,
            Duration::from_secs(args.settle_timeout),
            note,
        )
        .await?;
        let settle_seconds = settle_started.elapsed().as_secs_f64();
        let (started, unasked_exits) = (fleet.started, std::mem::take(&mut fleet.unasked_exits));
        fleet.shut_down().await?;

        let reference_sha256 = match reference {
            Some(run) => Some(run.await??),
            None => None,
        };
        let verdicts = verdicts::judge(
            &pool,
            &submitted.ids,
            &training_ids,
            reference_sha256.as_deref(),
        )
        .await?;
        let detection = detection::measure(&pool, &injector.kills).await?;
        pool.close().await;
        Ok(Report {
            passed: verdicts.checks.iter().all(|c| c.passed),
            seed,
            duration_seconds: args.duration,
            workers: args.workers,
            concurrency: args.concurrency,
            worker_processes_started: started,
            faults: injector.counts,
            submitted: submitted.ids.len(),
            retried_submissions: submitted.retried_batches,
            settle_seconds,
            tally: verdicts.tally,
            checks: verdicts.checks,
            reference_sha256,
            trainings: verdicts.trainings,
            detection,
            unasked_exits,
        })
    }
    .await;
    // The server's log joins the workers' (kept when the run fails).
    let _ = std::fs::copy(cluster.cluster.log_file(), dir.join("postgres.log"));
    outcome
}

/// A pool on the throw-away cluster, migrated, with durable commits: the ephemeral cluster runs
/// with `synchronous_commit = off`, under which an immediate restart loses the last commits it
/// acknowledged — a loss of the server's, which the checks would blame on the queue.
async fn prepared_pool(cluster: &TempCluster) -> anyhow::Result<PgPool> {
    let pool = ktrdr::db::connect_with_size(&cluster.url, 4).await?;
    ktrdr::db::migrate(&pool).await?;
    sqlx::raw_sql("ALTER SYSTEM SET synchronous_commit = on")
        .execute(&pool)
        .await?;
    sqlx::raw_sql("SELECT pg_reload_conf()")
        .execute(&pool)
        .await?;
    Ok(pool)
}

/// Tends the fleet until no operation is pending, running or in reconciliation, at most `limit`
/// (what is left then fails the "all terminal" check).
async fn settle(
    pool: &PgPool,
    fleet: &mut Fleet,
    limit: Duration,
    note: &impl Fn(String),
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut reported = Instant::now();
    loop {
        fleet.tend()?;
        let active: Option<i64> = sqlx::query_scalar(
            "SELECT count(*) FROM ktrdr.operations
             WHERE status IN ('pending', 'running', 'pending_reconciliation')",
        )
        .fetch_one(pool)
        .await
        .ok();
        if active == Some(0) || started.elapsed() > limit {
            return Ok(());
        }
        if reported.elapsed() > Duration::from_secs(10) {
            note(format!(
                "  {} operations still active after {:.0} s",
                active.map_or("?".into(), |n| n.to_string()),
                started.elapsed().as_secs_f64()
            ));
            reported = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
