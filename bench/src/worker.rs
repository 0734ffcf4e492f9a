//! `ktrdr-bench worker`: the real `ktrdr-worker` binary on the peer queues' workloads
//! (`../shared/peer-bench`), each run in a throw-away database on the configured server.
//!
//! - **W1 throughput**: `--operations` (20,000) no-op dummies (`{"steps":1,"step_ms":0}`) submitted,
//!   then worker processes with total concurrency 8 — one × 8 and four × 2 — run them all; the rate
//!   is from the first worker's start until none is left uncompleted, and every operation is checked
//!   completed exactly once in `operation_events`.
//! - **W2 pickup latency**: one idle, listening worker; `--latency-samples` (500) submissions
//!   `--gap-ms` (10) apart from another connection; latency from `created_at` (the submitting
//!   statement) to `started_at` (the claim), both on the server's clock.
//! - **Claim latency** against the number of pending operations (`--claim-pending`, 10³ … 10⁶): one
//!   `claim_operations(worker, types, 1, 60)` in a transaction that is rolled back (so the queue stays
//!   at N), for one type and for three, median over `--claim-seconds`.
//! - **Sustained** (`--sustained N`, e.g. 1,000,000): N no-op operations through four workers × 2
//!   with the event history on and the pruning service running (retention one minute, a pass every
//!   5 s); prints the throughput of the first and the last 100,000 and the hot tables' sizes before
//!   and after.
//!
//! W1 and W2 repeat `--runs` times, round-robin, and report medians.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use clap::Args;
use ktrdr::db::scratch::ScratchDatabase;
use serde::Serialize;
use sqlx::PgPool;
use tokio::process::{Child, Command};

use crate::stats::{Percentiles, median, percentiles};

const NO_OP: &str = r#"{"steps":1,"step_ms":0}"#;

/// The sustained run's retention: one minute, in days.
const PRUNE_AFTER_DAYS: &str = "0.000694";

#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// No-op operations per W1 run.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(i32).range(100..=10_000_000))]
    operations: i32,
    /// Repetitions of W1 and W2 (medians are reported).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Submissions measured for pickup latency (W2).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(10..=100_000))]
    latency_samples: u32,
    /// Milliseconds between W2 submissions.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    gap_ms: u64,
    /// Pending operations at which claim latency is measured, comma-separated (empty: skip).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,100000,1000000"
    )]
    claim_pending: Vec<u32>,
    /// Skip the claim-latency part.
    #[arg(long)]
    no_claims: bool,
    /// Seconds each claim-latency point is measured.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=600))]
    claim_seconds: u64,
    /// Operations for the sustained run (0: skip it).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=100_000_000))]
    sustained: u32,
    /// Skip W1 and W2 (run only the claim-latency and sustained parts).
    #[arg(long)]
    no_workloads: bool,
    /// Directory of the `ktrdr-worker` binary (default: beside this program).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default, Serialize)]
struct WorkerReport {
    /// W1 runs, one worker × 8: operations per second.
    w1_one_by_eight: Vec<f64>,
    /// W1 runs, four workers × 2.
    w1_four_by_two: Vec<f64>,
    /// W2 runs' latency percentiles, in ms.
    w2_pickup_ms: Vec<Percentiles>,
    claim_latency: Vec<ClaimLatency>,
    sustained: Option<Sustained>,
}

#[derive(Debug, Serialize)]
struct ClaimLatency {
    pending: u32,
    types: usize,
    median_ms: f64,
    samples: usize,
}

