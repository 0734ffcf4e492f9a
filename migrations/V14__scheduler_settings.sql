-- Settings for schedulers that run maintenance from inside the database (pg_cron, sql/cron.sql):
-- pg_cron has no environment, so the configured timeouts live here. One row; `ktrdr migrate`
-- writes the ORPHAN_TIMEOUT_SECONDS, CHECKPOINT_MAX_AGE_DAYS and KTRDR_RETENTION_DAYS of its
-- environment (those that are set), and a DBA may UPDATE it. The ticker keeps reading its
-- environment. Ranges as the environment accepts them (src/maintenance/).
CREATE TABLE ktrdr.settings (
    singleton               boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    orphan_timeout_seconds  double precision NOT NULL DEFAULT 60
                            CHECK (orphan_timeout_seconds BETWEEN 0.5 AND 86400),
    -- The schedule's period: Debian's pg_cron 1.4 runs jobs at most once a minute.
    check_interval_seconds  double precision NOT NULL DEFAULT 60
                            CHECK (check_interval_seconds BETWEEN 0.1 AND 3600),
    checkpoint_max_age_days double precision NOT NULL DEFAULT 30
                            CHECK (checkpoint_max_age_days BETWEEN 0 AND 36500),
    -- 0 keeps every finished operation (as KTRDR_RETENTION_DAYS=0).
    retention_days          double precision NOT NULL DEFAULT 30
                            CHECK (retention_days BETWEEN 0 AND 36500),
    pruning_batch_size      integer NOT NULL DEFAULT 1000 CHECK (pruning_batch_size BETWEEN 1 AND 100000),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ktrdr.settings DEFAULT VALUES;

-- Who ran the last orphan pass (a ticker's id, or 'pg_cron'), so `ktrdr health` can tell a live
-- pg_cron schedule from a stopped detector.
ALTER TABLE ktrdr.maintenance_state ADD COLUMN last_check_by text;

-- detect_orphans now also returns the ids it settled (for the ticker's log); a changed result type
-- needs the old function gone before sql/80_orphans.sql creates the new one (a database migrated
-- for the first time has none yet).
DROP FUNCTION IF EXISTS ktrdr.detect_orphans(boolean, timestamptz);
