//! Bad input gets one precise error and changes nothing.

use ktrdr::{
    Error,
    operations::{self, NewOperation},
};
use ktrdr_testkit::{self, TestDatabase};
use serde_json::json;

#[tokio::test]
async fn bad_submissions_are_refused_with_the_reason() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    // A strategy built by a program, not read from a checked file.
    let strategy_file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../strategies/rsi_macd_trend.yaml"
    );
    let mut strategy =
        ktrdr_trading::strategy::parse_file(std::path::Path::new(strategy_file)).unwrap();
    let mut bad_symbol =
        serde_json::to_value(ktrdr_trading::kinds::TrainingParams::new(strategy.clone()))?;
    bad_symbol["symbol"] = json!("EUR/USD");
    strategy.training.learning_rate = 5.0;
    let too_fast = serde_json::to_value(ktrdr_trading::kinds::TrainingParams::new(strategy))?;
    let cases = [
        (
            NewOperation::new("nope"),
            "unknown operation type \"nope\" (known types: backtesting, dummy, training)",
        ),
        (
            NewOperation {
                priority: -1,
                ..NewOperation::new("dummy")
            },
            "priority must be a non-negative integer, got -1",
        ),
        (
            NewOperation {
                max_attempts: 0,
                ..NewOperation::new("dummy")
            },
            "max_attempts must be at least 1, got 0",
        ),
        (
            NewOperation::new("dummy").with_params(json!([1, 2])),
            "params must be a JSON object, got [1,2]",
        ),
        (
            NewOperation::new("dummy").with_params(json!({"steps": "many"})),
            "invalid params for dummy: invalid type: string \"many\", expected u32",
        ),
        (
            NewOperation::new("training").with_params(too_fast),
            "invalid params for training: the strategy is not valid: training.learning_rate: \
             expected a number in (0, 1), got 5",
        ),
        (
            NewOperation::new("training").with_params(bad_symbol),
            "invalid params for training: symbol 'EUR/USD' is invalid: use letters, digits",
        ),
        (
            NewOperation {
                parent_id: Some("op_missing".into()),
                ..NewOperation::new("dummy")
            },
            "operation not found: op_missing",
        ),
    ];
    for (op, expected) in cases {
        let err = operations::submit(pool, &ktrdr_trading::kinds::ALL, &op)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput(_) | Error::NotFound(_)),
            "{op:?}: {err:?}"
        );
        assert!(err.to_string().starts_with(expected), "{op:?}: got {err}");
    }
    let err = operations::submit_many(
        pool,
        &ktrdr_trading::kinds::ALL,
        &NewOperation::new("dummy"),
        0,
    )
    .await
    .unwrap_err();
    assert_eq!(err.to_string(), "count must be in [1, 1000000], got 0");
    ktrdr_testkit::assert_nothing_submitted(pool, "a refused operation").await?;
    Ok(())
}

#[tokio::test]
async fn unknown_ids_say_so() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let err = operations::get(pool, "op_dummy_nope").await.unwrap_err();
    assert_eq!(err.to_string(), "operation not found: op_dummy_nope");
    let err = operations::request_cancel(pool, "op_dummy_nope", None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    assert_eq!(err.to_string(), "operation not found: op_dummy_nope");
    Ok(())
}

#[tokio::test]
async fn nonsense_claim_arguments_are_refused() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let err = operations::claim(pool, "w", &["dummy".into()], 0, 30.0)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "limit must be in [1, 10000], got 0");
    let err = operations::claim(pool, "w", &["dummy".into()], 1, -5.0)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "lease_seconds must be in (0, 86400], got -5"
    );
    Ok(())
}
