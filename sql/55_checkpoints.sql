-- The SHA-256 of a checkpoint's state: of its text as PostgreSQL prints jsonb, which is canonical
-- (keys ordered, one spelling per value), so the same state always hashes the same. save_checkpoint
-- stores it; a worker loading the checkpoint and resume_operation check it, so a state edited after
-- it was saved is found out (migration V12).
CREATE OR REPLACE FUNCTION ktrdr.state_sha256(p_state jsonb)
RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT encode(sha256(convert_to(p_state::text, 'UTF8')), 'hex');
$$;

-- Why a checkpoint cannot be used, or NULL: the reason a worker recorded when it found the checkpoint
-- unusable (mark_checkpoint_corrupt), else a state that no longer matches its SHA-256. Hashes the
-- state: for one checkpoint at a time (a load, a resume, `ktrdr checkpoints`), not for lists of
-- operations, whose `resumable` looks at the recorded reason only.
CREATE OR REPLACE FUNCTION ktrdr.checkpoint_corruption(p_checkpoint ktrdr.checkpoints)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_checkpoint.corrupt_reason,
        CASE WHEN p_checkpoint.state_sha256 <> ktrdr.state_sha256(p_checkpoint.state) THEN
            format('checkpoint state of operation %s does not match its sha256 %s: it was changed after it was saved',
                   p_checkpoint.operation_id, p_checkpoint.state_sha256)
        END);
$$;

