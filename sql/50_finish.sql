-- The fenced ends of an attempt. Each takes (operation, worker, attempt) and returns 'stop' without
-- changing anything when that attempt is no longer the running one; the worker then abandons the
-- operation. A stale worker can therefore never complete, fail or cancel an operation that moved on.
-- An operation in pending_reconciliation (its lease lapsed while the database was away) still belongs
-- to its attempt: a result reported for it is accepted.

-- complete_operation: running → completed with its result ('ok' | 'stop'). A completed operation
-- needs its checkpoint no more: it is deleted in the same transaction.
CREATE OR REPLACE FUNCTION ktrdr.complete_operation(
    p_operation_id text, p_worker_id text, p_attempt integer, p_result jsonb DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_row tid;
BEGIN
    PERFORM ktrdr.set_event_context(p_worker_id, 'completed');
    v_row := ktrdr.held_row(p_operation_id, p_worker_id, p_attempt);
    IF v_row IS NULL THEN
        RETURN 'stop';
    END IF;
    UPDATE ktrdr.operations
    SET status = 'completed', completed_at = now(), result = p_result, progress_percent = 100,
        lease_expires_at = NULL, reconcile_deadline = NULL, error_message = NULL, version = version + 1
    WHERE ctid = v_row;
    IF NOT FOUND THEN
        RETURN 'stop';
    END IF;
    DELETE FROM ktrdr.checkpoints WHERE operation_id = p_operation_id;
    RETURN 'ok';
END $$;

-- complete_operations: complete_operation for a batch in one statement. Returns the ids that were
-- refused as stale (an empty set when every completion landed).
--
-- Each row is found by its key and locked first, then updated by its physical address: however stale
-- the table's statistics (a queue's running rows come and go between ANALYZEs), the plan stays one
-- primary-key probe per completion. (Joined on the key, the planner took the partial index of
-- running operations and compared every batch row with every running row.) The `OFFSET 0` keeps the
-- status filter out of that probe; the lock keeps the address valid until this statement commits.
CREATE OR REPLACE FUNCTION ktrdr.complete_operations(
    p_worker_id text, p_operation_ids text[], p_attempts integer[], p_results jsonb[])
RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
    v_done text[];
