//! The research endpoints (`/api/v1/agent/*`) against a real `ktrdr serve` and PostgreSQL: a
//! research triggered over HTTP is RUNNING in its designing phase with one pending design child,
//! listed as active; the capacity refusal is a 409 with its reason; bad input a 422 naming every
//! field; cancel ends it (and says so when it had already ended); unknown ids are 404; the history
//! answers in the envelope.

mod support;

use ktrdr_testkit::TestDatabase;
use ktrdr_trading::market_data::{self, Source, SynthSpec, Timeframe};
use serde_json::json;
use support::api::{ApiServer, code};

#[tokio::test]
async fn a_research_is_triggered_followed_and_cancelled_over_http() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let spec = SynthSpec {
        symbol: "EURUSD".into(),
        timeframe: Timeframe::H1,
        start: "2022-01-01T00:00:00Z".parse()?,
        end: "2022-03-01T00:00:00Z".parse()?,
        seed: 3,
    };
    let bars = market_data::synthesize(&spec)?;
    let source = Source::Synth { seed: spec.seed };
    market_data::store(&test_db.pool, "EURUSD", spec.timeframe, &source, &bars).await?;
    let server = ApiServer::start(test_db.url(), &[]).await;

    let (status, body) = server
        .post(
            "/api/v1/agent/trigger",
            &json!({"seed": -1, "timeframe": "7h", "colour": 1}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let mut paths: Vec<&str> = body["error"]["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        ["body.colour", "body.seed", "body.timeframe"],
        "{body}"
    );

    let (status, body) = server
        .post("/api/v1/agent/trigger", &json!({"seed": 5, "brief": "rsi"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["status"], "RUNNING");
    let id = body["data"]["operation_id"].as_str().unwrap().to_string();

    let (status, body) = server.get(&format!("/api/v1/agent/researches/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let research = &body["data"];
    assert_eq!(research["status"], "RUNNING");
    assert_eq!(research["phase"], "designing");
    assert_eq!(research["seed"], 5);
    assert_eq!(
        research["children"].as_array().unwrap().len(),
        1,
        "{research}"
    );
    assert_eq!(research["children"][0]["operation_type"], "agent_design");
    assert_eq!(research["children"][0]["status"], "PENDING");

    let (_, body) = server.get("/api/v1/agent/status").await;
    let active: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["operation_id"].as_str().unwrap())
        .collect();
    assert_eq!(active, [id.as_str()]);

    // No workers: room for exactly one active research (0 training + 0 backtesting + 1).
    let (status, body) = server.post("/api/v1/agent/trigger", &json!({})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("capacity exhausted: 1 active researches, at most 1"),
        "{body}"
    );

    let (status, body) = server
        .post(&format!("/api/v1/agent/cancel/{id}"), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"operation_id": id, "cancelled": true, "status": "CANCELLED"})
    );
    let (_, body) = server
        .post(&format!("/api/v1/agent/cancel/{id}"), &json!({}))
        .await;
    assert_eq!(body["data"]["cancelled"], false);
    let (_, body) = server.get(&format!("/api/v1/agent/researches/{id}")).await;
    assert_eq!(body["data"]["children"][0]["status"], "CANCELLED", "{body}");

    let (status, body) = server.get("/api/v1/agent/researches/op_nope").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(code(&body), "OPERATION_NOT_FOUND");
    let (status, _) = server
        .post("/api/v1/agent/cancel/op_nope", &json!({}))
        .await;
    assert_eq!(status, 404);

    let (status, body) = server.get("/api/v1/agent/history?limit=5").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"], json!([]));
    let (status, _) = server.get("/api/v1/agent/history?limit=0").await;
    assert_eq!(status, 422);
    Ok(())
}
