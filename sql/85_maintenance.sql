-- run_maintenance: one pass of the ticker (or of pg_cron, see cron.sql). Called by exactly one
-- process at a time — the holder of the ticker's advisory lock — but safe to call concurrently.
--
-- 1. Outage check: the database was unavailable if the server restarted since the last pass
--    (pg_postmaster_start_time changed) or no pass ran for longer than the orphan timeout plus the
--    check interval (a healthy leader passes at least every min(timeout, interval)). Then, for
--    a grace period (p_reconcile_grace_seconds), lapsed leases go to pending_reconciliation instead of
--    failing, because their workers could not heartbeat.
-- 2. Orphans: detect_orphans (see 80_orphans.sql). 3. Expired reconciliations. 4. Potential orphans.
-- Records the pass in ktrdr.maintenance_state and returns it as JSON, including `next_due`: the
-- earliest future lease expiry or reconciliation deadline, so the ticker can wake exactly then.
CREATE OR REPLACE FUNCTION ktrdr.run_maintenance(
    p_ticker_id text,
    p_orphan_timeout_seconds double precision,
    p_check_interval_seconds double precision,
    p_reconcile_grace_seconds double precision DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_state ktrdr.maintenance_state;
    v_grace interval := ktrdr.lease_interval(coalesce(p_reconcile_grace_seconds, p_orphan_timeout_seconds));
    v_restarted boolean;
    v_silent boolean;
    v_outage_at timestamptz;
    v_orphans record;
    v_expired record;
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
    SELECT * INTO v_expired FROM ktrdr.expire_reconciliation();
    v_potential := ktrdr.count_potential_orphans();
    SELECT min(due) INTO v_next_due FROM (
        SELECT min(lease_expires_at) AS due FROM ktrdr.operations
        WHERE status = 'running' AND lease_expires_at >= now()
        UNION ALL
        SELECT min(reconcile_deadline) FROM ktrdr.operations
        WHERE status = 'pending_reconciliation' AND reconcile_deadline >= now()
    ) d;

    v_result := jsonb_build_object(
        'checked_at', now(),
        'orphans_failed', v_orphans.failed + v_expired.failed,
        'orphans_requeued', v_orphans.requeued + v_expired.requeued,
        'orphans_cancelled', v_orphans.cancelled + v_expired.cancelled,
        'moved_to_reconciliation', v_orphans.reconciling,
        'potential_orphans_count', v_potential,
        'outage_detected', v_restarted OR v_silent,
        'next_due', v_next_due);

    UPDATE ktrdr.maintenance_state
    SET leader_id = p_ticker_id,
        leader_since = CASE WHEN leader_id IS DISTINCT FROM p_ticker_id THEN now() ELSE leader_since END,
        last_check = now(),
        last_result = v_result,
        potential_orphans_count = v_potential,
        orphan_timeout_seconds = p_orphan_timeout_seconds,
        check_interval_seconds = p_check_interval_seconds,
        reconcile_grace_seconds = extract(epoch FROM v_grace),
        postmaster_started_at = pg_postmaster_start_time(),
        outage_detected_at = CASE WHEN now() < v_outage_at + v_grace THEN v_outage_at END;
    RETURN v_result;
END $$;
