//! The job kinds are listed once (`ktrdr_trading::kinds::ALL`): the database's operation types are
//! the same list, and each kind's params check is the one a submit runs.

use ktrdr::{
    Error,
    job_kinds::{Dummy, JobKind},
    operations::{self, NewOperation},
};
use ktrdr_testkit::TestDatabase;
use ktrdr_trading::kinds::{
    self, AgentAssessment, AgentDesign, AgentResearch, Backtesting, Training,
};
use serde_json::json;

#[tokio::test]
async fn the_database_knows_exactly_the_kinds() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let in_database: Vec<String> =
        sqlx::query_scalar("SELECT name FROM ktrdr.operation_types ORDER BY name")
            .fetch_all(&test_db.pool)
            .await?;
    let mut listed: Vec<&str> = kinds::ALL.names().collect();
    listed.sort_unstable();
    assert_eq!(in_database, listed);
    assert_eq!(
        kinds::ALL.names().collect::<Vec<_>>(),
        [
            Dummy::NAME,
            Training::NAME,
            Backtesting::NAME,
            AgentResearch::NAME,
            AgentDesign::NAME,
            AgentAssessment::NAME
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_submit_runs_the_kinds_params_check() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    for (kind, params, expected) in [
        (Dummy::NAME, json!({"steps": 0}), "steps must be at least 1"),
        (Training::NAME, json!({}), "missing field `strategy`"),
        (
            Backtesting::NAME,
            json!({"model": "x"}),
            "missing field `strategy`",
        ),
    ] {
        let op = NewOperation::new(kind).with_params(params);
        match operations::submit(&test_db.pool, &kinds::ALL, &op).await {
            Err(Error::InvalidInput(message)) => {
                assert!(message.contains(expected), "{kind}: {message}")
            }
            other => panic!("{kind}: expected a refusal, got {other:?}"),
        }
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM ktrdr.operations")
        .fetch_one(&test_db.pool)
        .await?;
    assert_eq!(count, 0, "nothing refused was stored");
    Ok(())
}
