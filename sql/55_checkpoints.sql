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
    IF ktrdr.held_row(p_operation_id, p_worker_id, p_attempt) IS NULL THEN
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

-- Checkpoints for `ktrdr checkpoints list|stats` and dashboards.
CREATE OR REPLACE VIEW ktrdr.checkpoint_overview AS
SELECT c.operation_id, o.operation_type, o.status, c.kind, c.unit, c.unit_value, c.attempt,
       c.state_size_bytes, c.artifact_size_bytes, c.artifact_location, c.created_at,
       now() - c.created_at AS age
FROM ktrdr.checkpoints c JOIN ktrdr.operations o USING (operation_id);

-- delete_checkpoint: removes an operation's checkpoint (it can then no longer be resumed); returns
-- the artifact location to delete, or NULL. Refuses while the operation is running, since its worker
-- is writing checkpoints.
CREATE OR REPLACE FUNCTION ktrdr.delete_checkpoint(p_operation_id text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
    v_location text;
BEGIN
    -- Locked, so no claim can start the operation (and its checkpoint writes) meanwhile.
    v_status := ktrdr.lock_operation(p_operation_id);
    IF v_status IN ('running', 'pending_reconciliation') THEN
        RAISE EXCEPTION 'operation % is running: cancel it before deleting its checkpoint', p_operation_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    DELETE FROM ktrdr.checkpoints WHERE operation_id = p_operation_id RETURNING artifact_location INTO v_location;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'CHECKPOINT_NOT_FOUND: operation % has no checkpoint', p_operation_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN v_location;
END $$;

-- cleanup_checkpoints: deletes checkpoints older than p_max_age_days of operations that are not
-- running, and returns their artifact locations for the caller to remove. Artifacts that no row
-- references any more are swept by the caller (see src/checkpoints.rs), inside the artifact root only.
CREATE OR REPLACE FUNCTION ktrdr.cleanup_checkpoints(p_max_age_days double precision)
RETURNS TABLE (operation_id text, artifact_location text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    IF p_max_age_days IS NULL OR p_max_age_days < 0 THEN
        RAISE EXCEPTION 'max_age_days must be 0 or more, got %', p_max_age_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    DELETE FROM ktrdr.checkpoints c
    USING ktrdr.operations o
    WHERE o.operation_id = c.operation_id
      AND c.created_at < now() - make_interval(secs => p_max_age_days * 86400)
      AND o.status NOT IN ('running', 'pending_reconciliation')
    RETURNING c.operation_id, c.artifact_location;
END $$;
