-- The reference the queue benchmark compares against: one single-row SKIP LOCKED claim and its
-- completion per transaction, as a plain table queue would do it. `ktrdr-bench queue --pgbench` runs
-- it with pgbench (8 clients) on the same server, so both figures come from one run on one machine.
BEGIN;
WITH next AS (
    SELECT id FROM bench_queue WHERE status = 'pending' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
)
UPDATE bench_queue q SET status = 'running', claimed_at = now() FROM next WHERE q.id = next.id
RETURNING q.id AS claimed_id \gset
UPDATE bench_queue SET status = 'completed', completed_at = now() WHERE id = :claimed_id;
COMMIT;
