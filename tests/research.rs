//! The research loop in the database, one pass at a time: `ktrdr.trigger_research`, the research
//! service's pass (`advance_researches`, called directly), the gates, the sessions (cancel, an
//! operation that disappeared, resume) and the refusals. Children are claimed and reported here
//! with the ordinary lease API, standing in for workers, with results shaped as the trading
//! kinds' (the worker's real jobs are exercised in worker/tests/research_*.rs).

use std::time::Duration;

use ktrdr::{
    maintenance::{OrphanDetector, OrphanDetectorConfig, ResearchAdvancer, ResearchAdvancerConfig},
    operations::{self, Outcome, Status},
    research::{self, CancelOutcome, ResearchRequest},
};
use ktrdr_testkit::{TestDatabase, claim_next, listening, next_wakeup, wait_for};
use serde_json::{Value, json};
use sqlx::PgPool;

const ORPHAN_MESSAGE: &str = "Operation was RUNNING but no worker claimed it";

/// A database with one bar of EURUSD 1h (a research needs a series to research) and a live
/// training and backtesting worker, so that the capacity is 3.
async fn database() -> TestDatabase {
    let db = TestDatabase::create().await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO ktrdr.bars VALUES ('EURUSD', '1h', '2024-01-01', 1, 1, 1, 1, 0);
         INSERT INTO ktrdr.workers (worker_id, types, host, pid, version, lease_expires_at)
         VALUES ('trainer', '{training,backtesting}', 'h', 1, 'v', now() + interval '1 hour');",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    db
}

async fn advance(pool: &PgPool) -> ktrdr::maintenance::ResearchReport {
    ResearchAdvancer::new(ResearchAdvancerConfig::default())
        .unwrap()
        .run_once(pool, None)
        .await
        .unwrap()
}

async fn trigger(pool: &PgPool, request: ResearchRequest) -> String {
    research::trigger(pool, &request).await.unwrap()
}

/// Claims the pending child of `operation_type` and reports `outcome` for it; returns its id.
async fn finish_child(pool: &PgPool, operation_type: &str, outcome: Outcome) -> String {
    let claimed = claim_next(pool, "w", operation_type)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no pending {operation_type} to claim"));
    claimed.lease.report(pool, &outcome).await.unwrap();
    claimed.lease.operation_id
}

async fn complete_child(pool: &PgPool, operation_type: &str, result: Value) -> String {
    finish_child(pool, operation_type, Outcome::Completed(result)).await
}

fn design_result() -> Value {
    json!({
        "design": {"strategy_name": "s1", "strategy_yaml": "name: s1", "fingerprint": "f1",
                   "archetype": "momentum", "rationale": "because"},
        "training_params": {"strategy": {"name": "s1"}, "symbol": "EURUSD", "timeframe": "1h"},
    })
}

/// A training result: `accuracy` on a test split whose majority class is 50 of 100 rows, and a
/// validation loss going from 1.09 to `best_loss`.
fn training_result(accuracy: f64, best_loss: f64) -> Value {
    json!({
        "test_accuracy": accuracy,
        "confusion_matrix": [[10, 5, 5], [10, 30, 10], [5, 5, 20]],
        "history": [{"epoch": 1, "train_loss": 1.1, "val_loss": 1.09, "val_accuracy": 0.4},
                    {"epoch": 2, "train_loss": 1.0, "val_loss": best_loss, "val_accuracy": 0.5}],
    })
}

fn backtest_result(win_rate: f64, max_drawdown: f64, sharpe: f64) -> Value {
    json!({"metrics": {"win_rate": win_rate, "max_drawdown": max_drawdown, "sharpe": sharpe,
                       "trades": 30, "total_return": 0.1, "profit_factor": 1.3}})
}

fn assessment() -> Value {
    json!({"verdict": "strong", "strengths": ["edge"], "weaknesses": [],
           "suggestion": "keep: more of the same", "score": 1.5})
}

async fn research_row(pool: &PgPool, id: &str) -> research::Research {
    research::get(pool, id).await.unwrap()
}

