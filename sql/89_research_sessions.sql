-- Research sessions: triggering one (with its capacity and budget refusals), cancelling one in any
-- state, resuming one from its checkpoint, and the views `ktrdr agent` and Grafana read.

-- How many researches may be active at once: the live training workers plus the live
-- backtesting workers plus one (a worker running both types counts for both), with those numbers.
CREATE OR REPLACE FUNCTION ktrdr.research_capacity()
RETURNS TABLE (capacity integer, training_workers integer, backtesting_workers integer, active integer)
LANGUAGE sql STABLE AS $$
    SELECT (w.training + w.backtesting + 1)::integer, w.training::integer, w.backtesting::integer,
           (SELECT count(*)::integer FROM ktrdr.researches WHERE status = 'active')
    FROM (SELECT count(*) FILTER (WHERE 'training' = ANY (types)) AS training,
                 count(*) FILTER (WHERE 'backtesting' = ANY (types)) AS backtesting
          FROM ktrdr.workers WHERE status = 'active' AND lease_expires_at > now()) w;
$$;

-- trigger_research: starts a research and returns its id (the id of its `agent_research`
-- operation, which is `running` from now until the research ends). p_request, all keys optional:
--   symbol, timeframe   the series to research (default: the series with the most bars; with a
--                       given strategy, its training params' or the strategy's own)
--   seed                the designer's seed (default random); brief: keywords for the designer
--   bypass_gates        record the gates but never stop on them
--   gate_overrides      {"training": {...}, "backtest": {...}} over ktrdr.gate_thresholds
--   strategy_name, strategy_yaml, strategy_file, fingerprint, training_params
--                       a given strategy (`--strategy FILE`): no design, training first
--   max_phase_attempts  attempts of a design or an assessment (default 3)
--   max_epochs          cap on the training's epochs
-- Refusals (55000, object_not_in_prerequisite_state) with the reason: the capacity — at most
-- (training workers + backtesting workers + 1) active researches — or the daily budget
-- (ktrdr.research_limits.daily_budget researches per UTC day) is exhausted. Bad input: 22023.
-- Triggers are serialised (a transaction-scoped advisory lock), so two cannot both take the last
-- place. The first child (the design, or the training of a given strategy) is pending on return.
CREATE OR REPLACE FUNCTION ktrdr.trigger_research(p_request jsonb DEFAULT '{}')
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_known constant text[] := ARRAY['symbol', 'timeframe', 'seed', 'brief', 'bypass_gates',
        'gate_overrides', 'strategy_name', 'strategy_yaml', 'strategy_file', 'fingerprint',
        'training_params', 'max_phase_attempts', 'max_epochs'];
    v_key text;
    v_cap record;
    v_budget integer;
    v_today integer;
    v_symbol text := coalesce(p_request ->> 'symbol', p_request -> 'training_params' ->> 'symbol',
                              p_request -> 'training_params' -> 'strategy' -> 'training_data' ->> 'symbol');
    v_timeframe text := coalesce(p_request ->> 'timeframe', p_request -> 'training_params' ->> 'timeframe',
                                 p_request -> 'training_params' -> 'strategy' -> 'training_data' ->> 'timeframe');
    v_seq bigint;
    v_id text;
