-- Milestone progress — a training's epochs — kept one row each (sql/40_heartbeat.sql,
-- record_progress), so that a follower that connects late, or misses a notification while two
-- epochs end a millisecond apart, still sees every one (`GET /api/v1/operations/{id}/progress`).
-- Throttled step progress is not kept: only the operation row holds the latest. Rows go with their
-- operation when it is pruned (sql/86_pruning.sql).
CREATE TABLE ktrdr.operation_progress (
    operation_id     text NOT NULL,
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    attempt          integer NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    progress_percent real NOT NULL,
    progress_message text,
    progress         jsonb,
    PRIMARY KEY (operation_id, seq)
);
