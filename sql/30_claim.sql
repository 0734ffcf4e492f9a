-- claim_operations: hands up to p_limit pending operations of the given types to one worker.
-- Guarantees: an operation is handed to exactly one caller (FOR UPDATE SKIP LOCKED: concurrent claimers
-- skip each other's rows instead of waiting); highest priority first, then submission order; every claim
-- increments `attempt`, the fencing token the worker must present on every later call; the lease runs
-- for p_lease_seconds and is renewed by heartbeat(). Cost: O(types × limit × log n), whatever the
-- number n of pending operations.
CREATE OR REPLACE FUNCTION ktrdr.claim_operations(
    p_worker_id text, p_types text[], p_limit integer, p_lease_seconds double precision)
RETURNS TABLE (operation_id text, operation_type text, params jsonb, attempt integer, max_attempts integer,
               lease_expires_at timestamptz)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_lease interval := ktrdr.lease_interval(p_lease_seconds);
BEGIN
    IF p_worker_id IS NULL OR p_worker_id = '' THEN
        RAISE EXCEPTION 'worker_id must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_limit IS NULL OR p_limit < 1 OR p_limit > 10000 THEN
        RAISE EXCEPTION 'limit must be in [1, 10000], got %', p_limit USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM set_config('ktrdr.events_recorded', 'on', true);
    RETURN QUERY
    -- One index scan of operations_claimable per type (its order is the claim order), merged: a claim
    -- reads only the rows it may hand out, however many are pending. (`operation_type = ANY (types)`
    -- cannot use the index's order, so it read and sorted every pending row of the types.) Each scan
    -- locks at most p_limit rows; those that lose the merge are unlocked when the claim commits.
    WITH picked AS (
        SELECT candidate.ctid
        FROM (SELECT DISTINCT unnest(p_types) AS operation_type) wanted
        CROSS JOIN LATERAL (
            SELECT o.ctid, o.priority, o.submit_seq
            FROM ktrdr.operations o
            WHERE o.status = 'pending' AND o.operation_type = wanted.operation_type
            ORDER BY o.priority DESC, o.submit_seq
            LIMIT p_limit
            FOR UPDATE SKIP LOCKED
        ) candidate
        ORDER BY candidate.priority DESC, candidate.submit_seq
        LIMIT p_limit
    ), claimed AS (
        -- The picked rows are updated by their physical address (a TID scan), not joined back on
        -- the key, which the planner did as a hash join over the whole table for large batches.
        -- The address is stable here: the rows are locked by this statement, so nobody else can
        -- update (and so move) them before it commits.
        UPDATE ktrdr.operations o
        SET status = 'running',
            worker_id = p_worker_id,
            attempt = o.attempt + 1,
            started_at = now(),
            heartbeat_at = now(),
            lease_expires_at = now() + v_lease,
            version = o.version + 1
        WHERE o.ctid = ANY (ARRAY(SELECT picked.ctid FROM picked))
        RETURNING o.operation_id, o.operation_type, o.params, o.attempt, o.max_attempts,
                  o.lease_expires_at
    ), recorded AS (
        -- The status history of the claims (see sql/10_events.sql): every picked row was pending.
        INSERT INTO ktrdr.operation_events
            (operation_id, from_status, to_status, attempt, worker_id, actor, reason)
        SELECT c.operation_id, 'pending', 'running', c.attempt, p_worker_id, p_worker_id, 'claimed'
        FROM claimed c
    )
    SELECT * FROM claimed;
    PERFORM set_config('ktrdr.events_recorded', 'off', true);
END $$;