/// (phase, attempt, status) of every child.
async fn children(pool: &PgPool, id: &str) -> Vec<(String, i32, Option<Status>)> {
    research::children(pool, id)
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.phase, c.attempt, c.status))
        .collect()
}

/// Drives a triggered research through design and training (passing), up to its backtest.
async fn up_to_backtest(pool: &PgPool, id: &str) {
    complete_child(pool, "agent_design", design_result()).await;
    advance(pool).await;
    complete_child(pool, "training", training_result(0.6, 1.0)).await;
    advance(pool).await;
    assert_eq!(research_row(pool, id).await.phase, "backtesting");
}

#[tokio::test]
async fn a_research_runs_its_phases_with_one_child_each_and_records_the_experiment() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(
        pool,
        ResearchRequest {
            seed: Some(7),
            ..Default::default()
        },
    )
    .await;
    // The design is pending as soon as the trigger returns, with the research's seed and cycle 0.
    let design = operations::children(pool, &id).await.unwrap();
    assert_eq!(design.len(), 1);
    assert_eq!(design[0].operation_type, "agent_design");
    assert_eq!(
        design[0].params.to_string(),
        json!({"research_id": id, "symbol": "EURUSD",
        "timeframe": "1h", "seed": 7, "cycle": 0})
        .to_string()
    );
    assert_eq!(research_row(pool, &id).await.phase, "designing");

    complete_child(pool, "agent_design", design_result()).await;
    advance(pool).await;
    let training = operations::children(pool, &id).await.unwrap().remove(1);
    assert_eq!(training.operation_type, "training");
    assert_eq!(
        training.params.to_string(),
        design_result()["training_params"].to_string()
    );

    complete_child(pool, "training", training_result(0.6, 1.0)).await;
    advance(pool).await;
    let backtest = operations::children(pool, &id).await.unwrap().remove(2);
    assert_eq!(backtest.operation_type, "backtesting");
    let params: Value = serde_json::from_str(&backtest.params.to_string()).unwrap();
    assert_eq!(params["model"], json!(training.operation_id));

    complete_child(pool, "backtesting", backtest_result(0.55, 0.1, 1.2)).await;
    advance(pool).await;
    complete_child(pool, "agent_assessment", assessment()).await;
    let report = advance(pool).await;
    assert_eq!(report.advanced, 1, "{report:?}");

    let research = research_row(pool, &id).await;
    assert_eq!(research.status, Status::Completed);
    assert_eq!(
        (research.phase.as_str(), research.outcome.as_deref()),
        ("completed", Some("completed"))
    );
    assert_eq!(research.verdict.as_deref(), Some("strong"));
    assert_eq!(research.training_gate.unwrap()["passed"], json!(true));
    let phases: Vec<_> = children(pool, &id)
        .await
        .into_iter()
        .map(|(p, a, _)| (p, a))
        .collect();
    let one_each: Vec<_> = ["designing", "training", "backtesting", "assessing"]
        .map(|p| (p.to_string(), 1))
        .to_vec();
    assert_eq!(phases, one_each);
    assert_eq!(
        operations::get(pool, &id).await.unwrap().status,
        Status::Completed
    );
    let history = research::history(pool, 10).await.unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].strategy_name.as_str(), history[0].score),
        ("s1", Some(1.5))
    );
    assert_eq!(history[0].baseline_accuracy, Some(0.5));
    // Nothing is left to do, and another pass changes nothing.
    assert_eq!(advance(pool).await.active, 0);
}

