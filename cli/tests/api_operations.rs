//! The HTTP API against a real `ktrdr serve`, a real PostgreSQL and a real HTTP client: the envelope
//! and its status codes for operations and checkpoints (404 for a missing id, 409 for a wrong state,
//! 422 with every problem's path for bad input, malformed JSON and bad query parameters included),
//! ten concurrent resumes of which exactly one wins, the token, the refusal to listen on a
//! non-loopback address without one, and a graceful stop on SIGTERM.

mod support;

use std::time::Duration;

use futures::future::join_all;
use ktrdr::{
    checkpoints::{self, CheckpointKind, NewCheckpoint},
    operations::FailOutcome,
};
use ktrdr_testkit::TestDatabase;
use serde_json::{Value, json};
use support::api::{ApiServer, answer, code};

/// A failed dummy with a checkpoint (saved by its attempt, then failed for good): resumable.
async fn failed_with_checkpoint(pool: &sqlx::PgPool) -> String {
    let claimed = ktrdr_testkit::running_dummy(pool, "w-api", 60.0)
        .await
        .unwrap();
    let checkpoint = NewCheckpoint {
        kind: CheckpointKind::Failure,
        unit: "epoch",
        unit_value: 3,
        state: json!({"epoch": 3}),
        artifact: None,
    };
    checkpoints::save(pool, &claimed.lease, &checkpoint)
        .await
        .unwrap();
    let failed = claimed.lease.fail(pool, "boom", false).await.unwrap();
    assert_eq!(failed, FailOutcome::Failed);
    claimed.lease.operation_id
}

fn error_paths(body: &Value) -> Vec<&str> {
    body["error"]["details"]["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors list: {body}"))
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn operations_answer_in_the_envelope_with_their_status_codes() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let api = ApiServer::start(test_db.url(), &[]).await;

    let (status, body) = api
        .post(
            "/api/v1/operations",
            &json!({"operation_type": "dummy", "params": {"steps": 1, "step_ms": 0}, "count": 2}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["success"], true);
    let ids: Vec<String> = serde_json::from_value(body["data"]["operation_ids"].clone())?;
    assert_eq!(ids.len(), 2);

    // Shown as `ops show --json` shows it, status uppercase; filters in either case.
    let (status, body) = api.get(&format!("/api/v1/operations/{}", ids[0])).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["operation_id"], ids[0].as_str());
    assert_eq!(body["data"]["status"], "PENDING");
    assert_eq!(body["data"]["events"][0]["to_status"], "PENDING");
    for filter in ["pending", "PENDING"] {
        let (status, body) = api
            .get(&format!(
                "/api/v1/operations?status={filter}&type=dummy&limit=1&offset=1"
            ))
            .await;
        assert_eq!(status, 200);
        let listed = body["data"].as_array().unwrap();
        assert_eq!(listed.len(), 1, "{body}");
        assert_eq!(
            listed[0]["operation_id"],
            ids[0].as_str(),
            "the older one, second"
        );
    }

    // A child, found under its parent.
    let (status, body) = api
        .post(
            "/api/v1/operations",
            &json!({"operation_type": "dummy", "parent_id": ids[0]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let child = body["data"]["operation_id"].clone();
    let (status, body) = api
        .get(&format!("/api/v1/operations/{}/children", ids[0]))
        .await;
    assert_eq!(status, 200);
    let children: Vec<&Value> = body["data"].as_array().unwrap().iter().collect();
    assert_eq!(children.len(), 1, "{body}");
    assert_eq!(children[0]["operation_id"], child);
    let (_, body) = api
        .get(&format!("/api/v1/operations/{}/children", ids[1]))
        .await;
    assert_eq!(body["data"], json!([]));

    // 404, with the code scripts test for.
    let (status, body) = api.get("/api/v1/operations/op_missing").await;
    assert_eq!((status, code(&body)), (404, "OPERATION_NOT_FOUND"));
    assert_eq!(body["success"], false);
    for path in ["events", "children", "results"] {
        let (status, _) = api
            .get(&format!("/api/v1/operations/op_missing/{path}"))
            .await;
        assert_eq!(status, 404, "{path}");
    }

    // 422 for ids, bodies and query strings, every problem named with its path.
    let (status, body) = api.get("/api/v1/operations/bad%20id").await;
    assert_eq!((status, code(&body)), (422, "VALIDATION_ERROR"));
    assert_eq!(error_paths(&body), ["path.operation_id"]);
    let (status, body) = api
        .get("/api/v1/operations?status=done&limit=0&active=maybe&colour=red")
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        error_paths(&body),
        [
            "query.status",
            "query.active",
            "query.limit",
            "query.colour"
        ]
    );
    let (status, body) = api
        .post(
            "/api/v1/operations",
            &json!({"params": [], "priority": -1, "max_attempts": "two"}),
        )
        .await;
    assert_eq!(status, 422);
    assert_eq!(
        error_paths(&body),
        ["body.operation_type", "body.priority", "body.max_attempts"]
    );
    let malformed = api
        .client
        .post(api.url("/api/v1/operations"))
        .header("content-type", "application/json")
        .body("{\"operation_type\": ")
        .send()
        .await?;
    let (status, body) = answer(malformed).await;
    assert_eq!((status, code(&body)), (422, "VALIDATION_ERROR"));
    assert_eq!(error_paths(&body), ["body"]);
    let (status, body) = api
        .post(
            "/api/v1/operations",
            &json!({"operation_type": "dummy", "params": {"steps": 0}}),
        )
        .await;
    assert_eq!(status, 422, "the kind's own check: {body}");
    let (status, body) = api.get("/api/v1/nothing-here").await;
    assert_eq!((status, code(&body)), (404, "NOT_FOUND"));

    // Cancel: a pending one at once; again is 409. Results of a cancelled one: 409.
    let (status, body) = api
        .delete(&format!("/api/v1/operations/{}?reason=test", ids[1]))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "CANCELLED");
    let (status, body) = api.delete(&format!("/api/v1/operations/{}", ids[1])).await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = api
        .get(&format!("/api/v1/operations/{}/results", ids[1]))
        .await;
    assert_eq!((status, code(&body)), (409, "OPERATION_NOT_COMPLETED"));

    // Resume: of a pending operation, and of a cancelled one without a checkpoint: 409.
    let (status, body) = api
        .post(&format!("/api/v1/operations/{}/resume", ids[0]), &json!({}))
        .await;
    assert_eq!((status, code(&body)), (409, "OPERATION_NOT_RESUMABLE"));
    let (status, body) = api
        .post(&format!("/api/v1/operations/{}/resume", ids[1]), &json!({}))
        .await;
    assert_eq!((status, code(&body)), (409, "CHECKPOINT_NOT_FOUND"));
    let (status, body) = api
        .post("/api/v1/operations/op_missing/resume", &json!({}))
        .await;
    assert_eq!((status, code(&body)), (404, "OPERATION_NOT_FOUND"));
    // Retry runs a cancelled one again from scratch.
    let (status, body) = api
        .post(&format!("/api/v1/operations/{}/retry", ids[1]), &json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, body) = api.get(&format!("/api/v1/operations/{}", ids[1])).await;
    assert_eq!(body["data"]["status"], "PENDING");
    Ok(())
}

