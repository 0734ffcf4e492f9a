//! `ktrdr-bench queue`: the queue's own benchmark, run in a throw-away database on the configured
//! server (DATABASE_URL or the embedded cluster), so it never touches real operations.
//!
//! It measures bulk submit throughput, the throughput of no-op operations claimed in batches and
//! completed by concurrent claimers (checking in `operation_events` that each completed exactly once),
//! and pickup latency — submit to claim, on the server's clock — with idle workers that wait on
//! LISTEN. With `--pgbench` it also runs pgbench on the same server with a single-row SKIP LOCKED
//! claim+complete transaction (bench/pgbench_skip_locked.sql), so the ratio comes from one run.

use std::{sync::Arc, time::Instant};

use anyhow::{Context, bail};
use clap::Args;
use ktrdr::{
    db::scratch::ScratchDatabase,
    notify::{self, Wakeup},
    operations::{self, NewOperation},
};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Barrier;

use crate::stats::{Percentiles, percentiles};

#[derive(Debug, Args)]
pub struct QueueArgs {
    /// Operations for the throughput runs.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(i32).range(100..=1_000_000))]
    operations: i32,
    /// Concurrent claimers.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    claimers: u16,
    /// Operations per claim (and per batch completion).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(i32).range(1..=10_000))]
    batch: i32,
    /// Submissions measured for pickup latency.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(10..=100_000))]
    latency_samples: u32,
    /// Idle listening workers during the latency run.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    listeners: u16,
    /// Also run pgbench's single-row SKIP LOCKED claim+complete with the same number of clients.
    #[arg(long)]
    pgbench: bool,
    /// Seconds pgbench runs.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=600))]
    pgbench_seconds: u32,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct QueueReport {
    operations: i32,
    claimers: u16,
    batch: i32,
    submit_per_second: f64,
    claim_complete_per_second: f64,
    pickup_latency_ms: Percentiles,
    pgbench_skip_locked_tps: Option<f64>,
    ratio_to_pgbench: Option<f64>,
}

pub async fn run(args: QueueArgs) -> anyhow::Result<()> {
    let admin_url = ktrdr::db::resolve_database_url()?;
    let scratch = ScratchDatabase::create(&admin_url, "ktrdr_bench").await?;
    let outcome = run_queue(&scratch, &args).await;
    scratch.drop_database().await?;
    let report = outcome?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_report(&report);
    Ok(())
}

async fn run_queue(scratch: &ScratchDatabase, args: &QueueArgs) -> anyhow::Result<QueueReport> {
    let pool = scratch
        .pool(u32::from(args.claimers) + u32::from(args.listeners) + 4)
        .await?;
    let progress = |what: &str| {
        if !args.json {
            eprintln!("{what}");
        }
    };

    progress(&format!("submitting {} operations …", args.operations));
    let submit_per_second = bulk_submit(&pool, args.operations).await?;
    progress(&format!(
        "claiming and completing with {} claimers …",
        args.claimers
    ));
    let claim_complete_per_second = claim_and_complete(&pool, args).await?;
    progress(&format!(
        "pickup latency over {} submissions …",
        args.latency_samples
    ));
    let pickup_latency_ms = pickup_latency(&pool, args).await?;
    let pgbench_skip_locked_tps = if args.pgbench {
        progress(&format!(
            "pgbench, {} clients, {} s …",
            args.claimers, args.pgbench_seconds
        ));
        Some(pgbench(&pool, &scratch.url, args).await?)
    } else {
        None
    };
    pool.close().await;
    Ok(QueueReport {
        operations: args.operations,
        claimers: args.claimers,
        batch: args.batch,
        submit_per_second,
        claim_complete_per_second,
        ratio_to_pgbench: pgbench_skip_locked_tps.map(|tps| claim_complete_per_second / tps),
        pgbench_skip_locked_tps,
        pickup_latency_ms,
    })
}

/// Submits in chunks of 10,000 (one statement each); operations per second.
async fn bulk_submit(pool: &PgPool, total: i32) -> anyhow::Result<f64> {
    let op = NewOperation::new("dummy");
    let started = Instant::now();
    let mut left = total;
    while left > 0 {
        let chunk = left.min(10_000);
        operations::submit_many(pool, &ktrdr_trading::kinds::ALL, &op, chunk).await?;
        left -= chunk;
    }
    Ok(f64::from(total) / started.elapsed().as_secs_f64())
}

/// Concurrent claimers drain the queue in batches; operations per second. Verifies exactly-once.
async fn claim_and_complete(pool: &PgPool, args: &QueueArgs) -> anyhow::Result<f64> {
    let start = Arc::new(Barrier::new(usize::from(args.claimers) + 1));
    let claimers: Vec<_> = (0..args.claimers)
        .map(|n| {
            let (pool, start, batch) = (pool.clone(), start.clone(), args.batch);
            tokio::spawn(async move {
                let mut conn = pool.acquire().await?;
                let worker = format!("bench-claimer-{n}");
                let types = ["dummy".to_string()];
                start.wait().await;
                loop {
                    let claimed =
                        operations::claim(&mut *conn, &worker, &types, batch, 60.0).await?;
                    if claimed.is_empty() {
                        return anyhow::Ok(());
                    }
                    let done: Vec<_> = claimed
                        .into_iter()
                        .map(|op| (op.lease, json!(null)))
                        .collect();
                    let refused = operations::complete_batch(&mut *conn, &worker, &done).await?;
                    if !refused.is_empty() {
                        bail!("{} completions refused", refused.len());
                    }
                }
            })
        })
        .collect();
    start.wait().await;
    let started = Instant::now();
    for claimer in claimers {
        claimer.await??;
    }
    let per_second = f64::from(args.operations) / started.elapsed().as_secs_f64();

    let (completed, distinct): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT operation_id) FROM ktrdr.operation_events WHERE to_status = 'completed'",
    )
    .fetch_one(pool)
    .await?;
    if completed != i64::from(args.operations) || distinct != completed {
        bail!(
            "exactly-once violated: {completed} completions of {distinct} operations, {} submitted",
            args.operations
        );
    }
    Ok(per_second)
}