#[tokio::test]
async fn every_fingerprint_tried_on_the_series_is_known_to_the_next_design() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(pool, ResearchRequest::default()).await;
    advance(pool).await;
    complete_child(pool, "agent_design", design_result()).await;
    advance(pool).await;
    // Experiments ranked anywhere, on this series or another.
    sqlx::raw_sql(
        "INSERT INTO ktrdr.experiments (research_id, symbol, timeframe, strategy_name, fingerprint,
                                        strategy_yaml, outcome, score)
         SELECT 'op_research_old_' || n, 'EURUSD', '1h', 's', 'old' || n, 'name: s', 'completed', n
         FROM generate_series(1, 60) n;
         INSERT INTO ktrdr.experiments (research_id, symbol, timeframe, strategy_name, fingerprint,
                                        strategy_yaml, outcome)
         VALUES ('op_research_4h', 'EURUSD', '4h', 's', 'other', 'name: s', 'completed');",
    )
    .execute(pool)
    .await
    .unwrap();
    let tried = research::tried_fingerprints(pool, "EURUSD", "1h", "op_research_next")
        .await
        .unwrap();
    assert_eq!(tried.len(), 61, "{tried:?}");
    assert!(
        tried.contains(&"f1".to_string()),
        "the design in flight: {tried:?}"
    );
    assert!(
        tried.contains(&"old1".to_string()),
        "ranked 60th: {tried:?}"
    );
    assert!(!tried.contains(&"other".to_string()));
    // A research's own design is not a repeat of itself (a design attempt that is replaced).
    let own = research::tried_fingerprints(pool, "EURUSD", "1h", &id)
        .await
        .unwrap();
    assert!(!own.contains(&"f1".to_string()), "{own:?}");
}

#[tokio::test]
async fn the_training_gate_fails_below_the_majority_baseline_with_the_numbers() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(pool, ResearchRequest::default()).await;
    complete_child(pool, "agent_design", design_result()).await;
    advance(pool).await;
    // 0.45 is below the test split's majority class (0.5); the loss fell enough.
    complete_child(pool, "training", training_result(0.45, 1.0)).await;
    advance(pool).await;
    let research = research_row(pool, &id).await;
    assert_eq!(research.status, Status::Failed);
    assert_eq!(research.outcome.as_deref(), Some("failed_training_gate"));
    assert_eq!(
        research.error_message.as_deref(),
        Some("training gate failed: accuracy 0.4500 (needs > 0.5000)")
    );
    assert_eq!(
        children(pool, &id).await.len(),
        2,
        "no backtest after a failed gate"
    );
    let op = operations::get(pool, &id).await.unwrap();
    assert_eq!(op.status, Status::Failed);
    // The failed experiment is remembered too, so no design repeats it.
    assert_eq!(
        research::history(pool, 10).await.unwrap()[0].outcome,
        "failed_training_gate"
    );
}

#[tokio::test]
async fn a_loss_that_did_not_fall_fails_the_training_gate() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(pool, ResearchRequest::default()).await;
    complete_child(pool, "agent_design", design_result()).await;
    advance(pool).await;
    complete_child(pool, "training", training_result(0.6, 1.089)).await;
    advance(pool).await;
    let message = research_row(pool, &id).await.error_message.unwrap();
    assert_eq!(
        message,
        "training gate failed: loss_decrease 0.0009 (needs >= 0.0050)"
    );
}

#[tokio::test]
async fn the_backtest_gate_fails_on_the_win_rate_drawdown_and_sharpe_that_miss() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(pool, ResearchRequest::default()).await;
    up_to_backtest(pool, &id).await;
    complete_child(pool, "backtesting", backtest_result(0.30, 0.5, -1.0)).await;
    advance(pool).await;
    let research = research_row(pool, &id).await;
    assert_eq!(research.outcome.as_deref(), Some("failed_backtest_gate"));
    assert_eq!(
        research.error_message.as_deref(),
        Some(
            "backtest gate failed: win_rate 0.3000 (needs >= 0.4500); max_drawdown 0.5000 (needs <= 0.4000); sharpe -1.0000 (needs >= -0.5000)"
        )
    );
}