#[tokio::test]
async fn of_ten_concurrent_resumes_exactly_one_wins() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let id = failed_with_checkpoint(&test_db.pool).await;
    let api = ApiServer::start(test_db.url(), &[]).await;
    let (_, body) = api.get(&format!("/api/v1/operations/{id}")).await;
    assert_eq!(body["data"]["status"], "FAILED");
    assert_eq!(body["data"]["resumable"], true);

    let path = format!("/api/v1/operations/{id}/resume");
    let no_body = json!({});
    let resumes = (0..10).map(|_| api.post(&path, &no_body));
    let answers = join_all(resumes).await;
    let mut statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    statuses.sort();
    assert_eq!(
        statuses,
        [200, 409, 409, 409, 409, 409, 409, 409, 409, 409],
        "{answers:?}"
    );
    for (_, body) in answers.iter().filter(|(status, _)| *status == 409) {
        assert!(
            ["OPERATION_NOT_RESUMABLE", "RESUME_CONFLICT"].contains(&code(body)),
            "{body}"
        );
    }
    let (_, body) = api.get(&format!("/api/v1/operations/{id}")).await;
    assert_eq!(body["data"]["status"], "PENDING");
    let resumed = body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["from_status"] == "FAILED" && e["to_status"] == "PENDING")
        .count();
    assert_eq!(resumed, 1, "one resume, recorded once");
    Ok(())
}

