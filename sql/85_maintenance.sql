-- run_maintenance: every maintenance pass that lives wholly in SQL, in one call and one
-- transaction — orphan detection (run_orphan_detection, 80_orphans.sql), then expiry of outage
-- reconciliations (run_reconciliation_expiry, 81_reconciliation.sql). For pg_cron (cron.sql) and
-- psql; the ticker runs the two as separate services instead (src/maintenance/). Checkpoint cleanup
-- is not here: it also deletes from the artifact store, which may be a directory SQL cannot reach
-- (`ktrdr checkpoints cleanup`). Nor is pruning: it deletes in batches of their own transactions,
-- on a schedule of its own (run_pruning, 86_pruning.sql).
--
-- Returns the orphan pass's JSON with the expired reconciliations added to its counts
-- (orphans_failed, orphans_requeued, orphans_cancelled) and the earlier of the two `next_due`, and
-- records that as the last result in ktrdr.maintenance_state.
CREATE OR REPLACE FUNCTION ktrdr.run_maintenance(
    p_ticker_id text,
    p_orphan_timeout_seconds double precision,
    p_check_interval_seconds double precision,
    p_reconcile_grace_seconds double precision DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_orphans jsonb;
    v_expired jsonb;
    v_result jsonb;
BEGIN
    v_orphans := ktrdr.run_orphan_detection(
        p_ticker_id, p_orphan_timeout_seconds, p_check_interval_seconds, p_reconcile_grace_seconds);
    v_expired := ktrdr.run_reconciliation_expiry(
        least(p_check_interval_seconds, coalesce(p_reconcile_grace_seconds, p_orphan_timeout_seconds)));
    v_result := v_orphans || jsonb_build_object(
        'orphans_failed', (v_orphans->>'orphans_failed')::integer + (v_expired->>'failed')::integer,
        'orphans_requeued', (v_orphans->>'orphans_requeued')::integer + (v_expired->>'requeued')::integer,
        'orphans_cancelled', (v_orphans->>'orphans_cancelled')::integer + (v_expired->>'cancelled')::integer,
        'next_due', least((v_orphans->>'next_due')::timestamptz, (v_expired->>'next_due')::timestamptz));
    UPDATE ktrdr.maintenance_state SET last_result = v_result;
    RETURN v_result;
END $$;