/// Idle listening workers; one submission at a time; submit → claim on the server's clock.
async fn pickup_latency(pool: &PgPool, args: &QueueArgs) -> anyhow::Result<Percentiles> {
    let mut workers = Vec::new();
    for n in 0..args.listeners {
        let (mut wakeups, listener) =
            notify::spawn_listener(pool.clone(), &[notify::OPERATION_PENDING]);
        if wakeups.recv().await != Some(Wakeup::Reconnected) {
            bail!("listener {n} did not connect");
        }
        let pool = pool.clone();
        let claimer = tokio::spawn(async move {
            let worker = format!("bench-listener-{n}");
            let types = ["dummy".to_string()];
            let mut conn = pool.acquire().await?;
            while wakeups.recv().await.is_some() {
                for op in operations::claim(&mut *conn, &worker, &types, 1, 60.0).await? {
                    op.lease.complete(&mut *conn, json!(null)).await?;
                }
            }
            anyhow::Ok(())
        });
        workers.push((listener, claimer));
    }

    let op = NewOperation::new("dummy");
    let mut latencies = Vec::with_capacity(args.latency_samples as usize);
    for _ in 0..args.latency_samples {
        let id = operations::submit(pool, &ktrdr_trading::kinds::ALL, &op).await?;
        let latency_ms: f64 = loop {
            let row: Option<(f64,)> = sqlx::query_as(
                "SELECT extract(epoch FROM started_at - created_at)::float8 * 1000
                 FROM ktrdr.operations WHERE operation_id = $1 AND status = 'completed'",
            )
            .bind(&id)
            .fetch_optional(pool)
            .await?;
            if let Some((latency,)) = row {
                break latency;
            }
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        };
        latencies.push(latency_ms);
    }
    for (listener, claimer) in workers {
        listener.abort();
        claimer.abort();
    }
    Ok(percentiles(latencies))
}

/// pgbench with the reference script on a plain table in the same database; transactions per second.
async fn pgbench(pool: &PgPool, url: &str, args: &QueueArgs) -> anyhow::Result<f64> {
    const SCRIPT: &str = include_str!("../../bench/pgbench_skip_locked.sql");
    // Enough rows that the queue never runs dry during the run.
    let rows = 40_000 * i64::from(args.pgbench_seconds);
    sqlx::raw_sql(
        "CREATE TABLE bench_queue (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'pending',
                                   claimed_at timestamptz, completed_at timestamptz);
         CREATE INDEX bench_queue_pending ON bench_queue (id) WHERE status = 'pending';",
    )
    .execute(pool)
    .await?;
    sqlx::query("INSERT INTO bench_queue (status) SELECT 'pending' FROM generate_series(1, $1)")
        .bind(rows)
        .execute(pool)
        .await?;
    sqlx::raw_sql("VACUUM ANALYZE bench_queue")
        .execute(pool)
        .await?;

    let script = std::env::temp_dir().join(format!("ktrdr-pgbench-{}.sql", std::process::id()));
    std::fs::write(&script, SCRIPT)?;
    let program = ktrdr::db::embedded::server_program("pgbench")?;
    let clients = args.claimers.to_string();
    let output = tokio::process::Command::new(&program)
        .args([
            "-n",
            "-c",
            &clients,
            "-j",
            "2",
            "-T",
            &args.pgbench_seconds.to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .await
        .with_context(|| format!("running {}", program.display()))?;
    let _ = std::fs::remove_file(&script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .with_context(|| format!("no tps in pgbench output:\n{stdout}"))
}

fn print_report(report: &QueueReport) {
    println!(
        "Queue benchmark ({} operations, {} claimers, batch {})",
        report.operations, report.claimers, report.batch
    );
    println!(
        "  bulk submit            {:>10.0} ops/s",
        report.submit_per_second
    );
    println!(
        "  claim + complete       {:>10.0} ops/s",
        report.claim_complete_per_second
    );
    if let (Some(tps), Some(ratio)) = (report.pgbench_skip_locked_tps, report.ratio_to_pgbench) {
        println!("  pgbench SKIP LOCKED    {tps:>10.0} tx/s  (ktrdr is {ratio:.1}x)");
    }
    let latency = &report.pickup_latency_ms;
    println!(
        "  pickup latency         p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  ({} samples)",
        latency.p50, latency.p90, latency.p99, latency.max, latency.samples
    );
}
