-- The research loop (issue 12): researches (the user's sessions), their children one per
-- (research, phase, attempt), the gate thresholds, the limits on triggering, and the experiments
-- (the research memory). The functions that change these live in sql/87_research*.sql.

INSERT INTO ktrdr.operation_types (name, description) VALUES
    ('agent_research', 'A research session: design, training, backtest and assessment as child operations, advanced by ktrdr.advance_researches()'),
    ('agent_design', 'Design of a strategy for a research (built-in designer or KTRDR_DESIGNER_CMD)'),
    ('agent_assessment', 'Assessment of a research''s training and backtest (built-in rules or KTRDR_ASSESSOR_CMD)');

-- One row per research. research_id is the id of its `agent_research` operation, on purpose without
-- a foreign key: the session outlives an operation that was deleted, pruned or lost with a restored
-- backup, so that the next pass can notice and fail it (FAILED_ORPHAN, "Operation disappeared").
CREATE TABLE ktrdr.researches (
    research_id         text PRIMARY KEY,
    status              text NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'completed', 'failed', 'cancelled')),
    phase               text NOT NULL DEFAULT 'idle'
                        CHECK (phase IN ('idle', 'designing', 'training', 'backtesting', 'assessing',
                                         'completed', 'failed', 'cancelled')),
    -- The phase a failed or cancelled research stopped in: where `resume` continues.
    stopped_phase       text CHECK (stopped_phase IN ('designing', 'training', 'backtesting', 'assessing')),
    symbol              text NOT NULL,
    timeframe           text NOT NULL,
    seed                bigint NOT NULL,
    brief               text,
    bypass_gates        boolean NOT NULL DEFAULT false,
    -- Per-research gate thresholds: {"training": {"accuracy_margin": 0.02}, "backtest": {...}}.
    gate_overrides      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(gate_overrides) = 'object'),
    -- The most attempts of a design or an assessment (an orphaned or failed one is replaced).
    max_phase_attempts  integer NOT NULL DEFAULT 3 CHECK (max_phase_attempts >= 1),
    -- A training's epochs are capped at this (tests and benchmarks keep trainings tiny).
    max_epochs          integer CHECK (max_epochs >= 1),
    -- The strategy, once designed (or given with --strategy): the research's checkpoint.
    strategy_name       text,
    strategy_file       text,
    strategy_yaml       text,
    fingerprint         text,
    archetype           text,
    rationale           text,
    -- Params of the training child (kinds::TrainingParams), from the design's result.
    training_params     jsonb,
    training_gate       jsonb,
    backtest_gate       jsonb,
    assessment          jsonb,
    verdict             text,
    outcome             text,
    error_message       text,
    -- The epoch of the training child's checkpoint when the research stopped (its checkpoint).
    training_checkpoint_epoch integer,
    -- The last error of a pass over this research (the pass went on with the others).
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz
);
CREATE INDEX researches_active ON ktrdr.researches (created_at) WHERE status = 'active';
CREATE INDEX researches_created ON ktrdr.researches (created_at DESC);

-- The children of a research: at most one operation per (research, phase, attempt), so no pass,
-- however many run at once or after whatever restart, can create a child twice.
CREATE TABLE ktrdr.research_children (
    research_id  text NOT NULL REFERENCES ktrdr.researches (research_id) ON DELETE CASCADE,
    phase        text NOT NULL CHECK (phase IN ('designing', 'training', 'backtesting', 'assessing')),
    attempt      integer NOT NULL CHECK (attempt >= 1),
    operation_id text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (research_id, phase, attempt)
);

-- Gate thresholds; a research overrides any of them in researches.gate_overrides.
CREATE TABLE ktrdr.gate_thresholds (
    gate        text NOT NULL CHECK (gate IN ('training', 'backtest')),
    name        text NOT NULL,
    value       double precision NOT NULL,
    description text NOT NULL,
    PRIMARY KEY (gate, name)
);

INSERT INTO ktrdr.gate_thresholds (gate, name, value, description) VALUES
    ('training', 'accuracy_margin', 0.0,
     'test accuracy must exceed the majority-class baseline of the test split by more than this'),
    ('training', 'max_loss_ratio', 1.0,
     'the best validation loss must be at most this times ln 3, the class-weighted loss of a uniform guess'),
    ('training', 'min_loss_decrease', 0.005,
     'the best validation loss must be below the first epoch''s by at least this fraction'),
    ('backtest', 'min_win_rate', 0.45, 'closed trades won, at least'),
    ('backtest', 'max_drawdown', 0.4, 'largest peak-to-trough equity loss, at most'),
    ('backtest', 'min_sharpe', -0.5, 'annualised Sharpe ratio, at least');

-- Limits on triggering researches (one row). The capacity is the live training workers plus the
-- live backtesting workers plus one; the budget is the researches triggered per UTC day.
CREATE TABLE ktrdr.research_limits (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    daily_budget integer NOT NULL DEFAULT 100 CHECK (daily_budget >= 0)
);
INSERT INTO ktrdr.research_limits DEFAULT VALUES;

-- The research memory: one row per research that got a strategy and ended, with its numbers and
-- verdict. The designer reads it (best first) to mutate the best and never repeat a fingerprint.
CREATE TABLE ktrdr.experiments (
    experiment_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    research_id       text NOT NULL UNIQUE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    symbol            text NOT NULL,
    timeframe         text NOT NULL,
    strategy_name     text NOT NULL,
    fingerprint       text,
    archetype         text,
    strategy_yaml     text NOT NULL,
    outcome           text NOT NULL,
    verdict           text,
    test_accuracy     double precision,
    baseline_accuracy double precision,
    best_val_loss     double precision,
    sharpe            double precision,
    total_return      double precision,
    win_rate          double precision,
    max_drawdown      double precision,
    trades            bigint,
    profit_factor     double precision,
    score             double precision,
    strengths         jsonb NOT NULL DEFAULT '[]',
    weaknesses        jsonb NOT NULL DEFAULT '[]',
    suggestion        text,
    training_id       text,
    backtest_id       text
);
CREATE INDEX experiments_fingerprint ON ktrdr.experiments (fingerprint);
