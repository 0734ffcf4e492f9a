//! Bad input gets one precise error and changes nothing.

use ktrdr::{
    Error,
    operations::{self, NewOperation},
};
use ktrdr_testkit::{self, TestDatabase};
use ktrdr_trading::market_data::{
    self, BarRange, CsvBars, Existing, MAX_CSV_LINE_BYTES, Timeframe,
};
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
            "unknown operation type \"nope\" (known types: agent_assessment, agent_design, agent_research, backtesting, dummy, training)",
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
    let (count, report) = market_data::store_stream(
        pool,
        "BIG",
        Timeframe::M1,
        Existing::Keep,
        &mut CsvBars::open(&path)?,
    )
    .await?;
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
    let err = market_data::store_stream(
        pool,
        "BIG2",
        Timeframe::M1,
        Existing::Keep,
        &mut CsvBars::open(&path)?,
    )
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

/// The example strategy's text, with `from` replaced by `to`.
fn example_strategy_with(from: &str, to: &str) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../strategies/rsi_macd_trend.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "the example has no {from:?}");
    text.replacen(from, to, 1)
}

/// The problems of a strategy text, one per line.
fn problems(text: &str) -> String {
    let problems = ktrdr_trading::strategy::parse(text).unwrap_err();
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

#[test]
fn an_oversized_strategy_file_is_refused_with_the_limit() {
    use ktrdr_trading::strategy::limits::MAX_STRATEGY_BYTES;
    // Valid YAML all along (a comment), so only the size can be the reason.
    let text = example_strategy_with(
        "name:",
        &format!("# {}\nname:", "x".repeat(MAX_STRATEGY_BYTES)),
    );
    let path = temp_file("big-strategy.yaml", text.as_bytes());
    let refused = ktrdr_trading::strategy::parse_file(&path).unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        refused[0].message,
        "larger than 1048576 bytes (1 MiB), the limit for a strategy (the examples are 2 KiB)"
    );
    // The same text handed over directly (as a program would) is refused alike.
    let found = problems(&text);
    assert!(
        found.starts_with("(file): larger than 1048576 bytes"),
        "{found}"
    );
}

#[test]
fn a_deeply_nested_strategy_is_refused_before_parsing() {
    for deep in [
        format!("{}x\n", "- ".repeat(100_000)),
        format!("name: {}1{}\n", "[".repeat(100_000), "]".repeat(100_000)),
        (0..40).map(|n| format!("{}a:\n", " ".repeat(n))).collect(),
    ] {
        let found = problems(&deep);
        assert!(
            found.starts_with(
                "line 1: (file): nested deeper than 32 levels, the limit for a strategy"
            ) || found.starts_with("line 33: (file): nested deeper than 32 levels"),
            "{found}"
        );
    }
    // The examples are far from the limit.
    ktrdr_trading::strategy::parse(&example_strategy_with("name:", "name:")).unwrap();
}

#[test]
fn free_text_and_counts_are_bounded() {
    let long = "d".repeat(5000);
    let found = problems(&example_strategy_with(
        "description: RSI",
        &format!("description: {long} RSI"),
    ));
    assert!(
        found.contains("line 4: description: expected at most 4096 characters, got 5"),
        "{found}"
    );
    let layers = format!("hidden_layers: [{}]", vec!["4"; 40].join(", "));
    let found = problems(&example_strategy_with("hidden_layers: [32, 16]", &layers));
    assert!(
        found.contains(
            "model.hidden_layers: expected 1 to 32 layer sizes from 1 to 4096, got 40 layers: \
             [4, 4, 4, 4, 4, 4, 4, 4, …]"
        ),
        "{found}"
    );
}

