-- One current checkpoint per operation: how far it got (an epoch or a bar), the state to continue
-- from, and the artifact (weights, optimizer) it needs, by location and SHA-256.
CREATE TABLE ktrdr.checkpoints (
    operation_id        text PRIMARY KEY REFERENCES ktrdr.operations (operation_id) ON DELETE CASCADE,
    kind                text NOT NULL CHECK (kind IN ('periodic', 'cancellation', 'failure', 'shutdown')),
    unit                text NOT NULL CHECK (unit IN ('epoch', 'bar')),
    unit_value          bigint NOT NULL CHECK (unit_value >= 0),
    state               jsonb NOT NULL,
    artifact_location   text,
    artifact_sha256     text,
    artifact_size_bytes bigint,
    state_size_bytes    integer NOT NULL,
    attempt             integer NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX checkpoints_created ON ktrdr.checkpoints (created_at);
