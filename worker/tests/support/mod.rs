//! What the worker's tests share: real `ktrdr-worker` processes, market data and strategies to train
//! on, and (in [`e2e`]) the pieces of the end-to-end scenarios.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub mod e2e;

use std::time::Duration;

pub use ktrdr_testkit::WorkerProcess;
use ktrdr_testkit::wait_for;

/// Starts this build's `ktrdr-worker` on `database_url` with `args` and extra environment `env`.
pub fn spawn_worker(database_url: &str, args: &[&str], env: &[(&str, &str)]) -> WorkerProcess {
    WorkerProcess::spawn(env!("CARGO_BIN_EXE_ktrdr-worker"), database_url, args, env)
}

/// Stores synthetic EURUSD 1h bars from `start` to `end` (year, month; UTC) and returns them.
pub async fn store_synthetic_bars(
    pool: &sqlx::PgPool,
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
    market_data::store(pool, "EURUSD", Timeframe::H1, &bars)
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

/// Waits, at most five minutes, until the operation has ended.
pub async fn finished(pool: &sqlx::PgPool, id: &str) -> ktrdr::operations::Operation {
    wait_for(
        &format!("{id} to finish"),
        Duration::from_secs(300),
        || async {
            ktrdr::operations::get(pool, id)
                .await
                .ok()
                .filter(|op| op.status.is_terminal())
        },
    )
    .await
}

/// Keeps a copy of every checkpoint written from now on in `seen_checkpoints` (the row in
/// `ktrdr.checkpoints` is overwritten by the next save and deleted on completion).
pub async fn record_checkpoint_writes(pool: &sqlx::PgPool) {
    sqlx::raw_sql(
        "CREATE TABLE seen_checkpoints AS SELECT * FROM ktrdr.checkpoints WITH NO DATA;
         CREATE FUNCTION keep_checkpoint() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN INSERT INTO seen_checkpoints SELECT NEW.*; RETURN NULL; END $$;
         CREATE TRIGGER keep AFTER INSERT OR UPDATE ON ktrdr.checkpoints
             FOR EACH ROW EXECUTE FUNCTION keep_checkpoint();",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// The checkpoints written since [`record_checkpoint_writes`], in order: (attempt, kind, unit value).
pub async fn checkpoint_writes(pool: &sqlx::PgPool, operation_id: &str) -> Vec<(i32, String, i64)> {
    sqlx::query_as(
        "SELECT attempt, kind, unit_value FROM seen_checkpoints WHERE operation_id = $1
         ORDER BY created_at, unit_value",
    )
    .bind(operation_id)
    .fetch_all(pool)
    .await
    .unwrap()
}