BEGIN
    IF cardinality(p_operation_ids) <> cardinality(p_attempts)
       OR cardinality(p_operation_ids) <> cardinality(p_results) THEN
        RAISE EXCEPTION 'operation_ids, attempts and results must have the same length'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM set_config('ktrdr.events_recorded', 'on', true);
    WITH owned AS (
        SELECT o.row_id, o.status AS from_status, b.result
        FROM unnest(p_operation_ids, p_attempts, p_results) AS b (operation_id, attempt, result)
        CROSS JOIN LATERAL (
            SELECT o.ctid AS row_id, o.worker_id, o.attempt, o.status
            FROM ktrdr.operations o
            WHERE o.operation_id = b.operation_id
            OFFSET 0
            FOR UPDATE
        ) o
        WHERE o.worker_id = p_worker_id AND o.attempt = b.attempt
          AND o.status IN ('running', 'pending_reconciliation')
    ), done AS (
        UPDATE ktrdr.operations o
        SET status = 'completed', completed_at = now(), result = t.result, progress_percent = 100,
            lease_expires_at = NULL, reconcile_deadline = NULL, error_message = NULL,
            version = o.version + 1
        FROM owned t
        WHERE o.ctid = t.row_id
        RETURNING o.operation_id, o.attempt, t.from_status
    ), recorded AS (
        -- The status history of the completions (see sql/10_events.sql).
        INSERT INTO ktrdr.operation_events
            (operation_id, from_status, to_status, attempt, worker_id, actor, reason)
        -- (done rows are this worker's: claim_operations refuses an empty worker id.)
        SELECT d.operation_id, d.from_status, 'completed', d.attempt, p_worker_id, p_worker_id,
               'completed'
        FROM done d
    ), dropped AS (
        DELETE FROM ktrdr.checkpoints c USING done d WHERE c.operation_id = d.operation_id
    )
    SELECT coalesce(array_agg(d.operation_id), '{}') INTO v_done FROM done d;
    PERFORM set_config('ktrdr.events_recorded', 'off', true);
    PERFORM pg_notify('ktrdr_progress', id) FROM unnest(v_done) AS id;
    RETURN QUERY
    SELECT b.operation_id FROM unnest(p_operation_ids) AS b (operation_id)
    EXCEPT ALL
    SELECT unnest(v_done);
END $$;

-- fail_operation: the attempt failed with p_error. With attempts left (attempt < max_attempts) and
-- p_retryable, the operation goes back to pending for another worker ('retrying'); otherwise it is
-- failed ('failed'). 'stop' for a stale caller.
CREATE OR REPLACE FUNCTION ktrdr.fail_operation(
    p_operation_id text, p_worker_id text, p_attempt integer, p_error text, p_retryable boolean DEFAULT true)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_row tid;
    v_status text;
BEGIN
    PERFORM ktrdr.set_event_context(p_worker_id, p_error);
    v_row := ktrdr.held_row(p_operation_id, p_worker_id, p_attempt);
    IF v_row IS NULL THEN
        RETURN 'stop';
    END IF;
    UPDATE ktrdr.operations
    SET status = CASE WHEN p_retryable AND attempt < max_attempts AND cancel_requested_at IS NULL
                      THEN 'pending' ELSE 'failed' END,
        completed_at = CASE WHEN p_retryable AND attempt < max_attempts AND cancel_requested_at IS NULL
                            THEN NULL ELSE now() END,
        reconcile_deadline = NULL,
        lease_expires_at = NULL,
        error_message = coalesce(p_error, 'unknown error'),
        version = version + 1
    WHERE ctid = v_row
    RETURNING status INTO v_status;
    IF NOT FOUND THEN
        RETURN 'stop';
    END IF;
    RETURN CASE v_status WHEN 'pending' THEN 'retrying' ELSE 'failed' END;
END $$;

-- mark_cancelled: the worker stopped a running attempt (cancel requested, or its own shutdown) → cancelled.
CREATE OR REPLACE FUNCTION ktrdr.mark_cancelled(
    p_operation_id text, p_worker_id text, p_attempt integer, p_message text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_row tid;
BEGIN
    PERFORM ktrdr.set_event_context(p_worker_id, coalesce(p_message, 'cancelled'));
    v_row := ktrdr.held_row(p_operation_id, p_worker_id, p_attempt);
    IF v_row IS NULL THEN
        RETURN 'stop';
    END IF;
    UPDATE ktrdr.operations
    SET status = 'cancelled', completed_at = now(), lease_expires_at = NULL, reconcile_deadline = NULL,
        error_message = coalesce(p_message, cancel_reason, 'Cancelled'),
        cancel_requested_at = coalesce(cancel_requested_at, now()), version = version + 1
    WHERE ctid = v_row;
    RETURN CASE WHEN FOUND THEN 'ok' ELSE 'stop' END;
END $$;

-- release_operation: the worker gives a running attempt back (its graceful shutdown, or an operation
-- it claimed ahead and could not start in time): pending again for any worker, which continues from
-- the checkpoint. The released attempt is given back to the budget — the attempt number is also
-- the fencing token, so the next claim counts up, and max_attempts counts up with it. An operation
-- whose cancel was requested meanwhile is cancelled instead: nobody would run it only to stop it
-- ('ok' | 'stop').
CREATE OR REPLACE FUNCTION ktrdr.release_operation(
    p_operation_id text, p_worker_id text, p_attempt integer, p_message text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_row tid;
BEGIN
    PERFORM ktrdr.set_event_context(p_worker_id, coalesce(p_message, 'released'));
    v_row := ktrdr.held_row(p_operation_id, p_worker_id, p_attempt);
    IF v_row IS NULL THEN
        RETURN 'stop';
    END IF;
    UPDATE ktrdr.operations
    SET status = CASE WHEN cancel_requested_at IS NULL THEN 'pending' ELSE 'cancelled' END,
        completed_at = CASE WHEN cancel_requested_at IS NULL THEN NULL ELSE now() END,
        error_message = CASE WHEN cancel_requested_at IS NULL THEN error_message
                             ELSE coalesce(cancel_reason, 'Cancelled') END,
        lease_expires_at = NULL, reconcile_deadline = NULL,
        max_attempts = max_attempts + 1, version = version + 1
    WHERE ctid = v_row;
    RETURN CASE WHEN FOUND THEN 'ok' ELSE 'stop' END;
END $$;
