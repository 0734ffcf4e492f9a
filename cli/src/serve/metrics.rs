//! `GET /metrics`: Prometheus text, computed from the database at each scrape (the server keeps no
//! counters of its own, so every replica answers the same). Counts of finished operations, orphans
//! and checkpoint saves are over the history the tables keep (pruned after KTRDR_RETENTION_DAYS):
//! they are gauges, and may fall when a pruning pass runs.

use std::fmt::Write;

use axum::{
    extract::State,
    http::header,
    response::{IntoResponse, Response},
};
use sqlx::PgPool;

use super::{AppState, envelope::ApiError};

/// Upper bounds of the duration histogram's buckets, in seconds (from a dummy to a long training).
const DURATION_BUCKETS: [f64; 11] = [
    0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0,
];

/// The error message the orphan detector writes (sql/80_orphans.sql).
const ORPHAN_MESSAGE: &str = "Operation was RUNNING but no worker claimed it";

/// Prometheus exposition text, one family at a time.
struct Exposition(String);

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            let labels: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", labels.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = render(&state.pool).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

async fn render(pool: &PgPool) -> ktrdr::Result<String> {
    let mut out = Exposition(String::new());
    queue(pool, &mut out).await?;
    durations(pool, &mut out).await?;
    workers_and_maintenance(pool, &mut out).await?;
    checkpoints(pool, &mut out).await?;
    Ok(out.0)
}

async fn queue(pool: &PgPool, out: &mut Exposition) -> ktrdr::Result<()> {
    let depth: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT operation_type, status, operations FROM ktrdr.queue_depth ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    out.family(
        "ktrdr_queue_depth",
        "gauge",
        "Operations pending, running or in reconciliation, by type and status.",
    );
    for (kind, status, n) in &depth {
        out.sample(
            "ktrdr_queue_depth",
            &[("operation_type", kind), ("status", status)],
            *n as f64,
        );
    }
    let finished: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT operation_type, status, count(*) FROM ktrdr.operations
         WHERE status IN ('completed', 'failed', 'cancelled') GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await?;
    out.family(
        "ktrdr_operations_finished",
        "gauge",
        "Finished operations kept in the table, by type and status.",
    );
    for (kind, status, n) in &finished {
        out.sample(
            "ktrdr_operations_finished",
            &[("operation_type", kind), ("status", status)],
            *n as f64,
        );
    }
    Ok(())
}

/// The finished operations with a start and an end, with their duration.
const FINISHED_DURATIONS: &str = "SELECT operation_type, status,
           extract(epoch FROM completed_at - started_at)::float8 AS seconds
    FROM ktrdr.operations
    WHERE status IN ('completed', 'failed', 'cancelled')
      AND started_at IS NOT NULL AND completed_at IS NOT NULL";

async fn durations(pool: &PgPool, out: &mut Exposition) -> ktrdr::Result<()> {
    let buckets: Vec<(String, String, f64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT d.operation_type, d.status, b.le, count(*) FILTER (WHERE d.seconds <= b.le)
         FROM ({FINISHED_DURATIONS}) d CROSS JOIN unnest($1::float8[]) AS b(le)
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
    )))
    .bind(&DURATION_BUCKETS[..])
    .fetch_all(pool)
    .await?;
    let totals: Vec<(String, String, i64, f64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT operation_type, status, count(*), coalesce(sum(seconds), 0)::float8
         FROM ({FINISHED_DURATIONS}) d GROUP BY 1, 2 ORDER BY 1, 2"
    )))
    .fetch_all(pool)
    .await?;
    let name = "ktrdr_operation_duration_seconds";
    out.family(
        name,
        "histogram",
        "From start to end of finished operations, by type and status.",
    );
    for (kind, status, count, sum) in &totals {
        let labels = [
            ("operation_type", kind.as_str()),
            ("status", status.as_str()),
        ];
        let cumulative = buckets
            .iter()
            .filter(|(k, s, _, _)| k == kind && s == status);
        for (_, _, le, n) in cumulative {
            let le = le.to_string();
            let bucket = [labels[0], labels[1], ("le", le.as_str())];
            out.sample(&format!("{name}_bucket"), &bucket, *n as f64);
        }
        let inf = [labels[0], labels[1], ("le", "+Inf")];
        out.sample(&format!("{name}_bucket"), &inf, *count as f64);
        out.sample(&format!("{name}_sum"), &labels, *sum);
        out.sample(&format!("{name}_count"), &labels, *count as f64);
    }
    Ok(())
}

