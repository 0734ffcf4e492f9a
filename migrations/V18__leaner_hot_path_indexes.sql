-- Fewer index entries per operation. A claim and a completion each change `status`, so neither can
-- be a HOT update: every index of ktrdr.operations whose predicate the new row version meets gets
-- an entry, and each status change also appends a history row under every index of
-- ktrdr.operation_events. Index insertion was 44 % of the server's instructions per no-op
-- operation (scripts/server-instructions.sh; docs/ARCHITECTURE.md "Index budget"). Two indexes go:
--
-- * operations_status (status): every row version of every operation had an entry. Each status a
--   query selects has its own partial index — pending: operations_claimable; running and
--   pending_reconciliation: operations_leased; finished: operations_finished — and the rare
--   unsuccessful ends get operations_unsuccessful below, so `ops list --status failed` still
--   reads only failed and cancelled rows, newest first.
-- * operation_events' primary key on event_id alone: nothing looks an event up by its id; every
--   reader asks for one operation's history in order, which (operation_id, event_id) serves. That
--   index becomes the primary key (event_id stays unique by itself: an identity).
--
-- And operations_created gets the listing's whole order, (created_at DESC, submit_seq DESC): a bulk
-- submit gives all its operations one created_at, so the old single-column index held long runs of
-- equal keys, and each row version's entry was placed in a posting list among them (8,000 of the
-- instructions per operation above). With submit_seq every key is distinct, and `ops list` reads
-- the index in its exact order.
--
-- On a large installation the CREATE INDEX statements block writes to their table while they
-- build (seconds per million rows); run `ktrdr migrate` when no worker is reporting.

CREATE INDEX operations_unsuccessful ON ktrdr.operations (created_at DESC, submit_seq DESC)
    WHERE status IN ('failed', 'cancelled');
DROP INDEX ktrdr.operations_status;

DROP INDEX ktrdr.operations_created;
CREATE INDEX operations_created ON ktrdr.operations (created_at DESC, submit_seq DESC);

CREATE UNIQUE INDEX operation_events_key ON ktrdr.operation_events (operation_id, event_id);
ALTER TABLE ktrdr.operation_events
    DROP CONSTRAINT operation_events_pkey,
    ADD CONSTRAINT operation_events_pkey PRIMARY KEY USING INDEX operation_events_key;
DROP INDEX ktrdr.operation_events_operation;
