-- The research gates: pure functions over a child's typed result (kinds::TrainingResult,
-- kinds::BacktestResult) and the thresholds of ktrdr.gate_thresholds, any of which a research
-- overrides (researches.gate_overrides, {"training": {"accuracy_margin": 0.02}}). Each returns
--   {"gate", "passed", "checks": [{"name", "value", "threshold", "passed"}, ...], ...}
-- and a check whose number is missing (a NaN serialises as null) fails.

-- The thresholds of p_gate with the research's overrides applied.
CREATE OR REPLACE FUNCTION ktrdr.gate_thresholds_for(p_gate text, p_overrides jsonb)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT jsonb_object_agg(name, to_jsonb(value)) FROM ktrdr.gate_thresholds
                     WHERE gate = p_gate), '{}')
           || coalesce(p_overrides -> p_gate, '{}');
$$;

-- Refuses overrides that name no gate or threshold, or give no number (22023), naming the known ones.
CREATE OR REPLACE FUNCTION ktrdr.check_gate_overrides(p_overrides jsonb)
RETURNS void LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_gate text;
    v_name text;
    v_value jsonb;
BEGIN
    IF jsonb_typeof(p_overrides) <> 'object' THEN
        RAISE EXCEPTION 'gate overrides must be a JSON object like {"training": {"accuracy_margin": 0.02}}'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR v_gate IN SELECT jsonb_object_keys(p_overrides) LOOP
        IF v_gate NOT IN ('training', 'backtest') OR jsonb_typeof(p_overrides -> v_gate) <> 'object' THEN
            RAISE EXCEPTION 'gate overrides: "%" is not a gate (expected "training" or "backtest" with an object of thresholds)', v_gate
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOR v_name, v_value IN SELECT key, value FROM jsonb_each(p_overrides -> v_gate) LOOP
            IF NOT EXISTS (SELECT 1 FROM ktrdr.gate_thresholds WHERE gate = v_gate AND name = v_name) THEN
                RAISE EXCEPTION 'gate overrides: the % gate has no threshold "%" (known: %)', v_gate, v_name,
                    (SELECT string_agg(name, ', ' ORDER BY name) FROM ktrdr.gate_thresholds WHERE gate = v_gate)
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF jsonb_typeof(v_value) <> 'number' THEN
                RAISE EXCEPTION 'gate overrides: %.% must be a number, got %', v_gate, v_name, v_value
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END LOOP;
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION ktrdr.gate_check(p_name text, p_value double precision,
                                            p_threshold double precision, p_passed boolean)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('name', p_name, 'value', p_value, 'threshold', p_threshold,
                              'passed', coalesce(p_passed, false));
$$;

-- The majority-class share of a 3×3 confusion matrix (rows: true class): the accuracy of always
-- predicting the most frequent class of the test split. NULL for an empty matrix.
CREATE OR REPLACE FUNCTION ktrdr.majority_baseline(p_confusion jsonb)
RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT max(row_total) / nullif(sum(row_total), 0)
    FROM (SELECT (SELECT sum(cell::double precision) FROM jsonb_array_elements_text(r) cell) AS row_total
          FROM jsonb_array_elements(p_confusion) r) rows;
$$;

