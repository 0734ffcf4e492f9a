//! Every panel of the provisioned Grafana dashboard (grafana/provisioning/dashboards/ktrdr.json)
//! runs its SQL — Grafana's macros substituted as Grafana expands them for PostgreSQL — as a
//! `ktrdr_reader` login on a database holding real operations: a training and a backtest of its
//! model run by a real worker, a queued dummy, an orphan its ticker settled, and two researches
//! that worker's ticker advanced — one completed, one stopped by its training gate. Each query must
//! return rows with the columns the panel names.

mod support;

use ktrdr::research::ResearchRequest;
use ktrdr_testkit::{LoginRole, TestDatabase};
use ktrdr_trading::kinds::BacktestParams;
use serde_json::{Value, json};
use sqlx::{Column, Row};
use support::{
    completed, example_strategy, finished,
    research::{
        AGENT_TYPES, TRAINING_TYPES, given_strategy, research_completed, research_ended, trigger,
        worker_registered,
    },
    spawn_named_worker, store_synthetic_bars, submit, training_params,
};

/// Grafana's PostgreSQL macros, over the dashboard's default range (the last 6 hours).
fn expand_macros(sql: &str) -> String {
    let mut sql = sql.to_string();
    while let Some(start) = sql.find("$__") {
        let open = start + sql[start..].find('(').expect("a macro with arguments");
        let close = open + sql[open..].find(')').expect("closed macro arguments");
        let name = &sql[start + 3..open];
        let args: Vec<&str> = sql[open + 1..close].split(',').map(str::trim).collect();
        let expanded = match name {
            "timeFilter" => format!("{} BETWEEN now() - interval '6 hours' AND now()", args[0]),
            "timeGroupAlias" => {
                let unit = match args[1] {
                    "'1m'" => "minute",
                    other => panic!("interval {other} not expanded by this test"),
                };
                format!("date_trunc('{unit}', {}) AS time", args[0])
            }
            other => panic!("macro $__{other} not expanded by this test"),
        };
        sql.replace_range(start..=close, &expanded);
    }
    sql
}

#[tokio::test]
async fn every_panel_returns_rows_with_its_columns_as_the_reader() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    store_synthetic_bars(pool, (2022, 1), (2022, 4), 11).await;
    let orphan = ktrdr_testkit::running_dummy(pool, "gone", 0.5).await?;
    let types = format!("{TRAINING_TYPES},{AGENT_TYPES}");
    let _worker = spawn_named_worker(
        test_db.url(),
        "panels",
        &["--types", &types],
        &[("ORPHAN_CHECK_INTERVAL_SECONDS", "0.5")],
    );
    // Researches are refused while no worker could run their children.
    worker_registered(pool, "panels").await;
    let researched = trigger(
        pool,
        ResearchRequest {
            strategy: Some(given_strategy(2)),
            bypass_gates: true,
            ..Default::default()
        },
    )
    .await;
    // No test accuracy beats the baseline by a whole 1.0: the training gate stops this one.
    let gated = trigger(
        pool,
        ResearchRequest {
            strategy: Some(given_strategy(2)),
            gate_overrides: Some(json!({"training": {"accuracy_margin": 1.0}})),
            ..Default::default()
        },
    )
    .await;
    let training = submit(pool, "training", training_params(2, 1)).await;
    // No worker runs dummies: this one stays in the queue.
    submit(pool, "dummy", json!({"steps": 2, "step_ms": 10})).await;
    completed(pool, &training).await;
    let backtest = BacktestParams::new(example_strategy("rsi_macd_trend.yaml", 2), training);
    let backtest = submit(pool, "backtesting", backtest).await;
    completed(pool, &backtest).await;
    finished(pool, &orphan.lease.operation_id).await;
    research_completed(pool, &researched).await;
    let gated = research_ended(pool, &gated).await;
    assert_eq!(
        gated.outcome.as_deref(),
        Some("failed_training_gate"),
        "{gated:?}"
    );

    let dashboard: Value = serde_json::from_str(include_str!(
        "../../grafana/provisioning/dashboards/ktrdr.json"
    ))?;
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 16);
    let reader = LoginRole::create(&test_db, "ktrdr_reader").await?;
    let as_reader = reader.pool().await?;
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        let sql = expand_macros(panel["targets"][0]["rawSql"].as_str().unwrap());
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
            .fetch_all(&as_reader)
            .await
            .unwrap_or_else(|err| panic!("{title}: {err}\n{sql}"));
        assert!(!rows.is_empty(), "{title}: no rows\n{sql}");
        let columns: Vec<&str> = rows[0].columns().iter().map(|c| c.name()).collect();
        let wanted = panel["description"]
            .as_str()
            .and_then(|d| d.strip_prefix("Columns: "))
            .unwrap_or_else(|| panic!("{title}: no 'Columns: …' description"));
        for column in wanted.split(", ") {
            assert!(
                columns.contains(&column),
                "{title}: no column {column} in {columns:?}"
            );
        }
    }
    // The research panels count what happened: one research through, one stopped at its gate.
    let outcomes: Vec<(String, Option<f64>, Option<f64>)> = sqlx::query_as(
        "SELECT o.outcome, e.test_accuracy, e.sharpe
         FROM ktrdr.research_outcomes o JOIN ktrdr.research_experiments e USING (research_id)
         ORDER BY o.outcome",
    )
    .fetch_all(&as_reader)
    .await?;
    assert_eq!(outcomes.len(), 2, "{outcomes:?}");
    assert_eq!(outcomes[0].0, "completed");
    assert!(
        outcomes[0].1.is_some() && outcomes[0].2.is_some(),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1].0, "failed_training_gate");
    assert!(
        outcomes[1].1.is_some() && outcomes[1].2.is_none(),
        "{outcomes:?}"
    );
    as_reader.close().await;
    Ok(())
}
