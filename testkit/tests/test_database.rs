//! A test's database is dropped with its `TestDatabase`, also when the test fails.

use ktrdr_testkit::TestDatabase;

async fn database_exists(admin: &sqlx::PgPool, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(admin)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_failing_test_leaves_no_database_behind() -> anyhow::Result<()> {
    let admin = ktrdr::db::connect(&ktrdr::db::resolve_database_url()?).await?;
    // A "test" that fails with its database open: the panic unwinds through the TestDatabase.
    let failed = tokio::spawn(async {
        let test_db = TestDatabase::create().await.unwrap();
        let name: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(&test_db.pool)
            .await
            .unwrap();
        assert!(name.is_empty(), "{name}");
    })
    .await
    .expect_err("the inner test fails");
    // The assertion's message is the database's name.
    let name = *failed
        .into_panic()
        .downcast::<String>()
        .expect("a formatted assertion message");
    assert!(name.starts_with("ktrdr_test_"), "{name}");
    assert!(
        !database_exists(&admin, &name).await,
        "{name} is still there"
    );

    // And one that passes drops its database as well.
    let test_db = TestDatabase::create().await?;
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&test_db.pool)
        .await?;
    assert!(database_exists(&admin, &name).await);
    drop(test_db);
    assert!(!database_exists(&admin, &name).await);
    Ok(())
}
