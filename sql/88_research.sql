-- The research loop, coordinated by the database (issue 12). A research is a row of
-- ktrdr.researches and its `agent_research` operation, which is `running` while the research is
-- active and holds no lease (no worker runs it, so the orphan detector never touches it). Its work
-- is done by child operations — agent_design, training, backtesting, agent_assessment — one per
-- (research, phase, attempt) by ktrdr.research_children's primary key, run by workers like any
-- other operation. No process holds research state: everything below is a function of the rows.
--
--   idle → designing → training → (training gate) → backtesting → (backtest gate) → assessing → completed
--
-- advance_researches() moves every active research one step or more: start the phase's child when
-- it has none, read a finished child's typed result, apply the gate, replace a failed design or
-- assessment (bounded by max_phase_attempts) or advance. The ticker's `research` service calls it
-- every AGENT_POLL_INTERVAL_SECONDS and at once when a child of a research ends (channel
-- ktrdr_research, below); pg_cron and psql may call it too, concurrently: rows are locked
-- FOR UPDATE SKIP LOCKED, so two callers never advance the same research at once.

-- The error with which the orphan detector fails an operation whose worker vanished, and the one
-- the research records for an orphaned design or assessment.
CREATE OR REPLACE FUNCTION ktrdr.is_orphan_message(p_message text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_message IN ('Operation was RUNNING but no worker claimed it', 'Orphaned by backend restart');
$$;

-- The latest child of p_phase with its operation (NULL columns when the operation is gone).
CREATE OR REPLACE FUNCTION ktrdr.research_latest_child(p_research_id text, p_phase text)
RETURNS TABLE (operation_id text, attempt integer, status text, result jsonb, error_message text)
LANGUAGE sql STABLE AS $$
    SELECT c.operation_id, c.attempt, o.status, o.result, o.error_message
    FROM ktrdr.research_children c
    LEFT JOIN ktrdr.operations o ON o.operation_id = c.operation_id
    WHERE c.research_id = p_research_id AND c.phase = p_phase
    ORDER BY c.attempt DESC
    LIMIT 1;
$$;

-- The params of the next child of p_phase, from the research row and its earlier children.
CREATE OR REPLACE FUNCTION ktrdr.research_child_params(r ktrdr.researches, p_phase text, p_attempt integer)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    CASE p_phase
    WHEN 'designing' THEN
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'research_id', r.research_id, 'symbol', r.symbol, 'timeframe', r.timeframe,
            'seed', r.seed, 'cycle', p_attempt - 1, 'brief', r.brief, 'max_epochs', r.max_epochs));
    WHEN 'training' THEN
        RETURN r.training_params;
    WHEN 'backtesting' THEN
        RETURN jsonb_strip_nulls(jsonb_build_object(
            'strategy', r.training_params -> 'strategy',
            'model', (SELECT operation_id FROM ktrdr.research_latest_child(r.research_id, 'training')),
            'symbol', r.training_params -> 'symbol', 'timeframe', r.training_params -> 'timeframe'));
    WHEN 'assessing' THEN
        RETURN jsonb_build_object(
            'research_id', r.research_id,
            'training_id', (SELECT operation_id FROM ktrdr.research_latest_child(r.research_id, 'training')),
            'backtest_id', (SELECT operation_id FROM ktrdr.research_latest_child(r.research_id, 'backtesting')));
    END CASE;
END $$;

