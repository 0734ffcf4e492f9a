//! What the worker's tests share: real `ktrdr-worker` processes, market data and strategies to train
//! on, submitting operations and waiting for them to get somewhere, and (in [`e2e`]) the pieces of
//! the end-to-end scenarios.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod e2e;
pub mod research;

use std::time::Duration;

use ktrdr::{
    checkpoints::{self, Checkpoint, CheckpointKind},
    operations::{self, NewOperation, Operation, Status},
};
pub use ktrdr_testkit::WorkerProcess;
use ktrdr_testkit::wait_for;
use serde_json::json;
use sqlx::PgPool;

/// Starts this build's `ktrdr-worker` on `database_url` with `args` and extra environment `env`.
pub fn spawn_worker(database_url: &str, args: &[&str], env: &[(&str, &str)]) -> WorkerProcess {
    WorkerProcess::spawn(env!("CARGO_BIN_EXE_ktrdr-worker"), database_url, args, env)
}

/// Starts a worker called `worker_id`, with `extra_args` and extra environment `env`.
pub fn spawn_named_worker(
    database_url: &str,
    worker_id: &str,
    extra_args: &[&str],
    env: &[(&str, &str)],
) -> WorkerProcess {
    let args: Vec<&str> = ["--worker-id", worker_id]
        .iter()
        .chain(extra_args)
        .copied()
        .collect();
    spawn_worker(database_url, &args, env)
}

/// Stores synthetic EURUSD 1h bars from `start` to `end` (year, month; UTC) and returns them.
pub async fn store_synthetic_bars(
    pool: &PgPool,
    start: (i32, u32),
    end: (i32, u32),
    seed: u64,
) -> Vec<ktrdr_trading::market_data::Bar> {
    use chrono::TimeZone;
    use ktrdr_trading::market_data::{self, SynthSpec, Timeframe};
    let month = |(year, month): (i32, u32)| {
        chrono::Utc
            .with_ymd_and_hms(year, month, 1, 0, 0, 0)
            .unwrap()
    };
    let spec = SynthSpec {
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        start: month(start),
        end: month(end),
        seed,
    };
    let bars = market_data::synthesize(&spec).unwrap();
    market_data::store(
        pool,
        "EURUSD",
        Timeframe::H1,
        &market_data::Source::Synth { seed },
        &bars,
    )
    .await
    .unwrap();
    bars
}