async fn workers_and_maintenance(pool: &PgPool, out: &mut Exposition) -> ktrdr::Result<()> {
    let (active, lost, stopped): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 'active'), count(*) FILTER (WHERE status = 'lost'),
                count(*) FILTER (WHERE status = 'stopped')
         FROM ktrdr.workers_overview",
    )
    .fetch_one(pool)
    .await?;
    out.family("ktrdr_workers", "gauge", "Registered workers by status.");
    for (status, n) in [("active", active), ("lost", lost), ("stopped", stopped)] {
        out.sample("ktrdr_workers", &[("status", status)], n as f64);
    }
    let orphans: i64 =
        sqlx::query_scalar("SELECT count(*) FROM ktrdr.operation_events WHERE reason = $1")
            .bind(ORPHAN_MESSAGE)
            .fetch_one(pool)
            .await?;
    out.family(
        "ktrdr_orphans_detected",
        "gauge",
        "Operations the orphan detector took from a lost worker, in the kept history.",
    );
    out.sample("ktrdr_orphans_detected", &[], orphans as f64);
    let (running, potential, since_check, since_pruning): (bool, i32, Option<f64>, Option<f64>) =
        sqlx::query_as(
            "SELECT d.running, d.potential_orphans_count,
                    extract(epoch FROM now() - d.last_check)::float8,
                    extract(epoch FROM now() - p.last_pruning_at)::float8
             FROM ktrdr.orphan_detector d, ktrdr.pruning p",
        )
        .fetch_one(pool)
        .await?;
    out.family(
        "ktrdr_orphan_detector_running",
        "gauge",
        "1 while some ticker holds a live leader lease.",
    );
    out.sample(
        "ktrdr_orphan_detector_running",
        &[],
        f64::from(u8::from(running)),
    );
    out.family(
        "ktrdr_potential_orphans",
        "gauge",
        "Running operations whose worker is late (lease not lapsed yet).",
    );
    out.sample("ktrdr_potential_orphans", &[], f64::from(potential));
    if let Some(seconds) = since_check {
        out.family(
            "ktrdr_seconds_since_last_maintenance",
            "gauge",
            "Seconds since the last orphan-detection pass (ticker or pg_cron).",
        );
        out.sample("ktrdr_seconds_since_last_maintenance", &[], seconds);
    }
    if let Some(seconds) = since_pruning {
        out.family(
            "ktrdr_seconds_since_last_pruning",
            "gauge",
            "Seconds since the last pruning pass.",
        );
        out.sample("ktrdr_seconds_since_last_pruning", &[], seconds);
    }
    Ok(())
}

async fn checkpoints(pool: &PgPool, out: &mut Exposition) -> ktrdr::Result<()> {
    let current: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT kind, count(*), coalesce(sum(coalesce(artifact_size_bytes, 0) + state_size_bytes), 0)::bigint
         FROM ktrdr.checkpoints GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    out.family("ktrdr_checkpoints", "gauge", "Current checkpoints by kind.");
    for (kind, n, _) in &current {
        out.sample("ktrdr_checkpoints", &[("kind", kind)], *n as f64);
    }
    out.family(
        "ktrdr_checkpoint_bytes",
        "gauge",
        "Bytes of current checkpoints (artifact and state) by kind.",
    );
    for (kind, _, bytes) in &current {
        out.sample("ktrdr_checkpoint_bytes", &[("kind", kind)], *bytes as f64);
    }
    // What completed trainings and backtests report in their results (hand-written rows whose
    // counts are not numbers are skipped rather than failing the scrape).
    let saves: Vec<(String, f64, f64)> = sqlx::query_as(
        "SELECT operation_type,
                coalesce(sum(CASE WHEN jsonb_typeof(result->'checkpoints_saved') = 'number'
                                  THEN (result->>'checkpoints_saved')::float8 END), 0),
                coalesce(sum(CASE WHEN jsonb_typeof(result->'checkpoint_save_failures') = 'number'
                                  THEN (result->>'checkpoint_save_failures')::float8 END), 0)
         FROM ktrdr.operations
         WHERE status = 'completed' AND jsonb_typeof(result) = 'object' AND result ? 'checkpoints_saved'
         GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    out.family(
        "ktrdr_checkpoint_saves",
        "gauge",
        "Checkpoints saved by completed operations, by type.",
    );
    for (kind, saved, _) in &saves {
        out.sample(
            "ktrdr_checkpoint_saves",
            &[("operation_type", kind)],
            *saved,
        );
    }
    out.family(
        "ktrdr_checkpoint_save_failures",
        "gauge",
        "Checkpoint saves that failed in completed operations, by type.",
    );
    for (kind, _, failed) in &saves {
        out.sample(
            "ktrdr_checkpoint_save_failures",
            &[("operation_type", kind)],
            *failed,
        );
    }
    Ok(())
}