-- The one wording of "this checkpoint is corrupt, and how to go on", for the worker that finds it
-- out and for resume_operation refusing it.
CREATE OR REPLACE FUNCTION ktrdr.checkpoint_corrupted_message(p_operation_id text, p_why text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('CHECKPOINT_CORRUPTED: %s. The checkpoint cannot be resumed: `ktrdr ops retry %s` '
                  'deletes it and runs the operation again from scratch', p_why, p_operation_id);
$$;

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
    INSERT INTO ktrdr.checkpoints (operation_id, kind, unit, unit_value, state, state_sha256,
                                   artifact_location, artifact_sha256, artifact_size_bytes,
                                   state_size_bytes, attempt)
    VALUES (p_operation_id, p_kind, p_unit, p_unit_value, p_state, ktrdr.state_sha256(p_state),
            p_artifact_location, p_artifact_sha256, p_artifact_size_bytes, octet_length(p_state::text),
            p_attempt)
    ON CONFLICT (operation_id) DO UPDATE
    SET kind = excluded.kind, unit = excluded.unit, unit_value = excluded.unit_value, state = excluded.state,
        state_sha256 = excluded.state_sha256, artifact_location = excluded.artifact_location,
        artifact_sha256 = excluded.artifact_sha256, artifact_size_bytes = excluded.artifact_size_bytes,
        state_size_bytes = excluded.state_size_bytes, attempt = excluded.attempt, corrupt_reason = NULL,
        created_at = now();
    RETURN QUERY SELECT 'ok'::text,
        CASE WHEN v_previous IS DISTINCT FROM p_artifact_location THEN v_previous END;
END $$;

-- mark_checkpoint_corrupt: the attempt that found its checkpoint unusable records why, so that the
-- operation is no longer offered for resuming; returns the message to fail the operation with. A
-- stale attempt marks nothing (its failure report is refused as well) but gets the message too.
CREATE OR REPLACE FUNCTION ktrdr.mark_checkpoint_corrupt(
    p_operation_id text, p_worker_id text, p_attempt integer, p_reason text)
RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF ktrdr.held_row(p_operation_id, p_worker_id, p_attempt) IS NOT NULL THEN
        UPDATE ktrdr.checkpoints SET corrupt_reason = p_reason WHERE operation_id = p_operation_id;
    END IF;
    RETURN ktrdr.checkpoint_corrupted_message(p_operation_id, p_reason);
END $$;

-- resume_operation: a failed or cancelled operation with a checkpoint goes back to pending, and any
-- worker of its type continues it from the checkpoint. Optimistic locking on `version`: of concurrent
-- resumes exactly one wins; the others get RESUME_CONFLICT (SQLSTATE 40001).
-- A checkpoint known to be corrupt (marked by the worker that found it out, or whose state no longer
-- matches its SHA-256) is refused with the way to go on: `ktrdr ops retry`.
-- Errors: OPERATION_NOT_FOUND (P0002), OPERATION_NOT_RESUMABLE, CHECKPOINT_NOT_FOUND and
-- CHECKPOINT_CORRUPTED (55000).
CREATE OR REPLACE FUNCTION ktrdr.resume_operation(p_operation_id text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_op ktrdr.operations;
    v_checkpoint ktrdr.checkpoints;
    v_corruption text;
BEGIN
    SELECT * INTO v_op FROM ktrdr.operations WHERE operation_id = p_operation_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'OPERATION_NOT_FOUND: operation not found: %', p_operation_id
            USING ERRCODE = 'no_data_found';
    END IF;
    -- A research resumes from its own checkpoint (sql/89_research_sessions.sql).
    IF v_op.operation_type = 'agent_research' THEN
        RETURN ktrdr.resume_research(p_operation_id);
    END IF;
    IF v_op.status NOT IN ('failed', 'cancelled') THEN
        RAISE EXCEPTION 'OPERATION_NOT_RESUMABLE: operation % is %; only FAILED or CANCELLED operations can be resumed',
            p_operation_id, upper(v_op.status) USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT * INTO v_checkpoint FROM ktrdr.checkpoints WHERE operation_id = p_operation_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'CHECKPOINT_NOT_FOUND: operation % has no checkpoint to resume from; `ktrdr ops retry %` runs it again from scratch',
            p_operation_id, p_operation_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    -- Once: it hashes the state.
    v_corruption := ktrdr.checkpoint_corruption(v_checkpoint);
    IF v_corruption IS NOT NULL THEN
        RAISE EXCEPTION '%', ktrdr.checkpoint_corrupted_message(p_operation_id, v_corruption)
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

-- retry_operation: a failed or cancelled operation goes back to pending to run again from scratch:
-- its checkpoint, if any, is deleted (a claim would otherwise continue from it) and its progress
-- cleared. The way on after CHECKPOINT_CORRUPTED, and for anything that should not continue. Returns
-- the deleted checkpoint's artifact location for the caller to remove, or NULL.
-- Errors: OPERATION_NOT_FOUND (P0002), OPERATION_NOT_RETRYABLE (55000).
CREATE OR REPLACE FUNCTION ktrdr.retry_operation(p_operation_id text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
    v_location text;
BEGIN
    SELECT status INTO v_status FROM ktrdr.operations WHERE operation_id = p_operation_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'OPERATION_NOT_FOUND: operation not found: %', p_operation_id
            USING ERRCODE = 'no_data_found';
    END IF;
    IF v_status NOT IN ('failed', 'cancelled') THEN
        RAISE EXCEPTION 'OPERATION_NOT_RETRYABLE: operation % is %; only FAILED or CANCELLED operations can be run again',
            p_operation_id, upper(v_status) USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    DELETE FROM ktrdr.checkpoints WHERE operation_id = p_operation_id RETURNING artifact_location INTO v_location;
    PERFORM ktrdr.set_event_context(NULL, 'retried from scratch');
    UPDATE ktrdr.operations
    SET status = 'pending', completed_at = NULL, error_message = NULL, cancel_requested_at = NULL,
        cancel_reason = NULL, lease_expires_at = NULL, result = NULL, progress_percent = 0,
        progress_message = NULL, progress = NULL,
        max_attempts = greatest(max_attempts, attempt + 1),
        version = version + 1
    WHERE operation_id = p_operation_id;
    RETURN v_location;
END $$;

-- Checkpoints for `ktrdr checkpoints list|stats` and dashboards.
CREATE OR REPLACE VIEW ktrdr.checkpoint_overview AS
SELECT c.operation_id, o.operation_type, o.status, c.kind, c.unit, c.unit_value, c.attempt,
       c.state_size_bytes, c.artifact_size_bytes, c.artifact_location, c.created_at,
       now() - c.created_at AS age, ktrdr.checkpoint_corruption(c) AS corrupt_reason
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