#[tokio::test]
async fn thresholds_are_overridden_per_research_and_gates_can_be_bypassed() {
    let db = database().await;
    let pool = &db.pool;
    let lenient = trigger(
        pool,
        ResearchRequest {
            gate_overrides: Some(json!({"backtest": {"min_win_rate": 0.25}})),
            ..Default::default()
        },
    )
    .await;
    up_to_backtest(pool, &lenient).await;
    complete_child(pool, "backtesting", backtest_result(0.30, 0.1, 0.5)).await;
    advance(pool).await;
    let research = research_row(pool, &lenient).await;
    assert_eq!(research.phase, "assessing");
    assert_eq!(
        research.backtest_gate.unwrap()["checks"][0]["threshold"],
        json!(0.25)
    );

    let bypassing = trigger(
        pool,
        ResearchRequest {
            bypass_gates: true,
            ..Default::default()
        },
    )
    .await;
    complete_child(pool, "agent_design", design_result()).await;
    advance(pool).await;
    complete_child(pool, "training", training_result(0.1, 1.5)).await;
    advance(pool).await;
    let research = research_row(pool, &bypassing).await;
    assert_eq!(
        research.phase, "backtesting",
        "a bypassed gate records but does not stop"
    );
    let gate = research.training_gate.unwrap();
    assert_eq!(
        (gate["passed"].clone(), gate["bypassed"].clone()),
        (json!(false), json!(true))
    );
}

