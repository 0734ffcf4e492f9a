-- Least-privilege roles (applied last, on every change of the bundle, after the functions above
-- were re-created — CREATE OR REPLACE resets a function's SECURITY and SET clauses, so they are
-- set again here). Roles are NOLOGIN groups: give each service a login of its own that is a
-- member (`CREATE ROLE ktrdr_worker_login LOGIN PASSWORD '…' IN ROLE ktrdr_worker`).
--
--   ktrdr_worker  EXECUTE on the functions a worker (and the ticker inside it) calls — the list
--                 below —, SELECT on the tables, and writes to ktrdr.artifacts (the database's
--                 artifact store); no INSERT, UPDATE or DELETE on operations, checkpoints, workers:
--                 it changes them only through the fenced functions.
--   ktrdr_reader  SELECT on the views and EXECUTE on the non-volatile functions they call (they
--                 cannot write), for Grafana and psql users: nothing else.
--   ktrdr_admin   the operator (`ktrdr --no-migrate …`): every function and table, but no DDL.
--                 Migrations stay with the schema's owner.
--
-- The functions the worker may call run as their owner (SECURITY DEFINER), with a fixed
-- search_path so a caller cannot slip its own objects in front of ktrdr's. Only these
-- entry points are: a helper they call runs with their rights anyway. A new worker-facing
-- function must be added to v_worker_functions; a name that matches no function is an error.
DO $roles$
DECLARE
    v_worker_functions constant text[] := ARRAY[
        -- claim, run, report (src/operations/, src/checkpoints.rs, src/workers.rs)
        'claim_operations', 'reclaim_operations', 'heartbeat', 'record_progress', 'complete_operation',
        'complete_operations', 'fail_operation', 'save_checkpoint', 'mark_checkpoint_corrupt',
        'checkpoint_corruption', 'register_worker', 'worker_heartbeat', 'deregister_worker',
        -- the ticker inside every worker (src/leader.rs, src/maintenance/)
        'take_leadership', 'renew_leadership', 'resign_leadership', 'assert_leadership',
        'run_orphan_detection', 'run_reconciliation_expiry', 'cleanup_checkpoints',
        'prune_operations', 'record_pruning',
        -- the research service of that ticker (src/maintenance/research.rs)
        'advance_researches'];
    -- Called by the operator (and pg_cron, as a superuser), never by a worker: run as their owner
    -- too, so an admin without table rights could use them, but granted to ktrdr_admin only.
    v_admin_functions constant text[] := ARRAY[
        'submit_operation', 'submit_operations', 'request_cancel', 'resume_operation',
        'retry_operation', 'delete_checkpoint', 'run_maintenance', 'run_pruning', 'set_settings',
        'scheduled_maintenance', 'scheduled_pruning', 'scheduled_checkpoint_cleanup',
        -- research sessions (src/research.rs) and market data (trading/src/market_data/store.rs)
        'trigger_research', 'cancel_research', 'resume_research', 'delete_bar_series',
        'record_bar_source'];
    v_role text;
    v_name text;
    v_function regprocedure;
BEGIN
    FOREACH v_role IN ARRAY ARRAY['ktrdr_worker', 'ktrdr_reader', 'ktrdr_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = v_role) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', v_role);
            EXCEPTION
                -- Another database on this server migrating at the same moment created it.
                WHEN duplicate_object OR unique_violation THEN NULL;
                WHEN insufficient_privilege THEN
                    RAISE EXCEPTION 'role % does not exist and % may not create roles: migrate as a role with CREATEROLE, or create it first (CREATE ROLE % NOLOGIN)',
                        v_role, current_user, v_role USING ERRCODE = 'insufficient_privilege';
            END;
        END IF;
    END LOOP;

    REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA ktrdr FROM PUBLIC;
    GRANT USAGE ON SCHEMA ktrdr TO ktrdr_worker, ktrdr_reader, ktrdr_admin;

    FOREACH v_name IN ARRAY v_worker_functions || v_admin_functions LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_proc WHERE pronamespace = 'ktrdr'::regnamespace AND proname = v_name) THEN
            RAISE EXCEPTION 'sql/95_roles.sql lists function ktrdr.% which does not exist', v_name;
        END IF;
        FOR v_function IN
            SELECT oid::regprocedure FROM pg_proc
            WHERE pronamespace = 'ktrdr'::regnamespace AND proname = v_name
        LOOP
            EXECUTE format('ALTER FUNCTION %s SECURITY DEFINER SET search_path = ktrdr, pg_temp', v_function);
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO ktrdr_admin', v_function);
            IF v_name = ANY (v_worker_functions) THEN
                EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO ktrdr_worker', v_function);
            END IF;
        END LOOP;
    END LOOP;

    -- Non-volatile functions cannot write (PostgreSQL refuses INSERT/UPDATE/DELETE in them); views
    -- call some of them with their reader's rights.
    FOR v_function IN
        SELECT oid::regprocedure FROM pg_proc
        WHERE pronamespace = 'ktrdr'::regnamespace AND provolatile <> 'v' AND prokind = 'f'
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO ktrdr_reader, ktrdr_worker', v_function);
    END LOOP;

    GRANT SELECT ON ALL TABLES IN SCHEMA ktrdr TO ktrdr_worker;
    GRANT INSERT, UPDATE, DELETE ON ktrdr.artifacts TO ktrdr_worker;
    FOR v_name IN SELECT quote_ident(viewname) FROM pg_views WHERE schemaname = 'ktrdr' LOOP
        EXECUTE format('GRANT SELECT ON ktrdr.%s TO ktrdr_reader', v_name);
    END LOOP;

    GRANT ALL ON ALL TABLES IN SCHEMA ktrdr TO ktrdr_admin;
    GRANT ALL ON ALL SEQUENCES IN SCHEMA ktrdr TO ktrdr_admin;
    GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA ktrdr TO ktrdr_admin;
END $roles$;
