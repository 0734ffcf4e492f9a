//! The research loop with a real worker running every type: the built-in designer and assessor
//! end to end (and the research memory steering the next design), and an external designer
//! command (`KTRDR_DESIGNER_CMD`) that fails, hangs or prints nonsense — each fails that design
//! with the reason, and the research with it after its last attempt.

mod support;

use std::time::Duration;

use ktrdr::{
    operations::Status,
    research::{self, ResearchRequest},
};
use ktrdr_testkit::TestDatabase;
use support::{
    WorkerProcess,
    research::{count_phase, research_completed, research_ended, trigger},
    spawn_named_worker, store_synthetic_bars,
};

const ALL_TYPES: &str = "training,backtesting,agent_design,agent_assessment";

/// A database with synthetic EURUSD 1h bars and one worker of every type (with its ticker,
/// polling researches every 200 ms) and extra environment `env`.
async fn with_worker(env: &[(&str, &str)]) -> (TestDatabase, WorkerProcess) {
    let test_db = TestDatabase::create().await.unwrap();
    store_synthetic_bars(&test_db.pool, (2023, 1), (2023, 5), 11).await;
    let env: Vec<_> = [("AGENT_POLL_INTERVAL_SECONDS", "0.2")]
        .iter()
        .chain(env)
        .copied()
        .collect();
    let worker = spawn_named_worker(test_db.url(), "all", &["--types", ALL_TYPES], &env);
    support::research::worker_registered(&test_db.pool, "all").await;
    (test_db, worker)
}

/// A tiny research that fails at its first design failure.
fn one_attempt() -> ResearchRequest {
    ResearchRequest {
        max_phase_attempts: Some(1),
        max_epochs: Some(2),
        bypass_gates: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn the_built_in_designer_and_assessor_complete_a_research_and_the_next_design_differs() {
    let (test_db, _worker) = with_worker(&[]).await;
    let pool = &test_db.pool;
    let request = ResearchRequest {
        seed: Some(3),
        max_epochs: Some(2),
        bypass_gates: true,
        ..Default::default()
    };
    let first = research_completed(pool, &trigger(pool, request.clone()).await).await;
    assert!(first.verdict.is_some());
    assert_eq!(first.training_gate.as_ref().unwrap()["gate"], "training");
    for phase in ["designing", "training", "backtesting", "assessing"] {
        assert_eq!(
            count_phase(&first, phase),
            1,
            "{phase}: {:?}",
            first.children
        );
    }
    // The same seed again: the memory holds the first strategy, so the design differs.
    let second = research_completed(pool, &trigger(pool, request).await).await;
    assert_ne!(second.fingerprint, first.fingerprint);
    let history = research::history(pool, 10).await.unwrap();
    assert_eq!(history.len(), 2);
}

/// Runs a research whose designer command is `command` and returns its error message, after
/// checking that the design child failed with the research's reason.
async fn failed_design(command: &str, timeout: &str) -> String {
    let env = [
        ("KTRDR_DESIGNER_CMD", command),
        ("KTRDR_DESIGNER_TIMEOUT_SECONDS", timeout),
    ];
    let (test_db, _worker) = with_worker(&env).await;
    let pool = &test_db.pool;
    let research = research_ended(pool, &trigger(pool, one_attempt()).await).await;
    assert_eq!(research.status, Status::Failed);
    assert_eq!(research.outcome.as_deref(), Some("failed"));
    let design = &research.children[0];
    assert_eq!(
        (design.phase.as_str(), design.status),
        ("designing", Some(Status::Failed))
    );
    let reason = design.error_message.clone().unwrap();
    let message = research.error_message.unwrap();
    assert_eq!(message, format!("design failed (attempt 1): {reason}"));
    message
}

#[tokio::test]
async fn a_designer_command_that_fails_fails_the_design_with_its_exit_status_and_stderr() {
    let message = failed_design("echo 'no model available' >&2; exit 3", "10").await;
    assert!(
        message.contains("designer command exited with status 3")
            && message.contains("no model available"),
        "{message}"
    );
}

#[tokio::test]
async fn a_designer_command_that_hangs_is_killed_after_its_timeout() {
    let started = std::time::Instant::now();
    let message = failed_design("sleep 600", "1").await;
    assert!(
        message.contains("designer command timed out after 1 s"),
        "{message}"
    );
    assert!(started.elapsed() < Duration::from_secs(120));
}

#[tokio::test]
async fn a_designer_command_that_prints_nonsense_fails_with_the_validator_errors() {
    let message = failed_design("echo 'this is not a strategy'", "10").await;
    assert!(
        message.contains("designer command printed an invalid strategy"),
        "{message}"
    );
}
