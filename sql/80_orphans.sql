-- settle_lost_operations: operations whose worker is gone for good (p_ids, locked by the caller)
-- become cancelled if a cancel had been requested, pending if they have attempts left (any worker
-- takes them over, from their checkpoint), failed otherwise — all with p_message. One rule for the
-- orphan detector and for reconciliations that expired.
CREATE OR REPLACE FUNCTION ktrdr.settle_lost_operations(p_ids text[], p_message text)
RETURNS TABLE (failed integer, requeued integer, cancelled integer)
LANGUAGE sql AS $$
    WITH moved AS (
        UPDATE ktrdr.operations
        SET status = CASE WHEN cancel_requested_at IS NOT NULL THEN 'cancelled'
                          WHEN attempt < max_attempts THEN 'pending'
                          ELSE 'failed' END,
            completed_at = CASE WHEN cancel_requested_at IS NULL AND attempt < max_attempts
                                THEN NULL ELSE now() END,
            lease_expires_at = NULL, reconcile_deadline = NULL,
            error_message = p_message, version = version + 1
        WHERE operation_id = ANY (p_ids)
        RETURNING status
    )
    SELECT count(*) FILTER (WHERE status = 'failed')::integer,
           count(*) FILTER (WHERE status = 'pending')::integer,
           count(*) FILTER (WHERE status = 'cancelled')::integer
    FROM moved;
$$;

-- detect_orphans: a running operation whose lease lapsed — its worker stopped heartbeating for the
-- lease length (ORPHAN_TIMEOUT_SECONDS) — has lost its worker. It becomes
--   cancelled  if a cancel had been requested,
--   pending    if it has attempts left (attempt < max_attempts): any worker takes it over,
--   failed     otherwise, with 'Operation was RUNNING but no worker claimed it'.
-- With p_outage (the database itself was away, see run_maintenance) lapsed leases are not the
-- workers' fault: such operations become pending_reconciliation until p_reconcile_deadline, and the
-- worker that still runs them takes them back with its next heartbeat or re-registration.
CREATE OR REPLACE FUNCTION ktrdr.detect_orphans(
    p_outage boolean DEFAULT false, p_reconcile_deadline timestamptz DEFAULT NULL)
RETURNS TABLE (failed integer, requeued integer, cancelled integer, reconciling integer)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_message constant text := 'Operation was RUNNING but no worker claimed it';
BEGIN
    IF p_outage THEN
        PERFORM ktrdr.set_event_context('ticker', 'lease lapsed during a database outage');
        RETURN QUERY
        WITH moved AS (
            UPDATE ktrdr.operations
            SET status = 'pending_reconciliation', reconcile_deadline = p_reconcile_deadline,
                version = version + 1
            WHERE status = 'running' AND lease_expires_at < now()
            RETURNING 1
        )
        SELECT 0, 0, 0, count(*)::integer FROM moved;
        RETURN;
    END IF;

    PERFORM ktrdr.set_event_context('ticker', v_message);
    RETURN QUERY
    SELECT s.failed, s.requeued, s.cancelled, 0
    FROM ktrdr.settle_lost_operations(
        ARRAY(SELECT operation_id FROM ktrdr.operations
              WHERE status = 'running' AND lease_expires_at < now()
              FOR UPDATE SKIP LOCKED),
        v_message) s;
END $$;

-- A worker is late when more than half its lease passed since its last heartbeat (workers heartbeat
-- every third of it).
CREATE OR REPLACE FUNCTION ktrdr.worker_is_late(p_heartbeat_at timestamptz, p_lease_expires_at timestamptz)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT now() > p_heartbeat_at + (p_lease_expires_at - p_heartbeat_at) / 2;
$$;

-- Operations whose worker is late but whose lease has not lapsed yet.
CREATE OR REPLACE FUNCTION ktrdr.count_potential_orphans()
RETURNS integer LANGUAGE sql STABLE AS $$
    SELECT count(*)::integer FROM ktrdr.operations
    WHERE status = 'running' AND lease_expires_at >= now()
      AND ktrdr.worker_is_late(heartbeat_at, lease_expires_at);
$$;
