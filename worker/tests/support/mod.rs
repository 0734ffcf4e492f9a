//! Running real `ktrdr-worker` processes in tests.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::{
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use ktrdr::testing::wait_for;

pub struct WorkerProcess {
    child: Child,
    log: PathBuf,
}

impl WorkerProcess {
    /// Starts a worker on `database_url` with `args` and extra environment `env`.
    pub fn spawn(database_url: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!("ktrdr-worker-{:016x}.log", rand_suffix()));
        let log_file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_ktrdr-worker"))
            .args(args)
            .env("DATABASE_URL", database_url)
            .env("KTRDR_LOG", "info,sqlx=warn,refinery_core=warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file)
            .spawn()
            .expect("the worker binary starts");
        Self { child, log }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "kill({}, {signal})", self.pid());
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let log = self.log();
        let child = &mut self.child;
        wait_for(
            &format!("the worker to exit; its log:\n{log}"),
            limit,
            || {
                let status = child.try_wait().expect("try_wait");
                async move { status }
            },
        )
        .await
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- worker log ---\n{}", self.log());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id()) << 32
}

/// Stores synthetic EURUSD 1h bars from `start` to `end` (year, month; UTC) and returns them.
pub async fn store_synthetic_bars(
    pool: &sqlx::PgPool,
    start: (i32, u32),
    end: (i32, u32),
    seed: u64,
) -> Vec<ktrdr::market_data::Bar> {
    use chrono::TimeZone;
    use ktrdr::market_data::{self, SynthSpec, Timeframe};
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
pub fn example_strategy(name: &str, epochs: usize) -> ktrdr::strategy::Strategy {
    let path = format!("{}/../strategies/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut strategy =
        ktrdr::strategy::parse_file(std::path::Path::new(&path)).expect("a valid example");
    strategy.training.epochs = epochs;
    strategy
}

/// Params of a training of the example strategy: `epochs` epochs, no early stopping, a checkpoint
/// every `checkpoint_interval` epochs.
pub fn training_params(epochs: usize, checkpoint_interval: usize) -> serde_json::Value {
    let mut strategy = example_strategy("rsi_macd_trend.yaml", epochs);
    strategy.training.early_stopping.patience = epochs;
    strategy.training.checkpoint_interval = checkpoint_interval;
    serde_json::to_value(ktrdr::params::TrainingParams::new(strategy)).unwrap()
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
                .filter(|op| op.status().is_terminal())
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
