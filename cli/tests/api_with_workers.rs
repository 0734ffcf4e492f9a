//! The HTTP API with real `ktrdr-worker` processes (the binary beside `ktrdr`: `cargo build -p
//! ktrdr-worker`): the orphan scenario exactly as an HTTP user scripts it — start a training, see it
//! RUNNING, `kill -9` its worker, poll until FAILED with the orphan detector's message — and the
//! progress stream of `GET /operations/{id}/progress`, which delivers every progress the worker
//! writes and every epoch of a training — also to a follower that connects after the end — and
//! ends with the operation.

mod support;

use std::{path::PathBuf, time::Duration};

use futures::StreamExt;
use ktrdr_testkit::{TestDatabase, WorkerProcess, wait_for};
use ktrdr_trading::market_data;
use serde_json::{Value, json};
use support::api::{ApiServer, worker_binary};

/// The error of an operation whose worker's lease lapsed (sql/80_orphans.sql).
const ORPHAN_MESSAGE: &str = "Operation was RUNNING but no worker claimed it";

/// Worker settings with a 3 s lease, so the scenario takes seconds.
const SHORT_TIMEOUTS: &[(&str, &str)] = &[
    ("ORPHAN_TIMEOUT_SECONDS", "3"),
    ("HEARTBEAT_INTERVAL_SECONDS", "0.5"),
    ("ORPHAN_CHECK_INTERVAL_SECONDS", "1"),
    ("KTRDR_TORCH_THREADS", "1"),
];

fn worker(url: &str, id: &str, args: &[&str]) -> WorkerProcess {
    let args: Vec<&str> = ["--worker-id", id].iter().chain(args).copied().collect();
    WorkerProcess::spawn(&worker_binary(), url, &args, SHORT_TIMEOUTS)
}

/// A strategies directory of its own holding `training.yaml`: the example strategy with `epochs`
/// epochs and no early stopping; removed when dropped.
struct Strategies(PathBuf);

impl Strategies {
    fn with_epochs(epochs: u32) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "ktrdr-api-strategies-{}-{epochs}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let example = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../strategies/rsi_macd_trend.yaml"
        );
        let yaml = std::fs::read_to_string(example).unwrap();
        assert!(yaml.contains("epochs: 50") && yaml.contains("patience: 8"));
        let strategy = yaml
            .replace("epochs: 50", &format!("epochs: {epochs}"))
            .replace("patience: 8", "patience: 100000");
        std::fs::write(dir.join("training.yaml"), strategy).unwrap();
        Self(dir)
    }
}

impl Drop for Strategies {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn store_bars(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let spec = market_data::SynthSpec {
        symbol: "EURUSD".into(),
        timeframe: market_data::Timeframe::H1,
        start: "2022-01-01T00:00:00Z".parse()?,
        end: "2022-03-01T00:00:00Z".parse()?,
        seed: 7,
    };
    let bars = market_data::synthesize(&spec)?;
    market_data::store(
        pool,
        "EURUSD",
        spec.timeframe,
        &market_data::Source::Synth { seed: spec.seed },
        &bars,
    )
    .await?;
    Ok(())
}

/// Polls `GET /operations/{id}` every 20 ms until `condition` holds for its data.
async fn poll_until(
    api: &ApiServer,
    id: &str,
    what: &str,
    limit: Duration,
    condition: impl Fn(&Value) -> bool,
) -> Value {
    wait_for(&format!("{id}: {what}"), limit, || async {
        let (status, body) = api.get(&format!("/api/v1/operations/{id}")).await;
        (status == 200 && condition(&body["data"])).then(|| body["data"].clone())
    })
    .await
}

#[tokio::test]
async fn a_training_whose_worker_is_killed_fails_as_an_orphan_over_http() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();
    store_bars(&test_db.pool).await?;
    // More epochs than the test waits for.
    let strategies = Strategies::with_epochs(100_000);
    let dir = strategies.0.display().to_string();
    let api = ApiServer::start(url, &[("KTRDR_STRATEGIES_DIR", &dir)]).await;
    let victim = worker(url, "victim", &["--types", "training", "--no-ticker"]);
    let _keeper = worker(url, "keeper", &["--types", "dummy"]);

