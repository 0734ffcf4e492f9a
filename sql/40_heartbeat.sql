-- heartbeat: the worker holding (operation, attempt) renews its lease and reports progress.
-- Returns 'continue', 'cancel' (a cancel was requested: stop computing and call mark_cancelled), or
-- 'stop' (the caller is stale: the operation moved on to another attempt, finished, or was removed;
-- abandon it without writing anything more). Progress arguments left NULL keep their stored values;
-- new progress is announced on channel ktrdr_progress (payload: the id).
-- A heartbeat for an operation in pending_reconciliation (its lease lapsed while the database was
-- away) takes it back: it is running again.
CREATE OR REPLACE FUNCTION ktrdr.heartbeat(
    p_operation_id text, p_worker_id text, p_attempt integer, p_lease_seconds double precision,
    p_progress_percent real DEFAULT NULL, p_progress_message text DEFAULT NULL, p_progress jsonb DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_row tid;
    v_lease interval := ktrdr.lease_interval(p_lease_seconds);
    v_cancel_requested boolean;
BEGIN
    PERFORM ktrdr.set_event_context(p_worker_id, 'heartbeat after a database outage');
    v_row := ktrdr.held_row(p_operation_id, p_worker_id, p_attempt);
    IF v_row IS NULL THEN
        RETURN 'stop';
    END IF;
    UPDATE ktrdr.operations
    SET status = 'running',
        reconcile_deadline = NULL,
        lease_expires_at = now() + v_lease,
        heartbeat_at = now(),
        progress_percent = coalesce(least(greatest(p_progress_percent, 0), 100), progress_percent),
        progress_message = coalesce(p_progress_message, progress_message),
        progress = coalesce(p_progress, progress)
    WHERE ctid = v_row
    RETURNING cancel_requested_at IS NOT NULL INTO v_cancel_requested;
    IF NOT FOUND THEN
        RETURN 'stop';
    END IF;
    -- Followers (`ktrdr train --follow`) redraw on this instead of polling.
    IF p_progress_message IS NOT NULL OR p_progress IS NOT NULL THEN
        PERFORM pg_notify('ktrdr_progress', p_operation_id);
    END IF;
    RETURN CASE WHEN v_cancel_requested THEN 'cancel' ELSE 'continue' END;
END $$;

-- record_progress: a heartbeat whose progress is a milestone (a training's epoch end), also kept
-- in ktrdr.operation_progress so that every one can be replayed in order. Fenced like heartbeat:
-- a stale caller ('stop') records nothing.
CREATE OR REPLACE FUNCTION ktrdr.record_progress(
    p_operation_id text, p_worker_id text, p_attempt integer, p_lease_seconds double precision,
    p_progress_percent real, p_progress_message text, p_progress jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_verdict text;
BEGIN
    v_verdict := ktrdr.heartbeat(p_operation_id, p_worker_id, p_attempt, p_lease_seconds,
                                 p_progress_percent, p_progress_message, p_progress);
    IF v_verdict <> 'stop' THEN
        INSERT INTO ktrdr.operation_progress
            (operation_id, attempt, progress_percent, progress_message, progress)
        VALUES (p_operation_id, p_attempt, least(greatest(p_progress_percent, 0), 100),
                p_progress_message, p_progress);
    END IF;
    RETURN v_verdict;
END $$;
