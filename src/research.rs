//! Researches: typed calls of the research SQL (sql/87_research_gates.sql … 89_research_sessions.sql)
//! for the CLI, the worker's design and assessment jobs, and tests. A research is the user's
//! session: a row of `ktrdr.researches` with its `agent_research` operation and its children; the
//! database advances it ([`crate::maintenance::research`]), nothing here decides a transition.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{FromRow, PgPool};

use crate::{Result, operations::Status};

/// What `ktrdr agent trigger` asks for; every field optional (see `ktrdr.trigger_research`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResearchRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub symbol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeframe: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brief: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub bypass_gates: bool,
    /// `{"training": {"accuracy_margin": 0.02}, "backtest": {"min_sharpe": 0}}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate_overrides: Option<Value>,
    /// A given strategy (`--strategy FILE`): the research trains it without designing.
    #[serde(flatten)]
    pub strategy: Option<GivenStrategy>,
    /// Attempts of a design or an assessment before the research fails (default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_phase_attempts: Option<i32>,
    /// Cap on the training's epochs (tests and benchmarks keep trainings tiny).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_epochs: Option<i32>,
}

/// A strategy given to a research instead of designed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GivenStrategy {
    pub strategy_name: String,
    pub strategy_yaml: String,
    pub strategy_file: Option<String>,
    pub fingerprint: Option<String>,
    /// The training child's params (a `training` operation's, with the strategy inside).
    pub training_params: Value,
}

/// One child of a research.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, FromRow)]
pub struct ResearchChild {
    pub operation_id: String,
    pub operation_type: String,
    pub phase: String,
    pub attempt: i32,
    /// None when the child's operation no longer exists.
    pub status: Option<Status>,
    pub error_message: Option<String>,
}

/// A research as `ktrdr agent status` shows it.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Research {
    pub operation_id: String,
    /// As an operation's: running while active, then completed, failed or cancelled.
    pub status: Status,
    /// idle, designing, training, backtesting, assessing, completed, failed, cancelled.
    pub phase: String,
    pub symbol: String,
    pub timeframe: String,
    pub seed: i64,
    pub brief: Option<String>,
    pub bypass_gates: bool,
    pub strategy_name: Option<String>,
    pub strategy_file: Option<String>,
    pub strategy_yaml: Option<String>,
    pub fingerprint: Option<String>,
    pub archetype: Option<String>,
    pub training_gate: Option<Value>,
    pub backtest_gate: Option<Value>,
    pub assessment: Option<Value>,
    pub outcome: Option<String>,
    pub verdict: Option<String>,
    pub error_message: Option<String>,
    /// The last error of a pass over this research, if its latest pass failed.
    pub last_error: Option<String>,
    /// What `resume` continues from: phase, strategy, children, training checkpoint epoch.
    pub checkpoint: Value,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    #[sqlx(skip)]
    pub children: Vec<ResearchChild>,
}

/// One experiment of the research memory (`ktrdr.experiment_history`), best first.
#[derive(Debug, Clone, Serialize, FromRow)]
pub struct Experiment {
    pub rank: i64,
    pub research_id: String,
    pub created_at: DateTime<Utc>,
    pub symbol: String,
    pub timeframe: String,
    pub strategy_name: String,
    pub fingerprint: Option<String>,
    pub archetype: Option<String>,
    pub strategy_yaml: String,
    pub outcome: String,
    pub verdict: Option<String>,
    pub test_accuracy: Option<f64>,
    pub baseline_accuracy: Option<f64>,
    pub best_val_loss: Option<f64>,
    pub sharpe: Option<f64>,
    pub total_return: Option<f64>,
    pub win_rate: Option<f64>,
    pub max_drawdown: Option<f64>,
    pub trades: Option<i64>,
    pub profit_factor: Option<f64>,
    pub score: Option<f64>,
    pub strengths: Value,
    pub weaknesses: Value,
    pub suggestion: Option<String>,
}

/// Starts a research and returns its operation id; its first child is pending on return.
/// Errors: bad input ([`crate::Error::InvalidInput`]); the capacity or the daily budget exhausted
/// ([`crate::Error::Conflict`], with the reason).
pub async fn trigger(pool: &PgPool, request: &ResearchRequest) -> Result<String> {
    let request = serde_json::to_value(request).expect("a request serializes");
    let id = sqlx::query_scalar("SELECT ktrdr.trigger_research($1)")
        .bind(request)
        .fetch_one(pool)
        .await?;
    Ok(id)
}

const COLUMNS: &str = "r.research_id AS operation_id,
    CASE r.status WHEN 'active' THEN 'running' ELSE r.status END AS status, r.phase, r.symbol,
    r.timeframe, r.seed, r.brief, r.bypass_gates, r.strategy_name, r.strategy_file, r.strategy_yaml, r.fingerprint,
    r.archetype, r.training_gate, r.backtest_gate, r.assessment, r.outcome, r.verdict,
    r.error_message, r.last_error, ktrdr.research_checkpoint(r.research_id) AS checkpoint,
    r.created_at, r.completed_at";

