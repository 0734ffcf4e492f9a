-- Operation ids are names, never paths: letters, digits, '_' and '-' only (ktrdr's own ids are
-- op_{type}_{yyyymmdd}_{hhmmss}_{8 hex}). Workers join ids into file names (the outbox), so an id
-- that a hand-written INSERT gave a '/' or '..' must not exist. Rows written by ktrdr already
-- comply; the constraint is checked against them once.
ALTER TABLE ktrdr.operations
    ADD CONSTRAINT operations_operation_id_form CHECK (operation_id ~ '^[A-Za-z0-9_-]{1,200}$');