#[derive(Debug, Serialize)]
struct Sustained {
    operations: u32,
    first_100k_per_second: f64,
    last_100k_per_second: f64,
    before: Vec<TableSize>,
    after: Vec<TableSize>,
    pruned_operations: i64,
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct TableSize {
    table: String,
    rows: i64,
    table_bytes: i64,
    index_bytes: i64,
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let worker_bin = worker_binary(args.bin_dir.as_deref())?;
    let admin_url = ktrdr::db::resolve_database_url()?;
    let note = |what: String| {
        if !args.json {
            eprintln!("{what}");
        }
    };
    let mut report = WorkerReport::default();
    if !args.no_workloads {
        for run in 1..=args.runs {
            for layout in [&[8][..], &[2, 2, 2, 2][..]] {
                note(format!(
                    "W1 run {run}: {} operations, workers {layout:?} …",
                    args.operations
                ));
                let rate = in_scratch(&admin_url, |pool, url| {
                    w1(pool, url, &worker_bin, layout, args.operations)
                })
                .await?;
                note(format!("  {rate:.0} ops/s"));
                match layout.len() {
                    1 => report.w1_one_by_eight.push(rate),
                    _ => report.w1_four_by_two.push(rate),
                }
            }
        }
        for run in 1..=args.runs {
            note(format!(
                "W2 run {run}: {} submissions {} ms apart …",
                args.latency_samples, args.gap_ms
            ));
            let latency =
                in_scratch(&admin_url, |pool, url| w2(pool, url, &worker_bin, &args)).await?;
            note(format!(
                "  p50 {:.2} ms, p99 {:.2} ms",
                latency.p50, latency.p99
            ));
            report.w2_pickup_ms.push(latency);
        }
    }
    if !args.no_claims {
        note("claim latency …".into());
        report.claim_latency =
            in_scratch(&admin_url, |pool, _| claim_latency(pool, &args, &note)).await?;
    }
    if args.sustained > 0 {
        note(format!(
            "sustained: {} operations through 4 workers × 2 …",
            args.sustained
        ));
        report.sustained = Some(
            in_scratch(&admin_url, |pool, url| {
                sustained(pool, url, &worker_bin, args.sustained, &note)
            })
            .await?,
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report, &args);
    }
    Ok(())
}

/// Runs `bench` in a fresh scratch database, which is dropped afterwards whatever happened.
async fn in_scratch<T, F>(
    admin_url: &str,
    bench: impl FnOnce(PgPool, String) -> F,
) -> anyhow::Result<T>
where
    F: Future<Output = anyhow::Result<T>>,
{
    let scratch = ScratchDatabase::create(admin_url, "ktrdr_bench_worker").await?;
    let outcome = async {
        let pool = scratch.pool(4).await?;
        let outcome = bench(pool.clone(), scratch.url.clone()).await;
        pool.close().await;
        outcome
    }
    .await;
    scratch.drop_database().await?;
    outcome
}

pub(crate) fn worker_binary(bin_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match bin_dir {
        Some(dir) => dir.to_path_buf(),
        None => std::env::current_exe()?
            .parent()
            .context("the benchmark's own directory")?
            .to_path_buf(),
    };
    let bin = dir.join("ktrdr-worker");
    if !bin.is_file() {
        bail!(
            "no ktrdr-worker in {} (build it: cargo build --release -p ktrdr-worker, or pass --bin-dir)",
            dir.display()
        );
    }
    Ok(bin)
}

/// Starts `ktrdr-worker --types dummy --concurrency N` on `url`, quiet, with `env` added.
fn spawn_worker(
    bin: &Path,
    url: &str,
    concurrency: u16,
    env: &[(&str, &str)],
) -> anyhow::Result<Child> {
    Command::new(bin)
        .args(["--types", "dummy", "--no-migrate", "--concurrency"])
        .arg(concurrency.to_string())
        .env("DATABASE_URL", url)
        .env("KTRDR_LOG", "warn")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))
}

/// SIGTERM to each worker, then waits for them to exit.
async fn stop_workers(workers: Vec<Child>) -> anyhow::Result<()> {
    for worker in &workers {
        if let Some(pid) = worker.id() {
            // SAFETY: kill(2) on a child we started and have not reaped.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
        }
    }
    for mut worker in workers {
        worker.wait().await?;
    }
    Ok(())
}

async fn submit_no_ops(pool: &PgPool, count: i32) -> anyhow::Result<()> {
    const CHUNK: i32 = 100_000;
    let mut left = count;
    while left > 0 {
        let n = left.min(CHUNK);
        sqlx::query("SELECT count(*) FROM ktrdr.submit_operations('dummy', $1, $2::jsonb)")
            .bind(n)
            .bind(NO_OP)
            .fetch_one(pool)
            .await?;
        left -= n;
    }
    sqlx::raw_sql("VACUUM ANALYZE ktrdr.operations")
        .execute(pool)
        .await?;
    Ok(())
}

async fn count(pool: &PgPool, sql: &'static str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}

/// W1: operations per second from the first worker's start until all completed, exactly once.
async fn w1(
    pool: PgPool,
    url: String,
    bin: &Path,
    layout: &[u16],
    operations: i32,
) -> anyhow::Result<f64> {
    submit_no_ops(&pool, operations).await?;
    let started = Instant::now();
    let workers = layout
        .iter()
        .map(|&concurrency| spawn_worker(bin, &url, concurrency, &[]))
        .collect::<anyhow::Result<Vec<_>>>()?;
    while count(
        &pool,
        "SELECT count(*) FROM ktrdr.operations WHERE status <> 'completed'",
    )
    .await?
        > 0
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    stop_workers(workers).await?;
    let twice = count(
        &pool,
        "SELECT count(*) FROM (SELECT operation_id FROM ktrdr.operation_events
         WHERE to_status = 'completed' GROUP BY 1 HAVING count(*) > 1) twice",
    )
    .await?;
    if twice > 0 {
        bail!("{twice} operations were completed more than once");
    }
    Ok(f64::from(operations) / seconds)
}

