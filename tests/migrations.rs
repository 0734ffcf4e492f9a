//! Migrations: idempotent, and safe when many processes run them at once.

use ktrdr::db;
use ktrdr_testkit::TestDatabase;

#[tokio::test]
async fn concurrent_migrations_apply_everything_once() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    // The database is already migrated; ten more migrators racing must change nothing and all succeed.
    let runs = (0..10).map(|_| {
        let url = test_db.url().to_string();
        tokio::spawn(async move {
            let pool = db::connect_with_size(&url, 1).await?;
            db::migrate(&pool).await
        })
    });
    for run in futures::future::join_all(runs).await {
        let report = run??;
        assert!(report.applied_migrations.is_empty(), "{report:?}");
        assert!(!report.sql_bundle_applied, "{report:?}");
    }
    let history: i64 = sqlx::query_scalar("SELECT count(*) FROM ktrdr.refinery_schema_history")
        .fetch_one(&test_db.pool)
        .await?;
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))?.count();
    assert_eq!(history as usize, files);
    let has_claim: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'claim_operations')",
    )
    .fetch_one(&test_db.pool)
    .await?;
    assert!(has_claim, "the sql/ bundle was not applied");
    Ok(())
}

#[tokio::test]
async fn a_changed_sql_bundle_is_applied_once_and_then_recognised() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    // As if the database had been migrated by an older build with other functions.
    sqlx::query("UPDATE ktrdr.sql_bundle SET sha256 = 'older'")
        .execute(pool)
        .await?;
    let report = db::migrate(pool).await?;
    assert!(report.sql_bundle_applied, "{report:?}");
    assert!(report.applied_migrations.is_empty(), "{report:?}");
    let report = db::migrate(pool).await?;
    assert!(!report.sql_bundle_applied, "applied twice: {report:?}");
    Ok(())
}
