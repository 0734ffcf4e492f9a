//! An operation whose stored params the JSON decoder cannot read (nested deeper than its limit, as
//! an older version or a hand-written UPDATE may have stored them past the submit limits) is still
//! shown and listed by the `ktrdr` binary: its params as undecodable, with the start of their text.

mod support;

use std::process::Output;

use ktrdr_testkit::TestDatabase;
use serde_json::{Value, json};
use support::ktrdr;

/// The standard output of a command that must succeed.
fn succeeded(output: Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn ops_show_and_list_show_params_that_cannot_be_decoded() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let url = test_db.url();
    let id = ktrdr_testkit::submit_through_sql(&test_db.pool, "dummy", json!({})).await?;
    let nested = format!("{}1{}", r#"{"a":"#.repeat(200), "}".repeat(200));
    sqlx::query("UPDATE ktrdr.operations SET params = $2::jsonb WHERE operation_id = $1")
        .bind(&id)
        .bind(&nested)
        .execute(&test_db.pool)
        .await?;
    // As PostgreSQL prints the jsonb: 1401 bytes, of which the first 200 characters are kept.
    let text_start: String = r#"{"a": "#.repeat(34).chars().take(200).collect();

    let shown = succeeded(ktrdr(url, &["ops", "show", &id]));
    let params = shown
        .lines()
        .find(|line| line.starts_with("Params:"))
        .expect("a Params line");
    assert_eq!(
        params,
        format!(
            "Params:          (cannot be decoded: recursion limit exceeded at line 1 column 763; \
             1401 bytes, the first 200 characters) {text_start}…"
        )
    );
    assert!(shown.contains("Status:          PENDING"), "{shown}");

    let expected = json!({
        "undecodable": "recursion limit exceeded at line 1 column 763",
        "text_start": text_start,
        "text_bytes": 1401,
    });
    let shown: Value =
        serde_json::from_str(&succeeded(ktrdr(url, &["ops", "show", &id, "--json"])))?;
    assert_eq!(shown["params"], expected);
    assert_eq!(shown["operation_id"], id.as_str());

    let listed: Value = serde_json::from_str(&succeeded(ktrdr(url, &["ops", "list", "--json"])))?;
    assert_eq!(listed[0]["operation_id"], id.as_str());
    assert_eq!(listed[0]["params"], expected);
    assert!(succeeded(ktrdr(url, &["ops", "list"])).contains(&id));
    Ok(())
}