-- Starts the next attempt of p_phase for the (locked) research and moves it into that phase.
-- Design and assessment get one attempt per operation: an orphaned one is replaced by a new child
-- (a visible, new attempt); training and backtesting get three, so a training whose worker died is
-- taken over by another worker from its checkpoint, as the same child.
CREATE OR REPLACE FUNCTION ktrdr.start_research_child(p_research_id text, p_phase text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r ktrdr.researches;
    v_attempt integer;
    v_id text;
BEGIN
    SELECT * INTO r FROM ktrdr.researches WHERE research_id = p_research_id;
    SELECT coalesce(max(attempt), 0) + 1 INTO v_attempt
    FROM ktrdr.research_children WHERE research_id = p_research_id AND phase = p_phase;
    v_id := ktrdr.submit_operation(
        CASE p_phase WHEN 'designing' THEN 'agent_design' WHEN 'training' THEN 'training'
                     WHEN 'backtesting' THEN 'backtesting' ELSE 'agent_assessment' END,
        ktrdr.research_child_params(r, p_phase, v_attempt),
        0,
        CASE WHEN p_phase IN ('training', 'backtesting') THEN 3 ELSE 1 END,
        p_research_id);
    INSERT INTO ktrdr.research_children (research_id, phase, attempt, operation_id)
    VALUES (p_research_id, p_phase, v_attempt, v_id);
    UPDATE ktrdr.researches SET phase = p_phase, updated_at = now() WHERE research_id = p_research_id;
    RETURN format('%s: started %s attempt %s (%s)', p_research_id, p_phase, v_attempt, v_id);
END $$;

-- A research's checkpoint: what `resume` continues from — the phase it stopped in, its strategy
-- (name, file, fingerprint), its children by phase and attempt, and the epoch of its training's
-- checkpoint (live while the training runs, recorded when the research stopped).
CREATE OR REPLACE FUNCTION ktrdr.research_checkpoint(p_research_id text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'phase', coalesce(r.stopped_phase, r.phase),
        'strategy_name', r.strategy_name, 'strategy_file', r.strategy_file,
        'has_strategy', r.training_params IS NOT NULL,
        'children', coalesce((SELECT jsonb_agg(jsonb_build_object('phase', c.phase, 'attempt', c.attempt,
                                                                   'operation_id', c.operation_id)
                                               ORDER BY c.created_at, c.attempt)
                              FROM ktrdr.research_children c WHERE c.research_id = r.research_id), '[]'),
        'training_checkpoint_epoch', coalesce(
            (SELECT k.unit_value::integer FROM ktrdr.checkpoints k
             WHERE k.unit = 'epoch'
               AND k.operation_id = (SELECT operation_id FROM ktrdr.research_latest_child(r.research_id, 'training'))),
            r.training_checkpoint_epoch))
    FROM ktrdr.researches r WHERE r.research_id = p_research_id;
$$;

-- The research's summary, stored as its operation's result when it ends and shown by `agent status`.
CREATE OR REPLACE FUNCTION ktrdr.research_summary(p_research_id text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'research_id', r.research_id, 'phase', r.phase, 'outcome', r.outcome, 'verdict', r.verdict,
        'strategy_name', r.strategy_name, 'fingerprint', r.fingerprint,
        'training_gate', r.training_gate, 'backtest_gate', r.backtest_gate, 'assessment', r.assessment,
        'checkpoint', ktrdr.research_checkpoint(r.research_id))
    FROM ktrdr.researches r WHERE r.research_id = p_research_id;
$$;

-- Records the research's experiment (its strategy, numbers and verdict) in the research memory.
CREATE OR REPLACE FUNCTION ktrdr.record_experiment(p_research_id text, p_outcome text)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO ktrdr.experiments (
        research_id, symbol, timeframe, strategy_name, fingerprint, archetype, strategy_yaml, outcome,
        verdict, test_accuracy, baseline_accuracy, best_val_loss, sharpe, total_return, win_rate,
        max_drawdown, trades, profit_factor, score, strengths, weaknesses, suggestion, training_id,
        backtest_id)
    SELECT r.research_id, r.symbol, r.timeframe, r.strategy_name, r.fingerprint, r.archetype,
           coalesce(r.strategy_yaml, ''), p_outcome, r.verdict,
           (t.result ->> 'test_accuracy')::double precision,
           (r.training_gate ->> 'baseline_accuracy')::double precision,
           (SELECT min((e ->> 'val_loss')::double precision)
            FROM jsonb_array_elements(coalesce(t.result -> 'history', '[]')) e),
           (b.result -> 'metrics' ->> 'sharpe')::double precision,
           (b.result -> 'metrics' ->> 'total_return')::double precision,
           (b.result -> 'metrics' ->> 'win_rate')::double precision,
           (b.result -> 'metrics' ->> 'max_drawdown')::double precision,
           (b.result -> 'metrics' ->> 'trades')::bigint,
           (b.result -> 'metrics' ->> 'profit_factor')::double precision,
           (r.assessment ->> 'score')::double precision,
           coalesce(r.assessment -> 'strengths', '[]'), coalesce(r.assessment -> 'weaknesses', '[]'),
           r.assessment ->> 'suggestion', t.operation_id, b.operation_id
    FROM ktrdr.researches r
    LEFT JOIN LATERAL ktrdr.research_latest_child(r.research_id, 'training') t ON true
    LEFT JOIN LATERAL ktrdr.research_latest_child(r.research_id, 'backtesting') b ON true
    WHERE r.research_id = p_research_id AND r.strategy_name IS NOT NULL
    ON CONFLICT (research_id) DO NOTHING;
$$;

-- Ends the (locked) research: p_status completed | failed | cancelled with its outcome and message;
-- its active children are cancelled (best effort: one that ended meanwhile is left as it is), its
-- training checkpoint epoch recorded, and its operation, when it still exists, ended the same way
-- with the research's summary as result. The operation's status change is announced on
-- ktrdr_progress like any other end (so `--follow` sees it).
CREATE OR REPLACE FUNCTION ktrdr.end_research(
    p_research_id text, p_status text, p_outcome text, p_message text)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_child text;
BEGIN
    FOR v_child IN
        SELECT c.operation_id FROM ktrdr.research_children c
        JOIN ktrdr.operations o ON o.operation_id = c.operation_id
        WHERE c.research_id = p_research_id AND o.status IN ('pending', 'running', 'pending_reconciliation')
    LOOP
        BEGIN
            PERFORM ktrdr.request_cancel(v_child, format('research %s %s', p_research_id, p_status));
        EXCEPTION WHEN object_not_in_prerequisite_state OR no_data_found THEN
            NULL;
        END;
    END LOOP;
    UPDATE ktrdr.researches
    SET status = p_status,
        stopped_phase = CASE WHEN p_status <> 'completed' AND phase IN ('designing', 'training', 'backtesting', 'assessing')
                             THEN phase END,
        training_checkpoint_epoch = (ktrdr.research_checkpoint(p_research_id) ->> 'training_checkpoint_epoch')::integer,
        phase = p_status, outcome = p_outcome, error_message = p_message,
        completed_at = now(), updated_at = now()
    WHERE research_id = p_research_id;
    PERFORM ktrdr.set_event_context('research', coalesce(p_message, p_outcome));
    UPDATE ktrdr.operations
    SET status = p_status, completed_at = now(), progress_percent = 100,
        error_message = CASE WHEN p_status <> 'completed' THEN p_message END,
        result = ktrdr.research_summary(p_research_id), version = version + 1
    WHERE operation_id = p_research_id AND status NOT IN ('completed', 'failed', 'cancelled');
END $$;

-- A child of the (locked) research that completed: its result moves the research on.
CREATE OR REPLACE FUNCTION ktrdr.research_child_completed(
    r ktrdr.researches, p_phase text, p_result jsonb)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_gate jsonb;
BEGIN
    CASE p_phase
    WHEN 'designing' THEN
        UPDATE ktrdr.researches
        SET strategy_name = p_result -> 'design' ->> 'strategy_name',
            strategy_yaml = p_result -> 'design' ->> 'strategy_yaml',
            fingerprint = p_result -> 'design' ->> 'fingerprint',
            archetype = p_result -> 'design' ->> 'archetype',
            rationale = p_result -> 'design' ->> 'rationale',
            training_params = p_result -> 'training_params', updated_at = now()
        WHERE research_id = r.research_id;
        RETURN ktrdr.start_research_child(r.research_id, 'training');
    WHEN 'training' THEN
        v_gate := ktrdr.training_gate(p_result, r.gate_overrides) || jsonb_build_object('bypassed', r.bypass_gates);
        UPDATE ktrdr.researches SET training_gate = v_gate, updated_at = now() WHERE research_id = r.research_id;
        IF NOT (v_gate ->> 'passed')::boolean AND NOT r.bypass_gates THEN
            PERFORM ktrdr.record_experiment(r.research_id, 'failed_training_gate');
            PERFORM ktrdr.end_research(r.research_id, 'failed', 'failed_training_gate', ktrdr.gate_failure_message(v_gate));
            RETURN format('%s: failed the training gate', r.research_id);
        END IF;
        RETURN ktrdr.start_research_child(r.research_id, 'backtesting');
    WHEN 'backtesting' THEN
        v_gate := ktrdr.backtest_gate(p_result, r.gate_overrides) || jsonb_build_object('bypassed', r.bypass_gates);
        UPDATE ktrdr.researches SET backtest_gate = v_gate, updated_at = now() WHERE research_id = r.research_id;
        IF NOT (v_gate ->> 'passed')::boolean AND NOT r.bypass_gates THEN
            PERFORM ktrdr.record_experiment(r.research_id, 'failed_backtest_gate');
            PERFORM ktrdr.end_research(r.research_id, 'failed', 'failed_backtest_gate', ktrdr.gate_failure_message(v_gate));
            RETURN format('%s: failed the backtest gate', r.research_id);
        END IF;
        RETURN ktrdr.start_research_child(r.research_id, 'assessing');
    ELSE
        UPDATE ktrdr.researches SET assessment = p_result, verdict = p_result ->> 'verdict', updated_at = now()
        WHERE research_id = r.research_id;
        PERFORM ktrdr.record_experiment(r.research_id, 'completed');
        PERFORM ktrdr.end_research(r.research_id, 'completed', 'completed', NULL);
        RETURN format('%s: completed (%s)', r.research_id, p_result ->> 'verdict');
    END CASE;
END $$;

-- A child of the (locked) research that failed, was cancelled or disappeared. A design or an
-- assessment is in-process work of the research: it is replaced by a new attempt while attempts
-- are left; after the last one, or for a training or backtest (whose own attempts already took
-- over from checkpoints), the research fails. An orphaned child — its worker killed with the rest
-- of the "backend" — fails it with the message of the original system's restart recovery, saying
-- whether `resume` has a checkpoint (a strategy) to continue from.
CREATE OR REPLACE FUNCTION ktrdr.research_child_failed(
    r ktrdr.researches, p_phase text, p_attempt integer, p_status text, p_error text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_why text := CASE WHEN p_status IS NULL THEN 'its operation disappeared'
                       WHEN ktrdr.is_orphan_message(p_error) THEN 'Orphaned by backend restart'
                       ELSE coalesce(p_error, lower(p_status)) END;
BEGIN
    IF p_phase IN ('designing', 'assessing') AND p_attempt < r.max_phase_attempts THEN
        RAISE LOG 'research %: % attempt % ended: %; starting another', r.research_id, p_phase, p_attempt, v_why;
        RETURN ktrdr.start_research_child(r.research_id, p_phase);
    END IF;
    PERFORM ktrdr.end_research(r.research_id, 'failed', 'failed',
        CASE WHEN v_why = 'Orphaned by backend restart' THEN
                 'Backend restarted - ' || CASE WHEN r.training_params IS NOT NULL
                                                THEN 'checkpoint available for resume'
                                                ELSE 'no checkpoint available' END
             ELSE format('%s failed (attempt %s): %s',
                         CASE p_phase WHEN 'designing' THEN 'design' WHEN 'assessing' THEN 'assessment'
                                      WHEN 'backtesting' THEN 'backtest' ELSE 'training' END,
                         p_attempt, v_why) END);
    RETURN format('%s: failed in %s: %s', r.research_id, p_phase, v_why);
END $$;

-- One step of the (locked) research, or NULL when it waits for a child (or has ended).
CREATE OR REPLACE FUNCTION ktrdr.research_step(p_research_id text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r ktrdr.researches;
    v_op record;
    c record;
BEGIN
    SELECT * INTO r FROM ktrdr.researches WHERE research_id = p_research_id;
    IF r.status <> 'active' THEN
        RETURN NULL;
    END IF;
    SELECT status, cancel_requested_at, cancel_reason, error_message INTO v_op
    FROM ktrdr.operations WHERE operation_id = p_research_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE LOG 'research %: its operation disappeared; failing the session as FAILED_ORPHAN', p_research_id;
        PERFORM ktrdr.end_research(p_research_id, 'failed', 'FAILED_ORPHAN', 'Operation disappeared');
        RETURN format('%s: FAILED_ORPHAN', p_research_id);
    END IF;
    IF v_op.cancel_requested_at IS NOT NULL OR v_op.status = 'cancelled' THEN
        PERFORM ktrdr.end_research(p_research_id, 'cancelled', 'cancelled', coalesce(v_op.cancel_reason, 'Cancelled'));
        RETURN format('%s: cancelled', p_research_id);
    END IF;
    IF v_op.status IN ('completed', 'failed') THEN
        -- Ended by hand (psql): the session follows its operation.
        PERFORM ktrdr.end_research(p_research_id, v_op.status, v_op.status, v_op.error_message);
        RETURN format('%s: %s by its operation', p_research_id, v_op.status);
    END IF;
    IF r.phase = 'idle' THEN
        RETURN ktrdr.start_research_child(p_research_id,
            CASE WHEN r.training_params IS NULL THEN 'designing' ELSE 'training' END);
    END IF;
    SELECT * INTO c FROM ktrdr.research_latest_child(p_research_id, r.phase);
    IF c.operation_id IS NULL THEN
        RETURN ktrdr.start_research_child(p_research_id, r.phase);
    ELSIF c.status IN ('pending', 'running', 'pending_reconciliation') THEN
        RETURN NULL;
    ELSIF c.status = 'completed' THEN
        RETURN ktrdr.research_child_completed(r, r.phase, c.result);
    ELSE
        RETURN ktrdr.research_child_failed(r, r.phase, c.attempt, c.status, c.error_message);
    END IF;
END $$;

-- advance_research: every step the research can take now (locks it; waits for no other caller's
-- lock — NULL when the research is being advanced elsewhere). Returns the steps taken, in order.
CREATE OR REPLACE FUNCTION ktrdr.advance_research(p_research_id text)
RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    v_steps text[] := '{}';
    v_step text;
BEGIN
    PERFORM 1 FROM ktrdr.researches WHERE research_id = p_research_id FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- A research takes at most five steps in a row (design done → training started is one).
    FOR i IN 1..8 LOOP
        v_step := ktrdr.research_step(p_research_id);
        EXIT WHEN v_step IS NULL;
        v_steps := v_steps || v_step;
    END LOOP;
    RETURN v_steps;
END $$;

-- advance_researches: one pass over the active researches (the ticker's `research` service,
-- src/maintenance/research.rs; pg_cron and psql can call it too). Each research is taken with
-- FOR UPDATE SKIP LOCKED — one being advanced by another caller is left to it — and advanced in a
-- block of its own (a subtransaction): an error in one research (a child whose params no longer
-- validate, say) is recorded in its last_error and logged, and the pass goes on with the others.
-- Why one transaction for the pass rather than one per research: a pass is a handful of short
-- inserts and reads per research (the number of active researches is bounded by the capacity), and
-- one transaction is one fenced call for the ticker, whose epoch check then covers every write.
-- Returns {"checked_at", "active", "advanced", "errors", "steps": [...], "next_due"}.
CREATE OR REPLACE FUNCTION ktrdr.advance_researches(p_poll_interval_seconds double precision DEFAULT 2)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    v_id text;
    v_active integer := 0;
    v_advanced integer := 0;
    v_errors integer := 0;
    v_steps text[] := '{}';
    v_taken text[];
BEGIN
    FOR v_id IN
        SELECT research_id FROM ktrdr.researches WHERE status = 'active'
        ORDER BY created_at FOR UPDATE SKIP LOCKED
    LOOP
        v_active := v_active + 1;
        BEGIN
            v_taken := ktrdr.advance_research(v_id);
            IF cardinality(v_taken) > 0 THEN
                v_advanced := v_advanced + 1;
                v_steps := v_steps || v_taken;
            END IF;
            UPDATE ktrdr.researches SET last_error = NULL WHERE research_id = v_id AND last_error IS NOT NULL;
        EXCEPTION WHEN OTHERS THEN
            v_errors := v_errors + 1;
            RAISE WARNING 'research %: cannot advance: %', v_id, SQLERRM;
            UPDATE ktrdr.researches SET last_error = SQLERRM, updated_at = now() WHERE research_id = v_id;
        END;
    END LOOP;
    RETURN jsonb_build_object(
        'checked_at', now(), 'active', v_active, 'advanced', v_advanced, 'errors', v_errors,
        'steps', to_jsonb(v_steps),
        'next_due', now() + make_interval(secs => p_poll_interval_seconds));
END $$;

-- Wakes the ticker's research service (channel ktrdr_research, payload: the research id) when a
-- child of a research ends, and when a research's cancel is requested (`ops cancel`). Row-level
-- with a WHEN clause, so updates that change neither (heartbeats, claims) cost nothing here.
CREATE OR REPLACE FUNCTION ktrdr.announce_research_change()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ktrdr_research', coalesce(NEW.parent_id, NEW.operation_id));
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER research_child_ended
    AFTER UPDATE OF status ON ktrdr.operations
    FOR EACH ROW
    WHEN (NEW.parent_id IS NOT NULL AND NEW.status IN ('completed', 'failed', 'cancelled')
          AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION ktrdr.announce_research_change();

CREATE OR REPLACE TRIGGER research_cancel_requested
    AFTER UPDATE OF cancel_requested_at ON ktrdr.operations
    FOR EACH ROW
    WHEN (NEW.operation_type = 'agent_research' AND OLD.cancel_requested_at IS NULL
          AND NEW.cancel_requested_at IS NOT NULL)
    EXECUTE FUNCTION ktrdr.announce_research_change();
