//! Bad input through the `ktrdr` binary: a catalogue of every bad command line — files too large or
//! with lines too long, nesting too deep, params over the limits, models that cannot fit, unknown
//! names — each refused with one line that says what to fix, in bounded memory, before anything is
//! stored; and the good forms beside them (`--params @FILE` / `--params -`, an import).

mod support;

use std::path::PathBuf;

use ktrdr_testkit::{self, TestDatabase};
use serde_json::json;
use support::{ktrdr, ktrdr_with_stdin, stderr};

fn temp_file(name: &str, content: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ktrdr-cli-{name}-{}", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path
}

/// One bad command line of the catalogue: what it is, the arguments (`{file}` stands for a file
/// holding `file`), standard input, and what its one-line error must say.
struct BadInput {
    what: &'static str,
    args: Vec<String>,
    file: Option<Vec<u8>>,
    stdin: Vec<u8>,
    message: &'static str,
}

fn case(what: &'static str, args: &[&str], message: &'static str) -> BadInput {
    BadInput {
        what,
        args: args.iter().map(ToString::to_string).collect(),
        file: None,
        stdin: Vec::new(),
        message,
    }
}

fn with_file(mut case: BadInput, content: impl Into<Vec<u8>>) -> BadInput {
    case.file = Some(content.into());
    case
}

fn with_stdin(mut case: BadInput, content: impl Into<Vec<u8>>) -> BadInput {
    case.stdin = content.into();
    case
}

/// The example strategy with one line replaced.
fn strategy_with(from: &str, to: &str) -> Vec<u8> {
    let example = include_str!("../../strategies/rsi_macd_trend.yaml");
    assert!(example.contains(from), "the example has no {from}");
    example.replacen(from, to, 1).into_bytes()
}

fn nested_json(depth: usize) -> String {
    format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth))
}

