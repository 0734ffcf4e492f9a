//! The `backtesting` operation run by a real worker: a trained model traded end to end, and the
//! refusals — a model of another strategy, an id that is no training — that fail the operation with
//! a precise message while the worker keeps running.

mod support;

use ktrdr::{
    operations::{self, NewOperation, Status},
    params::{BacktestParams, TrainingParams},
    strategy::Strategy,
    testing::TestDatabase,
};
use sqlx::PgPool;
use support::{
    WorkerProcess, checkpoint_writes, example_strategy, finished, record_checkpoint_writes,
    store_synthetic_bars,
};

async fn submit(pool: &PgPool, operation_type: &str, params: impl serde::Serialize) -> String {
    let op = NewOperation::new(operation_type).with_params(serde_json::to_value(params).unwrap());
    operations::submit(pool, &op).await.unwrap()
}

#[tokio::test]
async fn a_trained_model_is_backtested_and_foreign_models_are_refused() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let bars = store_synthetic_bars(pool, (2022, 1), (2022, 7), 9).await;
    let mut worker = WorkerProcess::spawn(test_db.url(), &["--types", "training,backtesting"], &[]);

    let strategy = example_strategy("rsi_macd_trend.yaml", 2);
    let training = submit(
        pool,
        "training",
        TrainingParams {
            strategy: strategy.clone(),
            symbol: None,
            timeframe: None,
            start: None,
            end: None,
        },
    )
    .await;
    assert_eq!(
        finished(pool, &training).await.status(),
        Status::Completed,
        "{}",
        worker.log()
    );

    let backtest = |strategy: Strategy, model: String| BacktestParams {
        strategy,
        model,
        symbol: None,
        timeframe: None,
        start: None,
        end: None,
        initial_capital: Some(50_000.0),
        checkpoint_interval_bars: None,
    };
    let id = submit(
        pool,
        "backtesting",
        backtest(strategy.clone(), training.clone()),
    )
    .await;
    let op = finished(pool, &id).await;
    assert_eq!(
        op.status(),
        Status::Completed,
        "{:?}\n{}",
        op.error_message,
        worker.log()
    );
    let metrics = &op.result.unwrap()["metrics"];
    assert_eq!(metrics["bars"].as_u64().unwrap() as usize, bars.len());
    assert_eq!(metrics["initial_capital"].as_f64().unwrap(), 50_000.0);
    let trades = metrics["trade_list"].as_array().unwrap();
    assert_eq!(trades.len() as u64, metrics["trades"].as_u64().unwrap());
    let net: f64 = trades.iter().map(|t| t["net_pnl"].as_f64().unwrap()).sum();
    assert!((50_000.0 + net - metrics["final_equity"].as_f64().unwrap()).abs() < 1e-6);

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
            format!("--model {id} is a COMPLETED backtesting operation, not a completed training"),
        ),
        (
            unknown,
            "--model: operation not found: op_training_nope".to_string(),
        ),
    ] {
        let op = finished(pool, &op_id).await;
        assert_eq!(op.status(), Status::Failed);
        let message = op.error_message.unwrap_or_default();
        assert!(message.starts_with(&expected), "{message}");
    }
    assert!(worker.is_running());
    test_db.cleanup().await?;
    Ok(())
}

/// Seed M5 at the checkpoint level: a backtest over ~35,000 1h bars with `checkpoint_interval_bars`
/// 5,000 writes a checkpoint every 5,000 bars; a second operation handed one of them mid-run (by a fenced save, as a cancelled worker would
/// leave it) resumes on another worker from that bar and ends with identical trades and equity.
#[tokio::test]
async fn a_backtest_resumed_from_a_checkpoint_ends_with_identical_trades() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let bars = store_synthetic_bars(pool, (2018, 1), (2023, 8), 21).await;
    assert!(bars.len() > 34_000, "{}", bars.len());
    record_checkpoint_writes(pool).await;
    let worker = WorkerProcess::spawn(test_db.url(), &["--types", "training,backtesting"], &[]);
    let mut strategy = example_strategy("rsi_macd_trend.yaml", 2);
    strategy.training.epochs = 1;
    let training = submit(
        pool,
        "training",
        TrainingParams {
            strategy: strategy.clone(),
            symbol: None,
            timeframe: None,
            start: None,
            end: None,
        },
    )
    .await;
    assert_eq!(
        finished(pool, &training).await.status(),
        Status::Completed,
        "{}",
        worker.log()
    );
    let params = BacktestParams {
        strategy,
        model: training,
        symbol: None,
        timeframe: None,
        start: None,
        end: None,
        initial_capital: None,
        checkpoint_interval_bars: Some(5_000),
    };
    let reference_id = submit(pool, "backtesting", &params).await;
    let reference = finished(pool, &reference_id)
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
    let (bar, state): (i64, serde_json::Value) =
        sqlx::query_as("SELECT unit_value, state FROM seen_checkpoints WHERE unit_value >= 20000 ORDER BY unit_value LIMIT 1")
            .fetch_one(pool)
            .await?;
    drop(worker);

    // The second operation gets that checkpoint from a fenced save, then is cancelled and resumed.
    let second = submit(pool, "backtesting", &params).await;
    let claimed = operations::claim(pool, "seed", &["backtesting".into()], 1, 60.0)
        .await?
        .remove(0);
    let checkpoint = ktrdr::checkpoints::NewCheckpoint {
        kind: ktrdr::checkpoints::CheckpointKind::Cancellation,
        unit: "bar",
        unit_value: bar,
        state,
        artifact: None,
    };
    ktrdr::checkpoints::save(pool, &claimed.lease, &checkpoint).await?;
    claimed.lease.mark_cancelled(pool, None).await?;
    operations::resume(pool, &second).await?;
    let _other = WorkerProcess::spawn(test_db.url(), &["--types", "backtesting"], &[]);
    let resumed = finished(pool, &second).await;
    assert_eq!(
        resumed.status(),
        Status::Completed,
        "{:?}",
        resumed.error_message
    );
    let resumed = resumed.result.unwrap();
    assert_eq!(resumed["resumed_from_bar"].as_i64(), Some(bar));
    assert_eq!(
        resumed["metrics"]["trade_list"],
        reference["metrics"]["trade_list"]
    );
    assert_eq!(
        resumed["metrics"]["final_equity"],
        reference["metrics"]["final_equity"]
    );
    assert_eq!(
        resumed["metrics"]["equity_curve"],
        reference["metrics"]["equity_curve"]
    );
    assert!(ktrdr::checkpoints::get(pool, &second).await?.is_none());
    test_db.cleanup().await?;
    Ok(())
}
