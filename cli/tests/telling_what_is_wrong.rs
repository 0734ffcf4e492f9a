//! The CLI says what is wrong and how to go on: no worker for a submitted type (at submit, while
//! following, in `health`), JSON errors for `--json`, ids shortened to a unique prefix, lists
//! that say how much they left out (ids never wrapped in tables: a unit test of `output`), `--database-url`, passwords masked, a database without the
//! schema, plain `--follow` lines off a terminal, the embedded cluster announced once, and shell
//! completions.

mod support;

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use ktrdr::operations::{self, Outcome, Progress};
use ktrdr_testkit::{TempCluster, TestDatabase, server_url_as};
use serde_json::{Value, json};
use support::{ktrdr, stderr};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn submit_dummies(url: &str, count: &str) -> Vec<String> {
    let output = ktrdr(url, &["ops", "submit", "dummy", "--count", count]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output).lines().map(str::to_string).collect()
}

#[tokio::test]
async fn a_type_no_worker_takes_is_named_at_submit_and_in_health() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();
    let output = ktrdr(url, &["ops", "submit", "dummy"]);
    assert!(output.status.success());
    assert_eq!(
        stderr(&output),
        "warning: no active worker takes `dummy` operations: they stay PENDING until one starts \
         (`ktrdr-worker --types dummy`)"
    );

    let health = ktrdr(url, &["health", "--json"]);
    let health: Value = serde_json::from_slice(&health.stdout)?;
    assert_eq!(
        health["unserved_types"],
        json!([{"operation_type": "dummy", "pending": 1}])
    );
    let text = stdout(&ktrdr(url, &["health"]));
    assert!(
        text.contains("Warning: 1 pending; no active worker takes `dummy` operations"),
        "{text}"
    );

    // Once a worker that takes the type is registered, nothing is said.
    let worker = ktrdr::workers::WorkerIdentity {
        worker_id: "w-dummy".into(),
        types: vec!["dummy".into()],
        host: "test".into(),
        pid: 1,
        concurrency: 1,
        capabilities: json!({}),
    };
    ktrdr::workers::register(&test_db.pool, &worker, 60.0).await?;
    let output = ktrdr(url, &["ops", "submit", "dummy"]);
    assert!(output.status.success());
    assert_eq!(stderr(&output), "");
    let health: Value = serde_json::from_slice(&ktrdr(url, &["health", "--json"]).stdout)?;
    assert_eq!(health["unserved_types"], json!([]));
    Ok(())
}

#[tokio::test]
async fn errors_are_json_objects_when_json_was_asked_for() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();

    let output = ktrdr(url, &["ops", "show", "op_dummy_missing", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(output.stdout, b"");
    let error: Value = serde_json::from_str(&stderr(&output))?;
    assert_eq!(
        error,
        json!({"error": {"code": "NOT_FOUND", "message": "operation not found: op_dummy_missing"}})
    );

    let output = ktrdr(url, &["ops", "list", "--bogus", "--json"]);
    assert_eq!(output.status.code(), Some(2));
    let error: Value = serde_json::from_str(&stderr(&output))?;
    assert_eq!(error["error"]["code"], "USAGE");
    assert_eq!(
        error["error"]["message"],
        "unexpected argument '--bogus' found"
    );

    let output = ktrdr(url, &["ops", "submit", "dummy", "--params", "{", "--json"]);
    let error: Value = serde_json::from_str(&stderr(&output))?;
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("--params is not valid JSON"),
        "{error}"
    );

    // Without --json the same failure is the one `error:` line people read.
    let output = ktrdr(url, &["ops", "show", "op_dummy_missing"]);
    assert_eq!(
        stderr(&output),
        "error: operation not found: op_dummy_missing"
    );
    Ok(())
}

#[tokio::test]
async fn an_id_can_be_shortened_to_a_unique_prefix() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();
    let ids = submit_dummies(url, "2");
    let (first, second) = (&ids[0], &ids[1]);
    // The shortest prefix of the first id that the second does not share.
    let shared = first
        .chars()
        .zip(second.chars())
        .take_while(|(a, b)| a == b)
        .count();
    let unique = &first[..=shared];

    let output = ktrdr(url, &["ops", "show", unique, "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let shown: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(shown["operation_id"], first.as_str());

    let output = ktrdr(url, &["ops", "cancel", unique]);
    assert_eq!(stdout(&output), format!("Cancelled {first}."));

    let output = ktrdr(url, &["ops", "show", "op_dummy_"]);
    assert!(!output.status.success());
    let mut both = ids.clone();
    both.sort();
    assert_eq!(
        stderr(&output),
        format!(
            "error: \"op_dummy_\" is the start of 2 operation ids ({}): give more of the id",
            both.join(", ")
        )
    );
    let output = ktrdr(url, &["ops", "show", "op_training_"]);
    assert_eq!(stderr(&output), "error: operation not found: op_training_");
    Ok(())
}

#[tokio::test]
async fn a_full_page_says_how_many_there_are() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();
    submit_dummies(url, "3");
    let page = stdout(&ktrdr(url, &["ops", "list", "-l", "2"]));
    assert!(
        page.ends_with("Total: 2 shown of 3 (0 of those shown resumable; --limit shows more)"),
        "{page}"
    );
    let all = stdout(&ktrdr(url, &["ops", "list", "-l", "3"]));
    assert!(all.ends_with("Total: 3 operations (0 resumable)"), "{all}");
    Ok(())
}