/// W2: pickup latency of one idle listening worker, on the server's clock.
async fn w2(
    pool: PgPool,
    url: String,
    bin: &Path,
    args: &WorkerArgs,
) -> anyhow::Result<Percentiles> {
    let worker = spawn_worker(bin, &url, 8, &[])?;
    // Registered and listening: the workers table has it, and its listener is connected.
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(
        &pool,
        "SELECT count(*) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .await?
        == 0
    {
        if Instant::now() > deadline {
            bail!("the worker did not start listening within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let gap = Duration::from_millis(args.gap_ms);
    let start = Instant::now();
    for n in 0..args.latency_samples {
        tokio::time::sleep_until((start + gap * n).into()).await;
        sqlx::query("SELECT ktrdr.submit_operation('dummy', $1::jsonb)")
            .bind(NO_OP)
            .execute(&pool)
            .await?;
    }
    while count(
        &pool,
        "SELECT count(*) FROM ktrdr.operations WHERE started_at IS NULL",
    )
    .await?
        > 0
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_workers(vec![worker]).await?;
    let latencies: Vec<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM started_at - created_at)::float8 * 1000 FROM ktrdr.operations",
    )
    .fetch_all(&pool)
    .await?;
    Ok(percentiles(latencies))
}

/// Claim latency at each pending count, for one type and for three.
async fn claim_latency(
    pool: PgPool,
    args: &WorkerArgs,
    note: &impl Fn(String),
) -> anyhow::Result<Vec<ClaimLatency>> {
    let mut points = Vec::new();
    let mut pending = 0;
    let mut wanted = args.claim_pending.clone();
    wanted.sort_unstable();
    // Each rolled-back claim leaves a dead row version; on a small table autovacuum would start
    // within seconds and run beside the claims measured — a cost of this method, not of claiming.
    sqlx::raw_sql("ALTER TABLE ktrdr.operations SET (autovacuum_enabled = false)")
        .execute(&pool)
        .await?;
    for n in wanted {
        if n > pending {
            submit_no_ops(&pool, (n - pending) as i32).await?;
            pending = n;
        }
        for types in [&["dummy"][..], &["dummy", "training", "backtesting"][..]] {
            let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
            // The previous series' dead row versions go first.
            sqlx::raw_sql("VACUUM ktrdr.operations")
                .execute(&pool)
                .await?;
            let mut conn = pool.acquire().await?;
            let mut samples = Vec::new();
            let until = Instant::now() + Duration::from_secs(args.claim_seconds);
            while Instant::now() < until {
                let t = Instant::now();
                sqlx::raw_sql("BEGIN").execute(&mut *conn).await?;
                let claimed =
                    ktrdr::operations::claim(&mut *conn, "bench", &types, 1, 60.0).await?;
                sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await?;
                samples.push(t.elapsed().as_secs_f64() * 1000.0);
                if claimed.len() != 1 {
                    bail!(
                        "a claim at {n} pending returned {} operations",
                        claimed.len()
                    );
                }
            }
            let point = ClaimLatency {
                pending: n,
                types: types.len(),
                median_ms: median(samples.clone()),
                samples: samples.len(),
            };
            note(format!(
                "  {:>9} pending, {} type(s): {:.3} ms",
                point.pending, point.types, point.median_ms
            ));
            points.push(point);
        }
    }
    Ok(points)
}

/// The sustained run: `total` operations through four workers × 2, with pruning.
async fn sustained(
    pool: PgPool,
    url: String,
    bin: &Path,
    total: u32,
    note: &impl Fn(String),
) -> anyhow::Result<Sustained> {
    const WINDOW: i64 = 100_000;
    let total_ops = i64::from(total);
    if total_ops < 2 * WINDOW {
        bail!("--sustained needs at least {} operations", 2 * WINDOW);
    }
    submit_no_ops(&pool, total as i32).await?;
    let before = table_sizes(&pool).await?;
    let started = Instant::now();
    // Finished operations older than a minute are pruned every 5 s by whichever worker leads the
    // ticker, so the tables stay at what the last minute finished.
    let pruning = [
        ("KTRDR_RETENTION_DAYS", PRUNE_AFTER_DAYS),
        ("KTRDR_PRUNING_INTERVAL_SECONDS", "5"),
    ];
    let workers = (0..4)
        .map(|_| spawn_worker(bin, &url, 2, &pruning))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (mut first_at, mut last_window_start) = (None, None);
    let mut reported = Instant::now();
    // Progress from the event sequence (O(1), where counting a million rows would load the server
    // the run measures): after the submit, each operation adds two events, its claim and its
    // completion, so finished ≈ (new events) / 2, within the few hundred claimed and not yet done.
    let events_after_submit = event_sequence(&pool).await?;
    loop {
        let done = (event_sequence(&pool).await? - events_after_submit) / 2;
        let now = started.elapsed();
        if first_at.is_none() && done >= WINDOW {
            first_at = Some(now);
        }
        if last_window_start.is_none() && done >= total_ops - WINDOW {
            last_window_start = Some(now);
        }
        if done >= total_ops && count(&pool, ACTIVE_LEFT).await? == 0 {
            break;
        }
        if reported.elapsed() > Duration::from_secs(10) {
            note(format!(
                "  {done} of {total} done after {:.0} s",
                now.as_secs_f64()
            ));
            reported = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let end = started.elapsed();
    stop_workers(workers).await?;
    let after = table_sizes(&pool).await?;
    let remaining = count(&pool, "SELECT count(*) FROM ktrdr.operations").await?;
    let (first, last_start) = (
        first_at.context("first window")?,
        last_window_start.context("last window")?,
    );
    Ok(Sustained {
        operations: total,
        first_100k_per_second: WINDOW as f64 / first.as_secs_f64(),
        last_100k_per_second: WINDOW as f64 / (end - last_start).as_secs_f64(),
        before,
        after,
        pruned_operations: total_ops - remaining,
    })
}

/// Whether any operation is still pending or running (through the partial indexes of either).
const ACTIVE_LEFT: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM ktrdr.operations WHERE status = 'pending')
                                   OR EXISTS (SELECT 1 FROM ktrdr.operations WHERE status = 'running')
                              THEN 1::int8 ELSE 0::int8 END";

/// The last event id handed out.
async fn event_sequence(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT last_value FROM pg_sequences
         WHERE schemaname = 'ktrdr' AND sequencename = 'operation_events_event_id_seq'",
    )
    .fetch_one(pool)
    .await?)
}

async fn table_sizes(pool: &PgPool) -> anyhow::Result<Vec<TableSize>> {
    Ok(sqlx::query_as(
        "SELECT c.relname::text AS table, c.reltuples::bigint AS rows,
                pg_table_size(c.oid) AS table_bytes, pg_indexes_size(c.oid) AS index_bytes
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'ktrdr' AND c.relname IN ('operations', 'operation_events', 'workers')
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await?)
}

fn print_report(report: &WorkerReport, args: &WorkerArgs) {
    println!(
        "Worker benchmark (the ktrdr-worker binary; medians of {} runs)",
        args.runs
    );
    if !report.w1_one_by_eight.is_empty() {
        println!(
            "  W1 {} no-op operations, 1 worker × 8   {:>8.0} ops/s  (runs: {})",
            args.operations,
            median(report.w1_one_by_eight.clone()),
            runs(&report.w1_one_by_eight)
        );
        println!(
            "  W1 {} no-op operations, 4 workers × 2  {:>8.0} ops/s  (runs: {})",
            args.operations,
            median(report.w1_four_by_two.clone()),
            runs(&report.w1_four_by_two)
        );
    }
    if !report.w2_pickup_ms.is_empty() {
        let p50: Vec<f64> = report.w2_pickup_ms.iter().map(|p| p.p50).collect();
        let p99: Vec<f64> = report.w2_pickup_ms.iter().map(|p| p.p99).collect();
        println!(
            "  W2 pickup latency, idle listening worker  p50 {:.2} ms  p99 {:.2} ms",
            median(p50),
            median(p99)
        );
    }
    for point in &report.claim_latency {
        println!(
            "  claim of one at {:>9} pending, {} type(s)  {:>7.3} ms",
            point.pending, point.types, point.median_ms
        );
    }
    if let Some(s) = &report.sustained {
        println!(
            "  sustained {} operations, 4 workers × 2: first 100k {:.0} ops/s, last 100k {:.0} ops/s, {} pruned",
            s.operations, s.first_100k_per_second, s.last_100k_per_second, s.pruned_operations
        );
        for (before, after) in s.before.iter().zip(&s.after) {
            println!(
                "    {:<18} table {:>7.1} → {:>7.1} MB, indexes {:>7.1} → {:>7.1} MB",
                before.table,
                mb(before.table_bytes),
                mb(after.table_bytes),
                mb(before.index_bytes),
                mb(after.index_bytes)
            );
        }
    }
}

fn runs(rates: &[f64]) -> String {
    rates
        .iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mb(bytes: i64) -> f64 {
    bytes as f64 / 1_048_576.0
}
