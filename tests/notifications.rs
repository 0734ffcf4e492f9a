//! What LISTEN/NOTIFY announces about operations (notifications only speed things up: every
//! listener also polls).

use ktrdr::notify::{self, Wakeup};
use ktrdr_testkit::{self, TestDatabase};

#[tokio::test]
async fn the_end_of_an_operation_is_announced_with_its_progress() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let (mut wakeups, listener) = ktrdr_testkit::listening(pool, &[notify::PROGRESS]).await;
    let claimed = ktrdr_testkit::running_dummy(pool, "w", 30.0).await?;
    let id = claimed.lease.operation_id.clone();

    // Followers (`--follow`) hear that it ended without waiting for their poll timer.
    claimed.lease.complete(pool, serde_json::json!({})).await?;
    let heard = ktrdr_testkit::next_wakeup(&mut wakeups).await;
    assert_eq!(heard, Some(Wakeup::Progress(id)));
    listener.abort();
    Ok(())
}