-- training_gate: the model learned something.
--   accuracy       test accuracy > majority-class baseline + accuracy_margin
--   loss           best validation loss <= max_loss_ratio × ln 3 (the class-weighted cross-entropy
--                  of a uniform guess, where training starts): no absolute threshold, which would
--                  fail every run of a loss that starts near 1.10
--   loss_decrease  (first epoch's validation loss − best) / first >= min_loss_decrease
CREATE OR REPLACE FUNCTION ktrdr.training_gate(p_result jsonb, p_overrides jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    t jsonb := ktrdr.gate_thresholds_for('training', p_overrides);
    v_accuracy double precision := (p_result ->> 'test_accuracy')::double precision;
    v_baseline double precision := ktrdr.majority_baseline(p_result -> 'confusion_matrix');
    v_first double precision := (p_result -> 'history' -> 0 ->> 'val_loss')::double precision;
    v_best double precision;
    v_decrease double precision;
    v_checks jsonb;
BEGIN
    SELECT min((e ->> 'val_loss')::double precision) INTO v_best
    FROM jsonb_array_elements(coalesce(p_result -> 'history', '[]')) e;
    v_decrease := (v_first - v_best) / nullif(v_first, 0);
    v_checks := jsonb_build_array(
        ktrdr.gate_check('accuracy', v_accuracy, v_baseline + (t ->> 'accuracy_margin')::double precision,
                         v_accuracy > v_baseline + (t ->> 'accuracy_margin')::double precision),
        ktrdr.gate_check('loss', v_best, (t ->> 'max_loss_ratio')::double precision * ln(3),
                         v_best <= (t ->> 'max_loss_ratio')::double precision * ln(3)),
        ktrdr.gate_check('loss_decrease', v_decrease, (t ->> 'min_loss_decrease')::double precision,
                         v_decrease >= (t ->> 'min_loss_decrease')::double precision));
    RETURN jsonb_build_object(
        'gate', 'training',
        'passed', NOT jsonb_path_exists(v_checks, '$[*] ? (@.passed == false)'),
        'baseline_accuracy', v_baseline,
        'checks', v_checks);
END $$;

-- backtest_gate: the model's trades are worth keeping: win rate >= min_win_rate, max drawdown <=
-- max_drawdown, Sharpe >= min_sharpe (kinds::BacktestResult's metrics).
CREATE OR REPLACE FUNCTION ktrdr.backtest_gate(p_result jsonb, p_overrides jsonb DEFAULT '{}')
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    t jsonb := ktrdr.gate_thresholds_for('backtest', p_overrides);
    m jsonb := p_result -> 'metrics';
    v_checks jsonb;
BEGIN
    v_checks := jsonb_build_array(
        ktrdr.gate_check('win_rate', (m ->> 'win_rate')::double precision, (t ->> 'min_win_rate')::double precision,
                         (m ->> 'win_rate')::double precision >= (t ->> 'min_win_rate')::double precision),
        ktrdr.gate_check('max_drawdown', (m ->> 'max_drawdown')::double precision, (t ->> 'max_drawdown')::double precision,
                         (m ->> 'max_drawdown')::double precision <= (t ->> 'max_drawdown')::double precision),
        ktrdr.gate_check('sharpe', (m ->> 'sharpe')::double precision, (t ->> 'min_sharpe')::double precision,
                         (m ->> 'sharpe')::double precision >= (t ->> 'min_sharpe')::double precision));
    RETURN jsonb_build_object(
        'gate', 'backtest',
        'passed', NOT jsonb_path_exists(v_checks, '$[*] ? (@.passed == false)'),
        'trades', (m ->> 'trades')::bigint,
        'checks', v_checks);
END $$;

-- The failing checks of a gate result in one line, e.g.
-- "training gate failed: accuracy 0.4100 (needs > 0.4500); loss_decrease 0.0010 (needs >= 0.0050)".
CREATE OR REPLACE FUNCTION ktrdr.gate_failure_message(p_gate jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('%s gate failed: %s', p_gate ->> 'gate',
        string_agg(format('%s %s (needs %s %s)', c ->> 'name',
                          coalesce(to_char((c ->> 'value')::double precision, 'FM999990.0000'), 'missing'),
                          CASE c ->> 'name' WHEN 'loss' THEN '<=' WHEN 'max_drawdown' THEN '<='
                                            WHEN 'accuracy' THEN '>' ELSE '>=' END,
                          to_char((c ->> 'threshold')::double precision, 'FM999990.0000')), '; '))
    FROM jsonb_array_elements(p_gate -> 'checks') c
    WHERE NOT (c ->> 'passed')::boolean;
$$;
