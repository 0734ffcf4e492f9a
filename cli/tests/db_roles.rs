//! `ktrdr db roles`, through the real binary on a real database: logins it creates get exactly
//! their group's rights (a worker calls worker functions and cannot write operations; a reader
//! reads views and cannot submit), the listing shows them as members, and what it refuses says why.

mod support;

use ktrdr_testkit::{LoginRole, TestDatabase, server_url_as};
use serde_json::Value;
use sqlx::PgPool;
use support::{ktrdr, stderr};

const PERMISSION_DENIED: &str = "42501";

/// The SQLSTATE `sql` fails with on `pool`; panics when it succeeds.
async fn refusal(pool: &PgPool, sql: &str) -> String {
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(pool).await {
        Ok(_) => panic!("{sql} was allowed"),
        Err(sqlx::Error::Database(db)) => db.code().unwrap_or_default().to_string(),
        Err(other) => panic!("{sql}: {other}"),
    }
}

fn json_of(output: &std::process::Output) -> Value {
    assert!(output.status.success(), "{}", stderr(output));
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

fn role<'a>(listed: &'a Value, name: &str) -> &'a Value {
    listed["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|role| role["role"] == name)
        .unwrap_or_else(|| panic!("no {name} in {listed}"))
}

fn unique_login(kind: &str) -> String {
    format!(
        "ktrdr_test_{kind}_{:08x}",
        std::process::id() ^ rand_suffix()
    )
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

#[tokio::test]
async fn a_worker_login_it_creates_runs_worker_functions_and_cannot_write_operations()
-> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let name = unique_login("worker");
    let output = ktrdr(
        test_db.url(),
        &[
            "db",
            "roles",
            "--create-login",
            &name,
            "--role",
            "worker",
            "--json",
        ],
    );
    let listed = json_of(&output);
    let password = listed["login"]["generated_password"]
        .as_str()
        .unwrap_or_else(|| panic!("a generated password in {listed}"))
        .to_string();
    let login = LoginRole::adopt(&test_db, &name, &password);
    assert_eq!(listed["login"]["outcome"], "created", "{listed}");
    assert!(password.len() >= 32, "{password}");

    let worker = role(&listed, "ktrdr_worker");
    assert!(
        worker["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["name"] == name.as_str() && m["login"] == true),
        "{worker}"
    );
    let calls: Vec<&str> = worker["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(calls.contains(&"claim_operations"), "{calls:?}");
    assert!(!calls.contains(&"submit_operation"), "{calls:?}");
    assert_eq!(worker["writes_tables"], serde_json::json!(["artifacts"]));
    assert_eq!(role(&listed, "ktrdr_admin")["calls_every_function"], true);
    assert_eq!(
        role(&listed, "ktrdr_reader")["reads_tables"],
        serde_json::json!([])
    );

    ktrdr_testkit::pending_dummy(&test_db.pool).await?;
    let as_worker = login.pool().await?;
    let claimed: Vec<(String,)> = sqlx::query_as(
        "SELECT operation_id FROM ktrdr.claim_operations('w', ARRAY['dummy'], 1, 30)",
    )
    .fetch_all(&as_worker)
    .await?;
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        refusal(
            &as_worker,
            "UPDATE ktrdr.operations SET status = 'completed'"
        )
        .await,
        PERMISSION_DENIED
    );

    // Run again with the same name: the password is set again (to the same, from a file), the
    // login kept.
    let password_file = std::env::temp_dir().join(format!("{name}.password"));
    std::fs::write(&password_file, format!("{password}\n"))?;
    let again = ktrdr(
        test_db.url(),
        &[
            "db",
            "roles",
            "--create-login",
            &name,
            "--role",
            "worker",
            "--json",
            "--password-file",
            password_file.to_str().unwrap(),
        ],
    );
    std::fs::remove_file(&password_file)?;
    let again = json_of(&again);
    assert_eq!(again["login"]["generated_password"], Value::Null, "{again}");
    assert_eq!(again["login"]["outcome"], "password_reset", "{again}");
    // As a login that owns nothing, the roles cannot be applied: said so, in one line.
    let refused = ktrdr(&login.url()?, &["--no-migrate", "db", "roles"]);
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(
        message.starts_with("error: cannot apply the roles: "),
        "{message}"
    );
    assert!(
        message.contains("connect as the owner of the ktrdr schema"),
        "{message}"
    );
    as_worker.close().await;
    Ok(())
}

#[tokio::test]
async fn a_reader_login_with_a_given_password_reads_views_and_cannot_submit() -> anyhow::Result<()>
{
    let test_db = TestDatabase::create().await?;
    let name = unique_login("reader");
    let password_file = std::env::temp_dir().join(format!("{name}.password"));
    std::fs::write(&password_file, "Reader-Pass-1234\n")?;
    let output = ktrdr(
        test_db.url(),
        &[
            "db",
            "roles",
            "--create-login",
            &name,
            "--role",
            "reader",
            "--password-file",
            password_file.to_str().unwrap(),
        ],
    );
    std::fs::remove_file(&password_file)?;
    assert!(output.status.success(), "{}", stderr(&output));
    let login = LoginRole::adopt(&test_db, &name, "Reader-Pass-1234");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains(&format!("Created login {name} in ktrdr_reader.")),
        "{text}"
    );
    assert!(
        !text.contains("Reader-Pass-1234"),
        "a given password is never printed: {text}"
    );
    for role in ["ktrdr_worker — ", "ktrdr_reader — ", "ktrdr_admin — "] {
        assert!(text.contains(role), "{text}");
    }
    assert!(text.contains(&format!("members:  {name}")), "{text}");

    ktrdr_testkit::pending_dummy(&test_db.pool).await?;
    let as_reader = login.pool().await?;
    let depth: i64 = sqlx::query_scalar("SELECT count(*) FROM ktrdr.queue_depth")
        .fetch_one(&as_reader)
        .await?;
    assert!(depth >= 1);
    assert_eq!(
        refusal(&as_reader, "SELECT ktrdr.submit_operation('dummy')").await,
        PERMISSION_DENIED
    );
    as_reader.close().await;
    Ok(())
}

#[tokio::test]
async fn what_it_refuses_says_why() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let unknown = ktrdr(
        test_db.url(),
        &["db", "roles", "--create-login", "x", "--role", "owner"],
    );
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert!(
        stderr(&unknown).contains("[possible values: worker, reader, admin]"),
        "{}",
        stderr(&unknown)
    );
    let reserved = ktrdr(
        test_db.url(),
        &[
            "db",
            "roles",
            "--create-login",
            "ktrdr_admin",
            "--role",
            "admin",
        ],
    );
    assert!(!reserved.status.success());
    assert!(
        stderr(&reserved).contains("reserved"),
        "{}",
        stderr(&reserved)
    );
    let missing_file = ktrdr(
        test_db.url(),
        &[
            "db",
            "roles",
            "--create-login",
            "x",
            "--role",
            "admin",
            "--password-file",
            "/nonexistent/pw",
        ],
    );
    assert!(!missing_file.status.success());
    assert!(stderr(&missing_file).starts_with("error: cannot read /nonexistent/pw: "));

    let name = format!("ktrdr_unmigrated_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&test_db.pool)
        .await?;
    let empty = server_url_as(None, &name)?;
    let output = ktrdr(&empty, &["--no-migrate", "db", "roles"]);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name}")))
        .execute(&test_db.pool)
        .await?;
    assert!(!output.status.success());
    assert_eq!(
        stderr(&output),
        "error: this database has no ktrdr schema: run `ktrdr migrate` to install or upgrade \
         ktrdr's schema in this database"
    );
    Ok(())
}
