//! Operation ids are names, never paths: the database refuses any other form, however the row is
//! written.

use ktrdr_testkit::TestDatabase;

#[tokio::test]
async fn an_operation_id_that_could_name_a_path_is_refused() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let insert = |id: String| {
        sqlx::query(
            "INSERT INTO ktrdr.operations (operation_id, operation_type) VALUES ($1, 'dummy')",
        )
        .bind(id)
        .execute(pool)
    };
    let too_long = "a".repeat(201);
    for hostile in [
        "../../../tmp/x/pwn",
        "a/b",
        "..",
        "",
        "op with space",
        "a\nb",
        &too_long,
    ] {
        let err = insert(hostile.to_string()).await.expect_err(hostile);
        let code = err.as_database_error().and_then(|db| db.code());
        assert_eq!(code.as_deref(), Some("23514"), "{hostile:?}: {err}");
        assert!(
            err.to_string().contains("operations_operation_id_form"),
            "{err}"
        );
    }
    // ktrdr's own ids, and hand-made names of the same alphabet, are fine.
    for fine in [
        "op_dummy_20261202_010000_0123abcd",
        "nightly-rebuild_7",
        &"a".repeat(200),
    ] {
        insert(fine.to_string()).await?;
    }
    let submitted = ktrdr_testkit::pending_dummy(pool).await?;
    assert!(submitted.starts_with("op_dummy_"), "{submitted}");
    Ok(())
}
