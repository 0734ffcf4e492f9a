//! Leadership of the maintenance ticker as a lease (sql/82_leadership.sql, src/leader.rs): taking,
//! renewing with an epoch (fencing), takeover after the lease lapses, resigning; maintenance passes
//! fenced by the epoch (a leader that was taken over changes nothing, a takeover waits for a pass
//! under way); and a ticker that loses its lease stops running services.

use std::time::Duration;

use ktrdr::{
    Error,
    artifacts::ArtifactStore,
    leader::{self, Leadership, Term},
    maintenance::{
        CheckpointCleaner, CheckpointCleanerConfig, OrphanDetector, OrphanDetectorConfig, Pruner,
        PrunerConfig, ReconciliationExpirer, ReconciliationExpirerConfig, ResearchAdvancer,
        ResearchAdvancerConfig,
    },
    operations::{self, Status},
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

/// A running operation whose lease lapsed a second ago: an orphan for the next orphan pass.
async fn orphan(pool: &PgPool) -> anyhow::Result<String> {
    let id = ktrdr_testkit::running_dummy(pool, "gone", 30.0)
        .await?
        .lease
        .operation_id;
    sqlx::query(
        "UPDATE ktrdr.operations SET lease_expires_at = now() - interval '1 second'
         WHERE operation_id = $1",
    )
    .bind(&id)
    .execute(pool)
    .await?;
    Ok(id)
}

fn leadership(pool: &PgPool, id: &str) -> Leadership {
    Leadership::new(
        pool.clone(),
        id,
        Duration::from_secs(30),
        Duration::from_secs(30),
    )
}

fn assert_not_leader<T: std::fmt::Debug>(outcome: ktrdr::Result<T>, service: &str) {
    match outcome {
        Err(Error::NotLeader(message)) => assert_eq!(
            message,
            "ticker A no longer leads (epoch 1): the lease is B's in epoch 2, so this maintenance \
             write did nothing",
            "{service}"
        ),
        other => panic!("{service}: {other:?}"),
    }
}

#[tokio::test]
async fn passes_fenced_by_an_epoch_another_took_over_change_nothing() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let (a, b) = (leadership(pool, "A"), leadership(pool, "B"));
    let fence_a = a.fence(a.take().await?.expect("A leads"));
    let orphan = orphan(pool).await?;
    // A froze; its lease lapsed and B took over.
    expire_lease(pool).await?;
    let fence_b = b.fence(b.take().await?.expect("B takes over"));
    assert_eq!((fence_a.epoch, fence_b.epoch), (1, 2));

    let detector = OrphanDetector::new("A", OrphanDetectorConfig::default())?;
    assert_not_leader(detector.run_once(pool, Some(&fence_a)).await, "orphans");
    let expirer = ReconciliationExpirer::new(ReconciliationExpirerConfig::default())?;
    assert_not_leader(
        expirer.run_once(pool, Some(&fence_a)).await,
        "reconciliation",
    );
    let store = ArtifactStore::Database(pool.clone());
    let cleaner = CheckpointCleaner::new(CheckpointCleanerConfig::default(), store)?;
    assert_not_leader(cleaner.run_once(pool, Some(&fence_a)).await, "cleanup");
    let pruner = Pruner::new(PrunerConfig::default())?;
    assert_not_leader(pruner.run_once(pool, Some(&fence_a)).await, "pruning");
    let advancer = ResearchAdvancer::new(ResearchAdvancerConfig::default())?;
    assert_not_leader(advancer.run_once(pool, Some(&fence_a)).await, "research");
    // Nothing changed: the orphan A would have settled still runs, and no pass is recorded.
    assert_eq!(
        operations::get(pool, &orphan).await?.status,
        Status::Running
    );
    let recorded: (
        Option<chrono::DateTime<chrono::Utc>>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) = sqlx::query_as("SELECT last_check, last_pruning_at FROM ktrdr.maintenance_state")
        .fetch_one(pool)
        .await?;
    assert_eq!(recorded, (None, None));

    // The new leader's passes run.
    let detector = OrphanDetector::new("B", OrphanDetectorConfig::default())?;
    let report = detector.run_once(pool, Some(&fence_b)).await?;
    assert_eq!(report.orphans_failed, 1);
    assert_eq!(operations::get(pool, &orphan).await?.status, Status::Failed);
    assert_eq!(pruner.run_once(pool, Some(&fence_b)).await?.batches, 1);

    // A resigned lease fences its own leader too.
    b.resign(Term {
        epoch: fence_b.epoch,
    })
    .await?;
    match detector.run_once(pool, Some(&fence_b)).await {
        Err(Error::NotLeader(message)) => assert!(
            message.ends_with("the lease is resigned, so this maintenance write did nothing")
        ),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn a_takeover_waits_for_the_fenced_pass_under_way() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let (a, b) = (leadership(pool, "A"), leadership(pool, "B"));
    let fence_a = a.fence(a.take().await?.expect("A leads"));
    let orphan = orphan(pool).await?;
    // A's lease lapses just as its pass begins: nobody took it yet, so the pass may run…
    expire_lease(pool).await?;
    let mut pass = leader::begin_fenced(pool, Some(&fence_a)).await?;
    // …and B, trying to take over meanwhile, waits for it.
    let takeover = tokio::spawn(async move { b.take().await });
    wait_for(
        "B's takeover to wait on A's pass",
        Duration::from_secs(30),
        || async {
            let waiting: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                            WHERE wait_event_type = 'Lock' AND query LIKE '%take_leadership%'
                              AND datname = current_database() AND pid <> pg_backend_pid())",
            )
            .fetch_one(pool)
            .await
            .ok()?;
            waiting.then_some(())
        },
    )
    .await;
    // The pass itself locks the row for update (run_orphan_detection): no deadlock with B.
    let report: serde_json::Value =
        sqlx::query_scalar("SELECT ktrdr.run_orphan_detection('A', 60, 15)")
            .fetch_one(&mut *pass)
            .await?;
    assert_eq!(report["orphans_failed"], 1);
    assert!(!takeover.is_finished(), "B took over during A's pass");
    pass.commit().await?;

    let term_b = takeover
        .await??
        .expect("B takes over once A's pass committed");
    assert_eq!(term_b.epoch, fence_a.epoch + 1);
    assert_eq!(operations::get(pool, &orphan).await?.status, Status::Failed);
    assert!(matches!(
        leader::begin_fenced(pool, Some(&fence_a)).await,
        Err(Error::NotLeader(_))
    ));
    Ok(())
}
