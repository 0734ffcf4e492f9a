//! Shared pieces of the end-to-end scenarios: short timeouts, making an orphan and how it ends.

use std::time::Duration;

use ktrdr::operations::{Operation, Status};
use ktrdr_testkit::TestDatabase;
use sqlx::PgPool;

use super::{WorkerProcess, long_operation_running_on, spawn_named_worker, wait_for_op_within};

pub const ORPHAN_TIMEOUT_SECONDS: f64 = 3.0;

/// Worker environment with short leases, so each scenario takes seconds.
pub const SHORT_TIMEOUTS: &[(&str, &str)] = &[
    ("ORPHAN_TIMEOUT_SECONDS", "3"),
    ("HEARTBEAT_INTERVAL_SECONDS", "0.5"),
    ("ORPHAN_CHECK_INTERVAL_SECONDS", "1"),
];

/// The error of an operation failed because its lease lapsed.
pub const ORPHAN_MESSAGE: &str = "Operation was RUNNING but no worker claimed it";

pub const LIMIT: Duration = Duration::from_secs(60);

/// Runs a long `dummy` on `victim` (no ticker), starts `rescuer` (a ticker), then signals `victim`.
pub async fn signal_a_busy_worker(
    test_db: &TestDatabase,
    (victim_id, rescuer_id): (&str, &str),
    steps: u32,
    max_attempts: i32,
    signal: i32,
) -> (WorkerProcess, WorkerProcess, String) {
    let url = test_db.url();
    let victim = spawn_named_worker(url, victim_id, &["--no-ticker"], SHORT_TIMEOUTS);
    let running = long_operation_running_on(&test_db.pool, victim_id, steps, max_attempts).await;
    let rescuer = spawn_named_worker(url, rescuer_id, &[], SHORT_TIMEOUTS);
    victim.signal(signal);
    (victim, rescuer, running.operation_id)
}

/// Waits, at most [`LIMIT`], until `condition` holds for the operation.
pub async fn wait_for_op(
    pool: &PgPool,
    id: &str,
    what: &str,
    condition: impl Fn(&Operation) -> bool,
) -> Operation {
    wait_for_op_within(pool, id, what, LIMIT, condition).await
}

/// Waits until the operation has ended and asserts it failed as an orphan.
pub async fn assert_failed_as_orphan(pool: &PgPool, id: &str) {
    let op = wait_for_op(pool, id, "failed", |op| op.status.is_terminal()).await;
    assert_eq!(op.status, Status::Failed);
    assert_eq!(op.error_message.as_deref(), Some(ORPHAN_MESSAGE));
}