/// Every bad input the command line takes, with the error it must give: the cases of the issue's
/// bad-input catalogue that reach the CLI (the worker's are in worker/tests, the SQL's in
/// trading/tests/bad_input.rs) and the ones handled well from the start, so they stay handled.
fn catalogue() -> Vec<BadInput> {
    let strategy = |what, from: &str, to: &str, message| {
        with_file(
            case(what, &["validate", "{file}"], message),
            strategy_with(from, to),
        )
    };
    let import = |what, path, message| {
        case(
            what,
            &["data", "import", path, "--symbol", "X", "--timeframe", "1h"],
            message,
        )
    };
    let layers = |n: usize| format!("hidden_layers: [{}]", vec!["4096"; n].join(", "));
    vec![
        case(
            "an unknown operation type",
            &["ops", "submit", "nosuchtype"],
            r#"error: unknown operation type "nosuchtype" (known types: agent_assessment, agent_design, agent_research, backtesting, dummy, training)"#,
        ),
        case(
            "params that are not JSON",
            &["ops", "submit", "dummy", "--params", "notjson"],
            "error: --params is not valid JSON: expected ident at line 1 column 2",
        ),
        case(
            "params that are not an object",
            &["ops", "submit", "dummy", "--params", "[1]"],
            "error: params must be a JSON object, got [1]",
        ),
        case(
            "params the kind cannot read",
            &["ops", "submit", "dummy", "--params", r#"{"steps":-1}"#],
            "error: invalid params for dummy: invalid value: integer `-1`, expected u32",
        ),
        with_stdin(
            case(
                "params nested 200 deep (the poison pill of the issue, at the CLI)",
                &["ops", "submit", "dummy", "--params", "-"],
                "error: params nest deeper than 32 levels of objects and arrays (the limit)",
            ),
            nested_json(200),
        ),
        with_file(
            case(
                "params over 1 MiB from a file",
                &["ops", "submit", "dummy", "--params", "@{file}"],
                "bytes as JSON, over the limit of 1048576 bytes (1 MiB)",
            ),
            json!({ "steps": 1, "note": "n".repeat(1 << 20) }).to_string(),
        ),
        with_stdin(
            case(
                "params input beyond what is read at all",
                &["ops", "submit", "dummy", "--params", "-"],
                "error: --params (stdin) is longer than 4194304 bytes (4 MiB)",
            ),
            vec![b' '; 5 << 20],
        ),
        case(
            "a params file that does not exist",
            &[
                "ops",
                "submit",
                "dummy",
                "--params",
                "@/nonexistent/params.json",
            ],
            "error: --params @/nonexistent/params.json: cannot read",
        ),
        case(
            "a negative priority",
            &["ops", "submit", "dummy", "--priority", "-1"],
            "error: priority must be a non-negative integer, got -1",
        ),
        case(
            "no attempts",
            &["ops", "submit", "dummy", "--max-attempts", "0"],
            "error: max_attempts must be at least 1, got 0",
        ),
        case(
            "a count of zero",
            &["ops", "submit", "dummy", "--count", "0"],
            "error: invalid value '0' for '--count <COUNT>': 0 is not in 1..=1000000",
        ),
        case(
            "a parent that is a path",
            &["ops", "submit", "dummy", "--parent", "../../../tmp/x/pwn"],
            "error: operation not found: ../../../tmp/x/pwn",
        ),
        case(
            "an unknown operation",
            &["ops", "show", "op_nope"],
            "error: operation not found: op_nope",
        ),
        case(
            "a cancel of an unknown operation",
            &["ops", "cancel", "op_nope"],
            "error: operation not found: op_nope",
        ),
        case(
            "a resume of an unknown operation",
            &["ops", "resume", "op_nope"],
            "error: OPERATION_NOT_FOUND: operation not found: op_nope",
        ),
        case(
            "an unknown status filter",
            &["ops", "list", "--status", "bogus"],
            "error: invalid value 'bogus' for '--status <STATUS>': unknown status 'bogus'",
        ),
        import(
            "an import of an endless stream of NULs",
            "/dev/zero",
            "error: /dev/zero:1: line is longer than 65536 bytes (the limit for one CSV line",
        ),
        with_file(
            import(
                "an import whose header has no newline",
                "{file}",
                ":1: line is longer than 65536 bytes (the limit for one CSV line",
            ),
            vec![b'h'; 8 << 20],
        ),
        with_file(
            import(
                "an import with one over-long line",
                "{file}",
                ":3: line is longer than 65536 bytes (the limit for one CSV line",
            ),
            format!(
                "timestamp,open,high,low,close\n2024-01-01,1,1,1,1\n2024-01-02,{}\n",
                "1".repeat(70_000)
            ),
        ),
        import(
            "an import of a file that does not exist",
            "/nonexistent.csv",
            "error: cannot read /nonexistent.csv: No such file or directory",
        ),
        case(
            "a strategy that does not exist",
            &["validate", "/nonexistent.yaml"],
            "/nonexistent.yaml: (file): cannot read: No such file or directory",
        ),
        with_file(
            case(
                "a strategy over 1 MiB",
                &["validate", "{file}"],
                "larger than 1048576 bytes (1 MiB), the limit for a strategy",
            ),
            format!("# {}\n", "x".repeat(50 << 20)),
        ),
        with_file(
            case(
                "a strategy nested 100,000 deep",
                &["validate", "{file}"],
                "line 1: (file): nested deeper than 32 levels, the limit for a strategy",
            ),
            format!("{}x\n", "- ".repeat(100_000)),
        ),
        strategy(
            "1,000 hidden layers of 4,096",
            "hidden_layers: [32, 16]",
            &layers(1000),
            "model.hidden_layers: expected 1 to 32 layer sizes from 1 to 4096, got 1000 layers",
        ),
        strategy(
            "a model over KTRDR_MAX_MODEL_BYTES",
            "hidden_layers: [32, 16]",
            &layers(32),
            "over the limit of 2147483648 bytes (2.0 GiB) (KTRDR_MAX_MODEL_BYTES); use fewer or narrower hidden layers",
        ),
        strategy(
            "10¹² epochs",
            "epochs: 50",
            "epochs: 1000000000000",
            "training.epochs: expected at most 100000, got 1000000000000",
        ),
        strategy(
            "a batch size of 1e13",
            "batch_size: 32",
            "batch_size: 1e13",
            "training.batch_size: invalid type: floating point `10000000000000.0`, expected usize",
        ),
        strategy(
            "10¹² bars of history",
            "history_required: 200",
            "history_required: 1000000000000",
            "training_data.history_required: expected at most 1000000, got 1000000000000",
        ),
        with_file(
            case(
                "a training of a model that cannot fit",
                &["train", "{file}"],
                "is not a valid strategy:",
            ),
            strategy_with("hidden_layers: [32, 16]", &layers(32)),
        ),
    ]
}

/// The largest resident set of any child this process has waited for, in bytes.
fn peak_child_rss() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    usage.ru_maxrss as u64 * 1024
}