#[tokio::test]
async fn checkpoints_are_listed_shown_and_deleted() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let id = failed_with_checkpoint(pool).await;
    let running = ktrdr_testkit::running_dummy(pool, "w-api", 60.0).await?;
    let checkpoint = NewCheckpoint {
        kind: CheckpointKind::Periodic,
        unit: "epoch",
        unit_value: 1,
        state: json!({}),
        artifact: None,
    };
    checkpoints::save(pool, &running.lease, &checkpoint).await?;
    let running_id = &running.lease.operation_id;
    let api = ApiServer::start(test_db.url(), &[]).await;

    let (status, body) = api.get("/api/v1/checkpoints").await;
    assert_eq!(status, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let (status, body) = api.get(&format!("/api/v1/checkpoints/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["kind"], "failure");
    assert_eq!(body["data"]["unit_value"], 3);
    let (status, body) = api.get("/api/v1/checkpoints/stats").await;
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["data"]["checkpoints"].clone(),
            body["data"]["failure"].clone()
        ),
        (json!(2), json!(1))
    );
    let (status, body) = api.get("/api/v1/checkpoints/op_none").await;
    assert_eq!((status, code(&body)), (404, "CHECKPOINT_NOT_FOUND"));

    // A running operation's checkpoint is its own: 409.
    let (status, body) = api
        .delete(&format!("/api/v1/checkpoints/{running_id}"))
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, body) = api.delete(&format!("/api/v1/checkpoints/{id}")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.delete(&format!("/api/v1/checkpoints/{id}")).await;
    assert_eq!((status, code(&body)), (404, "CHECKPOINT_NOT_FOUND"));
    let (_, body) = api.get(&format!("/api/v1/operations/{id}")).await;
    assert_eq!(body["data"]["resumable"], false);

    let (status, body) = api
        .post("/api/v1/checkpoints/cleanup", &json!({"max_age_days": -1}))
        .await;
    assert_eq!(status, 422);
    assert_eq!(error_paths(&body), ["body.max_age_days"]);
    let empty = api
        .client
        .post(api.url("/api/v1/checkpoints/cleanup"))
        .send()
        .await?;
    let (status, body) = answer(empty).await;
    assert_eq!(status, 200, "no body: the configured age: {body}");
    assert_eq!(body["data"]["max_age_days"], 30.0);
    assert_eq!(body["data"]["checkpoints_deleted"], 0);
    Ok(())
}

#[tokio::test]
async fn with_a_token_every_write_needs_it() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let api = ApiServer::start(test_db.url(), &[("KTRDR_API_TOKEN", "s3cret")]).await;
    let submit = json!({"operation_type": "dummy"});
    let url = api.url("/api/v1/operations");

    let (status, body) = api.post("/api/v1/operations", &submit).await;
    assert_eq!((status, code(&body)), (401, "UNAUTHORIZED"));
    let wrong = api
        .client
        .post(&url)
        .bearer_auth("s3cre7")
        .json(&submit)
        .send()
        .await?;
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    assert_eq!(answer(wrong).await.0, 401);
    let (status, body) = api.delete("/api/v1/operations/op_x").await;
    assert_eq!(status, 401, "before the id is even looked up: {body}");
    ktrdr_testkit::assert_nothing_submitted(&test_db.pool, "a write without the token").await?;

    let right = api
        .client
        .post(&url)
        .bearer_auth("s3cret")
        .json(&submit)
        .send()
        .await?;
    let (status, body) = answer(right).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.get("/api/v1/operations").await;
    assert_eq!(status, 200, "reads need no token");
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_public_address_without_a_token_is_refused() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let output = support::ktrdr_with_env(
        test_db.url(),
        &["serve", "--bind", "0.0.0.0:0"],
        &[("KTRDR_API_TOKEN", "")],
    );
    assert!(!output.status.success());
    assert_eq!(
        support::stderr(&output),
        "error: refusing to listen on 0.0.0.0:0 without KTRDR_API_TOKEN: set a token (writes then \
         need `Authorization: Bearer <token>`), bind a loopback address, or pass --insecure"
    );
    Ok(())
}

#[tokio::test]
async fn sigterm_stops_the_server_with_a_progress_stream_open() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let id = ktrdr_testkit::pending_dummy(&test_db.pool).await?;
    let mut api = ApiServer::start(test_db.url(), &[]).await;
    let mut stream = api
        .client
        .get(api.url(&format!("/api/v1/operations/{id}/progress")))
        .send()
        .await?;
    assert_eq!(stream.status(), 200);
    let first = stream.chunk().await?.expect("a first event");
    assert!(String::from_utf8_lossy(&first).contains("event: progress"));

    let exit = api.terminate(Duration::from_secs(15)).await;
    assert!(exit.success(), "{exit:?}: {}", api.log());
    assert!(api.log().contains("ktrdr API stopped"));
    // The stream was closed by the server, not cut.
    while stream.chunk().await?.is_some() {}
    Ok(())
}
