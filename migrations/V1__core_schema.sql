-- Core schema of the operations queue: operation types, operations, their status history and workers.
-- Versioned migrations are never edited once released; functions and views live in sql/ and are
-- re-applied by `ktrdr migrate`.

CREATE SCHEMA IF NOT EXISTS ktrdr;

-- The operation types a submit may name; workers advertise a subset of them.
CREATE TABLE ktrdr.operation_types (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    description text NOT NULL
);

INSERT INTO ktrdr.operation_types (name, description) VALUES
    ('dummy', 'Built-in exercise operation without ML: {"steps":N,"step_ms":M,"fail_at":K}'),
    ('training', 'Neural-network training of a strategy'),
    ('backtesting', 'Backtest of a trained model');

-- Submission order: the claim order's tie-breaker within a priority and the source of the unique 8-hex
-- suffix of operation ids.
CREATE SEQUENCE ktrdr.operation_serial;
-- A random start, so that two databases do not hand out the same id suffixes.
SELECT setval('ktrdr.operation_serial', 1 + floor(random() * 1000000000)::bigint);

CREATE TABLE ktrdr.operations (
    operation_id        text PRIMARY KEY,
    operation_type      text NOT NULL REFERENCES ktrdr.operation_types (name),
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'running', 'pending_reconciliation',
                                          'completed', 'failed', 'cancelled')),
    priority            integer NOT NULL DEFAULT 0 CHECK (priority >= 0),
    params              jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    parent_id           text REFERENCES ktrdr.operations (operation_id) ON DELETE SET NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    completed_at        timestamptz,
    worker_id           text,
    attempt             integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    max_attempts        integer NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
    lease_expires_at    timestamptz,
    heartbeat_at        timestamptz,
    progress_percent    real NOT NULL DEFAULT 0 CHECK (progress_percent BETWEEN 0 AND 100),
    progress_message    text,
    progress            jsonb,
    cancel_requested_at timestamptz,
    cancel_reason       text,
    result              jsonb,
    error_message       text,
    reconcile_deadline  timestamptz,
    version             integer NOT NULL DEFAULT 0,
    submit_seq          bigint NOT NULL DEFAULT nextval('ktrdr.operation_serial')
);

-- The claim query walks this index: pending rows of one type, highest priority first, then oldest.
CREATE INDEX operations_claimable ON ktrdr.operations (operation_type, priority DESC, submit_seq)
    WHERE status = 'pending';
-- Lease scans (orphan detection) only look at operations that hold a lease.
CREATE INDEX operations_leased ON ktrdr.operations (lease_expires_at)
    WHERE status IN ('running', 'pending_reconciliation');
CREATE INDEX operations_created ON ktrdr.operations (created_at DESC);
CREATE INDEX operations_status ON ktrdr.operations (status);
CREATE INDEX operations_parent ON ktrdr.operations (parent_id) WHERE parent_id IS NOT NULL;

-- Append-only status history, written only by the triggers in sql/events.sql.
CREATE TABLE ktrdr.operation_events (
    event_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    operation_id text NOT NULL,
    at           timestamptz NOT NULL DEFAULT clock_timestamp(),
    from_status  text,
    to_status    text NOT NULL,
    attempt      integer NOT NULL,
    worker_id    text,
    actor        text,
    reason       text
);
CREATE INDEX operation_events_operation ON ktrdr.operation_events (operation_id, event_id);

CREATE TABLE ktrdr.workers (
    worker_id        text PRIMARY KEY,
    types            text[] NOT NULL,
    host             text NOT NULL,
    pid              integer NOT NULL,
    version          text NOT NULL,
    capabilities     jsonb NOT NULL DEFAULT '{}',
    concurrency      integer NOT NULL DEFAULT 1,
    started_at       timestamptz NOT NULL DEFAULT now(),
    heartbeat_at     timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz NOT NULL,
    status           text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'stopped'))
);

-- Fingerprint of the sql/ bundle last applied, so that `migrate` re-applies functions only when they changed.
CREATE TABLE ktrdr.sql_bundle (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    sha256     text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