#[tokio::test]
async fn every_bad_command_line_is_refused_with_one_line_and_stores_nothing() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    for (n, bad) in catalogue().into_iter().enumerate() {
        let path = bad
            .file
            .as_ref()
            .map(|content| temp_file(&format!("case{n}"), content));
        let args: Vec<String> = bad
            .args
            .iter()
            .map(|arg| match &path {
                Some(path) => arg.replace("{file}", &path.display().to_string()),
                None => arg.to_string(),
            })
            .collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = ktrdr_with_stdin(test_db.url(), &args, &bad.stdin);
        if let Some(path) = path {
            std::fs::remove_file(path)?;
        }
        let stderr = stderr(&output);
        assert!(
            !output.status.success(),
            "{}: accepted: {output:?}",
            bad.what
        );
        assert!(
            stderr.contains(bad.message),
            "{}: expected {:?} in: {stderr}",
            bad.what,
            bad.message
        );
        // One precise message: no echo of the input, no backtrace, no chain of causes.
        assert!(
            stderr.len() < 600,
            "{}: {} bytes: {stderr}",
            bad.what,
            stderr.len()
        );
        for noise in ["panicked", "backtrace", "Caused by"] {
            assert!(
                !stderr.contains(noise),
                "{}: {noise:?} in {stderr}",
                bad.what
            );
        }
    }
    // Bounded memory whatever the input: /dev/zero and the 50 MiB strategy were read in bounded
    // pieces (the unbounded import took 10 GB in 20 s).
    let peak = peak_child_rss();
    assert!(
        peak > 0 && peak < 256 << 20,
        "a command grew to {peak} bytes"
    );

    ktrdr_testkit::assert_nothing_submitted(&test_db.pool, "a bad command line").await?;
    assert!(
        ktrdr_trading::market_data::list(&test_db.pool)
            .await?
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn a_good_import_says_how_many_bars() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let path = temp_file(
        "good.csv",
        b"timestamp,open,high,low,close\n2024-01-01,1,1,1,1\n",
    );
    let output = ktrdr(
        test_db.url(),
        &[
            "data",
            "import",
            path.to_str().unwrap(),
            "--symbol",
            "X",
            "--timeframe",
            "1h",
        ],
    );
    std::fs::remove_file(&path)?;
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("X 1h: 1 bars (1 new, 0 updated)"),
        "{stdout}"
    );
    Ok(())
}

#[tokio::test]
async fn params_come_from_a_file_or_stdin() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();
    let submit = |params: &str, stdin: &[u8]| {
        ktrdr_with_stdin(url, &["ops", "submit", "dummy", "--params", params], stdin)
    };

    let path = temp_file("good.json", br#"{"steps": 2, "step_ms": 5}"#);
    let output = submit(&format!("@{}", path.display()), b"");
    std::fs::remove_file(&path)?;
    assert!(output.status.success(), "{}", stderr(&output));
    let output = submit("-", br#"{"steps": 3, "step_ms": 5}"#);
    assert!(output.status.success(), "{}", stderr(&output));
    let mut params = ktrdr_testkit::submitted_params(&test_db.pool).await?;
    params.sort_by_key(|p| p["steps"].as_u64());
    assert_eq!(
        params,
        [
            json!({"steps": 2, "step_ms": 5}),
            json!({"steps": 3, "step_ms": 5})
        ]
    );
    Ok(())
}
