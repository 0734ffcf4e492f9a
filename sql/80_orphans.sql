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
RETURNS TABLE (failed integer, requeued integer, cancelled integer, reconciling integer,
               operation_ids text[])
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_message constant text := 'Operation was RUNNING but no worker claimed it';
    v_ids text[];
BEGIN
    IF p_outage THEN
        PERFORM ktrdr.set_event_context('ticker', 'lease lapsed during a database outage');
        RETURN QUERY
        WITH moved AS (
            UPDATE ktrdr.operations
            SET status = 'pending_reconciliation', reconcile_deadline = p_reconcile_deadline,
                version = version + 1
            WHERE status = 'running' AND lease_expires_at < now()
            RETURNING operation_id
        )
        SELECT 0, 0, 0, count(*)::integer, coalesce(array_agg(operation_id), '{}') FROM moved;
        RETURN;
    END IF;

    PERFORM ktrdr.set_event_context('ticker', v_message);
    v_ids := ARRAY(SELECT operation_id FROM ktrdr.operations
                   WHERE status = 'running' AND lease_expires_at < now()
                   ORDER BY operation_id
                   FOR UPDATE SKIP LOCKED);
    RETURN QUERY
    SELECT s.failed, s.requeued, s.cancelled, 0, v_ids
    FROM ktrdr.settle_lost_operations(v_ids, v_message) s;
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

-- run_orphan_detection: one pass of the orphan detector (the ticker's `orphans` service,
-- src/maintenance/orphans.rs; run_maintenance calls it too). Called by one process at a time — the
-- holder of the ticker's leader lease (sql/82_leadership.sql) — but safe to call concurrently. It
-- records no leader: only the lease names one (p_ticker_id is recorded as who ran the pass).
--
-- 1. Outage check: the database was unavailable if the server restarted since the last pass
--    (pg_postmaster_start_time changed) or no pass ran for longer than the orphan timeout plus the
--    check interval (a healthy leader passes at least every min(timeout, interval)). Then, for
--    a grace period (p_reconcile_grace_seconds, default the orphan timeout), lapsed leases go to
--    pending_reconciliation instead of failing, because their workers could not heartbeat.
-- 2. Orphans: detect_orphans. 3. Potential orphans: count_potential_orphans.
-- Records the pass in ktrdr.maintenance_state (with p_ticker_id as last_check_by) and returns it as
-- JSON, including `orphan_ids` (the operations it settled or sent to reconciliation) and `next_due`: when
-- the next pass is useful — 20 ms after the earliest future lease expiry (so that lease has surely
-- lapsed), at the latest min(check interval, orphan timeout) from now (a lease taken after this
-- pass expires at least one timeout later, so the next pass sees it before it lapses).
CREATE OR REPLACE FUNCTION ktrdr.run_orphan_detection(
    p_ticker_id text,
    p_orphan_timeout_seconds double precision,
    p_check_interval_seconds double precision,
    p_reconcile_grace_seconds double precision DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_state ktrdr.maintenance_state;
    v_grace interval := ktrdr.lease_interval(coalesce(p_reconcile_grace_seconds, p_orphan_timeout_seconds));
    v_longest_wait interval := ktrdr.lease_interval(least(p_check_interval_seconds, p_orphan_timeout_seconds));
    v_restarted boolean;
    v_silent boolean;
    v_outage_at timestamptz;
    v_orphans record;
    v_potential integer;
    v_next_due timestamptz;
    v_result jsonb;
BEGIN
    PERFORM ktrdr.lease_interval(p_orphan_timeout_seconds);
    PERFORM ktrdr.lease_interval(p_check_interval_seconds);
    SELECT * INTO v_state FROM ktrdr.maintenance_state FOR UPDATE;

    v_restarted := v_state.postmaster_started_at IS NOT NULL
                   AND v_state.postmaster_started_at <> pg_postmaster_start_time();
    v_silent := v_state.last_check IS NOT NULL
                AND now() - v_state.last_check
                    > make_interval(secs => p_orphan_timeout_seconds + p_check_interval_seconds);
    v_outage_at := CASE WHEN v_restarted OR v_silent THEN now() ELSE v_state.outage_detected_at END;

    SELECT * INTO v_orphans
    FROM ktrdr.detect_orphans(v_outage_at IS NOT NULL AND now() < v_outage_at + v_grace, now() + v_grace);
    v_potential := ktrdr.count_potential_orphans();
    SELECT least(min(lease_expires_at) + interval '20 milliseconds', now() + v_longest_wait)
    INTO v_next_due
    FROM ktrdr.operations
    WHERE status = 'running' AND lease_expires_at >= now();

    v_result := jsonb_build_object(
        'checked_at', now(),
        'orphans_failed', v_orphans.failed,
        'orphans_requeued', v_orphans.requeued,
        'orphans_cancelled', v_orphans.cancelled,
        'moved_to_reconciliation', v_orphans.reconciling,
        'potential_orphans_count', v_potential,
        'outage_detected', v_restarted OR v_silent,
        'orphan_ids', to_jsonb(v_orphans.operation_ids),
        'next_due', v_next_due);

    UPDATE ktrdr.maintenance_state
    SET last_check = now(),
        last_check_by = p_ticker_id,
        last_result = v_result,
        potential_orphans_count = v_potential,
        orphan_timeout_seconds = p_orphan_timeout_seconds,
        check_interval_seconds = p_check_interval_seconds,
        reconcile_grace_seconds = extract(epoch FROM v_grace),
        postmaster_started_at = pg_postmaster_start_time(),
        outage_detected_at = CASE WHEN now() < v_outage_at + v_grace THEN v_outage_at END;
    RETURN v_result;
END $$;