/// The example strategy `strategies/{name}` with `epochs` training epochs.
pub fn example_strategy(name: &str, epochs: usize) -> ktrdr_trading::strategy::Strategy {
    let path = format!("{}/../strategies/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut strategy =
        ktrdr_trading::strategy::parse_file(std::path::Path::new(&path)).expect("a valid example");
    strategy.training.epochs = epochs;
    strategy
}

/// Params of a training of the example strategy: `epochs` epochs, no early stopping, a checkpoint
/// every `checkpoint_interval` epochs.
pub fn training_params(epochs: usize, checkpoint_interval: usize) -> serde_json::Value {
    let mut strategy = example_strategy("rsi_macd_trend.yaml", epochs);
    strategy.training.early_stopping.patience = epochs;
    strategy.training.checkpoint_interval = checkpoint_interval;
    serde_json::to_value(ktrdr_trading::kinds::TrainingParams::new(strategy)).unwrap()
}

/// Submits `op`, checked as all of ktrdr-trading's kinds, and returns its id.
pub async fn submit_operation(pool: &PgPool, op: &NewOperation) -> String {
    operations::submit(pool, &ktrdr_trading::kinds::ALL, op)
        .await
        .unwrap()
}

/// Submits an operation of `operation_type` with `params` and returns its id.
pub async fn submit(pool: &PgPool, operation_type: &str, params: impl serde::Serialize) -> String {
    let params = serde_json::to_value(params).unwrap();
    submit_operation(pool, &NewOperation::new(operation_type).with_params(params)).await
}

/// Waits, at most `limit`, until `condition` holds for the operation; panics naming `what` after.
pub async fn wait_for_op_within(
    pool: &PgPool,
    id: &str,
    what: &str,
    limit: Duration,
    condition: impl Fn(&Operation) -> bool,
) -> Operation {
    wait_for(&format!("{id}: {what}"), limit, || async {
        operations::get(pool, id)
            .await
            .ok()
            .filter(|op| condition(op))
    })
    .await
}

/// Waits, at most five minutes (long enough for a training), until `condition` holds for the op.
pub async fn wait_until(
    pool: &PgPool,
    id: &str,
    what: &str,
    condition: impl Fn(&Operation) -> bool,
) -> Operation {
    wait_for_op_within(pool, id, what, Duration::from_secs(300), condition).await
}

/// Waits, at most five minutes, until the operation has ended.
pub async fn finished(pool: &PgPool, id: &str) -> Operation {
    wait_until(pool, id, "to finish", |op| op.status.is_terminal()).await
}

/// Waits until the operation has ended and asserts it completed; failing prints the workers' logs.
pub async fn completed(pool: &PgPool, id: &str) -> Operation {
    let op = finished(pool, id).await;
    assert_eq!(op.status, Status::Completed, "{id}: {:?}", op.error_message);
    op
}

/// Submits a `dummy` of `steps` 100 ms steps and returns it once it makes progress on `worker`.
pub async fn long_operation_running_on(
    pool: &PgPool,
    worker: &str,
    steps: u32,
    max_attempts: i32,
) -> Operation {
    let op = NewOperation {
        max_attempts,
        ..NewOperation::new("dummy").with_params(json!({"steps": steps, "step_ms": 100}))
    };
    let id = submit_operation(pool, &op).await;
    let what = format!("running on {worker}");
    wait_for_op_within(pool, &id, &what, Duration::from_secs(60), |op| {
        op.status == Status::Running
            && op.worker_id.as_deref() == Some(worker)
            && op.progress_percent > 0.0
    })
    .await
}

/// Submits a one-step `dummy` and asserts it completes: the worker still takes new work.
pub async fn assert_new_work_completes(pool: &PgPool) {
    let id = submit(pool, "dummy", json!({"steps": 1, "step_ms": 1})).await;
    completed(pool, &id).await;
}

/// The operation's checkpoint, asserted to exist and to be of `kind`.
pub async fn checkpoint_of_kind(pool: &PgPool, id: &str, kind: CheckpointKind) -> Checkpoint {
    let checkpoint = checkpoints::get(pool, id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{id}: no checkpoint, expected a {kind:?} one"));
    assert_eq!(checkpoint.kind, kind, "{id}");
    checkpoint
}

/// Keeps a copy of every checkpoint written from now on in `seen_checkpoints` (the row in
/// `ktrdr.checkpoints` is overwritten by the next save and deleted on completion).
pub async fn record_checkpoint_writes(pool: &PgPool) {
    // Schema-qualified: the trigger fires inside save_checkpoint, which runs with its own
    // search_path (ktrdr, pg_temp; see sql/95_roles.sql).
    sqlx::raw_sql(
        "CREATE TABLE public.seen_checkpoints AS SELECT * FROM ktrdr.checkpoints WITH NO DATA;
         CREATE FUNCTION public.keep_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO public.seen_checkpoints SELECT NEW.*; RETURN NULL; END $$;
         CREATE TRIGGER keep AFTER INSERT OR UPDATE ON ktrdr.checkpoints
             FOR EACH ROW EXECUTE FUNCTION public.keep_checkpoint();",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// The checkpoints written since [`record_checkpoint_writes`], in order: (attempt, kind, unit value).
pub async fn checkpoint_writes(pool: &PgPool, operation_id: &str) -> Vec<(i32, String, i64)> {
    sqlx::query_as(
        "SELECT attempt, kind, unit_value FROM seen_checkpoints WHERE operation_id = $1
         ORDER BY created_at, unit_value",
    )
    .bind(operation_id)
    .fetch_all(pool)
    .await
    .unwrap()
}
