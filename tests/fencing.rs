//! Fencing: once an operation moved on to a newer attempt, every call of the older attempt is refused
//! and changes nothing.

use ktrdr::operations::{self, FailOutcome, FenceVerdict, HeartbeatVerdict, Progress};
use ktrdr_testkit::{self, TestDatabase};
use serde_json::json;

#[tokio::test]
async fn stale_attempt_cannot_complete_fail_heartbeat_or_cancel() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let retried = ktrdr_testkit::dummy_with_attempts(2);
    let first = ktrdr_testkit::submit_and_claim(pool, &retried, "worker-a", 30.0).await?;
    let id = first.lease.operation_id.clone();
    assert_eq!(first.lease.attempt, 1);
    // The first attempt fails with attempts left, so another worker takes the operation over.
    assert_eq!(
        first.lease.fail(pool, "transient", true).await?,
        FailOutcome::Retrying
    );
    let second = ktrdr_testkit::claim_next(pool, "worker-b", "dummy")
        .await?
        .expect("the retry");
    assert_eq!(second.lease.attempt, 2);

    let stale = &first.lease;
    let progress = Progress {
        percent: 99.0,
        ..Progress::default()
    };
    assert_eq!(
        stale.heartbeat(pool, 30.0, &progress).await?,
        HeartbeatVerdict::Stop
    );
    assert_eq!(
        stale.record_progress(pool, 30.0, &progress).await?,
        HeartbeatVerdict::Stop
    );
    assert!(
        operations::progress_since(pool, &id, 0, 10)
            .await?
            .is_empty(),
        "a stale attempt kept a milestone"
    );
    assert_eq!(
        stale.complete(pool, json!({"stale": true})).await?,
        FenceVerdict::Stop
    );
    assert_eq!(
        stale.fail(pool, "stale failure", false).await?,
        FailOutcome::Stop
    );
    assert_eq!(stale.mark_cancelled(pool, None).await?, FenceVerdict::Stop);
    // Same worker, old attempt: still stale.
    let same_worker_old_attempt = ktrdr::operations::Lease {
        worker_id: "worker-b".into(),
        ..stale.clone()
    };
    assert_eq!(
        same_worker_old_attempt.complete(pool, json!({})).await?,
        FenceVerdict::Stop
    );

    let current = operations::get(pool, &id).await?;
    assert_eq!(current.status, operations::Status::Running);
    assert_eq!(current.worker_id.as_deref(), Some("worker-b"));
    assert_eq!(current.progress_percent, 0.0);
    assert!(current.result.is_none());

    assert_eq!(
        second.lease.heartbeat(pool, 30.0, &progress).await?,
        HeartbeatVerdict::Continue
    );
    assert_eq!(
        second.lease.complete(pool, json!({"ok": 1})).await?,
        FenceVerdict::Ok
    );
    // A finished attempt is stale too: completing twice is refused.
    assert_eq!(
        second.lease.complete(pool, json!({"ok": 2})).await?,
        FenceVerdict::Stop
    );
    let done = operations::get(pool, &id).await?;
    assert_eq!(done.status, operations::Status::Completed);
    assert_eq!(done.result, Some(json!({"ok": 1})));
    Ok(())
}

#[tokio::test]
async fn failure_without_attempts_left_is_final() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let claimed = ktrdr_testkit::running_dummy(pool, "w", 30.0).await?;
    let id = claimed.lease.operation_id.clone();
    assert_eq!(
        claimed.lease.fail(pool, "boom", true).await?,
        FailOutcome::Failed
    );
    let failed = operations::get(pool, &id).await?;
    assert_eq!(failed.status, operations::Status::Failed);
    assert_eq!(failed.error_message.as_deref(), Some("boom"));
    ktrdr_testkit::assert_no_dummy_to_claim(pool).await?;
    Ok(())
}

#[tokio::test]
async fn heartbeat_stores_progress_and_extends_the_lease() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let claimed = ktrdr_testkit::running_dummy(pool, "w", 5.0).await?;
    let id = claimed.lease.operation_id.clone();
    let progress = Progress {
        percent: 42.5,
        message: Some("epoch 17".into()),
        details: Some(json!({"epoch": 17})),
    };
    assert_eq!(
        claimed.lease.heartbeat(pool, 600.0, &progress).await?,
        HeartbeatVerdict::Continue
    );
    let op = operations::get(pool, &id).await?;
    assert_eq!(op.progress_percent, 42.5);
    assert_eq!(op.progress_message.as_deref(), Some("epoch 17"));
    assert_eq!(op.progress, Some(json!({"epoch": 17})));
    assert!(
        op.lease_expires_at.unwrap() > claimed.lease_expires_at + chrono::Duration::seconds(500)
    );
    Ok(())
}

#[tokio::test]
async fn a_released_attempt_leaves_the_retry_budget_whole() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let id = ktrdr_testkit::submit_dummy(pool, &ktrdr_testkit::dummy_with_attempts(2)).await?;
    let claim = || async {
        ktrdr_testkit::claim_next(pool, "w", "dummy")
            .await
            .unwrap()
            .expect("a pending attempt")
    };

    // A graceful shutdown hands attempt 1 back; only the current attempt may do so.
    let first = claim().await;
    assert_eq!(first.lease.release(pool, None).await?, FenceVerdict::Ok);
    assert_eq!(first.lease.release(pool, None).await?, FenceVerdict::Stop);
    // Two real attempts remain: the first failure is retried, the second is final.
    let second = claim().await;
    assert_eq!(second.lease.attempt, 2);
    assert_eq!(
        second.lease.fail(pool, "boom", true).await?,
        FailOutcome::Retrying
    );
    let third = claim().await;
    assert_eq!(
        third.lease.fail(pool, "boom", true).await?,
        FailOutcome::Failed
    );
    assert_eq!(operations::get(pool, &id).await?.attempt, 3);
    Ok(())
}

#[tokio::test]
async fn milestones_are_stored_like_progress_and_kept_in_order() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let claimed = ktrdr_testkit::running_dummy(pool, "w", 30.0).await?;
    let id = claimed.lease.operation_id.clone();
    for epoch in 0..3 {
        let milestone = Progress {
            percent: 150.0 * epoch as f32 / 3.0,
            message: Some(format!("epoch {epoch}")),
            details: Some(json!({"epoch": epoch})),
        };
        assert_eq!(
            claimed
                .lease
                .record_progress(pool, 30.0, &milestone)
                .await?,
            HeartbeatVerdict::Continue
        );
    }
    let kept = operations::progress_since(pool, &id, 0, 10).await?;
    let epochs: Vec<_> = kept.iter().map(|r| r.progress.clone().unwrap()).collect();
    assert_eq!(epochs, [0, 1, 2].map(|e| json!({"epoch": e})));
    assert_eq!(
        kept.iter().map(|r| r.progress_percent).collect::<Vec<_>>(),
        [0.0, 50.0, 100.0],
        "percent clamped to 100 like the operation's"
    );
    assert!(
        kept.windows(2)
            .all(|w| w[0].seq < w[1].seq && w[0].attempt == 1)
    );
    // Read on from a record: only the later ones.
    let after_first = operations::progress_since(pool, &id, kept[0].seq, 10).await?;
    assert_eq!(after_first, kept[1..]);
    // The operation holds the last one, as after a heartbeat.
    let op = operations::get(pool, &id).await?;
    assert_eq!(op.progress, Some(json!({"epoch": 2})));
    assert_eq!(op.progress_message.as_deref(), Some("epoch 2"));
    Ok(())
}
