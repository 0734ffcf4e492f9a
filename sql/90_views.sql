-- Views for people (psql) and dashboards (Grafana). Read-only; the functions above change state.

-- Queued and running operations per type and status. The two sides of the OR are the predicates of
-- the partial indexes operations_claimable and operations_leased, so the view reads only active rows
-- (a BitmapOr of the two) however long the finished history is; one `status IN (…)` of all three
-- matches neither index and read the whole table.
CREATE OR REPLACE VIEW ktrdr.queue_depth AS
SELECT operation_type, status, count(*) AS operations, min(created_at) AS oldest_created_at
FROM ktrdr.operations
WHERE status = 'pending' OR status IN ('running', 'pending_reconciliation')
GROUP BY operation_type, status;

CREATE OR REPLACE VIEW ktrdr.workers_overview AS
SELECT w.worker_id, w.types, w.host, w.pid, w.version, w.concurrency, w.started_at, w.heartbeat_at,
       w.lease_expires_at,
       CASE WHEN w.status = 'stopped' THEN 'stopped'
            WHEN w.lease_expires_at < now() THEN 'lost'
            ELSE 'active' END AS status,
       (SELECT count(*) FROM ktrdr.operations o
        WHERE o.worker_id = w.worker_id AND o.status = 'running') AS running_operations,
       w.undelivered_outcomes
FROM ktrdr.workers w;

CREATE OR REPLACE VIEW ktrdr.operations_overview AS
SELECT o.operation_id, o.operation_type, o.status, o.priority, o.worker_id, o.attempt, o.max_attempts,
       o.progress_percent, o.progress_message, o.created_at, o.started_at, o.completed_at,
       coalesce(o.completed_at, now()) - o.started_at AS duration,
       o.started_at - o.created_at AS queued_for,
       o.cancel_requested_at IS NOT NULL AS cancel_requested,
       o.error_message
FROM ktrdr.operations o;

-- Completions per minute over the last hour, for a throughput panel.
CREATE OR REPLACE VIEW ktrdr.throughput AS
SELECT date_trunc('minute', at) AS minute, to_status AS status, count(*) AS operations
FROM ktrdr.operation_events
WHERE at > now() - interval '1 hour' AND to_status IN ('completed', 'failed', 'cancelled')
GROUP BY 1, 2;

-- The orphan detector as `ktrdr health` shows it. `scheduler`: 'ticker' while some ticker holds a
-- live leader lease (sql/82_leadership.sql; leader_id and leader_since name its holder, the last one
-- when none is live), else 'pg_cron' while pg_cron's passes (sql/cron.sql) keep coming — the last
-- one less than two of its periods ago —, else NULL; `running`: one of them is.
CREATE OR REPLACE VIEW ktrdr.orphan_detector AS
SELECT d.scheduler IS NOT NULL AS running,
       s.leader_id, s.leader_since, s.last_check, s.potential_orphans_count, s.orphan_timeout_seconds,
       s.check_interval_seconds, s.outage_detected_at, s.reconcile_grace_seconds, s.last_result,
       d.scheduler, s.last_check_by
FROM ktrdr.maintenance_state s,
     LATERAL (SELECT CASE
         WHEN s.leader_lease_expires_at > now() THEN 'ticker'
         WHEN s.last_check_by = 'pg_cron'
              AND s.last_check > now() - make_interval(secs => 2 * s.check_interval_seconds) THEN 'pg_cron'
     END AS scheduler) d;

-- Running operations whose worker is late or gone, with how long until (or since) the lease lapses.
CREATE OR REPLACE VIEW ktrdr.orphan_watch AS
SELECT operation_id, operation_type, status, worker_id, attempt, heartbeat_at, lease_expires_at,
       now() - heartbeat_at AS silent_for, lease_expires_at - now() AS lease_left, reconcile_deadline
FROM ktrdr.operations
WHERE status IN ('running', 'pending_reconciliation')
  AND (status = 'pending_reconciliation' OR ktrdr.worker_is_late(heartbeat_at, lease_expires_at));
