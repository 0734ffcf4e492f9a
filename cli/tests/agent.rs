//! `ktrdr agent trigger|status|list|cancel|history` and `ktrdr resume` of a research through the
//! real binary: what scripts rely on (the id as the last line, the `--json` fields, lowercase
//! statuses), the session commands, and every refusal as one line on stderr with a non-zero exit.
//! No worker runs here, so a research stays at its first child; the loop itself is tested in
//! tests/research.rs and worker/tests/research_*.rs.

mod support;

use ktrdr_testkit::TestDatabase;
use serde_json::Value;
use support::{ktrdr, stderr};

fn ok(url: &str, args: &[&str]) -> String {
    let output = ktrdr(url, args);
    assert!(
        output.status.success(),
        "ktrdr {args:?}: {}",
        stderr(&output)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(url: &str, args: &[&str]) -> Value {
    serde_json::from_str(&ok(url, args)).unwrap()
}

/// The one line a refused command prints on stderr.
fn refused(url: &str, args: &[&str]) -> String {
    let output = ktrdr(url, args);
    assert!(!output.status.success(), "ktrdr {args:?} should fail");
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    message
}

async fn database_with_bars() -> TestDatabase {
    let db = TestDatabase::create().await.unwrap();
    ok(
        db.url(),
        &[
            "data",
            "synth",
            "--start",
            "2023-01-01",
            "--end",
            "2023-02-01",
        ],
    );
    db
}

#[tokio::test]
async fn trigger_prints_the_id_last_and_status_shows_the_research_as_json() {
    let db = database_with_bars().await;
    let url = db.url();
    let printed = ok(
        url,
        &["agent", "trigger", "--seed", "5", "--brief", "rsi momentum"],
    );
    let id = printed.lines().last().unwrap().to_string();
    assert!(id.starts_with("op_agent_research_"), "{printed}");

    let status = json(url, &["agent", "status", &id, "--json"]);
    assert_eq!(status["operation_id"], id.as_str());
    assert_eq!(status["status"], "running");
    assert_eq!(status["phase"], "designing");
    assert_eq!(status["outcome"], Value::Null);
    assert_eq!(status["verdict"], Value::Null);
    assert_eq!(status["training_gate"], Value::Null);
    assert_eq!(status["brief"], "rsi momentum");
    let child = &status["children"][0];
    assert_eq!(child["operation_type"], "agent_design");
    assert_eq!(child["status"], "pending");
    assert_eq!(child["attempt"], 1);

    let active = json(url, &["agent", "status", "--json"]);
    assert_eq!(active.as_array().unwrap().len(), 1);
    let listed = json(url, &["agent", "list", "--json"]);
    assert_eq!(listed[0]["operation_id"], id.as_str());
    // `ops show` lists the children of any operation.
    let shown = json(url, &["ops", "show", &id, "--json"]);
    assert_eq!(shown["children"][0]["operation_id"], child["operation_id"]);
    assert!(ok(url, &["ops", "show", &id]).contains("Children:"));
    assert_eq!(
        json(url, &["agent", "history", "--json"]),
        serde_json::json!([])
    );
}

#[tokio::test]
async fn cancel_ends_the_session_and_resume_continues_it() {
    let db = database_with_bars().await;
    let url = db.url();
    let id = ok(url, &["agent", "trigger"]).trim().to_string();
    let cancelled = json(url, &["agent", "cancel", &id, "--json"]);
    assert_eq!(cancelled["status"], "cancelled");
    let status = json(url, &["agent", "status", &id, "--json"]);
    assert_eq!(
        (status["status"].as_str(), status["phase"].as_str()),
        (Some("cancelled"), Some("cancelled"))
    );
    assert_eq!(status["children"][0]["status"], "cancelled");
    // Cancelling again is no error: the session had ended.
    assert!(ok(url, &["agent", "cancel", &id]).contains("had already ended (CANCELLED)"));

    let resumed = ok(url, &["resume", &id]);
    assert!(resumed.contains("it is RUNNING"), "{resumed}");
    let status = json(url, &["agent", "status", &id, "--json"]);
    assert_eq!(status["phase"], "designing");
    assert_eq!(status["children"][1]["attempt"], 2);
}

#[tokio::test]
async fn a_given_strategy_is_trained_without_a_design() {
    let db = database_with_bars().await;
    let url = db.url();
    let id = ok(
        url,
        &[
            "agent",
            "trigger",
            "--strategy",
            "strategies/rsi_macd_trend.yaml",
            "--json",
        ],
    );
    let id: Value = serde_json::from_str(&id).unwrap();
    let status = json(
        url,
        &[
            "agent",
            "status",
            id["operation_id"].as_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(status["phase"], "training");
    assert_eq!(status["strategy_name"], "rsi_macd_trend");
    assert_eq!(status["archetype"], "given");
    assert_eq!(status["children"][0]["operation_type"], "training");
}

#[tokio::test]
async fn bad_triggers_are_refused_with_one_line() {
    let empty = TestDatabase::create().await.unwrap();
    assert!(refused(empty.url(), &["agent", "trigger"]).contains(
        "no market data to research: import or synthesize bars first (ktrdr data import|synth)"
    ));
    let db = database_with_bars().await;
    let url = db.url();
    assert!(
        refused(url, &["agent", "trigger", "--symbol", "EUR USD"])
            .contains("--symbol 'EUR USD' is invalid")
    );
    assert!(refused(url, &["agent", "trigger", "--timeframe", "7h"]).contains("7h"));
    assert!(
        refused(
            url,
            &["agent", "trigger", "--strategy", "strategies/missing.yaml"]
        )
        .contains("missing.yaml")
    );
    assert!(
        refused(url, &["agent", "status", "op_agent_research_nope"]).contains("research not found")
    );
    assert!(refused(url, &["ops", "submit", "agent_research"]).contains("ktrdr agent trigger"));
    // No workers: the capacity is one research.
    ok(url, &["agent", "trigger"]);
    let message = refused(url, &["agent", "trigger"]);
    assert!(
        message.contains("capacity exhausted: 1 active researches, at most 1"),
        "{message}"
    );
}
