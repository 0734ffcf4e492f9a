//! `ktrdr models export`: a real `ktrdr-worker` (the binary beside `ktrdr`: `cargo build -p
//! ktrdr-worker`) trains a small model, the CLI exports it, and scripts/model_export_check.py —
//! safetensors and numpy, no torch (the venv of scripts/ensure-python-export-venv.sh) — runs the
//! exported model on the exported test rows and gets ktrdr's probabilities within 1e-5 and the same
//! classes; an export with a wrong scaler fails that check. Then every refusal, each in one line:
//! an unknown id, an operation that is not a training, a training not completed, a training from
//! before safetensors, a directory that is not empty, a model in another store.

mod support;

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use ktrdr::operations::{self, NewOperation, Status};
use ktrdr_testkit::{TestDatabase, WorkerProcess, wait_for};
use ktrdr_trading::{
    kinds::{self, TrainingParams, TrainingResult},
    market_data,
    strategy::Strategy,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use support::{api::worker_binary, ktrdr, ktrdr_with_env, stderr};

const PYTHON: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv-export/bin/python");
const CHECK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../scripts/model_export_check.py"
);

/// The venv's Python; a missing venv fails the test with the command that makes it.
fn python() -> &'static str {
    assert!(
        Path::new(PYTHON).is_file(),
        "no {PYTHON}: run scripts/ensure-python-export-venv.sh (make test does) to install \
         safetensors and numpy for the model-export check"
    );
    PYTHON
}

fn run_check(dir: &Path) -> Output {
    Command::new(python())
        .arg(CHECK)
        .arg(dir)
        .output()
        .expect("python runs")
}

/// A directory of its own under the system's temporary one, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("ktrdr-export-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The command failed with exactly one line on stderr, containing `expected`.
fn refused(output: &Output, expected: &str) -> String {
    let message = stderr(output);
    assert!(!output.status.success(), "not refused: {message}");
    assert!(message.contains(expected), "no {expected:?} in: {message}");
    assert_eq!(message.lines().count(), 1, "{message}");
    message
}

fn path(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// The example strategy, trained for 3 epochs.
fn small_strategy() -> Strategy {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../strategies/rsi_macd_trend.yaml"
    );
    let mut strategy = ktrdr_trading::strategy::parse_file(Path::new(path)).unwrap();
    strategy.training.epochs = 3;
    strategy
}

async fn store_bars(pool: &PgPool) -> anyhow::Result<()> {
    let spec = market_data::SynthSpec {
        symbol: "EURUSD".into(),
        timeframe: market_data::Timeframe::H1,
        start: "2022-01-01T00:00:00Z".parse()?,
        end: "2022-04-01T00:00:00Z".parse()?,
        seed: 3,
    };
    let bars = market_data::synthesize(&spec)?;
    let source = market_data::Source::Synth { seed: spec.seed };
    market_data::store(pool, "EURUSD", spec.timeframe, &source, &bars).await?;
    Ok(())
}

/// A training run by a real worker to completion: its id and result.
async fn trained(pool: &PgPool, url: &str) -> anyhow::Result<(String, TrainingResult)> {
    store_bars(pool).await?;
    let worker = WorkerProcess::spawn(
        &worker_binary(),
        url,
        &["--types", "training"],
        &[("KTRDR_TORCH_THREADS", "1")],
    );
    let params = serde_json::to_value(TrainingParams::new(small_strategy()))?;
    let op = NewOperation::new("training").with_params(params);
    let id = operations::submit(pool, &kinds::ALL, &op).await?;
    let done = wait_for(&format!("{id} to finish"), Duration::from_secs(300), || {
        let id = id.clone();
        async move {
            operations::get(pool, &id)
                .await
                .ok()
                .filter(|op| op.status.is_terminal())
        }
    })
    .await;
    assert_eq!(
        done.status,
        Status::Completed,
        "{:?}; worker log:\n{}",
        done.error_message,
        worker.log()
    );
    Ok((id, serde_json::from_value(done.result.unwrap())?))
}

