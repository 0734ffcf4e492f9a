//! What the research scenarios share: strategy files for a designer command to print, given
//! strategies, researches triggered through the library, and waiting for a research to get
//! somewhere.

use std::{path::PathBuf, time::Duration};

use ktrdr::{
    operations::Status,
    research::{self, GivenStrategy, Research, ResearchRequest},
};
use ktrdr_testkit::wait_for;
use ktrdr_trading::kinds::TrainingParams;
use sqlx::PgPool;

use super::example_strategy;

/// The types of an agent worker.
pub const AGENT_TYPES: &str = "agent_design,agent_assessment";
/// The types of a training worker.
pub const TRAINING_TYPES: &str = "training,backtesting";

/// A directory of this test's own for strategy files and scripts, removed with the value.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "ktrdr-research-{name}-{}-{:x}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// Writes `content` to `name` in the directory and returns its path as text.
    pub fn file(&self, name: &str, content: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        path.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// The example strategy's YAML renamed `name`, with `epochs` epochs (and no early stop before
/// them) and training seed `seed`: a strategy a designer command can print, whose fingerprint
/// differs from the example's and from other seeds'.
pub fn strategy_yaml(name: &str, epochs: usize, seed: u64) -> String {
    let path = format!(
        "{}/../strategies/rsi_macd_trend.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .replace("name: rsi_macd_trend", &format!("name: {name}"))
        .replace("epochs: 50", &format!("epochs: {epochs}"))
        .replace("patience: 8", &format!("patience: {epochs}"))
        .replace("seed: 42", &format!("seed: {seed}"))
}

/// The example strategy with `epochs` epochs, given to a research (no design).
pub fn given_strategy(epochs: usize) -> GivenStrategy {
    let mut strategy = example_strategy("rsi_macd_trend.yaml", epochs);
    strategy.training.early_stopping.patience = epochs;
    GivenStrategy {
        strategy_name: strategy.name.clone(),
        strategy_yaml: strategy_yaml(&strategy.name, epochs, 42),
        strategy_file: None,
        fingerprint: Some(ktrdr_trading::research::fingerprint(&strategy)),
        training_params: serde_json::to_value(TrainingParams::new(strategy)).unwrap(),
    }
}

pub async fn trigger(pool: &PgPool, request: ResearchRequest) -> String {
    research::trigger(pool, &request).await.unwrap()
}

/// Waits, at most `limit`, until `condition` holds for the research.
pub async fn wait_for_research(
    pool: &PgPool,
    id: &str,
    what: &str,
    limit: Duration,
    condition: impl Fn(&Research) -> bool,
) -> Research {
    wait_for(&format!("research {id}: {what}"), limit, || async {
        research::get(pool, id).await.ok().filter(|r| condition(r))
    })
    .await
}

/// Waits, at most two minutes, until the research has ended.
pub async fn research_ended(pool: &PgPool, id: &str) -> Research {
    wait_for_research(pool, id, "to end", Duration::from_secs(120), |r| {
        r.status.is_terminal()
    })
    .await
}

/// Waits until the research ended and asserts it completed.
pub async fn research_completed(pool: &PgPool, id: &str) -> Research {
    let research = research_ended(pool, id).await;
    assert_eq!(
        research.status,
        Status::Completed,
        "{id}: {:?} {:?}",
        research.error_message,
        research.children
    );
    research
}

/// How many children of `phase` the research has.
pub fn count_phase(research: &Research, phase: &str) -> usize {
    research
        .children
        .iter()
        .filter(|c| c.phase == phase)
        .count()
}

/// Waits until the registry shows `worker_id` live.
pub async fn worker_registered(pool: &PgPool, worker_id: &str) {
    wait_for(&format!("{worker_id} to register"), Duration::from_secs(60), || async {
        let live: Option<bool> = sqlx::query_scalar(
            "SELECT lease_expires_at > now() FROM ktrdr.workers WHERE worker_id = $1 AND status = 'active'",
        )
        .bind(worker_id)
        .fetch_optional(pool)
        .await
        .unwrap();
        live.filter(|live| *live).map(drop)
    })
    .await
}
