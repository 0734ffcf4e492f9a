-- Running maintenance with pg_cron instead of the ticker (not part of the migrated bundle: apply it by
-- hand, as a superuser, in the database named by cron.database_name):
--
--   psql "$(ktrdr db url)" -f sql/cron.sql
--
-- Debian's pg_cron 1.4 schedules with minute granularity, so orphans are detected up to a minute
-- after their lease lapses (the ticker wakes at the earliest lease expiry instead). run_maintenance
-- covers the ticker's orphan and reconciliation services, run_pruning its pruning; the checkpoint
-- cleanup also deletes from the artifact store, which may be a directory SQL cannot reach, so
-- schedule `ktrdr checkpoints cleanup` with the system's cron for it. Run workers with --no-ticker when pg_cron does this job:
-- its calls carry no leader epoch, so they are not fenced (sql/82_leadership.sql, assert_leadership). Arguments:
-- ticker name, ORPHAN_TIMEOUT_SECONDS, check interval (the schedule's period, in seconds).
CREATE EXTENSION IF NOT EXISTS pg_cron;

SELECT cron.schedule(
    'ktrdr-maintenance',
    '* * * * *',
    $$SELECT ktrdr.run_maintenance('pg_cron', 60, 60)$$
);

-- Pruning (the ticker's pruning service): one batch of at most 1000 finished operations older than
-- the retention (KTRDR_RETENTION_DAYS, here 30 days) a minute, with their events and the workers
-- silent as long — each call a short transaction of its own, recorded for `ktrdr health`. A minute
-- with nothing to prune costs one index probe. Leave this job out to keep everything (as
-- KTRDR_RETENTION_DAYS=0). Arguments: retention, batch size.
SELECT cron.schedule(
    'ktrdr-pruning',
    '* * * * *',
    $$SELECT ktrdr.run_pruning(interval '30 days', 1000)$$
);
