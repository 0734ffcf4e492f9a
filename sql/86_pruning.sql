-- prune_operations: deletes one batch of finished work older than the retention, and returns what it
-- deleted: {"operations_deleted", "events_deleted", "workers_deleted"}. The ticker's pruning service
-- (src/maintenance/pruning.rs) calls it again, each call its own transaction, until a batch comes
-- back short; pg_cron calls run_pruning (below) once a minute. A batch is small so that no call holds
-- locks long, and its victims are taken FOR UPDATE SKIP LOCKED, so it never waits on a worker, a
-- resume or a cancel — a row someone holds is simply pruned by a later batch.
--
-- An operation is pruned when it finished (completed, failed, cancelled) longer than p_retention ago,
-- together with its status history and kept progress (operation_events and operation_progress have
-- no foreign key; their indexes on operation_id find the rows). Kept however old:
-- - operations with a checkpoint: they can still be resumed (resume_operation needs the row and its
--   checkpoint). Checkpoint cleanup deletes old checkpoints; the operation goes in a later pass.
-- - operations with children left: a parent goes after its children, so the history of a research
--   never loses its links (parent_id would be set NULL) and no active child loses its parent.
-- - children of an active parent: a running research still reads its children.
-- The status, checkpoint and children conditions cannot change under the row lock: a new checkpoint
-- needs the operation running, a resume or claim updates the row (SKIP LOCKED, or re-checked after
-- the update), and a new child's foreign key check locks the parent row (KEY SHARE).
--
-- Workers (the registry) whose last sign of life — heartbeat and lease — is older than the
-- retention are deleted too, at most a batch per call: lost workers (lease lapsed, never
-- deregistered) and stopped ones. A worker that comes back re-registers (worker_heartbeat answers
-- false), so nothing depends on the row. operations.worker_id has no foreign key.
--
-- A retention of zero keeps everything (as KTRDR_RETENTION_DAYS=0).
CREATE OR REPLACE FUNCTION ktrdr.prune_operations(p_retention interval, p_batch_size integer DEFAULT 1000)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_cutoff timestamptz := now() - p_retention;
    v_operations bigint := 0;
    v_events bigint := 0;
    v_workers bigint := 0;
BEGIN
    IF p_retention IS NULL OR p_retention < interval '0' THEN
        RAISE EXCEPTION 'retention must be 0 or more, got %', p_retention
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_batch_size IS NULL OR p_batch_size < 1 THEN
        RAISE EXCEPTION 'batch size must be 1 or more, got %', p_batch_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_retention > interval '0' THEN
        -- The selection walks operations_finished (V8) oldest first: its predicate is this status
        -- list, and the LIMIT stops the scan after one batch.
        WITH victims AS (
            SELECT o.operation_id
            FROM ktrdr.operations o
            WHERE o.status IN ('completed', 'failed', 'cancelled')
              AND o.completed_at < v_cutoff
              AND NOT EXISTS (SELECT 1 FROM ktrdr.checkpoints c WHERE c.operation_id = o.operation_id)
              AND NOT EXISTS (SELECT 1 FROM ktrdr.operations child WHERE child.parent_id = o.operation_id)
              -- The parent's status by one primary-key probe per candidate (none for the usual
              -- NULL parent_id): as an anti-join, the planner read every active operation first.
              AND NOT coalesce((SELECT parent.status IN ('pending', 'running', 'pending_reconciliation')
                                FROM ktrdr.operations parent
                                WHERE parent.operation_id = o.parent_id), false)
            ORDER BY o.completed_at
            LIMIT p_batch_size
            FOR UPDATE OF o SKIP LOCKED
        ), events AS (
            DELETE FROM ktrdr.operation_events e USING victims v
            WHERE e.operation_id = v.operation_id
            RETURNING 1
        ), kept_progress AS (
            DELETE FROM ktrdr.operation_progress p USING victims v
            WHERE p.operation_id = v.operation_id
        ), deleted AS (
            DELETE FROM ktrdr.operations o USING victims v
            WHERE o.operation_id = v.operation_id
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM deleted), (SELECT count(*) FROM events)
        INTO v_operations, v_events;

        WITH gone AS (
            SELECT worker_id FROM ktrdr.workers
            WHERE heartbeat_at < v_cutoff AND lease_expires_at < v_cutoff
            LIMIT p_batch_size
            FOR UPDATE SKIP LOCKED
        )
        DELETE FROM ktrdr.workers w USING gone g WHERE w.worker_id = g.worker_id;
        GET DIAGNOSTICS v_workers = ROW_COUNT;
    END IF;
    RETURN jsonb_build_object('operations_deleted', v_operations, 'events_deleted', v_events,
                              'workers_deleted', v_workers);
END $$;

-- record_pruning: records a pruning pass (its JSON report) as the last one in
-- ktrdr.maintenance_state, where `ktrdr health` (view ktrdr.pruning) shows it.
CREATE OR REPLACE FUNCTION ktrdr.record_pruning(p_result jsonb)
RETURNS void LANGUAGE sql AS $$
    UPDATE ktrdr.maintenance_state SET last_pruning_at = now(), last_pruning_result = p_result;
$$;

-- run_pruning: one pruning batch, recorded as a pass, for pg_cron (cron.sql) and psql. Scheduled
-- every minute it removes up to p_batch_size operations a minute (1.44 million a day at the default),
-- each call a short transaction; a call with nothing to prune is one probe of operations_finished.
-- Returns the batch's JSON with the retention in days and "batches": 1 added.
CREATE OR REPLACE FUNCTION ktrdr.run_pruning(p_retention interval, p_batch_size integer DEFAULT 1000)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_result jsonb;
BEGIN
    v_result := ktrdr.prune_operations(p_retention, p_batch_size) || jsonb_build_object(
        'retention_days', extract(epoch FROM p_retention)::double precision / 86400, 'batches', 1);
    PERFORM ktrdr.record_pruning(v_result);
    RETURN v_result;
END $$;

-- The last pruning pass as `ktrdr health` shows it.
CREATE OR REPLACE VIEW ktrdr.pruning AS
SELECT s.last_pruning_at, s.last_pruning_result
FROM ktrdr.maintenance_state s;
