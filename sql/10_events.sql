-- Every status change of an operation lands in ktrdr.operation_events, whoever made it (a function, or a
-- DBA in psql). Statement-level triggers with transition tables keep batch claims and completes cheap.
-- Operations that become pending are announced on channel ktrdr_operation_pending (payload: the id) so
-- idle workers wake without waiting for their poll timer; operations that end, on ktrdr_progress
-- (where heartbeats announce progress), so `--follow` sees the end at once.
--
-- The two hot paths, claim_operations and complete_operations, write the same history rows (and
-- notifications) themselves, in the statement that changes the status, and set
-- ktrdr.events_recorded to 'on' for that statement only: the UPDATE trigger then leaves that
-- statement to them. (Through the trigger — transition tables, a join of old and new rows, a
-- second statement — the history cost a quarter of a no-op operation's database time.)

CREATE OR REPLACE FUNCTION ktrdr.record_inserted_operations()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ktrdr.operation_events (operation_id, from_status, to_status, attempt, worker_id, actor, reason)
    SELECT n.operation_id, NULL, n.status, n.attempt, n.worker_id,
           coalesce(nullif(current_setting('ktrdr.actor', true), ''), session_user),
           nullif(current_setting('ktrdr.reason', true), '')
    FROM new_rows n;
    PERFORM pg_notify('ktrdr_operation_pending', n.operation_id) FROM new_rows n WHERE n.status = 'pending';
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ktrdr.record_status_changes()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('ktrdr.events_recorded', true) = 'on' THEN
        RETURN NULL; -- the statement wrote its history itself
    END IF;
    INSERT INTO ktrdr.operation_events (operation_id, from_status, to_status, attempt, worker_id, actor, reason)
    SELECT n.operation_id, o.status, n.status, n.attempt, n.worker_id,
           coalesce(nullif(current_setting('ktrdr.actor', true), ''), session_user),
           nullif(current_setting('ktrdr.reason', true), '')
    FROM new_rows n JOIN old_rows o USING (operation_id)
    WHERE n.status IS DISTINCT FROM o.status;
    PERFORM pg_notify(CASE n.status WHEN 'pending' THEN 'ktrdr_operation_pending'
                                    ELSE 'ktrdr_progress' END, n.operation_id)
    FROM new_rows n JOIN old_rows o USING (operation_id)
    WHERE n.status IN ('pending', 'completed', 'failed', 'cancelled') AND o.status <> n.status;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER operations_inserted
    AFTER INSERT ON ktrdr.operations
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ktrdr.record_inserted_operations();

CREATE OR REPLACE TRIGGER operations_status_changed
    AFTER UPDATE ON ktrdr.operations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION ktrdr.record_status_changes();
