//! The chaos run's verdicts, read from the database once the fleet settled and stopped: what the
//! queue's contract promises whatever happened to the processes and the server.
//!
//! - **all terminal**: no operation is left pending, running or in reconciliation.
//! - **nothing lost**: every submission the database acknowledged is still there (the cluster runs
//!   with `synchronous_commit = on` for this, so an immediate restart loses no acknowledged commit).
//! - **at most one completion**: no operation has two `completed` events, and every completed
//!   operation has one.
//! - **no failure with attempts left**: no operation is failed or cancelled while `attempt <
//!   max_attempts` (dummies never fail by themselves; a lost worker's operation with attempts left
//!   must be re-queued). Operations whose attempts ran out — their workers lost `--max-attempts`
//!   times — are counted apart, as `exhausted`.
//! - **fenced completions**: each completion was written by the worker holding the operation's
//!   latest attempt, and nothing changed the operation afterwards.
//! - **trainings bit-identical**: every training completed with the reference's `parameters_sha256`.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgPool;

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    pub detail: String,
}

/// Counts of what became of the operations.
#[derive(Debug, Default, Serialize)]
pub struct Tally {
    pub operations: i64,
    pub by_status: BTreeMap<String, i64>,
    /// Failed or cancelled with no attempt left (not a violation; reported apart).
    pub exhausted: i64,
    /// Claims, re-claims of re-queued operations included.
    pub claims: i64,
    /// Lost operations the ticker put back to pending (orphans, expired reconciliations).
    pub requeued_by_ticker: i64,
    /// Running operations a worker gave back (its graceful shutdown, or a claimed-ahead one that
    /// waited too long).
    pub released_by_workers: i64,
    /// Operations moved to reconciliation because their lease lapsed while the server was away…
    pub moved_to_reconciliation: i64,
    /// …and taken back by their worker afterwards.
    pub reclaimed: i64,
    /// Changes of the ticker's leader (the leadership epoch).
    pub leader_epochs: i64,
}

/// What became of the trainings.
#[derive(Debug, Serialize)]
pub struct TrainingOutcome {
    pub operation_id: String,
    pub status: String,
    pub parameters_sha256: Option<String>,
    /// Claims of it: 1 for a training that ran through.
    pub claims: i64,
}

pub struct Verdicts {
    pub checks: Vec<Check>,
    pub tally: Tally,
    pub trainings: Vec<TrainingOutcome>,
}

/// Judges the run: `acknowledged` submissions, `trainings` to compare with `reference`.
pub async fn judge(
    pool: &PgPool,
    acknowledged: &[String],
    trainings: &[String],
    reference: Option<&str>,
) -> anyhow::Result<Verdicts> {
    let tally = tally(pool).await?;
    let mut checks = Vec::new();

    let active: Vec<String> = sqlx::query_scalar(
        "SELECT operation_id || ' ' || status FROM ktrdr.operations
         WHERE status NOT IN ('completed', 'failed', 'cancelled') ORDER BY operation_id",
    )
    .fetch_all(pool)
    .await?;
    checks.push(check(
        "all terminal",
        active.is_empty(),
        format!(
            "{} operations, {} not terminal{}",
            tally.operations,
            active.len(),
            examples(&active)
        ),
    ));

    let lost: Vec<String> = sqlx::query_scalar(
        "SELECT a.id FROM unnest($1::text[]) AS a (id)
         WHERE NOT EXISTS (SELECT 1 FROM ktrdr.operations o WHERE o.operation_id = a.id)",
    )
    .bind(acknowledged)
    .fetch_all(pool)
    .await?;
    checks.push(check(
        "nothing lost",
        lost.is_empty(),
        format!(
            "{} acknowledged submissions, {} missing{}",
            acknowledged.len(),
            lost.len(),
            examples(&lost)
        ),
    ));

    let (twice, most, uncounted): (i64, i64, i64) = sqlx::query_as(
        "WITH per_op AS (
             SELECT operation_id, count(*) AS n FROM ktrdr.operation_events
             WHERE to_status = 'completed' GROUP BY operation_id)
         SELECT (SELECT count(*) FROM per_op WHERE n > 1),
                coalesce((SELECT max(n) FROM per_op), 0),
                (SELECT count(*) FROM ktrdr.operations o
                 WHERE o.status = 'completed'
                   AND NOT EXISTS (SELECT 1 FROM per_op p WHERE p.operation_id = o.operation_id))",
    )
    .fetch_one(pool)
    .await?;
    checks.push(check(
        "at most one completion",
        twice == 0 && uncounted == 0,
        format!(
            "{} completed; {twice} completed more than once (most {most}), {uncounted} without a completion event",
            tally.by_status.get("completed").copied().unwrap_or(0)
        ),
    ));

    let with_attempts_left: Vec<String> = sqlx::query_scalar(
        "SELECT format('%s %s at attempt %s of %s: %s', operation_id, status, attempt, max_attempts,
                       coalesce(error_message, ''))
         FROM ktrdr.operations
         WHERE status IN ('failed', 'cancelled') AND attempt < max_attempts ORDER BY operation_id",
    )
    .fetch_all(pool)
    .await?;
    checks.push(check(
        "no failure with attempts left",
        with_attempts_left.is_empty(),
        format!(
            "{} failed or cancelled with attempts left{}; {} exhausted their attempts",
            with_attempts_left.len(),
            examples(&with_attempts_left),
            tally.exhausted
        ),
    ));

    let unfenced: Vec<String> = sqlx::query_scalar(
        "SELECT format('%s completed by %s at attempt %s (claimed by %s)', c.operation_id, c.actor,
                       c.attempt, coalesce(k.worker_id, 'nobody'))
         FROM ktrdr.operation_events c
         LEFT JOIN LATERAL (
             SELECT k.worker_id FROM ktrdr.operation_events k
             WHERE k.operation_id = c.operation_id AND k.from_status = 'pending'
               AND k.to_status = 'running' AND k.attempt = c.attempt
             ORDER BY k.event_id DESC LIMIT 1) k ON true
         WHERE c.to_status = 'completed'
           AND (k.worker_id IS DISTINCT FROM c.actor
                OR EXISTS (SELECT 1 FROM ktrdr.operation_events later
                           WHERE later.operation_id = c.operation_id
                             AND later.event_id > c.event_id))
         ORDER BY c.operation_id",
    )
    .fetch_all(pool)
    .await?;
    checks.push(check(
        "fenced completions",
        unfenced.is_empty(),
        format!(
            "{} completions not by the latest attempt's worker, or followed by a change{}",
            unfenced.len(),
            examples(&unfenced)
        ),
    ));

    let trainings = training_outcomes(pool, trainings).await?;
    if !trainings.is_empty() {
        let reference = reference.unwrap_or("(no reference)");
        let matching = trainings
            .iter()
            .filter(|t| {
                t.status == "completed" && t.parameters_sha256.as_deref() == Some(reference)
            })
            .count();
        let others: Vec<String> = trainings
            .iter()
            .filter(|t| t.parameters_sha256.as_deref() != Some(reference))
            .map(|t| {
                format!(
                    "{} {} {}",
                    t.operation_id,
                    t.status,
                    t.parameters_sha256.as_deref().unwrap_or("-")
                )
            })
            .collect();
        checks.push(check(
            "trainings bit-identical",
            matching == trainings.len(),
            format!(
                "{matching} of {} completed with the reference's weights (sha256 {}), after {} claims in all{}",
                trainings.len(),
                short(reference),
                trainings.iter().map(|t| t.claims).sum::<i64>(),
                examples(&others)
            ),
        ));
    }
    Ok(Verdicts {
        checks,
        tally,
        trainings,
    })
}