#[tokio::test]
async fn overrides_naming_no_threshold_are_refused_with_the_known_ones() {
    let db = database().await;
    let request = ResearchRequest {
        gate_overrides: Some(json!({"training": {"accuracy": 0.1}})),
        ..Default::default()
    };
    let err = research::trigger(&db.pool, &request).await.unwrap_err();
    assert!(matches!(err, ktrdr::Error::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().starts_with(
        "gate overrides: the training gate has no threshold \"accuracy\" (known: accuracy_margin, max_loss_ratio, min_loss_decrease)"
    ), "{err}");
}

#[tokio::test]
async fn a_listed_research_carries_its_own_children_and_no_others() {
    let db = database().await;
    let pool = &db.pool;
    let first = trigger(pool, ResearchRequest::default()).await;
    // The first research designs and moves on to training: two children; the second has one.
    complete_child(pool, "agent_design", design_result()).await;
    advance(pool).await;
    let second = trigger(pool, ResearchRequest::default()).await;

    let listed = research::list(pool, true, 10).await.unwrap();
    assert_eq!(listed.len(), 2);
    for r in &listed {
        let alone = research::get(pool, &r.operation_id).await.unwrap();
        let ids = |children: &[research::ResearchChild]| {
            children
                .iter()
                .map(|c| (c.operation_id.clone(), c.phase.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&r.children), ids(&alone.children), "{}", r.operation_id);
    }
    let phases = |id: &str| -> Vec<String> {
        let r = listed.iter().find(|r| r.operation_id == id).unwrap();
        r.children.iter().map(|c| c.phase.clone()).collect()
    };
    assert_eq!(phases(&first), ["designing", "training"]);
    assert_eq!(phases(&second), ["designing"]);
}

#[tokio::test]
async fn the_capacity_is_training_plus_backtesting_workers_plus_one() {
    let db = database().await;
    let pool = &db.pool;
    // One worker running both types: 1 + 1 + 1.
    for _ in 0..3 {
        trigger(pool, ResearchRequest::default()).await;
    }
    let err = research::trigger(pool, &ResearchRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ktrdr::Error::Conflict(_)), "{err:?}");
    assert!(err.to_string().starts_with(
        "capacity exhausted: 3 active researches, at most 3 (1 training workers + 1 backtesting workers + 1)"
    ), "{err}");
    // A worker that stopped heartbeating does not count.
    sqlx::query("UPDATE ktrdr.workers SET lease_expires_at = now() - interval '1 s'")
        .execute(pool)
        .await
        .unwrap();
    let err = research::trigger(pool, &ResearchRequest::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("at most 1 (0 training workers"),
        "{err}"
    );
}

#[tokio::test]
async fn the_daily_budget_refuses_the_trigger_over_it() {
    let db = database().await;
    let pool = &db.pool;
    sqlx::query("UPDATE ktrdr.research_limits SET daily_budget = 2")
        .execute(pool)
        .await
        .unwrap();
    let first = trigger(pool, ResearchRequest::default()).await;
    trigger(pool, ResearchRequest::default()).await;
    // Ended researches still spent the budget.
    research::cancel(pool, &first, None).await.unwrap();
    let err = research::trigger(pool, &ResearchRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(err, ktrdr::Error::Conflict(_)), "{err:?}");
    assert!(
        err.to_string().starts_with(
            "daily budget exhausted: 2 researches triggered today (UTC), the budget is 2"
        ),
        "{err}"
    );
}

#[tokio::test]
async fn a_research_without_market_data_is_refused() {
    let db = TestDatabase::create().await.unwrap();
    let err = research::trigger(&db.pool, &ResearchRequest::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string().starts_with(
            "no market data to research: import or synthesize bars first (ktrdr data import|synth)"
        ),
        "{err}"
    );
    let err = research::trigger(
        &db.pool,
        &ResearchRequest {
            symbol: Some("GBPUSD".into()),
            timeframe: Some("1h".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no market data to research for GBPUSD 1h"),
        "{err}"
    );
}

/// Claims the pending child of `operation_type` with a 0.2 s lease and lets the lease lapse: its
/// worker is gone. The orphan detector then settles it.
async fn orphan(pool: &PgPool, operation_type: &str) -> String {
    let claimed = operations::claim(pool, "gone", &[operation_type.into()], 1, 0.2)
        .await
        .unwrap()
        .remove(0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let detector = OrphanDetector::new("t", OrphanDetectorConfig::default()).unwrap();
    let report = detector.run_once(pool, None).await.unwrap();
    assert_eq!(report.orphans_failed, 1, "{report:?}");
    claimed.lease.operation_id
}

#[tokio::test]
async fn an_orphaned_design_is_replaced_and_the_last_attempt_fails_the_research() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(
        pool,
        ResearchRequest {
            max_phase_attempts: Some(2),
            ..Default::default()
        },
    )
    .await;
    let first = orphan(pool, "agent_design").await;
    assert_eq!(
        operations::get(pool, &first)
            .await
            .unwrap()
            .error_message
            .as_deref(),
        Some(ORPHAN_MESSAGE)
    );
    advance(pool).await;
    assert_eq!(
        children(pool, &id).await,
        vec![
            ("designing".into(), 1, Some(Status::Failed)),
            ("designing".into(), 2, Some(Status::Pending))
        ]
    );
    orphan(pool, "agent_design").await;
    advance(pool).await;
    let research = research_row(pool, &id).await;
    assert_eq!(research.status, Status::Failed);
    assert_eq!(
        research.error_message.as_deref(),
        Some("Backend restarted - no checkpoint available")
    );
    assert_eq!(children(pool, &id).await.len(), 2);
}

#[tokio::test]
async fn an_interrupted_assessment_fails_with_a_checkpoint_and_resumes_without_designing_again() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(
        pool,
        ResearchRequest {
            max_phase_attempts: Some(1),
            ..Default::default()
        },
    )
    .await;
    up_to_backtest(pool, &id).await;
    complete_child(pool, "backtesting", backtest_result(0.55, 0.1, 1.2)).await;
    advance(pool).await;
    orphan(pool, "agent_assessment").await;
    advance(pool).await;
    let research = research_row(pool, &id).await;
    assert_eq!(research.status, Status::Failed);
    assert_eq!(
        research.error_message.as_deref(),
        Some("Backend restarted - checkpoint available for resume")
    );
    assert_eq!(research.checkpoint["phase"], json!("assessing"));
    assert_eq!(research.checkpoint["strategy_name"], json!("s1"));
    assert_eq!(research.checkpoint["children"].as_array().unwrap().len(), 4);

    // `ktrdr resume` goes through resume_operation, which hands a research to resume_research.
    operations::resume(pool, &id).await.unwrap();
    assert_eq!(
        operations::get(pool, &id).await.unwrap().status,
        Status::Running
    );
    complete_child(pool, "agent_assessment", assessment()).await;
    advance(pool).await;
    assert_eq!(research_row(pool, &id).await.status, Status::Completed);
    let designs = children(pool, &id)
        .await
        .into_iter()
        .filter(|(p, ..)| p == "designing")
        .count();
    assert_eq!(designs, 1, "no second design");
    let assessments: Vec<_> = children(pool, &id)
        .await
        .into_iter()
        .filter(|(p, ..)| p == "assessing")
        .collect();
    assert_eq!(assessments.len(), 2);
}

#[tokio::test]
async fn a_research_interrupted_while_designing_with_its_strategy_resumes_at_training() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(pool, ResearchRequest::default()).await;
    complete_child(pool, "agent_design", design_result()).await;
    // Cancelled before any pass saw the design's result: stopped in designing, strategy unknown yet.
    research::cancel(pool, &id, None).await.unwrap();
    let research = research_row(pool, &id).await;
    assert_eq!(
        (research.status, research.checkpoint["phase"].clone()),
        (Status::Cancelled, json!("designing"))
    );
    research::resume(pool, &id).await.unwrap();
    // The completed design is read, not repeated.
    assert_eq!(research_row(pool, &id).await.phase, "training");
    let designs = children(pool, &id)
        .await
        .into_iter()
        .filter(|(p, ..)| p == "designing")
        .count();
    assert_eq!(designs, 1);
}

#[tokio::test]
async fn a_research_whose_operation_disappeared_fails_as_an_orphan_session() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(pool, ResearchRequest::default()).await;
    let design = operations::children(pool, &id)
        .await
        .unwrap()
        .remove(0)
        .operation_id;
    sqlx::query("DELETE FROM ktrdr.operations WHERE operation_id = $1")
        .bind(&id)
        .execute(pool)
        .await
        .unwrap();
    let report = advance(pool).await;
    assert_eq!(report.steps, vec![format!("{id}: FAILED_ORPHAN")]);
    let research = research_row(pool, &id).await;
    assert_eq!(research.status, Status::Failed);
    assert_eq!(research.outcome.as_deref(), Some("FAILED_ORPHAN"));
    assert_eq!(
        research.error_message.as_deref(),
        Some("Operation disappeared")
    );
    // Its active child was cancelled with it.
    assert_eq!(
        operations::get(pool, &design).await.unwrap().status,
        Status::Cancelled
    );
    let err = research::resume(pool, &id).await.unwrap_err();
    assert!(
        err.to_string().contains("its operation disappeared"),
        "{err}"
    );
}

