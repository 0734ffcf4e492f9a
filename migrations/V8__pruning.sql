-- Pruning of finished work (sql/86_pruning.sql, src/maintenance/pruning.rs) and autovacuum settings
-- for the tables a queue churns. Why these numbers: docs/ARCHITECTURE.md, "Vacuum and pruning".

-- A pruning batch walks finished operations oldest first and stops after the batch: with this index
-- it reads only the rows it deletes (plus the few it must keep), however long the history is.
-- The predicate is the pruning function's status list, so the planner can prove the index applies.
CREATE INDEX operations_finished ON ktrdr.operations (completed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');

-- The last pruning pass, for `ktrdr health` and psql (view ktrdr.pruning), next to the orphan pass.
ALTER TABLE ktrdr.maintenance_state
    ADD COLUMN last_pruning_at timestamptz,
    ADD COLUMN last_pruning_result jsonb;

-- operations: every claim, heartbeat and end is an UPDATE. Vacuum after 1000 dead rows plus 1 % of
-- the table instead of 50 + 20 %: at a million operations the default waits for 200,000 dead rows,
-- which the claim and lease indexes must step over meanwhile. Vacuum skips all-visible pages (the
-- finished history), so running it often costs what changed, not the table's size. fillfactor 90
-- leaves room on each page for the new versions of the rows on it.
ALTER TABLE ktrdr.operations SET (
    fillfactor = 90,
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0.01,
    autovacuum_vacuum_insert_threshold = 1000,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_analyze_threshold = 1000
);

-- operation_events: append-only, deleted only by pruning. Insert-driven vacuum on an absolute count
-- keeps the visibility map current (index-only scans of the history, no mass freeze later); the
-- pruning batches' dead rows are vacuumed after 1 % of the table. Rows are never updated:
-- fillfactor stays at 100.
ALTER TABLE ktrdr.operation_events SET (
    autovacuum_vacuum_scale_factor = 0.01,
    autovacuum_vacuum_threshold = 1000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 10000,
    autovacuum_analyze_scale_factor = 0.02
);

-- workers: a few rows, each updated by every worker heartbeat. No indexed column changes (the only
-- index is the primary key), so with room on the page every heartbeat is a HOT update that page
-- pruning reclaims without a vacuum.
ALTER TABLE ktrdr.workers SET (fillfactor = 50);

-- maintenance_state: one row, rewritten by every maintenance pass — the same reasoning, taken to
-- its end: the row's versions stay on its one page.
ALTER TABLE ktrdr.maintenance_state SET (fillfactor = 20);
