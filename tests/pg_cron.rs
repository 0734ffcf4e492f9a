//! sql/cron.sql for real: Debian's pg_cron (postgresql-15-cron, installed by
//! scripts/ensure-postgres.sh) preloaded in a throw-away cluster runs the maintenance with no ticker
//! anywhere — an operation whose worker vanished is settled by pg_cron's pass, with the timeout
//! read from ktrdr.settings — and `ktrdr health` names pg_cron as the running scheduler. pg_cron
//! 1.4 runs jobs at minute boundaries, so this test takes up to a minute and a half.

use std::time::Duration;

use ktrdr_testkit::{TempCluster, wait_for};

#[tokio::test]
async fn pg_cron_detects_an_orphan_with_no_ticker_and_health_says_so() -> anyhow::Result<()> {
    let cluster = TempCluster::start()?;
    let conf = cluster.cluster.data_dir().join("postgresql.conf");
    let mut settings = std::fs::read_to_string(&conf)?;
    // Background workers: pg_cron's default is to log in over libpq, which the cluster's
    // password authentication refuses (pg_cron has no password to give).
    settings.push_str(
        "shared_preload_libraries = 'pg_cron'\ncron.database_name = 'ktrdr'\ncron.use_background_workers = on\n",
    );
    std::fs::write(&conf, settings)?;
    cluster.restart_server().await?;
    let pool = &cluster.migrated_pool().await?;
    sqlx::raw_sql(include_str!("../sql/cron.sql"))
        .execute(pool)
        .await
        .map_err(|err| {
            anyhow::anyhow!("sql/cron.sql: {err} (is postgresql-15-cron installed? scripts/ensure-postgres.sh installs it)")
        })?;
    let jobs: Vec<String> = sqlx::query_scalar("SELECT jobname FROM cron.job ORDER BY jobname")
        .fetch_all(pool)
        .await?;
    assert_eq!(
        jobs,
        [
            "ktrdr-checkpoint-cleanup",
            "ktrdr-maintenance",
            "ktrdr-pruning"
        ]
    );
    sqlx::query("SELECT ktrdr.set_settings(p_orphan_timeout_seconds => 2)")
        .execute(pool)
        .await?;

    let orphan = ktrdr_testkit::running_dummy(pool, "vanished", 0.5).await?;
    let id = orphan.lease.operation_id;
    let error: String = wait_for(
        "pg_cron's pass to settle the orphan",
        Duration::from_secs(150),
        || async {
            sqlx::query_scalar(
                "SELECT error_message FROM ktrdr.operations WHERE operation_id = $1 AND status = 'failed'",
            )
            .bind(&id)
            .fetch_optional(pool)
            .await
            .ok()
            .flatten()
        },
    )
    .await;
    assert_eq!(error, "Operation was RUNNING but no worker claimed it");

    let detector = ktrdr::health::read(pool).await?.orphan_detector;
    assert!(detector.running);
    assert_eq!(detector.scheduler.as_deref(), Some("pg_cron"));
    assert_eq!(detector.leader, None, "no ticker ever led");
    assert_eq!(detector.orphan_timeout_seconds, Some(2.0));
    let last_result: serde_json::Value =
        sqlx::query_scalar("SELECT last_result FROM ktrdr.maintenance_state")
            .fetch_one(pool)
            .await?;
    assert_eq!(last_result["orphan_ids"], serde_json::json!([id]));
    Ok(())
}