#[tokio::test]
async fn cancel_ends_a_session_in_any_state() {
    let db = database().await;
    let pool = &db.pool;
    // Active, with a running child: the child is asked to stop.
    let active = trigger(pool, ResearchRequest::default()).await;
    let design = claim_next(pool, "w", "agent_design")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        research::cancel(pool, &active, Some("enough"))
            .await
            .unwrap(),
        CancelOutcome::Cancelled
    );
    let research = research_row(pool, &active).await;
    assert_eq!(
        (research.status, research.error_message.as_deref()),
        (Status::Cancelled, Some("enough"))
    );
    let child = operations::get(pool, &design.lease.operation_id)
        .await
        .unwrap();
    assert!(child.cancel_requested_at.is_some());
    assert_eq!(
        operations::get(pool, &active).await.unwrap().status,
        Status::Cancelled
    );

    // One whose operation is gone.
    let gone = trigger(pool, ResearchRequest::default()).await;
    sqlx::query("DELETE FROM ktrdr.operations WHERE operation_id = $1")
        .bind(&gone)
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(
        research::cancel(pool, &gone, None).await.unwrap(),
        CancelOutcome::Cancelled
    );
    assert_eq!(research_row(pool, &gone).await.status, Status::Cancelled);

    // One that already ended keeps its status.
    let done = trigger(pool, ResearchRequest::default()).await;
    sqlx::query("DELETE FROM ktrdr.operations WHERE operation_id = $1")
        .bind(&done)
        .execute(pool)
        .await
        .unwrap();
    advance(pool).await;
    assert_eq!(
        research::cancel(pool, &done, None).await.unwrap(),
        CancelOutcome::AlreadyEnded(Status::Failed)
    );
    assert_eq!(
        research_row(pool, &done).await.outcome.as_deref(),
        Some("FAILED_ORPHAN")
    );

    let err = research::cancel(pool, "op_agent_research_nope", None)
        .await
        .unwrap_err();
    assert!(matches!(err, ktrdr::Error::NotFound(_)), "{err:?}");
}

