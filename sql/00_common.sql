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
