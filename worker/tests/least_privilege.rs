//! The roles of sql/95_roles.sql with real logins: a worker logged in as a member of
//! `ktrdr_worker` runs everything a worker does — claims, a training with checkpoints and model
//! artifacts, heartbeats, its ticker's leadership and orphan detection — yet cannot write the
//! tables itself; a `ktrdr_reader` login reads every view and can neither read the tables nor
//! submit. The worker logs as JSON (KTRDR_LOG_FORMAT=json), and its ticker names the orphan.

mod support;

use std::time::Duration;

use ktrdr_testkit::{LoginRole, TestDatabase, wait_for};
use serde_json::{Value, json};
use sqlx::PgPool;
use support::{completed, spawn_named_worker, store_synthetic_bars, submit, training_params};

/// The SQLSTATE of what `sql` fails with on `pool`; panics when it succeeds.
async fn refusal(pool: &PgPool, sql: &'static str) -> String {
    match sqlx::raw_sql(sql).execute(pool).await {
        Ok(_) => panic!("{sql}: allowed, expected a refusal"),
        Err(err) => err
            .as_database_error()
            .and_then(|db| db.code())
            .unwrap_or_else(|| panic!("{sql}: {err}"))
            .into_owned(),
    }
}

const PERMISSION_DENIED: &str = "42501";

#[tokio::test]
async fn the_worker_role_runs_a_worker_end_to_end_and_cannot_write_tables() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    store_synthetic_bars(pool, (2022, 1), (2022, 4), 5).await;
    let login = LoginRole::create(&test_db, "ktrdr_worker").await?;
    // An operation whose worker is gone: its 1 s lease lapses, and the restricted worker's ticker
    // must settle it.
    let orphan = ktrdr_testkit::running_dummy(pool, "gone", 1.0).await?;
    let worker = spawn_named_worker(
        &login.url()?,
        "restricted",
        &["--no-migrate", "--types", "dummy,training"],
        &[
            ("KTRDR_LOG_FORMAT", "json"),
            ("ORPHAN_CHECK_INTERVAL_SECONDS", "0.5"),
        ],
    );

    let training = submit(pool, "training", training_params(3, 1)).await;
    let dummy = submit(pool, "dummy", json!({"steps": 3, "step_ms": 10})).await;
    let result = completed(pool, &training).await.result.expect("a result");
    assert_eq!(result["history"].as_array().unwrap().len(), 3);
    completed(pool, &dummy).await;
    let orphan_id = orphan.lease.operation_id.clone();
    let settled = support::finished(pool, &orphan_id).await;
    assert_eq!(
        settled.error_message.as_deref(),
        Some("Operation was RUNNING but no worker claimed it")
    );
    // The worker's connections are the login's, and its ticker ran the orphan pass.
    let (login_connections, orphan_pass_by): (i64, Option<String>) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM pg_stat_activity
                 WHERE usename = $1 AND datname = current_database()),
                (SELECT last_check_by FROM ktrdr.maintenance_state)",
    )
    .bind(&login.name)
    .fetch_one(pool)
    .await?;
    assert!(login_connections > 0);
    assert_eq!(orphan_pass_by.as_deref(), Some("restricted"));

    // The ticker's lines, in JSON like every other line of the worker's log.
    let wanted = format!("Orphan operation detected: {orphan_id}");
    let log = wait_for(
        "the ticker to log the orphan",
        Duration::from_secs(30),
        || {
            let log = worker.log();
            let found = log.contains(&wanted);
            async move { found.then_some(log) }
        },
    )
    .await;
    let lines: Vec<Value> = log
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    for message in ["Orphan detector started", wanted.as_str()] {
        assert!(
            lines
                .iter()
                .any(|line| line["message"] == message && line["level"] == "INFO"),
            "no INFO line {message:?} in\n{log}"
        );
    }

    let as_worker = login.pool().await?;
    for write in [
        "UPDATE ktrdr.operations SET status = 'completed'",
        "DELETE FROM ktrdr.operations",
        "INSERT INTO ktrdr.operations (operation_id, operation_type) VALUES ('x', 'dummy')",
        "UPDATE ktrdr.checkpoints SET attempt = 99",
        "UPDATE ktrdr.workers SET status = 'stopped'",
        "UPDATE ktrdr.maintenance_state SET leader_id = 'me'",
        "SELECT ktrdr.submit_operation('dummy')",
        "SELECT ktrdr.settle_lost_operations(ARRAY['x'], 'm')",
    ] {
        assert_eq!(
            refusal(&as_worker, write).await,
            PERMISSION_DENIED,
            "{write}"
        );
    }
    as_worker.close().await;
    Ok(())
}

#[tokio::test]
async fn the_reader_role_reads_every_view_and_nothing_else() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    ktrdr_testkit::running_dummy(pool, "w", 30.0).await?;
    let login = LoginRole::create(&test_db, "ktrdr_reader").await?;
    let as_reader = login.pool().await?;
    let views: Vec<String> =
        sqlx::query_scalar("SELECT viewname::text FROM pg_views WHERE schemaname = 'ktrdr'")
            .fetch_all(pool)
            .await?;
    assert!(views.len() >= 8, "{views:?}");
    for view in &views {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SELECT * FROM ktrdr.{view}")))
            .execute(&as_reader)
            .await
            .unwrap_or_else(|err| panic!("ktrdr.{view}: {err}"));
    }
    for refused in [
        "SELECT ktrdr.submit_operation('dummy')",
        "SELECT ktrdr.request_cancel('x', NULL)",
        "SELECT * FROM ktrdr.claim_operations('w', ARRAY['dummy'], 1, 30)",
        "SELECT * FROM ktrdr.operations",
        "SELECT * FROM ktrdr.artifacts",
        "UPDATE ktrdr.operations SET status = 'failed'",
    ] {
        assert_eq!(
            refusal(&as_reader, refused).await,
            PERMISSION_DENIED,
            "{refused}"
        );
    }
    as_reader.close().await;
    Ok(())
}
