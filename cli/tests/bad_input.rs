//! Bad input through the `ktrdr` binary, where the CLI reads it: files too large or with lines too
//! long, nesting too deep, params over the limits — each refused with one line that names the
//! limit, before anything is stored — and `--params @FILE` / `--params -`.

use std::{
    io::Write,
    path::PathBuf,
    process::{Command, Output, Stdio},
};

use ktrdr_testkit::{self, TestDatabase};
use serde_json::json;

/// Runs `ktrdr args` against `database_url`, with `stdin` as its standard input.
fn ktrdr(database_url: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .env("DATABASE_URL", database_url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the ktrdr binary runs");
    // The command may refuse before it reads all of stdin: a broken pipe is its answer.
    let _ = child.stdin.take().unwrap().write_all(stdin);
    child.wait_with_output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

fn temp_file(name: &str, content: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("ktrdr-cli-{name}-{}", std::process::id()));
    std::fs::write(&path, content).unwrap();
    path
}

fn refused(output: &Output, expected: &str) {
    assert!(!output.status.success(), "accepted: {output:?}");
    let stderr = stderr(output);
    assert!(stderr.contains(expected), "{stderr}");
    assert!(
        stderr.len() < 600,
        "{} bytes on stderr: {stderr}",
        stderr.len()
    );
}

#[tokio::test]
async fn imports_refuse_over_long_lines_and_nul_streams() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let import = |path: &PathBuf| {
        let path = path.to_str().unwrap();
        ktrdr(
            test_db.url(),
            &["data", "import", path, "--symbol", "X", "--timeframe", "1h"],
            b"",
        )
    };
    let long = format!(
        "timestamp,open,high,low,close\n2024-01-01,1,1,1,1\n2024-01-02,{}\n",
        "1".repeat(70_000)
    );
    let path = temp_file("long.csv", long.as_bytes());
    refused(
        &import(&path),
        ":3: line is longer than 65536 bytes (the limit for one CSV line",
    );
    std::fs::remove_file(&path)?;

    let path = temp_file("zeros.csv", &vec![0u8; 10 * 1024 * 1024]);
    refused(
        &import(&path),
        ":1: line is longer than 65536 bytes (the limit for one CSV line",
    );
    std::fs::remove_file(&path)?;
    assert!(
        ktrdr_trading::market_data::list(&test_db.pool)
            .await?
            .is_empty()
    );

    // A good file is imported, and says how many bars.
    let path = temp_file(
        "good.csv",
        b"timestamp,open,high,low,close\n2024-01-01,1,1,1,1\n",
    );
    let output = import(&path);
    std::fs::remove_file(&path)?;
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.starts_with("X 1h: 1 bars (1 new, 0 updated)"),
        "{stdout}"
    );
    Ok(())
}

#[test]
fn validate_refuses_oversized_and_deeply_nested_strategies() {
    let url = "postgres://unused";
    let path = temp_file(
        "big.yaml",
        format!("# {}\n", "x".repeat(1 << 20)).as_bytes(),
    );
    refused(
        &ktrdr(url, &["validate", path.to_str().unwrap()], b""),
        "larger than 1048576 bytes (1 MiB), the limit for a strategy",
    );
    std::fs::remove_file(&path).unwrap();
    let path = temp_file(
        "deep.yaml",
        format!("{}x\n", "- ".repeat(100_000)).as_bytes(),
    );
    refused(
        &ktrdr(url, &["validate", path.to_str().unwrap()], b""),
        "line 1: (file): nested deeper than 32 levels, the limit for a strategy",
    );
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn params_come_from_a_file_or_stdin_within_the_limits() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();
    let submit = |params: &str, stdin: &[u8]| {
        ktrdr(url, &["ops", "submit", "dummy", "--params", params], stdin)
    };

    let big = json!({ "steps": 1, "note": "n".repeat(1 << 20) }).to_string();
    let path = temp_file("big.json", big.as_bytes());
    let from_file = format!("@{}", path.display());
    let limit = "bytes as JSON, over the limit of 1048576 bytes (1 MiB)";
    refused(&submit(&from_file, b""), limit);
    refused(&submit("-", big.as_bytes()), limit);
    std::fs::remove_file(&path)?;
    let mut deep = String::from("{\"steps\": ");
    deep.push_str(&"[".repeat(40));
    deep.push_str(&"]".repeat(40));
    deep.push('}');
    refused(
        &submit("-", deep.as_bytes()),
        "error: params nest deeper than 32 levels of objects and arrays (the limit)",
    );
    // Input beyond what is read at all is refused without parsing it.
    refused(
        &submit("-", &vec![b' '; 5 << 20]),
        "error: --params (stdin) is longer than 4194304 bytes (4 MiB)",
    );
    refused(
        &submit("@/nonexistent/params.json", b""),
        "error: --params @/nonexistent/params.json: cannot read",
    );
    ktrdr_testkit::assert_nothing_submitted(&test_db.pool, "params over the limits").await?;

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