async fn tally(pool: &PgPool) -> anyhow::Result<Tally> {
    let by_status: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM ktrdr.operations GROUP BY 1 ORDER BY 1")
            .fetch_all(pool)
            .await?;
    let (exhausted, leader_epochs): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM ktrdr.operations
                 WHERE status IN ('failed', 'cancelled') AND attempt >= max_attempts),
                (SELECT leader_epoch FROM ktrdr.maintenance_state)",
    )
    .fetch_one(pool)
    .await?;
    let (claims, requeued_by_ticker, released_by_workers, moved_to_reconciliation, reclaimed): (
        i64,
        i64,
        i64,
        i64,
        i64,
    ) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE from_status = 'pending' AND to_status = 'running'),
                count(*) FILTER (WHERE actor = 'ticker' AND to_status = 'pending'),
                count(*) FILTER (WHERE from_status = 'running' AND to_status = 'pending'
                                   AND actor IS DISTINCT FROM 'ticker'),
                count(*) FILTER (WHERE to_status = 'pending_reconciliation'),
                count(*) FILTER (WHERE from_status = 'pending_reconciliation'
                                   AND to_status = 'running')
         FROM ktrdr.operation_events",
    )
    .fetch_one(pool)
    .await?;
    Ok(Tally {
        operations: by_status.iter().map(|(_, n)| n).sum(),
        by_status: by_status.into_iter().collect(),
        exhausted,
        claims,
        requeued_by_ticker,
        released_by_workers,
        moved_to_reconciliation,
        reclaimed,
        leader_epochs,
    })
}

async fn training_outcomes(pool: &PgPool, ids: &[String]) -> anyhow::Result<Vec<TrainingOutcome>> {
    let rows: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT o.operation_id, o.status, o.result ->> 'parameters_sha256',
                (SELECT count(*) FROM ktrdr.operation_events e
                 WHERE e.operation_id = o.operation_id AND e.from_status = 'pending'
                   AND e.to_status = 'running')
         FROM ktrdr.operations o WHERE o.operation_id = ANY ($1) ORDER BY o.operation_id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(
            |(operation_id, status, parameters_sha256, claims)| TrainingOutcome {
                operation_id,
                status,
                parameters_sha256,
                claims,
            },
        )
        .collect())
}

fn check(name: &'static str, passed: bool, detail: String) -> Check {
    Check {
        name,
        passed,
        detail,
    }
}

/// The first few of `items`, for a failed check's detail.
fn examples(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        n => format!(
            " (e.g. {}{})",
            items[..n.min(3)].join("; "),
            if n > 3 { "; …" } else { "" }
        ),
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
