//! `ktrdr-bench research`: the research loop's coordination, with real `ktrdr-worker` processes
//! in a throw-away database.
//!
//! `--researches` (20) tiny researches (built-in designer, trainings of `--epochs` (2) epochs on
//! four months of synthetic EURUSD 1h, gates bypassed) are triggered on `--workers` (2) workers
//! running every type. The capacity rule (training workers + backtesting workers + 1) admits a few
//! at a time; the benchmark triggers the rest as places free up (a refusal is retried every
//! 50 ms), so all of them pass through the same loop. It reports:
//! - **coordination overhead**: for every child but a research's first, the time from the end of
//!   the child before it to its own creation (both on the server's clock) — what the research
//!   service adds between two steps (woken by NOTIFY when a child ends);
//! - the wall time until every research ended, how many completed, and the peak of active ones;
//! - duplicates: any research with more than one training or backtest, or any child operation
//!   that is not a row of `ktrdr.research_children` (none expected).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use ktrdr::{
    db::scratch::ScratchDatabase,
    research::{self, ResearchRequest},
};
use ktrdr_trading::market_data::{self, SynthSpec, Timeframe};
use serde::Serialize;
use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::stats::{Percentiles, percentiles};

#[derive(Debug, Args)]
pub struct ResearchArgs {
    /// Researches to run.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    researches: u32,
    /// Worker processes, each running every type.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    workers: u16,
    /// Operations each worker runs at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Training epochs of each research.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(i32).range(1..=1000))]
    epochs: i32,
    /// Directory of the `ktrdr-worker` binary (default: beside this program).
    #[arg(long)]
    bin_dir: Option<std::path::PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    researches: u32,
    workers: u16,
    completed: i64,
    peak_active: i64,
    wall_seconds: f64,
    /// Child ended → next child created, in milliseconds.
    coordination_ms: Percentiles,
    duplicate_children: i64,
}

pub async fn run(args: ResearchArgs) -> anyhow::Result<()> {
    let bin = crate::worker::worker_binary(args.bin_dir.as_deref())?;
    let admin_url = ktrdr::db::resolve_database_url()?;
    let scratch = ScratchDatabase::create(&admin_url, "ktrdr_bench_research").await?;
    let outcome = async {
        let pool = scratch.pool(8).await?;
        store_bars(&pool).await?;
        let mut workers = Vec::new();
        for n in 0..args.workers {
            workers.push(spawn_worker(&bin, &scratch.url, n, args.concurrency)?);
        }
        wait_for_workers(&pool, i64::from(args.workers)).await?;
        let report = run_researches(&pool, &args).await;
        for worker in &mut workers {
            let _ = worker.kill().await;
        }
        report
    }
    .await;
    scratch.drop_database().await?;
    let report = outcome?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "research: {} researches on {} workers: {} completed in {:.1} s (at most {} active at once); \
             coordination (child ended -> next child pending) p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms \
             over {} steps; duplicate children: {}",
            report.researches,
            report.workers,
            report.completed,
            report.wall_seconds,
            report.peak_active,
            report.coordination_ms.p50,
            report.coordination_ms.p90,
            report.coordination_ms.max,
            report.coordination_ms.samples,
            report.duplicate_children
        );
    }
    if report.duplicate_children > 0 || report.completed < i64::from(report.researches) {
        bail!("not every research completed exactly once per phase");
    }
    Ok(())
}

async fn store_bars(pool: &PgPool) -> anyhow::Result<()> {
    use chrono::TimeZone;
    let spec = SynthSpec {
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        start: chrono::Utc.with_ymd_and_hms(2023, 1, 1, 0, 0, 0).unwrap(),
        end: chrono::Utc.with_ymd_and_hms(2023, 5, 1, 0, 0, 0).unwrap(),
        seed: 17,
    };
    let bars = market_data::synthesize(&spec)?;
    market_data::store(
        pool,
        "EURUSD",
        Timeframe::H1,
        &market_data::Source::Synth { seed: spec.seed },
        &bars,
    )
    .await?;
    Ok(())
}

fn spawn_worker(
    bin: &std::path::Path,
    url: &str,
    n: u16,
    concurrency: u16,
) -> anyhow::Result<Child> {
    Command::new(bin)
        .args([
            "--types",
            "training,backtesting,agent_design,agent_assessment",
            "--no-migrate",
            "--worker-id",
            &format!("bench-research-{n}"),
            "--concurrency",
            &concurrency.to_string(),
        ])
        .env("DATABASE_URL", url)
        .env("KTRDR_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))
}

async fn wait_for_workers(pool: &PgPool, count: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let live: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM ktrdr.workers WHERE status = 'active' AND lease_expires_at > now()",
        )
        .fetch_one(pool)
        .await?;
        if live >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {live} of {count} workers registered within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn run_researches(pool: &PgPool, args: &ResearchArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(600);
    let mut triggered = 0;
    let mut peak_active = 0;
    loop {
        while triggered < args.researches {
            let request = ResearchRequest {
                seed: Some(i64::from(triggered)),
                max_epochs: Some(args.epochs),
                bypass_gates: true,
                ..ResearchRequest::default()
            };
            match research::trigger(pool, &request).await {
                Ok(_) => triggered += 1,
                // The capacity is exhausted: try again when a place frees up.
                Err(ktrdr::Error::Conflict(_)) => break,
                Err(err) => return Err(err.into()),
            }
        }
        let (active, ended): (i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'active'), count(*) FILTER (WHERE status <> 'active')
             FROM ktrdr.researches",
        )
        .fetch_one(pool)
        .await?;
        peak_active = peak_active.max(active);
        if ended == i64::from(args.researches) {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "{ended} of {} researches ended within 600 s",
                args.researches
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall_seconds = started.elapsed().as_secs_f64();
    let gaps: Vec<Option<f64>> = sqlx::query_scalar(
        "SELECT extract(epoch FROM o.created_at - lag(o.completed_at) OVER w)::float8 * 1000
         FROM ktrdr.research_children c
         JOIN ktrdr.operations o ON o.operation_id = c.operation_id
         WINDOW w AS (PARTITION BY c.research_id ORDER BY o.submit_seq)",
    )
    .fetch_all(pool)
    .await?;
    let gaps: Vec<f64> = gaps.into_iter().flatten().collect();
    let completed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ktrdr.researches WHERE status = 'completed'")
            .fetch_one(pool)
            .await?;
    let duplicate_children: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM (
                    SELECT parent_id FROM ktrdr.operations
                    WHERE operation_type IN ('training', 'backtesting') AND parent_id IS NOT NULL
                    GROUP BY parent_id, operation_type HAVING count(*) > 1) d)
              + (SELECT count(*) FROM ktrdr.operations o WHERE o.parent_id IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM ktrdr.research_children c
                                 WHERE c.operation_id = o.operation_id))",
    )
    .fetch_one(pool)
    .await?;
    Ok(Report {
        researches: args.researches,
        workers: args.workers,
        completed,
        peak_active,
        wall_seconds,
        coordination_ms: percentiles(gaps),
        duplicate_children,
    })
}
