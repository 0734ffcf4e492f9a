-- Helpers shared by the operation functions.

-- Names who is changing an operation and why, for the status-history trigger (transaction-local).
CREATE OR REPLACE FUNCTION ktrdr.set_event_context(p_actor text, p_reason text)
RETURNS void LANGUAGE sql VOLATILE AS $$
    SELECT set_config('ktrdr.actor', coalesce(p_actor, ''), true),
           set_config('ktrdr.reason', coalesce(p_reason, ''), true);
$$;

-- op_{type}_{yyyymmdd}_{hhmmss}_{8 hex}. The suffix is a bijective scramble of the submission sequence
-- number, so ids are unique even for a million operations submitted in the same second.
CREATE OR REPLACE FUNCTION ktrdr.format_operation_id(p_type text, p_submit_seq bigint)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT 'op_' || p_type || '_' || to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD_HH24MISS') || '_'
        || lpad(to_hex(((p_submit_seq % 4294967296) * 1640531527 % 4294967296) # 2863311530), 8, '0');
$$;

-- A lease length in seconds as an interval; refuses nonsense with a message naming the argument.
CREATE OR REPLACE FUNCTION ktrdr.lease_interval(p_lease_seconds double precision)
RETURNS interval LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_lease_seconds IS NULL OR p_lease_seconds <= 0 OR p_lease_seconds > 86400 THEN
        RAISE EXCEPTION 'lease_seconds must be in (0, 86400], got %', p_lease_seconds
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN make_interval(secs => p_lease_seconds);
END $$;

-- Raises OPERATION_NOT_FOUND (SQLSTATE P0002) for an unknown id.
CREATE OR REPLACE FUNCTION ktrdr.require_operation(p_operation_id text)
RETURNS void LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ktrdr.operations WHERE operation_id = p_operation_id) THEN
        RAISE EXCEPTION 'operation not found: %', p_operation_id USING ERRCODE = 'no_data_found';
    END IF;
END $$;

-- The address of the operation's row if the attempt (operation, worker, attempt) holds it — running,
-- or in reconciliation — else NULL; the row is locked FOR UPDATE either way. The fenced functions
-- find their row through this and then update it by address. The row is looked up by its key
-- alone: with the status in the same WHERE, the planner — whose statistics of a queue date from
-- a moment with no running rows, as often as not — scanned the whole partial index of running
-- operations for every heartbeat and completion, a cost that grew with the fleet.
CREATE OR REPLACE FUNCTION ktrdr.held_row(p_operation_id text, p_worker_id text, p_attempt integer)
RETURNS tid LANGUAGE plpgsql AS $$
DECLARE
    v_row tid;
    v_worker text;
    v_attempt integer;
    v_status text;
BEGIN
    SELECT ctid, worker_id, attempt, status INTO v_row, v_worker, v_attempt, v_status
    FROM ktrdr.operations WHERE operation_id = p_operation_id
    FOR UPDATE;
    IF v_worker IS DISTINCT FROM p_worker_id OR v_attempt IS DISTINCT FROM p_attempt
       OR v_status IS NULL OR v_status NOT IN ('running', 'pending_reconciliation') THEN
        RETURN NULL;
    END IF;
    RETURN v_row;
END $$;

-- Locks the operation's row (FOR UPDATE: no claim or other change can slip in before the caller's
-- transaction ends) and returns its status; OPERATION_NOT_FOUND (P0002) for an unknown id.
CREATE OR REPLACE FUNCTION ktrdr.lock_operation(p_operation_id text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM ktrdr.operations WHERE operation_id = p_operation_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'operation not found: %', p_operation_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN v_status;
END $$;
