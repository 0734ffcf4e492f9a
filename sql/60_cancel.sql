-- request_cancel: a pending operation becomes cancelled at once; a running one gets its cancel flag set
-- and its worker is woken on channel ktrdr_cancel_requested (payload: the id) — the next heartbeat also
-- answers 'cancel', so a lost notification delays the stop by at most one heartbeat.
-- Returns the status after the call ('cancelled' or 'running'/'pending_reconciliation' with the flag set).
-- Errors: unknown id (P0002); an operation that already ended (55000, object_not_in_prerequisite_state).
CREATE OR REPLACE FUNCTION ktrdr.request_cancel(p_operation_id text, p_reason text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    v_status := ktrdr.lock_operation(p_operation_id);
    PERFORM ktrdr.set_event_context(NULL, coalesce(p_reason, 'cancel requested'));
    IF v_status = 'pending' THEN
        UPDATE ktrdr.operations
        SET status = 'cancelled', completed_at = now(), cancel_requested_at = now(), cancel_reason = p_reason,
            error_message = coalesce(p_reason, 'Cancelled before it started'), version = version + 1
        WHERE operation_id = p_operation_id;
        RETURN 'cancelled';
    ELSIF v_status IN ('running', 'pending_reconciliation') THEN
        UPDATE ktrdr.operations
        SET cancel_requested_at = coalesce(cancel_requested_at, now()),
            cancel_reason = coalesce(p_reason, cancel_reason), version = version + 1
        WHERE operation_id = p_operation_id;
        PERFORM pg_notify('ktrdr_cancel_requested', p_operation_id);
        RETURN v_status;
    ELSE
        RAISE EXCEPTION 'operation % already ended: it is %', p_operation_id, upper(v_status)
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
END $$;