#[tokio::test]
async fn trainings_that_cannot_run_are_refused_at_submit() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let layers = format!("hidden_layers: [{}]", vec!["4096"; 32].join(", "));
    let cases = [
        (
            ("hidden_layers: [32, 16]", layers.as_str()),
            "model: the model needs an estimated 16784184416 bytes (15.6 GiB)",
        ),
        (
            ("epochs: 50", "epochs: 1000000000000"),
            "training.epochs: expected at most 100000, got 1000000000000",
        ),
        (
            ("batch_size: 32", "batch_size: 10000000000000"),
            "training.batch_size: expected at most 1000000, got 10000000000000",
        ),
        (
            ("history_required: 200", "history_required: 1000000000000"),
            "training_data.history_required: expected at most 1000000, got 1000000000000",
        ),
        (
            ("lookahead: 24", "lookahead: 9999999"),
            "training.labels.lookahead: expected at most 1000000, got 9999999",
        ),
    ];
    for ((from, to), expected) in cases {
        let text = example_strategy_with(from, to);
        // The file is refused by the validator …
        let found = problems(&text);
        assert!(found.contains(expected), "{to}: {found}");
        // … and a program that built the strategy without it is refused at submit.
        let strategy: ktrdr_trading::strategy::Strategy = serde_yaml_ng::from_str(&text)?;
        let params = serde_json::to_value(ktrdr_trading::kinds::TrainingParams::new(strategy))?;
        let err = operations::submit(
            pool,
            &ktrdr_trading::kinds::ALL,
            &NewOperation::new("training").with_params(params),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("invalid params for training: the strategy is not valid: ")
                && err.contains(expected),
            "{to}: {err}"
        );
    }
    // The estimate is stated with its parts and the limit.
    let found = problems(&example_strategy_with("hidden_layers: [32, 16]", &layers));
    assert!(found.contains("parameters × 4 bytes × 8 copies"), "{found}");
    assert!(
        found.contains("over the limit of 2147483648 bytes (2.0 GiB) (KTRDR_MAX_MODEL_BYTES)"),
        "{found}"
    );
    ktrdr_testkit::assert_nothing_submitted(pool, "a training that cannot run").await?;
    Ok(())
}

/// A JSON object `{"x": [[…[1]…]]}` nested `depth` levels deep, the object included.
fn nested_params(depth: usize) -> serde_json::Value {
    let mut value = json!(1);
    for _ in 1..depth {
        value = json!([value]);
    }
    json!({ "x": value })
}

#[tokio::test]
async fn params_over_the_limits_are_refused_by_rust_and_sql_alike() -> anyhow::Result<()> {
    use ktrdr::{
        job_kinds::JobKinds,
        operations::{MAX_PARAMS_BYTES, MAX_PARAMS_DEPTH},
    };
    let pool = &TestDatabase::create().await?.pool;
    // No kind check: only the limits stand between these params and the database.
    let no_kinds = JobKinds::new(&[]);
    let sized = |bytes: usize| json!({ "x": "a".repeat(bytes - r#"{"x": ""}"#.len()) });
    let over = MAX_PARAMS_BYTES + 1;
    let cases = [
        (
            sized(over),
            format!("params are {over} bytes as JSON, over the limit of 1048576 bytes (1 MiB)"),
        ),
        (
            nested_params(MAX_PARAMS_DEPTH + 1),
            "params nest deeper than 32 levels of objects and arrays (the limit)".to_string(),
        ),
    ];
    for (params, expected) in &cases {
        let op = NewOperation::new("dummy").with_params(params.clone());
        let err = operations::submit(pool, &no_kinds, &op).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert_eq!(&err.to_string(), expected);
        // Any other client meets the same limit in the database, in the same words.
        let err: Error =
            sqlx::query_scalar::<_, String>("SELECT ktrdr.submit_operation('dummy', $1)")
                .bind(params)
                .fetch_one(pool)
                .await
                .unwrap_err()
                .into();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert_eq!(&err.to_string(), expected);
    }
    ktrdr_testkit::assert_nothing_submitted(pool, "params over the limits").await?;

    // Just at the limits both accept: the two measures agree.
    for params in [sized(MAX_PARAMS_BYTES), nested_params(MAX_PARAMS_DEPTH)] {
        let op = NewOperation::new("dummy").with_params(params.clone());
        operations::submit(pool, &no_kinds, &op).await?;
        sqlx::query_scalar::<_, String>("SELECT ktrdr.submit_operation('dummy', $1)")
            .bind(&params)
            .fetch_one(pool)
            .await?;
    }
    Ok(())
}
