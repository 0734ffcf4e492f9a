//! Leadership of the maintenance ticker as a lease (sql/82_leadership.sql, src/leader.rs): taking,
//! renewing with an epoch (fencing), takeover after the lease lapses, resigning; and a ticker that
//! loses its lease stops running services.

use std::time::Duration;

use ktrdr::{
    leader::{Leadership, Term},
    ticker::Ticker,
};
use ktrdr_testkit::{TestDatabase, fast_ticker_settings, wait_for};
use sqlx::PgPool;
use tokio::sync::watch;

async fn take(pool: &PgPool, id: &str) -> anyhow::Result<Option<i64>> {
    Ok(sqlx::query_scalar("SELECT ktrdr.take_leadership($1, 30)")
        .bind(id)
        .fetch_one(pool)
        .await?)
}

async fn renew(pool: &PgPool, id: &str, epoch: i64) -> anyhow::Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT ktrdr.renew_leadership($1, $2, 30)")
            .bind(id)
            .bind(epoch)
            .fetch_one(pool)
            .await?,
    )
}

async fn resign(pool: &PgPool, id: &str, epoch: i64) -> anyhow::Result<()> {
    sqlx::query("SELECT ktrdr.resign_leadership($1, $2)")
        .bind(id)
        .bind(epoch)
        .execute(pool)
        .await?;
    Ok(())
}

async fn expire_lease(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE ktrdr.maintenance_state SET leader_lease_expires_at = now() - interval '1 second'",
    )
    .execute(pool)
    .await?;
    Ok(())
}

async fn detector(pool: &PgPool) -> anyhow::Result<(bool, Option<String>)> {
    Ok(
        sqlx::query_as("SELECT running, leader_id FROM ktrdr.orphan_detector")
            .fetch_one(pool)
            .await?,
    )
}

#[tokio::test]
async fn a_lease_is_taken_renewed_fenced_by_its_epoch_and_resigned() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    assert_eq!(detector(pool).await?, (false, None));

    let a = take(pool, "A").await?.expect("A takes a free leadership");
    assert_eq!(detector(pool).await?, (true, Some("A".into())));
    assert_eq!(take(pool, "B").await?, None, "B cannot take A's live lease");
    assert_eq!(
        take(pool, "A").await?,
        Some(a),
        "A taking again only renews, in the same epoch"
    );
    assert!(renew(pool, "A", a).await?);
    assert!(!renew(pool, "B", a).await?, "only the leader renews");

    expire_lease(pool).await?;
    assert!(!detector(pool).await?.0, "a lapsed lease is no leader");
    let b = take(pool, "B").await?.expect("B takes A's lapsed lease");
    assert!(b > a, "a change of leader increments the epoch ({a} → {b})");
    assert!(!renew(pool, "A", a).await?, "A, fenced by its old epoch");
    assert_eq!(take(pool, "A").await?, None);
    resign(pool, "A", a).await?;
    assert_eq!(
        detector(pool).await?,
        (true, Some("B".into())),
        "A cannot resign B's lease"
    );

    resign(pool, "B", b).await?;
    assert_eq!(detector(pool).await?, (false, Some("B".into())));
    assert!(
        !renew(pool, "B", b).await?,
        "a resigned lease is not renewed"
    );
    let c = take(pool, "C")
        .await?
        .expect("resigning frees leadership at once");
    assert!(c > b);
    Ok(())
}

#[tokio::test]
async fn leadership_calls_from_rust_take_renew_and_resign() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let lease = Duration::from_secs(30);
    let timeout = Duration::from_secs(5);
    let a = Leadership::new(pool.clone(), "A", lease, timeout);
    let b = Leadership::new(pool.clone(), "B", lease, timeout);
    let term = a.take().await?.expect("A leads");
    assert_eq!(b.take().await?, None);
    assert!(a.renew(term).await?);
    a.resign(term).await?;
    let term_b = b.take().await?.expect("B leads after A resigned");
    assert!(term_b.epoch > term.epoch);
    assert!(!a.renew(term).await?);
    assert!(
        !a.renew(Term {
            epoch: term_b.epoch
        })
        .await?,
        "A is not B"
    );
    Ok(())
}

async fn last_check(pool: &PgPool) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    Ok(
        sqlx::query_scalar("SELECT last_check FROM ktrdr.maintenance_state")
            .fetch_one(pool)
            .await?,
    )
}

#[tokio::test]
async fn a_ticker_whose_lease_another_took_stops_running_services() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let limit = Duration::from_secs(30);
    let (stop, shutdown) = watch::channel(false);
    let task = tokio::spawn(Ticker::new(pool.clone(), "T", &fast_ticker_settings())?.run(shutdown));
    wait_for("T to lead and check for orphans", limit, || async {
        let leads = ktrdr_testkit::ticker_leader(pool).await? == "T";
        (leads && last_check(pool).await.ok()?.is_some()).then_some(())
    })
    .await;

    // "U" takes over as if T's lease had lapsed while T was frozen; U itself runs no services and
    // holds the lease for a long while.
    // In one transaction, so T cannot renew in between.
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE ktrdr.maintenance_state SET leader_lease_expires_at = now() - interval '1 second'",
    )
    .execute(&mut *tx)
    .await?;
    let epoch: Option<i64> = sqlx::query_scalar("SELECT ktrdr.take_leadership('U', 600)")
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    assert!(epoch.is_some(), "U takes the lapsed lease");
    // T learns on its next renewal (at most a check interval, 200 ms, plus a pass) and steps down.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let checked = last_check(pool).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        last_check(pool).await?,
        checked,
        "T ran the orphan detector after U took over"
    );
    assert_eq!(
        ktrdr_testkit::ticker_leader(pool).await.as_deref(),
        Some("U")
    );

    // Once U's lease lapses, T (still following) takes over again, with a new epoch.
    expire_lease(pool).await?;
    wait_for("T to lead again", limit, || async {
        let leads = ktrdr_testkit::ticker_leader(pool).await? == "T";
        (leads && last_check(pool).await.ok()? != checked).then_some(())
    })
    .await;
    let final_epoch: i64 = sqlx::query_scalar("SELECT leader_epoch FROM ktrdr.maintenance_state")
        .fetch_one(pool)
        .await?;
    assert!(final_epoch > epoch.unwrap());

    stop.send(true)?;
    task.await?;
    assert_eq!(
        ktrdr_testkit::ticker_leader(pool).await,
        None,
        "T resigned on shutdown"
    );
    Ok(())
}
