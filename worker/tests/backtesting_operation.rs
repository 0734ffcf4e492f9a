//! The `backtesting` operation run by a real worker: a trained model traded end to end, out of
//! sample by default and marked in sample when its range overlaps the training; the
//! refusals — a model of another strategy, an id that is no training — that fail the operation with
//! a precise message while the worker keeps running; and cancel + resume (seed M5).

mod support;

use std::time::Duration;

use ktrdr::{
    checkpoints::CheckpointKind,
    operations::{self, Status},
};
use ktrdr_testkit::TestDatabase;
use ktrdr_trading::{
    kinds::{
        BacktestParams, BacktestResult, DateRange, Overlap, TrainingParams, WindowSource,
        completed_training,
    },
    market_data::{Calendar, Timeframe, bars_sha256},
    strategy::Strategy,
};
use sqlx::PgPool;
use support::{
    checkpoint_of_kind, checkpoint_writes, completed, example_strategy, finished,
    record_checkpoint_writes, spawn_worker, store_synthetic_bars, submit, wait_for_op_within,
};

/// Trains `strategy` (on a running worker) and returns the completed training's id.
async fn train(pool: &PgPool, strategy: &Strategy) -> String {
    let training = submit(pool, "training", TrainingParams::new(strategy.clone())).await;
    completed(pool, &training).await;
    training
}

#[tokio::test]
async fn a_trained_model_is_backtested_and_foreign_models_are_refused() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let bars = store_synthetic_bars(pool, (2022, 1), (2022, 7), 9).await;
    let mut worker = spawn_worker(test_db.url(), &["--types", "training,backtesting"], &[]);

    let strategy = example_strategy("rsi_macd_trend.yaml", 2);
    let training = train(pool, &strategy).await;

    let backtest = |strategy: Strategy, model: String| BacktestParams {
        initial_capital: Some(50_000.0),
        ..BacktestParams::new(strategy, model)
    };
    let id = submit(
        pool,
        "backtesting",
        backtest(strategy.clone(), training.clone()),
    )
    .await;
    let op = completed(pool, &id).await;
    let result: BacktestResult = serde_json::from_value(op.result.unwrap())?;
    let metrics = &result.metrics;
    assert_eq!(metrics.initial_capital, 50_000.0);
    assert_eq!(metrics.trade_list.len(), metrics.trades);
    let net: f64 = metrics.trade_list.iter().map(|t| t.net_pnl).sum();
    assert!((50_000.0 + net - metrics.final_equity).abs() < 1e-6);

    // Out of sample by default: exactly the model's test period, warmed up by the bars before it.
    let split = completed_training(pool, &training).await?.1.split.unwrap();
    let test_bars: Vec<usize> = (0..bars.len())
        .filter(|&i| split.test.contains(bars[i].ts))
        .collect();
    let (first, last) = (test_bars[0], test_bars[test_bars.len() - 1]);
    assert_eq!(metrics.bars, test_bars.len());
    assert_eq!(result.window, Some(split.test));
    assert_eq!(result.window_source, Some(WindowSource::TestPeriod));
    assert!(!result.in_sample);
    assert_eq!(result.overlap, Overlap::default());
    // Six months of data: the only warning is that the calendar is measured over less than a year.
    assert_eq!(result.warnings.len(), 1, "{:?}", result.warnings);
    assert!(result.warnings[0].starts_with("periods per year ("));
    let history = strategy.training_data.history_required;
    assert_eq!(result.warmup_bars, history);
    // Annualised with the series' own calendar: FX bars close at weekends.
    let timestamps: Vec<_> = bars.iter().map(|bar| bar.ts).collect();
    let calendar = Calendar::of_timestamps(&timestamps, Timeframe::H1).unwrap();
    assert_eq!(result.calendar.as_ref(), Some(&calendar));
    assert_eq!(metrics.periods_per_year, calendar.periods_per_year);
    assert!(calendar.periods_per_year < 0.75 * Timeframe::H1.bars_per_year());
    let reproducibility = result.reproducibility.unwrap();
    assert_eq!(
        reproducibility.bars_sha256,
        bars_sha256(&bars[first - history..=last])
    );
    assert_eq!(reproducibility.bars, last + 1 - (first - history));
    assert_eq!(reproducibility.seed, strategy.training.seed);
    assert!(reproducibility.libtorch_version.starts_with("2.13"));
    assert_eq!(reproducibility.git_commit.len(), 40, "{reproducibility:?}");

    // A range from the first bar trades the training and validation periods too: in sample.
    let from_first = BacktestParams {
        start: Some(bars[0].ts),
        ..backtest(strategy.clone(), training.clone())
    };
    let id = submit(pool, "backtesting", from_first).await;
    let result: BacktestResult =
        serde_json::from_value(completed(pool, &id).await.result.unwrap())?;
    let in_part = |part: &DateRange| bars.iter().filter(|bar| part.contains(bar.ts)).count();
    assert_eq!(result.metrics.bars, bars.len());
    assert_eq!(result.window_source, Some(WindowSource::Given));
    assert!(result.in_sample);
    assert_eq!(
        result.overlap,
        Overlap {
            train: in_part(&split.train),
            validation: in_part(&split.validation),
        }
    );
    assert_eq!(result.warmup_bars, 0);
    assert_eq!(result.warnings.len(), 2, "{:?}", result.warnings);
    assert!(result.warnings[0].starts_with(&format!(
        "in sample: {} of the {} bars traded lie in the model's training period",
        result.overlap.train,
        bars.len()
    )));

    let other = submit(
        pool,
        "backtesting",
        backtest(
            example_strategy("bollinger_reversion.yaml", 2),
            training.clone(),
        ),
    )
    .await;
    let not_training = submit(pool, "backtesting", backtest(strategy.clone(), id.clone())).await;
    let unknown = submit(
        pool,
        "backtesting",
        backtest(strategy, "op_training_nope".into()),
    )
    .await;
    for (op_id, expected) in [
        (
            other,
            format!(
                "model {training} was trained with strategy 'rsi_macd_trend', whose features differ from strategy 'bollinger_reversion'"
            ),
        ),
        (
            not_training,
            format!("--model: {id} is a COMPLETED backtesting operation, not a completed training"),
        ),
        (
            unknown,
            "--model: operation not found: op_training_nope".to_string(),
        ),
    ] {
        let op = finished(pool, &op_id).await;
        assert_eq!(op.status, Status::Failed);
        let message = op.error_message.unwrap_or_default();
        assert!(message.starts_with(&expected), "{message}");
    }
    assert!(worker.is_running());
    Ok(())
}

