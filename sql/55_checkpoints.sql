-- save_checkpoint: the attempt holding (operation, worker, attempt) records its current checkpoint,
-- replacing the previous one. Fenced like every worker-side call: a stale attempt gets 'stop' and
-- nothing is written. Returns the verdict and the previous checkpoint's artifact location, which the
-- caller deletes only now that the row points at the new artifact (so a crash at any instant leaves
-- either the old or the new checkpoint whole).
CREATE OR REPLACE FUNCTION ktrdr.save_checkpoint(
    p_operation_id text, p_worker_id text, p_attempt integer, p_kind text, p_unit text,
    p_unit_value bigint, p_state jsonb, p_artifact_location text DEFAULT NULL,
    p_artifact_sha256 text DEFAULT NULL, p_artifact_size_bytes bigint DEFAULT NULL)
RETURNS TABLE (verdict text, previous_artifact_location text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_previous text;
BEGIN
    PERFORM 1 FROM ktrdr.operations
    WHERE operation_id = p_operation_id AND worker_id = p_worker_id AND attempt = p_attempt
      AND status IN ('running', 'pending_reconciliation')
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'stop'::text, NULL::text;
        RETURN;
    END IF;
    SELECT artifact_location INTO v_previous FROM ktrdr.checkpoints WHERE operation_id = p_operation_id;
    INSERT INTO ktrdr.checkpoints (operation_id, kind, unit, unit_value, state, artifact_location,
                                   artifact_sha256, artifact_size_bytes, state_size_bytes, attempt)
    VALUES (p_operation_id, p_kind, p_unit, p_unit_value, p_state, p_artifact_location, p_artifact_sha256,
            p_artifact_size_bytes, octet_length(p_state::text), p_attempt)
    ON CONFLICT (operation_id) DO UPDATE
    SET kind = excluded.kind, unit = excluded.unit, unit_value = excluded.unit_value, state = excluded.state,
        artifact_location = excluded.artifact_location, artifact_sha256 = excluded.artifact_sha256,
        artifact_size_bytes = excluded.artifact_size_bytes, state_size_bytes = excluded.state_size_bytes,
        attempt = excluded.attempt, created_at = now();
    RETURN QUERY SELECT 'ok'::text,
        CASE WHEN v_previous IS DISTINCT FROM p_artifact_location THEN v_previous END;
END $$;

-- resume_operation: a failed or cancelled operation with a checkpoint goes back to pending, and any
-- worker of its type continues it from the checkpoint. Optimistic locking on `version`: of concurrent
-- resumes exactly one wins; the others get RESUME_CONFLICT (SQLSTATE 40001).
-- Errors: OPERATION_NOT_FOUND (P0002), OPERATION_NOT_RESUMABLE (55000), CHECKPOINT_NOT_FOUND (55000).
CREATE OR REPLACE FUNCTION ktrdr.resume_operation(p_operation_id text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_op ktrdr.operations;
BEGIN
    SELECT * INTO v_op FROM ktrdr.operations WHERE operation_id = p_operation_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'OPERATION_NOT_FOUND: operation not found: %', p_operation_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF v_op.status NOT IN ('failed', 'cancelled') THEN
        RAISE EXCEPTION 'OPERATION_NOT_RESUMABLE: operation % is %; only FAILED or CANCELLED operations can be resumed',
            p_operation_id, upper(v_op.status) USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM ktrdr.checkpoints WHERE operation_id = p_operation_id) THEN
        RAISE EXCEPTION 'CHECKPOINT_NOT_FOUND: operation % has no checkpoint to resume from', p_operation_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM ktrdr.set_event_context(NULL, 'resumed');
    UPDATE ktrdr.operations
    SET status = 'pending', completed_at = NULL, error_message = NULL, cancel_requested_at = NULL,
        cancel_reason = NULL, lease_expires_at = NULL,
        -- The next claim is another attempt: make room for it.
        max_attempts = greatest(max_attempts, attempt + 1),
        version = version + 1
    WHERE operation_id = p_operation_id AND version = v_op.version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'RESUME_CONFLICT: operation % was changed by someone else meanwhile; look again and retry',
            p_operation_id USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN 'pending';
END $$;
