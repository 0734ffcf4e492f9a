-- submit_operation: validates and inserts one pending operation; the insert trigger announces it.
-- submit_operations: the same for p_count identical operations in one statement (bulk submit).
-- Errors (SQLSTATE 22023, invalid_parameter_value) name the bad argument and what is accepted.
-- Params may be at most 1 MiB (as jsonb text) and 32 levels deep.

CREATE OR REPLACE FUNCTION ktrdr.validate_submission(
    p_type text, p_params jsonb, p_priority integer, p_max_attempts integer, p_parent_id text)
RETURNS void LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM ktrdr.operation_types WHERE name = p_type) THEN
        RAISE EXCEPTION 'unknown operation type "%" (known types: %)', p_type,
            (SELECT string_agg(name, ', ' ORDER BY name) FROM ktrdr.operation_types)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_params IS NULL OR jsonb_typeof(p_params) <> 'object' THEN
        RAISE EXCEPTION 'params must be a JSON object, got %', coalesce(jsonb_typeof(p_params), 'null')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The limits of src/operations/params_limits.rs (MAX_PARAMS_BYTES, MAX_PARAMS_DEPTH), in its
    -- words and order: params travel in every claim and every read of the operation. A container at level 32
    -- (the root is level 0) is the 33rd level of nesting.
    IF jsonb_path_exists(p_params, 'strict $.**{32} ? (@.type() == "object" || @.type() == "array")') THEN
        RAISE EXCEPTION 'params nest deeper than 32 levels of objects and arrays (the limit)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF octet_length(p_params::text) > 1048576 THEN
        RAISE EXCEPTION 'params are % bytes as JSON, over the limit of 1048576 bytes (1 MiB)',
            octet_length(p_params::text)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_priority IS NULL OR p_priority < 0 THEN
        RAISE EXCEPTION 'priority must be a non-negative integer, got %', p_priority
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_max_attempts IS NULL OR p_max_attempts < 1 THEN
        RAISE EXCEPTION 'max_attempts must be at least 1, got %', p_max_attempts
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_parent_id IS NOT NULL THEN
        PERFORM ktrdr.require_operation(p_parent_id);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION ktrdr.submit_operation(
    p_type text,
    p_params jsonb DEFAULT '{}',
    p_priority integer DEFAULT 0,
    p_max_attempts integer DEFAULT 1,
    p_parent_id text DEFAULT NULL)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_id text;
BEGIN
    PERFORM ktrdr.validate_submission(p_type, p_params, p_priority, p_max_attempts, p_parent_id);
    PERFORM ktrdr.set_event_context(NULL, 'submitted');
    INSERT INTO ktrdr.operations
        (operation_id, submit_seq, operation_type, params, priority, max_attempts, parent_id)
    SELECT ktrdr.format_operation_id(p_type, s.seq), s.seq, p_type, p_params, p_priority, p_max_attempts, p_parent_id
    FROM (SELECT nextval('ktrdr.operation_serial') AS seq) s
    RETURNING operation_id INTO v_id;
    RETURN v_id;
END $$;

CREATE OR REPLACE FUNCTION ktrdr.submit_operations(
    p_type text,
    p_count integer,
    p_params jsonb DEFAULT '{}',
    p_priority integer DEFAULT 0,
    p_max_attempts integer DEFAULT 1,
    p_parent_id text DEFAULT NULL)
RETURNS SETOF text LANGUAGE plpgsql AS $$
BEGIN
    IF p_count IS NULL OR p_count < 1 OR p_count > 1000000 THEN
        RAISE EXCEPTION 'count must be in [1, 1000000], got %', p_count USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM ktrdr.validate_submission(p_type, p_params, p_priority, p_max_attempts, p_parent_id);
    PERFORM ktrdr.set_event_context(NULL, 'submitted');
    RETURN QUERY
    INSERT INTO ktrdr.operations
        (operation_id, submit_seq, operation_type, params, priority, max_attempts, parent_id)
    SELECT ktrdr.format_operation_id(p_type, s.seq), s.seq, p_type, p_params, p_priority, p_max_attempts, p_parent_id
    FROM (SELECT nextval('ktrdr.operation_serial') AS seq FROM generate_series(1, p_count)) s
    ORDER BY s.seq
    RETURNING operation_id;
END $$;
