//! The worker registry: an id names one live worker.

use ktrdr::workers::{self, WorkerIdentity};
use ktrdr_testkit::TestDatabase;

fn identity(pid: i32) -> WorkerIdentity {
    WorkerIdentity {
        worker_id: "w".into(),
        types: vec!["dummy".into()],
        host: "h".into(),
        pid,
        concurrency: 1,
        capabilities: serde_json::json!({}),
    }
}

#[tokio::test]
async fn a_live_workers_id_is_refused_to_another_process_until_its_lease_lapses()
-> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    workers::register(pool, &identity(1), 30.0).await?;
    let err = workers::register(pool, &identity(2), 30.0)
        .await
        .expect_err("another process under a live id");
    let message = err.to_string();
    assert!(
        message.contains("worker id 'w' is in use by a live worker (host h, pid 1"),
        "{message}"
    );
    assert!(matches!(err, ktrdr::Error::Conflict(_)), "{err:?}");
    // The same process registers again (after an outage) as often as it likes.
    workers::register(pool, &identity(1), 30.0).await?;
    // Once the live worker's lease lapsed (it died), its id is free.
    sqlx::query("UPDATE ktrdr.workers SET lease_expires_at = now() - interval '1 s'")
        .execute(pool)
        .await?;
    workers::register(pool, &identity(2), 30.0).await?;
    let pid: i32 = sqlx::query_scalar("SELECT pid FROM ktrdr.workers WHERE worker_id = 'w'")
        .fetch_one(pool)
        .await?;
    assert_eq!(pid, 2);
    Ok(())
}