/// One research with its children; [`crate::Error::NotFound`] for an unknown id.
pub async fn get(pool: &PgPool, research_id: &str) -> Result<Research> {
    let sql = format!("SELECT {COLUMNS} FROM ktrdr.researches r WHERE r.research_id = $1");
    let mut research: Research = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(research_id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| crate::Error::NotFound(format!("research not found: {research_id}")))?;
    research.children = children(pool, research_id).await?;
    Ok(research)
}

/// Researches, newest first: only the active ones with `active_only`; at most `limit`.
pub async fn list(pool: &PgPool, active_only: bool, limit: i64) -> Result<Vec<Research>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM ktrdr.researches r WHERE (NOT $1 OR r.status = 'active')
         ORDER BY r.created_at DESC, r.research_id DESC LIMIT $2"
    );
    let mut researches: Vec<Research> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(active_only)
        .bind(limit)
        .fetch_all(pool)
        .await?;
    let ids: Vec<&str> = researches.iter().map(|r| r.operation_id.as_str()).collect();
    let mut children = children_of(pool, &ids).await?;
    for research in &mut researches {
        research.children = children.remove(&research.operation_id).unwrap_or_default();
    }
    Ok(researches)
}

/// The children of a research, in the order they were started.
pub async fn children(pool: &PgPool, research_id: &str) -> Result<Vec<ResearchChild>> {
    Ok(children_of(pool, &[research_id])
        .await?
        .remove(research_id)
        .unwrap_or_default())
}

/// The children of several researches in one query, by research id, each in the order started.
async fn children_of(
    pool: &PgPool,
    research_ids: &[&str],
) -> Result<HashMap<String, Vec<ResearchChild>>> {
    #[derive(FromRow)]
    struct Row {
        research_id: String,
        #[sqlx(flatten)]
        child: ResearchChild,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT c.research_id, c.operation_id,
                CASE c.phase WHEN 'designing' THEN 'agent_design' WHEN 'training' THEN 'training'
                             WHEN 'backtesting' THEN 'backtesting' ELSE 'agent_assessment' END
                    AS operation_type,
                c.phase, c.attempt, o.status, o.error_message
         FROM ktrdr.research_children c
         LEFT JOIN ktrdr.operations o ON o.operation_id = c.operation_id
         WHERE c.research_id = ANY($1) ORDER BY c.research_id, c.created_at, c.attempt",
    )
    .bind(research_ids)
    .fetch_all(pool)
    .await?;
    let mut by_research: HashMap<String, Vec<ResearchChild>> = HashMap::new();
    for row in rows {
        by_research
            .entry(row.research_id)
            .or_default()
            .push(row.child);
    }
    Ok(by_research)
}

/// What cancelling a research did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was active: it is cancelled now, with its active children.
    Cancelled,
    /// It had already ended with this status; any child still active was cancelled.
    AlreadyEnded(Status),
}

/// Cancels a research in any state (see `ktrdr.cancel_research`), also one whose operation is
/// gone. Errors: [`crate::Error::NotFound`].
pub async fn cancel(
    pool: &PgPool,
    research_id: &str,
    reason: Option<&str>,
) -> Result<CancelOutcome> {
    let (status, ended_now): (String, bool) =
        sqlx::query_as("SELECT status, ended_now FROM ktrdr.cancel_research($1, $2)")
            .bind(research_id)
            .bind(reason)
            .fetch_one(pool)
            .await?;
    Ok(if ended_now {
        CancelOutcome::Cancelled
    } else {
        CancelOutcome::AlreadyEnded(status.parse()?)
    })
}

/// Continues a failed or cancelled research from its checkpoint (`ktrdr.resume_research`).
pub async fn resume(pool: &PgPool, research_id: &str) -> Result<()> {
    sqlx::query("SELECT ktrdr.resume_research($1)")
        .bind(research_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// The research memory, best first, at most `limit` experiments.
pub async fn history(pool: &PgPool, limit: i64) -> Result<Vec<Experiment>> {
    let rows = sqlx::query_as(
        "SELECT rank, research_id, created_at, symbol, timeframe, strategy_name, fingerprint,
                archetype, strategy_yaml, outcome, verdict, test_accuracy, baseline_accuracy,
                best_val_loss, sharpe, total_return, win_rate, max_drawdown, trades, profit_factor,
                score, strengths, weaknesses, suggestion
         FROM ktrdr.experiment_history LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

/// Every fingerprint tried on `symbol` `timeframe`: its experiments' and the designs of researches
/// other than `except_research` (those not assessed yet included), so that no design repeats one.
pub async fn tried_fingerprints(
    pool: &PgPool,
    symbol: &str,
    timeframe: &str,
    except_research: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT fingerprint FROM ktrdr.experiments
         WHERE symbol = $1 AND timeframe = $2 AND fingerprint IS NOT NULL
         UNION
         SELECT fingerprint FROM ktrdr.researches
         WHERE symbol = $1 AND timeframe = $2 AND fingerprint IS NOT NULL AND research_id <> $3
         ORDER BY 1",
    )
    .bind(symbol)
    .bind(timeframe)
    .bind(except_research)
    .fetch_all(pool)
    .await?)
}
