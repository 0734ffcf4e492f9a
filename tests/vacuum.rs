//! The vacuum service: `VACUUM ktrdr.operations` once the table holds enough dead row versions,
//! nothing below that, and nothing for a login that does not own the table.

use std::time::Duration;

use ktrdr::{
    maintenance::{VacuumConfig, VacuumOutcome, Vacuumer},
    operations,
};
use ktrdr_testkit::{LoginRole, TestDatabase, wait_for};
use serde_json::json;
use sqlx::PgPool;

const LIMIT: Duration = Duration::from_secs(30);

/// A database in which `count` dummies were claimed and completed (two dead row versions each),
/// once the statistics count at least `count` dead rows.
async fn database_with_dead_rows(count: i32) -> anyhow::Result<TestDatabase> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    ktrdr_testkit::submit_dummies(pool, count).await?;
    let claimed = operations::claim(pool, "w", &["dummy".into()], count, 60.0).await?;
    let done: Vec<_> = claimed
        .into_iter()
        .map(|op| (op.lease, json!({})))
        .collect();
    assert!(
        operations::complete_batch(pool, "w", &done)
            .await?
            .is_empty()
    );
    let dead = i64::from(count);
    wait_for_stats(pool, &format!("{dead} dead rows"), |(n, _)| n >= dead).await;
    Ok(test_db)
}

/// (dead row versions, vacuums so far) of ktrdr.operations, from fresh statistics.
async fn vacuum_stats(pool: &PgPool) -> (i64, i64) {
    let mut connection = pool.acquire().await.expect("a connection");
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut *connection)
        .await
        .expect("clearing the statistics snapshot");
    sqlx::query_as(
        "SELECT n_dead_tup, vacuum_count FROM pg_stat_user_tables
         WHERE relid = 'ktrdr.operations'::regclass",
    )
    .fetch_one(&mut *connection)
    .await
    .expect("the table's statistics")
}

/// Waits until the statistics satisfy `condition` (backends report what they did shortly after
/// their transactions end), naming `what` if they never do.
async fn wait_for_stats(pool: &PgPool, what: &str, condition: impl Fn((i64, i64)) -> bool) {
    wait_for(what, LIMIT, || async {
        condition(vacuum_stats(pool).await).then_some(())
    })
    .await
}

fn vacuumer(dead_rows: i64) -> Vacuumer {
    Vacuumer::new(VacuumConfig {
        dead_rows,
        ..VacuumConfig::default()
    })
    .expect("valid settings")
}

#[tokio::test]
async fn the_table_is_vacuumed_once_it_holds_enough_dead_rows() -> anyhow::Result<()> {
    let test_db = database_with_dead_rows(300).await?;
    let pool = &test_db.pool;
    let (_, vacuums_before) = vacuum_stats(pool).await;

    let report = vacuumer(1_000_000).run_once(pool, None).await?;
    assert_eq!(report.outcome, VacuumOutcome::NotNeeded);
    assert!(report.dead_rows >= 300, "{report:?}");
    let report = vacuumer(0).run_once(pool, None).await?;
    assert_eq!(report.outcome, VacuumOutcome::NotNeeded, "0 turns it off");
    assert_eq!(vacuum_stats(pool).await.1, vacuums_before);

    let vacuumer = vacuumer(300);
    let report = vacuumer.run_once(pool, None).await?;
    assert_eq!(report.outcome, VacuumOutcome::Started, "{report:?}");
    wait_for("the vacuum to end", LIMIT, || async {
        (!vacuumer.is_vacuuming()).then_some(())
    })
    .await;
    wait_for_stats(pool, "the vacuum in the statistics", |(_, vacuums)| {
        vacuums > vacuums_before
    })
    .await;
    Ok(())
}

#[tokio::test]
async fn a_login_that_does_not_own_the_table_leaves_it_to_autovacuum() -> anyhow::Result<()> {
    let test_db = database_with_dead_rows(100).await?;
    let admin = LoginRole::create(&test_db, "ktrdr_admin").await?;
    let report = vacuumer(1).run_once(&admin.pool().await?, None).await?;
    assert_eq!(report.outcome, VacuumOutcome::NotOwner);
    Ok(())
}

#[test]
fn settings_out_of_range_name_their_variable() {
    let err = Vacuumer::new(VacuumConfig {
        dead_rows: -1,
        ..VacuumConfig::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("KTRDR_VACUUM_DEAD_ROWS"), "{err}");
    let err = Vacuumer::new(VacuumConfig {
        interval: Duration::ZERO,
        ..VacuumConfig::default()
    })
    .unwrap_err();
    assert!(
        err.to_string().contains("KTRDR_VACUUM_INTERVAL_SECONDS"),
        "{err}"
    );
}
