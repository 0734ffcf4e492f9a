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

#[tokio::test]
async fn v12_gives_checkpoints_saved_before_it_the_sha256_of_their_state() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let claimed = ktrdr_testkit::running_dummy(pool, "w", 30.0).await?;
    let id = &claimed.lease.operation_id;
    // A checkpoints table as V11 left it, with a row saved then.
    sqlx::query(
        "ALTER TABLE ktrdr.checkpoints DROP COLUMN state_sha256, DROP COLUMN corrupt_reason",
    )
    .execute(pool)
    .await?;
    sqlx::query(
        "INSERT INTO ktrdr.checkpoints (operation_id, kind, unit, unit_value, state, state_size_bytes, attempt)
         VALUES ($1, 'periodic', 'epoch', 3, '{\"epoch\": 3, \"loss\": [0.5, 0.25]}', 30, 1)",
    )
    .bind(id)
    .execute(pool)
    .await?;
    sqlx::raw_sql(include_str!(
        "../migrations/V12__checkpoint_state_sha256.sql"
    ))
    .execute(pool)
    .await?;
    let (stored, computed, corrupt): (String, String, Option<String>) = sqlx::query_as(
        "SELECT state_sha256, ktrdr.state_sha256(state), ktrdr.checkpoint_corruption(c)
         FROM ktrdr.checkpoints c WHERE operation_id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    assert_eq!(stored, computed);
    assert_eq!(corrupt, None);
    Ok(())
}