#[tokio::test]
async fn ops_cancel_of_a_research_cascades_to_its_children_on_the_next_pass() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(pool, ResearchRequest::default()).await;
    let design = claim_next(pool, "w", "agent_design")
        .await
        .unwrap()
        .unwrap();
    let (mut wakeups, listener) = listening(pool, &[ktrdr::notify::RESEARCH]).await;
    operations::request_cancel(pool, &id, Some("from ops"))
        .await
        .unwrap();
    // The ticker's research service is woken at once…
    assert_eq!(
        next_wakeup(&mut wakeups).await,
        Some(ktrdr::notify::Wakeup::Research(id.clone()))
    );
    listener.abort();
    // …and its pass cancels the research and its children.
    advance(pool).await;
    let research = research_row(pool, &id).await;
    assert_eq!(
        (research.status, research.error_message.as_deref()),
        (Status::Cancelled, Some("from ops"))
    );
    let child = operations::get(pool, &design.lease.operation_id)
        .await
        .unwrap();
    assert!(child.cancel_requested_at.is_some());
}

#[tokio::test]
async fn a_child_that_ends_wakes_the_research_service() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(pool, ResearchRequest::default()).await;
    let (mut wakeups, listener) = listening(pool, &[ktrdr::notify::RESEARCH]).await;
    complete_child(pool, "agent_design", design_result()).await;
    assert_eq!(
        next_wakeup(&mut wakeups).await,
        Some(ktrdr::notify::Wakeup::Research(id))
    );
    listener.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_passes_never_create_a_child_twice() {
    let db = database().await;
    let pool = &db.pool;
    let ids = [
        trigger(pool, ResearchRequest::default()).await,
        trigger(pool, ResearchRequest::default()).await,
    ];
    for _ in &ids {
        complete_child(pool, "agent_design", design_result()).await;
    }
    // Eight passes at once, each on a connection of its own.
    let passes: Vec<_> = (0..8)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { advance(&pool).await })
        })
        .collect();
    for pass in passes {
        pass.await.unwrap();
    }
    for id in &ids {
        let trainings = children(pool, id)
            .await
            .into_iter()
            .filter(|(p, ..)| p == "training")
            .count();
        assert_eq!(trainings, 1, "{id}");
    }
    // And the constraint itself refuses a second child of a (research, phase, attempt).
    let err = sqlx::query(
        "INSERT INTO ktrdr.research_children (research_id, phase, attempt, operation_id)
         VALUES ($1, 'training', 1, 'op_x')",
    )
    .bind(&ids[0])
    .execute(pool)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("research_children_pkey"), "{err}");
}

#[tokio::test]
async fn the_ticker_advances_researches_by_itself() {
    let db = database().await;
    let pool = &db.pool;
    let id = trigger(pool, ResearchRequest::default()).await;
    let ticker =
        ktrdr::ticker::Ticker::new(pool.clone(), "t", &ktrdr_testkit::fast_ticker_settings())
            .unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(ticker.run(shutdown));
    complete_child(pool, "agent_design", design_result()).await;
    wait_for(
        "the ticker to start the training",
        Duration::from_secs(10),
        || async { (research_row(pool, &id).await.phase == "training").then_some(()) },
    )
    .await;
    stop.send(true).unwrap();
    task.await.unwrap();
}
