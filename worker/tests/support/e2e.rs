//! Shared pieces of the end-to-end scenarios: short timeouts, and reading operations and events.

use std::time::Duration;

use ktrdr::operations::{self, NewOperation, Operation, Status};
use ktrdr_testkit::wait_for;
use serde_json::json;
use sqlx::PgPool;

pub const ORPHAN_TIMEOUT_SECONDS: f64 = 3.0;

/// Worker environment with short leases, so each scenario takes seconds.
pub const SHORT_TIMEOUTS: &[(&str, &str)] = &[
    ("ORPHAN_TIMEOUT_SECONDS", "3"),
    ("HEARTBEAT_INTERVAL_SECONDS", "0.5"),
    ("ORPHAN_CHECK_INTERVAL_SECONDS", "1"),
];

pub const LIMIT: Duration = Duration::from_secs(60);

pub async fn submit_long(pool: &PgPool, steps: u32, max_attempts: i32) -> String {
    let op = NewOperation {
        max_attempts,
        ..NewOperation::new("dummy").with_params(json!({"steps": steps, "step_ms": 100}))
    };
    operations::submit(pool, &ktrdr_trading::kinds::ALL, &op)
        .await
        .unwrap()
}

/// Waits until `condition` holds for the operation.
pub async fn wait_for_op(
    pool: &PgPool,
    id: &str,
    what: &str,
    condition: impl Fn(&Operation) -> bool,
) -> Operation {
    wait_for(&format!("{id}: {what}"), LIMIT, || async {
        operations::get(pool, id)
            .await
            .ok()
            .filter(|op| condition(op))
    })
    .await
}

pub fn running_on(worker: &'static str) -> impl Fn(&Operation) -> bool {
    move |op| {
        op.status == Status::Running
            && op.worker_id.as_deref() == Some(worker)
            && op.progress_percent > 0.0
    }
}

/// (to_status, attempt, worker) of every event of the operation, oldest first.
pub async fn history(pool: &PgPool, id: &str) -> Vec<(String, i32, Option<String>)> {
    sqlx::query_as(
        "SELECT to_status, attempt, worker_id FROM ktrdr.operation_events WHERE operation_id = $1 ORDER BY event_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .unwrap()
}
