-- Running maintenance with pg_cron instead of the ticker. Not part of the migrated bundle (pg_cron
-- must be in shared_preload_libraries, and CREATE EXTENSION needs a superuser): apply it by hand, as
-- a superuser, in the database named by cron.database_name, after `ktrdr migrate`:
--
--   psql "$DATABASE_URL" -f sql/cron.sql
--
-- The jobs read their settings from ktrdr.settings (orphan timeout, check interval, checkpoint max
-- age, retention, pruning batch), which `ktrdr migrate` fills from ORPHAN_TIMEOUT_SECONDS,
-- CHECKPOINT_MAX_AGE_DAYS and KTRDR_RETENTION_DAYS and a DBA may UPDATE; a change applies at the
-- next run, without rescheduling. Debian's pg_cron 1.4 schedules with minute granularity, so
-- orphans are detected up to a minute after their lease lapses (the ticker wakes at the earliest
-- lease expiry instead). `ktrdr health` then shows the orphan detector running with scheduler
-- pg_cron. Run workers with --no-ticker: pg_cron's calls carry no leader epoch, so they are not
-- fenced against a ticker's (sql/82_leadership.sql). Re-applying this file replaces the jobs.
-- With password authentication (the embedded cluster's SCRAM, any production server), set
-- cron.use_background_workers = on: otherwise pg_cron logs in over libpq with no password, and
-- every job fails to connect.
CREATE EXTENSION IF NOT EXISTS pg_cron;

-- Orphan detection and expiry of outage reconciliations (sql/88_scheduled_maintenance.sql).
SELECT cron.schedule('ktrdr-maintenance', '* * * * *', $$SELECT ktrdr.scheduled_maintenance()$$);

-- Pruning: one batch of finished operations older than the retention a minute, each a short
-- transaction recorded for `ktrdr health`; nothing while retention_days is 0.
SELECT cron.schedule('ktrdr-pruning', '* * * * *', $$SELECT ktrdr.scheduled_pruning()$$);

-- Checkpoint cleanup, hourly (the ticker's default is daily; a pass with nothing old is one index
-- scan): checkpoints older than checkpoint_max_age_days, with their artifacts in the database's
-- store. Artifacts in a directory are swept by `ktrdr checkpoints cleanup` (schedule it with the
-- system's cron) since SQL cannot reach that directory; no row references them any more.
SELECT cron.schedule('ktrdr-checkpoint-cleanup', '7 * * * *', $$SELECT ktrdr.scheduled_checkpoint_cleanup()$$);
