//! `ktrdr health`: orphan detector, last pruning pass, workers, queue depth.

use crate::output::{self, JsonArgs};

pub async fn run(args: JsonArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let health = ktrdr::health::read(&pool).await?;
    if args.json {
        return output::print_json(&health);
    }
    let detector = &health.orphan_detector;
    let seconds = |value: Option<f64>| {
        value
            .map(|v| format!("{v} s"))
            .unwrap_or_else(|| "-".into())
    };
    println!("Orphan detector");
    println!(
        "  running:            {}",
        match detector.scheduler.as_deref() {
            Some("pg_cron") => "yes (pg_cron)",
            Some(_) if detector.running => "yes (ticker)",
            _ => "NO (no ticker holds a live leader lease, and no recent pg_cron pass)",
        }
    );
    println!(
        "  leader:             {}",
        detector.leader.as_deref().unwrap_or("-")
    );
    println!(
        "  last check:         {}",
        output::time(detector.last_check)
    );
    println!("  potential orphans:  {}", detector.potential_orphans_count);
    println!(
        "  orphan timeout:     {}",
        seconds(detector.orphan_timeout_seconds)
    );
    println!(
        "  check interval:     {}",
        seconds(detector.check_interval_seconds)
    );
    if let Some(at) = detector.outage_detected_at {
        println!(
            "  database outage:    detected {} (lapsed leases are being reconciled)",
            output::time(Some(at))
        );
    }
    let pruning = &health.pruning;
    match (pruning.last_pass, pruning.retention_days) {
        (Some(at), Some(days)) => println!(
            "Pruning: last pass {}, retention {days} days: {} operations, {} events, {} workers deleted",
            output::time(Some(at)),
            pruning.operations_deleted.unwrap_or(0),
            pruning.events_deleted.unwrap_or(0),
            pruning.workers_deleted.unwrap_or(0)
        ),
        _ => println!("Pruning: no pass yet (KTRDR_RETENTION_DAYS=0 keeps everything)"),
    }
    let workers = &health.workers;
    println!(
        "Workers: {} active, {} lost, {} stopped",
        workers.active, workers.lost, workers.stopped
    );
    if workers.undelivered_outcomes > 0 {
        println!(
            "Undelivered outcomes: {} in workers' outboxes (see `ktrdr workers`; each worker's log says why)",
            workers.undelivered_outcomes
        );
    }
    let mut table = output::table(&["TYPE", "STATUS", "OPERATIONS", "OLDEST"]);
    for depth in &health.queue {
        table.add_row(vec![
            depth.operation_type.clone(),
            depth.status.to_string(),
            depth.operations.to_string(),
            output::time(Some(depth.oldest_created_at)),
        ]);
    }
    println!("Queue:\n{table}");
    for unserved in &health.unserved_types {
        println!(
            "Warning: {} pending; {}",
            unserved.pending,
            ktrdr::workers::no_taker_warning(&unserved.operation_type)
        );
    }
    Ok(())
}
