-- expire_reconciliation: operations left in pending_reconciliation past their deadline — no worker
-- took them back after the outage — are settled like orphans (settle_lost_operations).
CREATE OR REPLACE FUNCTION ktrdr.expire_reconciliation()
RETURNS TABLE (failed integer, requeued integer, cancelled integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_message constant text := 'Operation was RUNNING but no worker claimed it (not reclaimed after a database outage)';
BEGIN
    PERFORM ktrdr.set_event_context('ticker', v_message);
    RETURN QUERY
    SELECT * FROM ktrdr.settle_lost_operations(
        ARRAY(SELECT operation_id FROM ktrdr.operations
              WHERE status = 'pending_reconciliation' AND reconcile_deadline < now()
              FOR UPDATE SKIP LOCKED),
        v_message);
END $$;

-- run_reconciliation_expiry: one pass of the ticker's `reconciliation` service
-- (src/maintenance/reconciliation.rs; run_maintenance calls it too): expire_reconciliation, in a
-- transaction of its own — nothing ties it to the orphan pass, which sets deadlines one grace period
-- ahead and so never expires what it just moved. Returns {checked_at, failed, requeued, cancelled,
-- next_due}: when the next pass is useful — 20 ms after the earliest future deadline (so it has
-- surely passed), at the latest p_interval_seconds from now. Keep the interval at most the grace
-- period, so that a deadline set after this pass is seen before it passes.
CREATE OR REPLACE FUNCTION ktrdr.run_reconciliation_expiry(p_interval_seconds double precision)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_longest_wait interval := ktrdr.lease_interval(p_interval_seconds);
    v_expired record;
    v_next_due timestamptz;
BEGIN
    SELECT * INTO v_expired FROM ktrdr.expire_reconciliation();
    SELECT least(min(reconcile_deadline) + interval '20 milliseconds', now() + v_longest_wait)
    INTO v_next_due
    FROM ktrdr.operations
    WHERE status = 'pending_reconciliation' AND reconcile_deadline >= now();
    RETURN jsonb_build_object(
        'checked_at', now(),
        'failed', v_expired.failed,
        'requeued', v_expired.requeued,
        'cancelled', v_expired.cancelled,
        'next_due', v_next_due);
END $$;

-- reclaim_operations: a worker that reconnects presents the operations it is still running, as
-- [{"operation_id": …, "attempt": …}]. Each gets a verdict: 'continue' (it is the worker's: a
-- pending_reconciliation operation is running again and its lease renewed), 'cancel' (same, but a
-- cancel was requested), or 'stop' (finished, taken over by a newer attempt, or unknown).
CREATE OR REPLACE FUNCTION ktrdr.reclaim_operations(
    p_worker_id text, p_operations jsonb, p_lease_seconds double precision)
RETURNS TABLE (operation_id text, verdict text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_lease interval := ktrdr.lease_interval(p_lease_seconds);
BEGIN
    PERFORM ktrdr.set_event_context(p_worker_id, 'reclaimed after reconnecting');
    RETURN QUERY
    WITH presented AS (
        SELECT p.operation_id, p.attempt
        FROM jsonb_to_recordset(coalesce(p_operations, '[]')) AS p (operation_id text, attempt integer)
    ), renewed AS (
        UPDATE ktrdr.operations o
        SET status = 'running', reconcile_deadline = NULL, heartbeat_at = now(),
            lease_expires_at = now() + v_lease, version = o.version + 1
        FROM presented p
        WHERE o.operation_id = p.operation_id AND o.attempt = p.attempt AND o.worker_id = p_worker_id
          AND o.status IN ('running', 'pending_reconciliation')
        RETURNING o.operation_id, o.cancel_requested_at IS NOT NULL AS cancel_requested
    )
    SELECT p.operation_id,
           CASE WHEN r.operation_id IS NULL THEN 'stop'
                WHEN r.cancel_requested THEN 'cancel'
                ELSE 'continue' END
    FROM presented p LEFT JOIN renewed r ON r.operation_id = p.operation_id;
END $$;
