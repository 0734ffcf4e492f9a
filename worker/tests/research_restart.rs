//! Restart recovery of the research loop with real processes: two researches — A training on a
//! training worker, B designing on the agent worker (its designer command sleeps) — then the
//! agent worker, which runs the only ticker, is killed with SIGKILL and a new one started. A's
//! training goes on with its first attempt; B's orphaned design is replaced by a new attempt; both
//! complete, each with exactly one training and one backtest child.

mod support;

use std::time::Duration;

use ktrdr::{
    operations::{self, Status},
    research::ResearchRequest,
};
use ktrdr_testkit::TestDatabase;
use support::{
    e2e::{ORPHAN_MESSAGE, SHORT_TIMEOUTS},
    research::{
        AGENT_TYPES, Scratch, TRAINING_TYPES, count_phase, given_strategy, research_completed,
        strategy_yaml, trigger, wait_for_research, worker_registered,
    },
    spawn_named_worker, store_synthetic_bars, wait_for_op_within,
};

fn env_with<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    SHORT_TIMEOUTS.iter().chain(extra).copied().collect()
}

#[tokio::test]
async fn every_research_goes_on_after_the_agent_worker_and_every_ticker_are_killed() {
    let test_db = TestDatabase::create().await.unwrap();
    let pool = &test_db.pool;
    let url = test_db.url();
    store_synthetic_bars(pool, (2023, 1), (2023, 7), 5).await;
    let scratch = Scratch::new("restart");
    let b_strategy = scratch.file("b.yaml", &strategy_yaml("restart_b", 3, 7));
    let slow_designer = format!("sleep 30; cat {b_strategy}");
    let fast_designer = format!("cat {b_strategy}");

    // The training worker runs no ticker: killing the agent worker kills every ticker.
    let _trainer = spawn_named_worker(
        url,
        "trainer",
        &["--types", TRAINING_TYPES, "--no-ticker"],
        SHORT_TIMEOUTS,
    );
    let agent = spawn_named_worker(
        url,
        "agent-1",
        &["--types", AGENT_TYPES],
        &env_with(&[("KTRDR_DESIGNER_CMD", &slow_designer)]),
    );
    worker_registered(pool, "trainer").await;

    let a = trigger(
        pool,
        ResearchRequest {
            strategy: Some(given_strategy(40)),
            bypass_gates: true,
            ..Default::default()
        },
    )
    .await;
    let b = trigger(
        pool,
        ResearchRequest {
            bypass_gates: true,
            ..Default::default()
        },
    )
    .await;

    let a_training = wait_for_research(pool, &a, "training", Duration::from_secs(60), |r| {
        r.children
            .iter()
            .any(|c| c.phase == "training" && c.status == Some(Status::Running))
    })
    .await
    .children
    .remove(0)
    .operation_id;
    wait_for_op_within(
        pool,
        &a_training,
        "training on trainer",
        Duration::from_secs(60),
        |op| op.worker_id.as_deref() == Some("trainer") && op.progress_percent > 0.0,
    )
    .await;
    let b_design = wait_for_research(
        pool,
        &b,
        "designing on agent-1",
        Duration::from_secs(60),
        |r| {
            r.children
                .iter()
                .any(|c| c.phase == "designing" && c.status == Some(Status::Running))
        },
    )
    .await
    .children
    .remove(0)
    .operation_id;

    agent.signal(libc::SIGKILL);
    let _agent = spawn_named_worker(
        url,
        "agent-2",
        &["--types", AGENT_TYPES],
        &env_with(&[("KTRDR_DESIGNER_CMD", &fast_designer)]),
    );

    let a_done = research_completed(pool, &a).await;
    let b_done = research_completed(pool, &b).await;

    // A's training went on untouched: one claim, by the training worker, attempt 1.
    let training = operations::get(pool, &a_training).await.unwrap();
    assert_eq!((training.status, training.attempt), (Status::Completed, 1));
    let claims = operations::events(pool, &a_training).await.unwrap();
    assert_eq!(
        claims
            .iter()
            .filter(|e| e.to_status == Status::Running)
            .count(),
        1
    );

    // B's first design was orphaned and replaced by a second attempt on the new agent worker.
    let orphaned = operations::get(pool, &b_design).await.unwrap();
    assert_eq!(orphaned.error_message.as_deref(), Some(ORPHAN_MESSAGE));
    let designs: Vec<_> = b_done
        .children
        .iter()
        .filter(|c| c.phase == "designing")
        .collect();
    assert_eq!(designs.len(), 2, "{:?}", b_done.children);
    assert_eq!(
        (designs[1].attempt, designs[1].status),
        (2, Some(Status::Completed))
    );
    let redesign = operations::get(pool, &designs[1].operation_id)
        .await
        .unwrap();
    assert_eq!(redesign.worker_id.as_deref(), Some("agent-2"));

    for research in [&a_done, &b_done] {
        assert_eq!(
            count_phase(research, "training"),
            1,
            "{:?}",
            research.children
        );
        assert_eq!(
            count_phase(research, "backtesting"),
            1,
            "{:?}",
            research.children
        );
        assert_eq!(
            count_phase(research, "assessing"),
            1,
            "{:?}",
            research.children
        );
    }
    assert_eq!(
        count_phase(&a_done, "designing"),
        0,
        "A's strategy was given"
    );
}