/// Seed M5: a backtest over ~35,000 1h bars with `checkpoint_interval_bars` 5,000 writes a
/// checkpoint every 5,000 bars. Two operations stop mid-run: one cancelled by the user while it
/// starts (it stops at its next 500-bar chunk), one handed a periodic checkpoint from past half-way
/// by a fenced save, as a worker that died after writing it would leave it. Resumed on another
/// worker, both end with the trades, equity curve and final equity of the uninterrupted run.
#[tokio::test]
async fn cancelled_backtests_resume_on_another_worker_with_identical_trades() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let bars = store_synthetic_bars(pool, (2018, 1), (2023, 8), 21).await;
    assert!(bars.len() > 34_000, "{}", bars.len());
    record_checkpoint_writes(pool).await;
    let worker = spawn_worker(test_db.url(), &["--types", "training,backtesting"], &[]);
    let strategy = example_strategy("rsi_macd_trend.yaml", 1);
    let training = train(pool, &strategy).await;
    // From the first bar (in sample): the whole series, not only the model's test period.
    let params = BacktestParams {
        checkpoint_interval_bars: Some(5_000),
        start: Some(bars[0].ts),
        ..BacktestParams::new(strategy, training)
    };
    let reference_id = submit(pool, "backtesting", &params).await;
    let reference = completed(pool, &reference_id)
        .await
        .result
        .expect("a result");
    let seen: Vec<i64> = checkpoint_writes(pool, &reference_id)
        .await
        .into_iter()
        .map(|(_, _, bar)| bar)
        .collect();
    let every_5000: Vec<i64> = (1..)
        .map(|k| k * 5_000)
        .take_while(|&bar| bar < bars.len() as i64)
        .collect();
    assert_eq!(seen, every_5000);
    assert_eq!(reference["checkpoints_saved"], every_5000.len());

    // A user cancel, sent as soon as the operation runs: loading the model and the bars takes far
    // longer than the cancel needs to arrive, so the engine stops after its first chunk. (Should
    // this machine stall long enough for the run to finish first, try again.)
    let mut cancelled = None;
    for _ in 0..5 {
        let id = submit(pool, "backtesting", &params).await;
        wait_for_op_within(pool, &id, "to start", Duration::from_secs(60), |op| {
            op.status != Status::Pending
        })
        .await;
        operations::request_cancel(pool, &id, Some("M5")).await?;
        if finished(pool, &id).await.status == Status::Cancelled {
            cancelled = Some(id);
            break;
        }
    }
    let cancelled = cancelled.expect("no cancel arrived before its backtest finished");
    let checkpoint = checkpoint_of_kind(pool, &cancelled, CheckpointKind::Cancellation).await;
    assert!(checkpoint.unit_value < bars.len() as i64);
    let cancelled_at = checkpoint.unit_value;
    eprintln!("cancelled at bar {cancelled_at} of {}", bars.len());
    drop(worker);

    // The other gets the periodic checkpoint at 20,000 bars, then is cancelled.
    let (handed_at, state): (i64, serde_json::Value) = sqlx::query_as(
        "SELECT unit_value, state FROM seen_checkpoints WHERE operation_id = $1 AND unit_value = 20000",
    )
    .bind(&reference_id)
    .fetch_one(pool)
    .await?;
    let handed = submit(pool, "backtesting", &params).await;
    let claimed = ktrdr_testkit::claim_next(pool, "seed", "backtesting")
        .await?
        .expect("the submitted backtest");
    let checkpoint = ktrdr::checkpoints::NewCheckpoint {
        kind: CheckpointKind::Cancellation,
        unit: "bar",
        unit_value: handed_at,
        state,
        artifact: None,
    };
    ktrdr::checkpoints::save(pool, &claimed.lease, &checkpoint).await?;
    claimed.lease.mark_cancelled(pool, None).await?;

    operations::resume(pool, &cancelled).await?;
    operations::resume(pool, &handed).await?;
    let _other = spawn_worker(test_db.url(), &["--types", "backtesting"], &[]);
    for (id, from) in [(&cancelled, cancelled_at), (&handed, handed_at)] {
        let resumed = completed(pool, id).await.result.unwrap();
        assert_eq!(resumed["resumed_from_bar"].as_i64(), Some(from));
        for metric in ["trade_list", "equity_curve", "final_equity"] {
            assert_eq!(
                resumed["metrics"][metric], reference["metrics"][metric],
                "{id} resumed from bar {from}: {metric} differs"
            );
        }
        assert!(ktrdr::checkpoints::get(pool, id).await?.is_none());
    }
    Ok(())
}