/// Stores `result` as the result of a completed training no worker ran; returns its id.
async fn completed_training_with(pool: &PgPool, result: Value) -> String {
    let id = ktrdr_testkit::submit_through_sql(pool, "training", serde_json::json!({}))
        .await
        .unwrap();
    let claimed = ktrdr_testkit::claim_next(pool, "export-test", "training")
        .await
        .unwrap()
        .expect("the submitted training");
    assert_eq!(claimed.lease.operation_id, id);
    claimed.lease.complete(pool, result).await.unwrap();
    id
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn an_exported_model_computes_ktrdrs_probabilities_in_numpy() -> anyhow::Result<()> {
    python();
    let test_db = TestDatabase::create().await?;
    let (pool, url) = (&test_db.pool, test_db.url());
    let (id, result) = trained(pool, url).await?;
    let out = TempDir::new("model");

    // A unique prefix of the id is enough, as everywhere else.
    let prefix = &id[..id.len() - 3];
    let written: Value = serde_json::from_str(&stdout(&ktrdr(
        url,
        &["models", "export", prefix, path(&out.0), "--json"],
    )))?;
    assert_eq!(written["training_id"], id.as_str());
    let files = written["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["model.safetensors", "model.json", "test_predictions.json"]
    );
    for file in files {
        let bytes = std::fs::read(file["path"].as_str().unwrap())?;
        assert_eq!(bytes.len() as u64, file["bytes"].as_u64().unwrap());
        assert_eq!(sha256_hex(&bytes), file["sha256"].as_str().unwrap());
    }
    assert_eq!(
        files[0]["sha256"].as_str().unwrap(),
        result.model.safetensors.as_ref().unwrap().sha256,
        "the weights are the stored bytes"
    );

    let model = read_json(&out.join("model.json"));
    assert_eq!(model["format_version"], 1);
    assert_eq!(model["training_id"], id.as_str());
    assert_eq!(model["strategy"]["name"], "rsi_macd_trend");
    assert_eq!(model["strategy"]["config"]["training"]["epochs"], 3);
    assert_eq!(model["symbol"], "EURUSD");
    assert_eq!(model["features"].as_array().unwrap().len(), result.features);
    assert_eq!(
        model["scaler"]["mean"].as_array().unwrap().len(),
        result.features
    );
    assert_eq!(model["classes"], serde_json::json!(["BUY", "HOLD", "SELL"]));
    let layers: Vec<(u64, u64, Value)> = model["architecture"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["in_features"].as_u64().unwrap(),
                l["out_features"].as_u64().unwrap(),
                l["activation"]["name"].clone(),
            )
        })
        .collect();
    let relu = Value::from("relu");
    assert_eq!(
        layers,
        [
            (result.features as u64, 32, relu.clone()),
            (32, 16, relu),
            (16, 3, Value::Null)
        ]
    );
    assert_eq!(model["architecture"]["output"]["function"], "softmax");

    // The sample is ktrdr's own predictions: with every test row in it, its classes add up to the
    // confusion matrix's columns.
    let predictions = read_json(&out.join("test_predictions.json"));
    assert_eq!(predictions["test_rows"], result.bars.test);
    let predicted = predictions["predicted"].as_array().unwrap();
    assert_eq!(
        predicted.len() as i64,
        result.bars.test,
        "all rows (< 1000)"
    );
    for class in 0..3 {
        let column: u64 = result.confusion_matrix.iter().map(|row| row[class]).sum();
        let count = predicted.iter().filter(|p| **p == class).count() as u64;
        assert_eq!(count, column, "class {class}");
    }

    let check = run_check(&out.0);
    let summary = stdout(&check);
    assert!(summary.starts_with("model export check: "), "{summary}");
    eprintln!("{}", summary.trim());

    // A wrong scaler in model.json fails the check: it really compares.
    let tampered = TempDir::new("tampered");
    for name in ["model.safetensors", "test_predictions.json"] {
        std::fs::copy(out.join(name), tampered.join(name))?;
    }
    let mut wrong = model.clone();
    for std in wrong["scaler"]["std"].as_array_mut().unwrap() {
        *std = Value::from(std.as_f64().unwrap() * 2.0);
    }
    std::fs::write(tampered.join("model.json"), serde_json::to_vec(&wrong)?)?;
    let check = run_check(&tampered.0);
    assert!(!check.status.success(), "a wrong scaler passed");
    assert!(
        stderr(&check).starts_with("FAIL: probabilities differ from ktrdr's"),
        "{}",
        stderr(&check)
    );

    // People get the files listed; a directory that is not empty needs --force.
    let again = refused(
        &ktrdr(url, &["models", "export", &id, path(&out.0)]),
        "exists and is not empty",
    );
    assert!(again.contains("--force"), "{again}");
    let listed = stdout(&ktrdr(
        url,
        &["models", "export", &id, path(&out.0), "--force"],
    ));
    for expected in [
        "Exported the model of",
        "model.safetensors",
        "model.json",
        "test_predictions.json",
    ] {
        assert!(listed.contains(expected), "no {expected:?} in:\n{listed}");
    }
    // A file is not a directory.
    refused(
        &ktrdr(
            url,
            &["models", "export", &id, path(&out.join("model.json"))],
        ),
        "is a file, not a directory",
    );

    // The model is in the database: a ktrdr reading a directory store says what to change.
    let elsewhere = TempDir::new("store");
    refused(
        &ktrdr_with_env(
            url,
            &["models", "export", &id, path(&elsewhere.join("x"))],
            &[("KTRDR_ARTIFACTS_PATH", path(&elsewhere.0))],
        ),
        "the model is in the database table ktrdr.artifacts, but this ktrdr reads the directory",
    );

    older_trainings(pool, url, &result).await
}