#[tokio::test]
async fn database_url_flag_overrides_the_environment_and_passwords_are_masked() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let refused = "postgres://me:secret@127.0.0.1:1/x";
    let output = ktrdr(
        refused,
        &["--database-url", test_db.url(), "ops", "list", "--json"],
    );
    assert!(output.status.success(), "{}", stderr(&output));

    let output = ktrdr(test_db.url(), &["--database-url", refused, "ops", "list"]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("postgres://me:***@127.0.0.1:1/x"),
        "{}",
        stderr(&output)
    );

    // A password in the query string is masked by `db status` as in every message.
    let with_query_password = format!("{}?password=secret", test_db.url());
    for args in [&["db", "status"][..], &["db", "status", "--json"][..]] {
        let output = ktrdr(&with_query_password, args);
        let printed = format!("{}{}", stdout(&output), stderr(&output));
        assert!(printed.contains("password=***"), "{printed}");
        assert!(!printed.contains("secret"), "{printed}");
    }
    Ok(())
}

#[tokio::test]
async fn a_database_without_the_schema_says_to_migrate_once() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let name = format!("ktrdr_empty_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&test_db.pool)
        .await?;
    let empty = server_url_as(None, &name)?;
    let output = ktrdr(&empty, &["--no-migrate", "ops", "list"]);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&test_db.pool)
        .await?;
    assert!(!output.status.success());
    let message = stderr(&output);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.ends_with(
            ": run `ktrdr migrate` to install or upgrade ktrdr's schema in this database"
        ),
        "{message}"
    );
    assert_eq!(message.matches("ktrdr migrate").count(), 1, "{message}");
    Ok(())
}

#[tokio::test]
async fn follow_prints_plain_lines_when_not_on_a_terminal() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();
    let id = submit_dummies(url, "1").remove(0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args(["ops", "show", &id, "--follow"])
        .env("DATABASE_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let (lines_tx, lines) = mpsc::channel();
    let stderr_pipe = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let mut await_line = |wanted: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
                seen.push(line.clone());
                if line.contains(wanted) {
                    return;
                }
            }
        }
        panic!("no line with {wanted:?} in {seen:#?}");
    };
    await_line("PENDING   0%");
    await_line("warning: no active worker takes `dummy` operations");

    let claimed = operations::claim(&test_db.pool, "w-test", &["dummy".into()], 1, 60.0)
        .await?
        .remove(0);
    let progress = Progress {
        percent: 50.0,
        message: Some("half way".into()),
        details: None,
    };
    claimed
        .lease
        .heartbeat(&test_db.pool, 60.0, &progress)
        .await?;
    await_line("RUNNING  50% half way");
    claimed
        .lease
        .report(&test_db.pool, &Outcome::Completed(json!({"steps": 1})))
        .await?;
    await_line("COMPLETED");
    assert!(child.wait()?.success());
    // Each state appears once: lines are printed on changes, not every second.
    assert_eq!(
        seen.iter().filter(|l| l.contains("RUNNING  50%")).count(),
        1,
        "{seen:#?}"
    );
    Ok(())
}

#[tokio::test]
async fn the_embedded_cluster_is_announced_once() -> anyhow::Result<()> {
    let cluster = TempCluster::start()?;
    let output = Command::new(env!("CARGO_BIN_EXE_ktrdr"))
        .args(["ops", "list", "--json"])
        .env_remove("DATABASE_URL")
        .env("KTRDR_HOME", cluster.home())
        .output()?;
    assert!(output.status.success(), "{}", stderr(&output));
    let notice = stderr(&output);
    assert_eq!(notice.lines().count(), 1, "{notice}");
    assert!(
        notice.starts_with("ktrdr: using the embedded PostgreSQL cluster (postgres://"),
        "{notice}"
    );
    assert!(notice.ends_with("; set DATABASE_URL or --database-url for another server"));
    let listed: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(listed, json!([]));
    Ok(())
}

#[test]
fn completions_are_generated_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let output = ktrdr("postgres://unused@127.0.0.1:1/x", &["completions", shell]);
        assert!(output.status.success(), "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        assert!(script.contains("ktrdr"), "{shell}");
        assert!(
            script.contains("resume"),
            "{shell}: subcommands are completed"
        );
    }
    let output = ktrdr("postgres://unused@127.0.0.1:1/x", &["completions", "tcsh"]);
    assert_eq!(output.status.code(), Some(2));
}
