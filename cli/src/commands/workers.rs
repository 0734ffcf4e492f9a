//! `ktrdr workers`.

use ktrdr::workers::WorkerStatus;

use crate::output::{self, JsonArgs};

pub async fn run(args: JsonArgs, migrate_first: bool) -> anyhow::Result<()> {
    let pool = super::connect(migrate_first).await?;
    let workers = ktrdr::workers::list(&pool).await?;
    if args.json {
        return output::print_json(&workers);
    }
    let mut table = output::table(&[
        "WORKER ID",
        "STATUS",
        "TYPES",
        "RUNNING",
        "UNDELIVERED",
        "HOST",
        "PID",
        "STARTED",
        "LAST HEARTBEAT",
    ]);
    for worker in &workers {
        table.add_row(vec![
            worker.worker_id.clone(),
            worker.status.to_string(),
            worker.types.join(","),
            format!("{}/{}", worker.running_operations, worker.concurrency),
            worker.undelivered_outcomes.to_string(),
            worker.host.clone(),
            worker.pid.to_string(),
            output::time(Some(worker.started_at)),
            output::time(Some(worker.heartbeat_at)),
        ]);
    }
    println!("{table}");
    let active = workers
        .iter()
        .filter(|w| w.status == WorkerStatus::Active)
        .count();
    println!("Total: {} workers ({active} active)", workers.len());
    Ok(())
}