BEGIN
    IF p_request IS NULL OR jsonb_typeof(p_request) <> 'object' THEN
        RAISE EXCEPTION 'a research request must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR v_key IN SELECT jsonb_object_keys(p_request) LOOP
        IF v_key <> ALL (v_known) THEN
            RAISE EXCEPTION 'unknown research request key "%" (known: %)', v_key, array_to_string(v_known, ', ')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END LOOP;
    PERFORM ktrdr.check_gate_overrides(coalesce(p_request -> 'gate_overrides', '{}'));
    IF (p_request ? 'strategy_yaml') <> (p_request ? 'training_params') THEN
        RAISE EXCEPTION 'a given strategy needs both strategy_yaml and training_params'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_symbol IS NULL OR v_timeframe IS NULL THEN
        SELECT b.symbol, b.timeframe INTO v_symbol, v_timeframe
        FROM ktrdr.bars b
        WHERE (v_symbol IS NULL OR b.symbol = v_symbol) AND (v_timeframe IS NULL OR b.timeframe = v_timeframe)
        GROUP BY b.symbol, b.timeframe ORDER BY count(*) DESC, b.symbol, b.timeframe LIMIT 1;
    END IF;
    IF v_symbol IS NULL OR NOT EXISTS (SELECT 1 FROM ktrdr.bars WHERE symbol = v_symbol AND timeframe = v_timeframe) THEN
        RAISE EXCEPTION 'no market data to research%: import or synthesize bars first (ktrdr data import|synth)',
            CASE WHEN v_symbol IS NULL THEN '' ELSE format(' for %s %s', v_symbol, v_timeframe) END
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    PERFORM pg_advisory_xact_lock(hashtext('ktrdr.trigger_research'));
    SELECT * INTO v_cap FROM ktrdr.research_capacity();
    IF v_cap.active >= v_cap.capacity THEN
        RAISE EXCEPTION 'capacity exhausted: % active researches, at most % (% training workers + % backtesting workers + 1); wait for one to end, cancel one (ktrdr agent cancel ID) or start more workers',
            v_cap.active, v_cap.capacity, v_cap.training_workers, v_cap.backtesting_workers
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    SELECT daily_budget INTO v_budget FROM ktrdr.research_limits;
    SELECT count(*) INTO v_today FROM ktrdr.researches
    WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    IF v_today >= v_budget THEN
        RAISE EXCEPTION 'daily budget exhausted: % researches triggered today (UTC), the budget is %; try again tomorrow or raise it (UPDATE ktrdr.research_limits SET daily_budget = N)',
            v_today, v_budget USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    PERFORM ktrdr.set_event_context(NULL, 'research triggered');
    v_seq := nextval('ktrdr.operation_serial');
    v_id := ktrdr.format_operation_id('agent_research', v_seq);
    INSERT INTO ktrdr.operations (operation_id, submit_seq, operation_type, status, params, started_at)
    VALUES (v_id, v_seq, 'agent_research', 'running',
            p_request || jsonb_build_object('symbol', v_symbol, 'timeframe', v_timeframe), now());
    INSERT INTO ktrdr.researches (
        research_id, symbol, timeframe, seed, brief, bypass_gates, gate_overrides, max_phase_attempts,
        max_epochs, strategy_name, strategy_file, strategy_yaml, fingerprint, archetype, training_params)
    VALUES (
        v_id, v_symbol, v_timeframe,
        coalesce((p_request ->> 'seed')::bigint, floor(random() * 2147483647)::bigint),
        p_request ->> 'brief', coalesce((p_request ->> 'bypass_gates')::boolean, false),
        coalesce(p_request -> 'gate_overrides', '{}'),
        coalesce((p_request ->> 'max_phase_attempts')::integer, 3), (p_request ->> 'max_epochs')::integer,
        p_request ->> 'strategy_name', p_request ->> 'strategy_file', p_request ->> 'strategy_yaml',
        p_request ->> 'fingerprint', CASE WHEN p_request ? 'strategy_yaml' THEN 'given' END,
        CASE WHEN p_request ? 'training_params' THEN
            (p_request -> 'training_params') || jsonb_build_object('symbol', v_symbol, 'timeframe', v_timeframe) END);
    PERFORM ktrdr.advance_research(v_id);
    RETURN v_id;
END $$;

