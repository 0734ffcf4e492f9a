-- Maintenance for schedulers inside the database (pg_cron, sql/cron.sql): the ticker's passes with
-- their settings read from ktrdr.settings (migrations/V14) instead of a process's environment.
-- pg_cron's calls carry no leader epoch, so they are not fenced (sql/82_leadership.sql): run workers
-- with --no-ticker when pg_cron does this job.

-- set_settings: records the configured values (NULL keeps a value); `ktrdr migrate` calls it with
-- the variables set in its environment. Out-of-range values are refused by the table's checks.
CREATE OR REPLACE FUNCTION ktrdr.set_settings(
    p_orphan_timeout_seconds double precision DEFAULT NULL,
    p_checkpoint_max_age_days double precision DEFAULT NULL,
    p_retention_days double precision DEFAULT NULL)
RETURNS ktrdr.settings LANGUAGE sql AS $$
    UPDATE ktrdr.settings
    SET orphan_timeout_seconds = coalesce(p_orphan_timeout_seconds, orphan_timeout_seconds),
        checkpoint_max_age_days = coalesce(p_checkpoint_max_age_days, checkpoint_max_age_days),
        retention_days = coalesce(p_retention_days, retention_days),
        updated_at = now()
    RETURNING *;
$$;

-- scheduled_maintenance: one orphan and reconciliation pass (run_maintenance) as 'pg_cron'.
CREATE OR REPLACE FUNCTION ktrdr.scheduled_maintenance()
RETURNS jsonb LANGUAGE sql AS $$
    SELECT ktrdr.run_maintenance('pg_cron', s.orphan_timeout_seconds, s.check_interval_seconds)
    FROM ktrdr.settings s;
$$;

-- scheduled_pruning: one pruning batch (run_pruning), nothing while retention_days is 0.
CREATE OR REPLACE FUNCTION ktrdr.scheduled_pruning()
RETURNS jsonb LANGUAGE sql AS $$
    SELECT ktrdr.run_pruning(make_interval(secs => s.retention_days * 86400), s.pruning_batch_size)
    FROM ktrdr.settings s
    WHERE s.retention_days > 0;
$$;

-- scheduled_checkpoint_cleanup: deletes the checkpoints older than checkpoint_max_age_days
-- (cleanup_checkpoints) and the artifacts of theirs kept in the database's own store
-- (`db:` locations). Artifacts in a directory are out of SQL's reach: no row references them any
-- more, so the next sweep (`ktrdr checkpoints cleanup`, or any ticker's cleanup) removes them.
-- Returns the counts.
CREATE OR REPLACE FUNCTION ktrdr.scheduled_checkpoint_cleanup()
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_locations text[];
    v_artifacts integer;
BEGIN
    SELECT array_agg(c.artifact_location) INTO v_locations
    FROM ktrdr.settings s, ktrdr.cleanup_checkpoints(s.checkpoint_max_age_days) c;
    -- Only under checkpoints/, whatever a row says (as src/checkpoints.rs cleans up).
    DELETE FROM ktrdr.artifacts a
    WHERE 'db:' || a.key = ANY (v_locations) AND a.key LIKE 'checkpoints/%';
    GET DIAGNOSTICS v_artifacts = ROW_COUNT;
    RETURN jsonb_build_object(
        'checkpoints_deleted', coalesce(cardinality(v_locations), 0),
        'database_artifacts_deleted', v_artifacts,
        'artifacts_left_for_the_sweep',
        (SELECT count(*) FROM unnest(v_locations) l WHERE l IS NOT NULL AND l NOT LIKE 'db:%'));
END $$;
