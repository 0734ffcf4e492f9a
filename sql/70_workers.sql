-- The worker registry. A worker registers on start and whenever it reconnects, renews its own lease
-- with worker_heartbeat, and deregisters on a clean exit. A worker whose lease lapsed without
-- deregistering is shown as 'lost' by the workers view.

CREATE OR REPLACE FUNCTION ktrdr.register_worker(
    p_worker_id text, p_types text[], p_host text, p_pid integer, p_version text,
    p_concurrency integer, p_lease_seconds double precision, p_capabilities jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_unknown text;
BEGIN
    SELECT string_agg(t, ', ') INTO v_unknown
    FROM unnest(p_types) t WHERE t NOT IN (SELECT name FROM ktrdr.operation_types);
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown operation type(s): % (known types: %)', v_unknown,
            (SELECT string_agg(name, ', ' ORDER BY name) FROM ktrdr.operation_types)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO ktrdr.workers (worker_id, types, host, pid, version, capabilities, concurrency,
                               started_at, heartbeat_at, lease_expires_at, status)
    VALUES (p_worker_id, p_types, p_host, p_pid, p_version, p_capabilities, p_concurrency,
            now(), now(), now() + ktrdr.lease_interval(p_lease_seconds), 'active')
    ON CONFLICT (worker_id) DO UPDATE
    SET types = excluded.types, host = excluded.host, pid = excluded.pid, version = excluded.version,
        capabilities = excluded.capabilities, concurrency = excluded.concurrency,
        heartbeat_at = now(), lease_expires_at = excluded.lease_expires_at, status = 'active';
END $$;

-- Renews the worker's lease; false when the worker is unknown (it should register again).
CREATE OR REPLACE FUNCTION ktrdr.worker_heartbeat(p_worker_id text, p_lease_seconds double precision)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ktrdr.workers
    SET heartbeat_at = now(), lease_expires_at = now() + ktrdr.lease_interval(p_lease_seconds), status = 'active'
    WHERE worker_id = p_worker_id;
    RETURN FOUND;
END $$;

CREATE OR REPLACE FUNCTION ktrdr.deregister_worker(p_worker_id text)
RETURNS void LANGUAGE sql AS $$
    UPDATE ktrdr.workers SET status = 'stopped', heartbeat_at = now() WHERE worker_id = p_worker_id;
$$;
