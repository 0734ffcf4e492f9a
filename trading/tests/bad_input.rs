//! Bad input gets one precise error and changes nothing.

use ktrdr::{
    Error,
    operations::{self, NewOperation},
};
use ktrdr_testkit::{self, TestDatabase};
use ktrdr_trading::market_data::{self, BarRange, CsvBars, MAX_CSV_LINE_BYTES, Timeframe};
use serde_json::json;

/// A file under the temp directory, unique to this process and `name`, with `content`.
fn temp_file(name: &str, content: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("ktrdr-bad-{name}-{}", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path
}

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

#[test]
fn an_over_long_csv_line_is_refused_with_its_number_and_the_limit() {
    let long = "9".repeat(MAX_CSV_LINE_BYTES + 1);
    let content = format!(
        "timestamp,open,high,low,close\n2024-01-01 00:00,1,2,0.5,1.5\n{long}\n2024-01-02,1,1,1,1\n"
    );
    let path = temp_file("long-line.csv", content.as_bytes());
    let err = market_data::read_csv(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(
        err.contains(":3: line is longer than 65536 bytes (the limit for one CSV line"),
        "{err}"
    );
    // The line is shown by its start only.
    assert!(
        err.contains(&format!("starts \"{}…\"", &long[..100])),
        "{err}"
    );
    assert!(err.len() < 400, "{} bytes: {err}", err.len());

    // A header line just at the limit is read (and refused for its columns, shown shortened).
    let header = "x".repeat(MAX_CSV_LINE_BYTES);
    let path = temp_file("long-header.csv", format!("{header}\n").as_bytes());
    let err = market_data::read_csv(&path).unwrap_err().to_string();
    std::fs::remove_file(&path).unwrap();
    assert!(err.contains("no 'timestamp' column (header: xxx"), "{err}");
    assert!(err.len() < 400, "{} bytes: {err}", err.len());
}

#[test]
fn a_stream_of_nuls_is_refused_at_the_line_limit() {
    // What `ktrdr data import /dev/zero` reads, in a file of 10 MB so the test ends either way.
    let path = temp_file("zeros.csv", &vec![0u8; 10 * 1024 * 1024]);
    let err = match CsvBars::open(&path) {
        Err(err) => err.to_string(),
        Ok(_) => panic!("10 MB without a newline were accepted as a header"),
    };
    std::fs::remove_file(&path).unwrap();
    assert!(
        err.contains(":1: line is longer than 65536 bytes (the limit for one CSV line"),
        "{err}"
    );
    assert!(
        err.contains(&format!("starts \"{}…\"", "\\0".repeat(100))),
        "{err}"
    );
}

#[tokio::test]
async fn a_large_csv_is_imported_chunk_by_chunk() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    // More rows than four chunks of the store's 50,000.
    let rows = 210_000;
    let start = chrono::DateTime::parse_from_rfc3339("2000-01-01T00:00:00Z")?.to_utc();
    let mut content = String::from("timestamp,open,high,low,close,volume\n");
    for i in 0..rows {
        let ts = (start + chrono::Duration::minutes(i)).timestamp();
        let price = 1.0 + (i % 1000) as f64 / 10_000.0;
        content.push_str(&format!(
            "{ts},{price},{},{},{price},{i}\n",
            price + 0.01,
            price - 0.01
        ));
    }
    let path = temp_file("large.csv", content.as_bytes());
    let (count, report) =
        market_data::store_stream(pool, "BIG", Timeframe::M1, CsvBars::open(&path)?).await?;
    assert_eq!(count, rows as usize);
    assert_eq!((report.inserted, report.updated), (rows as u64, 0));
    let range = BarRange {
        symbol: "BIG",
        timeframe: Timeframe::M1,
        start: None,
        end: None,
    };
    let loaded = market_data::load(pool, &range).await?;
    assert_eq!(loaded, market_data::read_csv(&path)?);
    assert_eq!(loaded.last().unwrap().volume, (rows - 1) as f64);

    // A bad row after several chunks rolls the whole import back.
    content.push_str("1999-01-01,1,1,1,1,1\n");
    std::fs::write(&path, &content)?;
    let err = market_data::store_stream(pool, "BIG2", Timeframe::M1, CsvBars::open(&path)?)
        .await
        .unwrap_err();
    std::fs::remove_file(&path)?;
    assert!(
        err.to_string()
            .contains(&format!(":{}: timestamp", rows + 2)),
        "{err}"
    );
    let series = market_data::list(pool).await?;
    assert_eq!(series.len(), 1, "{series:?}");
    Ok(())
}
