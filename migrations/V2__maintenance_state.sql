-- State of the maintenance ticker, one row, so psql and Grafana see what the leader sees.
CREATE TABLE ktrdr.maintenance_state (
    singleton               boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    leader_id               text,
    leader_since            timestamptz,
    last_check              timestamptz,
    last_result             jsonb,
    potential_orphans_count integer NOT NULL DEFAULT 0,
    orphan_timeout_seconds  double precision,
    check_interval_seconds  double precision,
    -- pg_postmaster_start_time() at the last check: a different value means the server restarted.
    postmaster_started_at   timestamptz,
    -- Set when a check finds the database was unavailable (restart, or no check for longer than the
    -- orphan timeout); lapsed leases are reconciled instead of failed until the grace period ends.
    outage_detected_at      timestamptz,
    reconcile_grace_seconds double precision
);
INSERT INTO ktrdr.maintenance_state DEFAULT VALUES;
