-- The worker registry. A worker registers on start and whenever it reconnects, renews its own lease
-- with worker_heartbeat, and deregisters on a clean exit. A worker whose lease lapsed without
-- deregistering is shown as 'lost' by the workers view.
--
-- An id names one live worker: registering under the id of a live worker of another process (its
-- lease running, another host or pid) is refused (SQLSTATE 55006), so that two processes never
-- share a row and the death of one stays visible. The same process registers again freely (after
-- an outage), and a dead worker's id is free once its lease lapsed.

CREATE OR REPLACE FUNCTION ktrdr.register_worker(
    p_worker_id text, p_types text[], p_host text, p_pid integer, p_version text,
    p_concurrency integer, p_lease_seconds double precision, p_capabilities jsonb DEFAULT '{}')
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_unknown text;
    v_live ktrdr.workers;
BEGIN
    SELECT string_agg(t, ', ') INTO v_unknown
    FROM unnest(p_types) t WHERE t NOT IN (SELECT name FROM ktrdr.operation_types);
    IF v_unknown IS NOT NULL THEN
        RAISE EXCEPTION 'unknown operation type(s): % (known types: %)', v_unknown,
            (SELECT string_agg(name, ', ' ORDER BY name) FROM ktrdr.operation_types)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The conflict check and the update are one statement, so two processes starting at once under
    -- one id cannot both get the row.
    INSERT INTO ktrdr.workers AS w (worker_id, types, host, pid, version, capabilities, concurrency,
                                    started_at, heartbeat_at, lease_expires_at, status)
    VALUES (p_worker_id, p_types, p_host, p_pid, p_version, p_capabilities, p_concurrency,
            now(), now(), now() + ktrdr.lease_interval(p_lease_seconds), 'active')
    ON CONFLICT (worker_id) DO UPDATE
    SET types = excluded.types, host = excluded.host, pid = excluded.pid, version = excluded.version,
        capabilities = excluded.capabilities, concurrency = excluded.concurrency,
        heartbeat_at = now(), lease_expires_at = excluded.lease_expires_at, status = 'active'
    WHERE NOT (w.status = 'active' AND w.lease_expires_at > now()
               AND (w.host, w.pid) IS DISTINCT FROM (excluded.host, excluded.pid));
    IF NOT FOUND THEN
        SELECT * INTO v_live FROM ktrdr.workers WHERE worker_id = p_worker_id;
        RAISE EXCEPTION 'worker id ''%'' is in use by a live worker (host %, pid %, lease until %): stop it, wait for its lease to lapse, or start this one with another --worker-id',
            p_worker_id, v_live.host, v_live.pid, v_live.lease_expires_at
            USING ERRCODE = 'object_in_use';
    END IF;
END $$;

-- Renews the worker's lease and records how many outcomes wait in its outbox (NULL: unchanged);
-- false when the worker is unknown (it should register again).
DROP FUNCTION IF EXISTS ktrdr.worker_heartbeat(text, double precision);
CREATE OR REPLACE FUNCTION ktrdr.worker_heartbeat(
    p_worker_id text, p_lease_seconds double precision, p_undelivered_outcomes integer DEFAULT NULL)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    UPDATE ktrdr.workers
    SET heartbeat_at = now(), lease_expires_at = now() + ktrdr.lease_interval(p_lease_seconds), status = 'active',
        undelivered_outcomes = coalesce(p_undelivered_outcomes, undelivered_outcomes)
    WHERE worker_id = p_worker_id;
    RETURN FOUND;
END $$;

CREATE OR REPLACE FUNCTION ktrdr.deregister_worker(p_worker_id text)
RETURNS void LANGUAGE sql AS $$
    UPDATE ktrdr.workers SET status = 'stopped', heartbeat_at = now() WHERE worker_id = p_worker_id;
$$;
