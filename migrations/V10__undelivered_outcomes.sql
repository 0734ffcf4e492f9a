-- How many finished outcomes a worker holds in its outbox because the database refused or could not
-- take them, renewed with its heartbeat: an operator sees in `ktrdr workers` and `ktrdr health` that
-- results wait on a host instead of finding out when the operations fail as orphans.
ALTER TABLE ktrdr.workers ADD COLUMN undelivered_outcomes integer NOT NULL DEFAULT 0;