-- cancel_research: the user ends a session in any state. An active research is cancelled with its
-- active children (best effort) and its operation — also when that operation no longer exists;
-- one that already ended keeps its status, and any child still running is cancelled all the same.
-- Returns the research's status after the call and whether this call ended it. Errors: no such
-- research (P0002).
DROP FUNCTION IF EXISTS ktrdr.cancel_research(text, text);
CREATE FUNCTION ktrdr.cancel_research(p_research_id text, p_reason text DEFAULT NULL)
RETURNS TABLE (status text, ended_now boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_status text;
    v_child text;
BEGIN
    SELECT r.status INTO v_status FROM ktrdr.researches r WHERE r.research_id = p_research_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'research not found: %', p_research_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_status = 'active' THEN
        PERFORM ktrdr.end_research(p_research_id, 'cancelled', 'cancelled', coalesce(p_reason, 'Cancelled by user'));
        RETURN QUERY SELECT 'cancelled'::text, true;
        RETURN;
    END IF;
    FOR v_child IN
        SELECT c.operation_id FROM ktrdr.research_children c
        JOIN ktrdr.operations o ON o.operation_id = c.operation_id
        WHERE c.research_id = p_research_id AND o.status IN ('pending', 'running', 'pending_reconciliation')
    LOOP
        BEGIN
            PERFORM ktrdr.request_cancel(v_child, coalesce(p_reason, 'research cancelled'));
        EXCEPTION WHEN object_not_in_prerequisite_state OR no_data_found THEN
            NULL;
        END;
    END LOOP;
    RETURN QUERY SELECT v_status, false;
END $$;

-- resume_research: a failed or cancelled research continues from its checkpoint. The phase it
-- stopped in is taken up again — except a design when the strategy already exists: then training
-- (no second design). The phase's last child continues from its own checkpoint when it has one (a
-- training resumes at its checkpoint epoch); otherwise a new attempt of the phase starts. Refused
-- (55000) for an active or completed research, one that failed a gate (it would fail it again:
-- trigger anew with other thresholds or --bypass-gates) and one whose operation disappeared.
CREATE OR REPLACE FUNCTION ktrdr.resume_research(p_research_id text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r ktrdr.researches;
    v_phase text;
    c record;
BEGIN
    SELECT * INTO r FROM ktrdr.researches WHERE research_id = p_research_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'research not found: %', p_research_id USING ERRCODE = 'no_data_found';
    END IF;
    IF r.status NOT IN ('failed', 'cancelled') THEN
        RAISE EXCEPTION 'research % is %; only a FAILED or CANCELLED research can be resumed', p_research_id, upper(r.status)
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF r.outcome IN ('failed_training_gate', 'failed_backtest_gate') THEN
        RAISE EXCEPTION 'research % ended with %: resuming would fail the same gate again; trigger a new research with other thresholds or --bypass-gates',
            p_research_id, r.outcome USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM ktrdr.operations WHERE operation_id = p_research_id) THEN
        RAISE EXCEPTION 'research % cannot be resumed: its operation disappeared; trigger a new research', p_research_id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    v_phase := coalesce(r.stopped_phase, 'idle');
    IF v_phase IN ('idle', 'designing') AND r.training_params IS NOT NULL THEN
        v_phase := 'training';
    END IF;

    PERFORM ktrdr.set_event_context(NULL, 'research resumed');
    UPDATE ktrdr.operations
    SET status = 'running', completed_at = NULL, error_message = NULL, cancel_requested_at = NULL,
        cancel_reason = NULL, result = NULL, progress_percent = 0, version = version + 1
    WHERE operation_id = p_research_id;
    UPDATE ktrdr.researches
    SET status = 'active', phase = v_phase, stopped_phase = NULL, outcome = NULL, error_message = NULL,
        completed_at = NULL, last_error = NULL, updated_at = now()
    WHERE research_id = p_research_id;

    IF v_phase <> 'idle' THEN
        SELECT * INTO c FROM ktrdr.research_latest_child(p_research_id, v_phase);
        IF c.operation_id IS NOT NULL AND c.status IN ('failed', 'cancelled')
           AND EXISTS (SELECT 1 FROM ktrdr.checkpoints k
                       WHERE k.operation_id = c.operation_id AND k.corrupt_reason IS NULL) THEN
            PERFORM ktrdr.resume_operation(c.operation_id);
        ELSIF c.operation_id IS NULL OR c.status IS NULL OR c.status IN ('failed', 'cancelled') THEN
            PERFORM ktrdr.start_research_child(p_research_id, v_phase);
        END IF;
    END IF;
    PERFORM ktrdr.advance_research(p_research_id);
    RETURN 'running';
END $$;

-- Researches for people and Grafana: one row each, newest first, with the current child.
CREATE OR REPLACE VIEW ktrdr.research_overview AS
SELECT r.research_id, r.status, r.phase, r.outcome, r.verdict, r.symbol, r.timeframe, r.seed,
       r.strategy_name, r.error_message, r.last_error, r.created_at, r.completed_at,
       (SELECT count(*) FROM ktrdr.research_children c WHERE c.research_id = r.research_id) AS children,
       (SELECT c.operation_id FROM ktrdr.research_children c
        WHERE c.research_id = r.research_id ORDER BY c.created_at DESC, c.attempt DESC LIMIT 1) AS current_child
FROM ktrdr.researches r;

-- The research memory, best first (`ktrdr agent history`; the designer's context).
CREATE OR REPLACE VIEW ktrdr.experiment_history AS
SELECT rank() OVER (ORDER BY e.score DESC NULLS LAST, e.created_at DESC) AS rank, e.*
FROM ktrdr.experiments e
ORDER BY e.score DESC NULLS LAST, e.created_at DESC;