/// Results as older workers stored them: without safetensors the export refuses and says to
/// retrain; without test predictions it exports the model and says what is missing.
async fn older_trainings(pool: &PgPool, url: &str, result: &TrainingResult) -> anyhow::Result<()> {
    let mut before_safetensors = serde_json::to_value(result)?;
    let model = before_safetensors["model"].as_object_mut().unwrap();
    model.remove("safetensors");
    model.remove("test_predictions");
    let old = completed_training_with(pool, before_safetensors).await;
    let out = TempDir::new("old");
    refused(
        &ktrdr(url, &["models", "export", &old, path(&out.join("m"))]),
        "was trained by an older ktrdr, which stored no model.safetensors: retrain it",
    );
    assert!(!out.join("m").exists(), "nothing is written for a refusal");

    let mut before_predictions = serde_json::to_value(result)?;
    before_predictions["model"]
        .as_object_mut()
        .unwrap()
        .remove("test_predictions");
    let newer = completed_training_with(pool, before_predictions).await;
    let written: Value = serde_json::from_str(&stdout(&ktrdr(
        url,
        &["models", "export", &newer, path(&out.join("m")), "--json"],
    )))?;
    assert_eq!(written["files"].as_array().unwrap().len(), 2);
    assert!(
        written["notes"][0]
            .as_str()
            .unwrap()
            .contains("trained before ktrdr stored test predictions"),
        "{written}"
    );
    assert!(!out.join("m/test_predictions.json").exists());
    assert_eq!(
        read_json(&out.join("m/model.json"))["files"]["test_predictions"],
        Value::Null
    );
    Ok(())
}

#[tokio::test]
async fn only_a_completed_training_is_exported() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let (pool, url) = (&test_db.pool, test_db.url());
    let out = TempDir::new("refusals");
    let dir = out.join("model");
    let export = |id: &str| ktrdr(url, &["models", "export", id, path(&dir)]);

    refused(
        &export("op_nothing_like_it"),
        "operation not found: op_nothing_like_it",
    );
    let dummy = ktrdr_testkit::pending_dummy(pool).await?;
    refused(
        &export(&dummy),
        &format!("{dummy} is a dummy operation, not a training"),
    );
    let pending =
        ktrdr_testkit::submit_through_sql(pool, "training", serde_json::json!({})).await?;
    refused(
        &export(&pending),
        &format!("{pending} is PENDING, not COMPLETED: only a completed training"),
    );
    assert!(!dir.exists(), "nothing is written for a refusal");

    // --json: the refusal as one JSON object with its code.
    let output = ktrdr(url, &["models", "export", &pending, path(&dir), "--json"]);
    let error: Value = serde_json::from_str(&stderr(&output))?;
    assert_eq!(error["error"]["code"], "INVALID_INPUT");
    Ok(())
}
