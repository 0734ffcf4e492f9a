//! A paused worker (kill -STOP) loses its operation to another worker; when it resumes (kill -CONT)
//! every write of its stale attempt is refused, it abandons the operation, and the operation is
//! completed exactly once — by the new attempt.

mod support;

use ktrdr_testkit::{TestDatabase, wait_for};
use support::e2e::*;

#[tokio::test]
async fn resumed_zombie_cannot_write_and_the_operation_completes_once() -> anyhow::Result<()> {
    let test_db = TestDatabase::create().await?;
    let pool = &test_db.pool;
    let (zombie, _rescuer, id) =
        signal_a_busy_worker(&test_db, ("zombie", "rescuer"), 30, 2, libc::SIGSTOP).await;
    let op = wait_for_op(pool, &id, "taken over by rescuer", |op| {
        op.attempt == 2 && op.worker_id.as_deref() == Some("rescuer")
    })
    .await;
    assert_eq!(op.error_message.as_deref(), Some(ORPHAN_MESSAGE));
    zombie.signal(libc::SIGCONT);

    wait_for("the zombie to notice it is stale", LIMIT, || async {
        zombie.log().contains("this attempt is stale").then_some(())
    })
    .await;
    let op = wait_for_op(pool, &id, "completed", |op| op.status.is_terminal()).await;
    assert_eq!(op.worker_id.as_deref(), Some("rescuer"));
    let completions: Vec<_> = ktrdr_testkit::event_history(pool, &id)
        .await?
        .into_iter()
        .filter(|(status, _, _)| status == "completed")
        .collect();
    assert_eq!(
        completions,
        vec![("completed".to_string(), 2, Some("rescuer".to_string()))]
    );
    Ok(())
}
