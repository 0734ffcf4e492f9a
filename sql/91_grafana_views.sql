-- Views for Grafana's panels (grafana/provisioning/dashboards/ktrdr.json): durations in seconds
-- (double precision), times as timestamptz, results unpacked from their JSON into rows, so each
-- panel is a plain SELECT. Granted to ktrdr_reader by sql/95_roles.sql like every view.

-- Every operation with its durations: queued (created → started), run (started → completed, or
-- until now while running) and total, in seconds.
CREATE OR REPLACE VIEW ktrdr.operation_durations AS
SELECT o.operation_id, o.operation_type, o.status, o.worker_id, o.attempt, o.created_at,
       o.started_at, o.completed_at,
       extract(epoch FROM o.started_at - o.created_at)::double precision AS queued_seconds,
       extract(epoch FROM coalesce(o.completed_at, now()) - o.started_at)::double precision AS run_seconds,
       extract(epoch FROM coalesce(o.completed_at, now()) - o.created_at)::double precision AS total_seconds,
       o.error_message
FROM ktrdr.operations o;

-- Pickup latency: seconds from submission to the first claim, per claimed operation.
CREATE OR REPLACE VIEW ktrdr.pickup_latency AS
SELECT e.operation_id, o.operation_type, e.at AS claimed_at,
       extract(epoch FROM e.at - o.created_at)::double precision AS pickup_seconds
FROM ktrdr.operation_events e JOIN ktrdr.operations o USING (operation_id)
WHERE e.to_status = 'running' AND e.attempt = 1;

-- Status changes as a time series (throughput, failures, orphans, reconciliations): one row per
-- event with what kind of change it was.
CREATE OR REPLACE VIEW ktrdr.status_changes AS
SELECT e.at, e.operation_id, e.from_status, e.to_status, e.actor, e.reason,
       CASE WHEN e.reason = 'Operation was RUNNING but no worker claimed it' THEN 'orphan'
            WHEN e.to_status = 'pending_reconciliation' THEN 'reconciliation'
            ELSE e.to_status END AS change
FROM ktrdr.operation_events e;

-- Workers with the age of their last heartbeat in seconds.
CREATE OR REPLACE VIEW ktrdr.worker_heartbeats AS
SELECT w.worker_id, w.status, w.running_operations, w.heartbeat_at,
       extract(epoch FROM now() - w.heartbeat_at)::double precision AS heartbeat_age_seconds
FROM ktrdr.workers_overview w;

-- Checkpoints with their sizes and age in seconds.
CREATE OR REPLACE VIEW ktrdr.checkpoint_sizes AS
SELECT c.operation_id, c.operation_type, c.kind, c.created_at,
       coalesce(c.state_size_bytes, 0) + coalesce(c.artifact_size_bytes, 0) AS bytes,
       extract(epoch FROM c.age)::double precision AS age_seconds
FROM ktrdr.checkpoint_overview c;

-- Training curves: one row per epoch of every training's result (its `history`).
CREATE OR REPLACE VIEW ktrdr.training_epochs AS
SELECT o.operation_id, o.completed_at, (h->>'epoch')::integer AS epoch,
       (h->>'train_loss')::double precision AS train_loss,
       (h->>'val_loss')::double precision AS val_loss,
       (h->>'val_accuracy')::double precision AS val_accuracy
FROM ktrdr.operations o, jsonb_array_elements(o.result->'history') h
WHERE o.operation_type = 'training' AND o.status = 'completed'
  AND jsonb_typeof(o.result->'history') = 'array';

-- Backtest equity curves: one row per sample of every backtest's `metrics.equity_curve`.
CREATE OR REPLACE VIEW ktrdr.backtest_equity AS
SELECT o.operation_id, o.result->>'strategy' AS strategy, (p->>'ts')::timestamptz AS ts,
       (p->>'equity')::double precision AS equity
FROM ktrdr.operations o, jsonb_array_elements(o.result->'metrics'->'equity_curve') p
WHERE o.operation_type = 'backtesting' AND o.status = 'completed'
  AND jsonb_typeof(o.result->'metrics'->'equity_curve') = 'array';