    let (status, body) = api
        .post(
            "/api/v1/training/start",
            &json!({"strategy_path": "training.yaml", "max_attempts": 1}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["operation_id"].as_str().unwrap().to_string();
    assert_eq!(body["data"]["status"], "PENDING");

    let running = poll_until(
        &api,
        &id,
        "RUNNING on victim",
        Duration::from_secs(120),
        |op| op["status"] == "RUNNING" && op["worker_id"] == "victim",
    )
    .await;
    assert_eq!(running["attempt"], 1);
    victim.signal(libc::SIGKILL);

    let failed = poll_until(&api, &id, "ended", Duration::from_secs(60), |op| {
        op["status"] != "RUNNING"
    })
    .await;
    assert_eq!(failed["status"], "FAILED", "{failed}");
    assert_eq!(failed["error_message"], ORPHAN_MESSAGE);
    let (_, events) = api.get(&format!("/api/v1/operations/{id}/events")).await;
    let last = events["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["from_status"].clone(), last["to_status"].clone()),
        (json!("RUNNING"), json!("FAILED"))
    );
    assert_eq!(last["reason"], ORPHAN_MESSAGE);

    // The keeper's ticker ran the detector: health is 200 and says so; metrics count the orphan.
    let (status, health) = api.get("/api/v1/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["data"]["orphan_detector"]["running"], true);
    assert_eq!(
        health["data"]["orphan_detector"]["orphan_timeout_seconds"],
        3.0
    );
    let metrics = api
        .client
        .get(api.url("/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        metrics.contains("\nktrdr_orphans_detected 1\n"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("ktrdr_operations_finished{operation_type=\"training\",status=\"failed\"} 1"),
        "{metrics}"
    );
    Ok(())
}

/// One server-sent event: its name and its JSON data.
fn parse_events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter_map(|block| {
            let mut name = None;
            let mut data = None;
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = Some(value.to_string());
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data = Some(serde_json::from_str(value).unwrap());
                }
            }
            Some((name?, data?))
        })
        .collect()
}

#[tokio::test]
async fn the_progress_stream_delivers_every_step_and_ends_with_the_operation() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();
    let api = ApiServer::start(url, &[]).await;
    let steps = 5;
    // Steps of 700 ms: longer than a worker's shortest gap between progress writes (500 ms), so
    // every step is written, and so delivered.
    let (status, body) = api
        .post(
            "/api/v1/operations",
            &json!({"operation_type": "dummy", "params": {"steps": steps, "step_ms": 700}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["operation_id"].as_str().unwrap().to_string();
    let response = api
        .client
        .get(api.url(&format!("/api/v1/operations/{id}/progress")))
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let _worker = worker(url, "stepper", &["--types", "dummy"]);

    // The whole stream: it must end by itself when the operation does.
    let mut text = String::new();
    let mut body = response.bytes_stream();
    let read = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await;
    assert!(read.is_ok(), "the stream did not end: {text}");
    let events = parse_events(&text);
    let (last_name, last) = events.last().expect("events");
    assert_eq!(last_name, "end", "{text}");
    assert_eq!(last["status"], "COMPLETED");
    assert_eq!(last["result"]["steps"], steps);
    assert_eq!(events.iter().filter(|(name, _)| name == "end").count(), 1);

    let progress: Vec<&Value> = events
        .iter()
        .filter(|(name, _)| name == "progress")
        .map(|(_, data)| data)
        .collect();
    assert_eq!(
        progress[0]["status"], "PENDING",
        "the state when the stream opened"
    );
    let mut seen: Vec<i64> = progress
        .iter()
        .filter_map(|p| p["progress"]["step"].as_i64())
        .collect();
    seen.dedup();
    // The last step's progress and the completion come together: the end event carries it.
    assert_eq!(seen, (1..steps).collect::<Vec<i64>>(), "{text}");
    Ok(())
}

/// Reads a progress stream to its end (it must end by itself when the operation does).
async fn read_stream(response: reqwest::Response) -> Vec<(String, Value)> {
    assert_eq!(response.status(), 200);
    let mut text = String::new();
    let mut body = response.bytes_stream();
    let read = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    })
    .await;
    assert!(read.is_ok(), "the stream did not end: {text}");
    parse_events(&text)
}

/// The epochs of a stream's `progress` events, in the order sent, and its `end` event.
fn epochs_and_end(events: &[(String, Value)]) -> (Vec<u64>, Value) {
    let (last_name, last) = events.last().expect("events");
    assert_eq!(last_name, "end", "{events:?}");
    assert_eq!(events.iter().filter(|(name, _)| name == "end").count(), 1);
    let epochs = events
        .iter()
        .filter(|(name, _)| name == "progress")
        .filter_map(|(_, data)| data["progress"]["epoch"].as_u64())
        .collect();
    (epochs, last.clone())
}

#[tokio::test]
async fn the_progress_stream_delivers_every_epoch_of_a_training_even_to_a_late_follower()
-> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();
    store_bars(&test_db.pool).await?;
    // Epochs of a few milliseconds each: many end between two reads of the stream, far inside
    // the worker's half-second gap between ordinary progress writes.
    let epochs = 12;
    let strategies = Strategies::with_epochs(epochs);
    let dir = strategies.0.display().to_string();
    let api = ApiServer::start(url, &[("KTRDR_STRATEGIES_DIR", &dir)]).await;
    let (status, body) = api
        .post(
            "/api/v1/training/start",
            &json!({"strategy_path": "training.yaml"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let id = body["data"]["operation_id"].as_str().unwrap().to_string();
    let progress_url = api.url(&format!("/api/v1/operations/{id}/progress"));
    let early = api.client.get(&progress_url).send().await?;
    let _worker = worker(url, "trainer", &["--types", "training"]);

    let (early_epochs, end) = epochs_and_end(&read_stream(early).await);
    assert_eq!(end["status"], "COMPLETED", "{end}");
    let history: Vec<u64> = end["result"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|record| record["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(history.len(), epochs as usize, "{end}");
    assert_eq!(early_epochs, history, "every epoch, once each, in order");

    // Opened after the end: the kept epochs are replayed, then the end.
    let late = api.client.get(&progress_url).send().await?;
    let (late_epochs, late_end) = epochs_and_end(&read_stream(late).await);
    assert_eq!(late_epochs, history);
    assert_eq!(late_end["operation_id"], id.as_str());
    Ok(())
}
