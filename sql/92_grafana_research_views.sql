-- Views for the research panels of Grafana's dashboard (grafana/provisioning/dashboards/ktrdr.json),
-- over the research tables of migration V13: durations in seconds (double precision), times as
-- timestamptz. Granted to ktrdr_reader by sql/95_roles.sql like every view.

-- How many researches are in each status and phase (active ones by the phase they are in).
CREATE OR REPLACE VIEW ktrdr.research_phases AS
SELECT r.status, r.phase, count(*) AS researches,
       min(r.created_at) AS oldest_created_at
FROM ktrdr.researches r
GROUP BY r.status, r.phase;

-- Every ended research with its outcome (completed, failed_training_gate, failed_backtest_gate,
-- or why it failed otherwise) and how long it took, in seconds.
CREATE OR REPLACE VIEW ktrdr.research_outcomes AS
SELECT r.research_id, r.status, coalesce(r.outcome, r.status) AS outcome, r.verdict,
       r.strategy_name, r.created_at, r.completed_at,
       extract(epoch FROM r.completed_at - r.created_at)::double precision AS duration_seconds
FROM ktrdr.researches r
WHERE r.completed_at IS NOT NULL;

-- The research memory per research: strategy, fingerprint, test accuracy against the baseline,
-- and the backtest's Sharpe ratio and return (NULL when the training gate stopped it before).
CREATE OR REPLACE VIEW ktrdr.research_experiments AS
SELECT e.research_id, e.created_at, e.strategy_name, e.fingerprint, e.archetype, e.outcome,
       e.verdict, e.test_accuracy, e.baseline_accuracy,
       e.test_accuracy - e.baseline_accuracy AS accuracy_over_baseline,
       e.sharpe, e.total_return, e.win_rate, e.max_drawdown, e.trades, e.score,
       e.training_id, e.backtest_id
FROM ktrdr.experiments e;
