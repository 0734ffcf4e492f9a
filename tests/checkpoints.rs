//! Checkpoints and resume at the SQL level: fenced saves, replacement, deletion on completion, and
//! resume with its errors and optimistic locking, deletion by hand.

use ktrdr::{
    Error,
    artifacts::{ArtifactRef, ArtifactStore},
    checkpoints::{self, CheckpointKind, NewCheckpoint, SaveVerdict},
    operations::{self, FailOutcome, ListFilter, Status},
};
use ktrdr_testkit::{self, TestDatabase};
use serde_json::json;

fn checkpoint(epoch: i64, location: &str) -> NewCheckpoint {
    NewCheckpoint {
        kind: CheckpointKind::Periodic,
        unit: "epoch",
        unit_value: epoch,
        state: json!({"epoch": epoch, "loss": f64::NAN}),
        artifact: Some(ArtifactRef {
            location: location.into(),
            sha256: "ab".repeat(32),
            size_bytes: 10,
        }),
    }
}

#[tokio::test]
async fn saves_are_fenced_replace_the_previous_one_and_vanish_on_completion() -> anyhow::Result<()>
{
    let pool = &TestDatabase::create().await?.pool;
    let retried = ktrdr_testkit::dummy_with_attempts(2);
    let first = ktrdr_testkit::submit_and_claim(pool, &retried, "a", 30.0).await?;
    let id = first.lease.operation_id.clone();

    let saved = checkpoints::save(pool, &first.lease, &checkpoint(0, "db:ckpt/0")).await?;
    assert_eq!(
        saved,
        SaveVerdict::Saved {
            previous_artifact: None
        }
    );
    let saved = checkpoints::save(pool, &first.lease, &checkpoint(1, "db:ckpt/1")).await?;
    assert_eq!(
        saved,
        SaveVerdict::Saved {
            previous_artifact: Some("db:ckpt/0".into())
        }
    );
    let current = checkpoints::get(pool, &id).await?.expect("a checkpoint");
    assert_eq!((current.unit_value, current.kind.as_str()), (1, "periodic"));
    assert_eq!(
        current.state,
        json!({"epoch": 1, "loss": null}),
        "NaN is stored as null"
    );

    // The attempt moves on; the old one cannot overwrite the checkpoint.
    assert_eq!(
        first.lease.fail(pool, "transient", true).await?,
        FailOutcome::Retrying
    );
    let second = ktrdr_testkit::claim_next(pool, "b", "dummy")
        .await?
        .expect("the retry");
    assert_eq!(
        checkpoints::save(pool, &first.lease, &checkpoint(9, "db:ckpt/9")).await?,
        SaveVerdict::Stop
    );
    assert_eq!(
        checkpoints::get(pool, &id).await?.unwrap().unit_value,
        1,
        "kept across the re-queue"
    );

    second.lease.complete(pool, json!({})).await?;
    assert!(checkpoints::get(pool, &id).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn resume_refuses_with_precise_errors() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let err = operations::resume(pool, "op_nope").await.unwrap_err();
    assert!(matches!(err, Error::NotFound(_)));
    assert_eq!(
        err.to_string(),
        "OPERATION_NOT_FOUND: operation not found: op_nope"
    );

    let id = ktrdr_testkit::pending_dummy(pool).await?;
    let err = operations::resume(pool, &id).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "OPERATION_NOT_RESUMABLE: operation {id} is PENDING; only FAILED or CANCELLED operations can be resumed"
        )
    );
    operations::request_cancel(pool, &id, None).await?;
    let err = operations::resume(pool, &id).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "CHECKPOINT_NOT_FOUND: operation {id} has no checkpoint to resume from; `ktrdr ops retry {id}` runs it again from scratch"
        )
    );
    Ok(())
}

/// Whether `ops list -r` offers the operation for resuming.
async fn listed_resumable(pool: &sqlx::PgPool, id: &str) -> anyhow::Result<bool> {
    let filter = ListFilter {
        resumable_only: true,
        limit: 100,
        ..ListFilter::default()
    };
    let listed = operations::list(pool, &filter).await?;
    Ok(listed.iter().any(|op| op.operation_id == id))
}

fn corrupted_message(id: &str, why: &str) -> String {
    format!(
        "CHECKPOINT_CORRUPTED: {why}. The checkpoint cannot be resumed: `ktrdr ops retry {id}` \
         deletes it and runs the operation again from scratch"
    )
}

#[tokio::test]
async fn an_edited_checkpoint_state_is_found_out_and_refused_with_the_way_on() -> anyhow::Result<()>
{
    let pool = &TestDatabase::create().await?.pool;
    let claimed = ktrdr_testkit::running_dummy(pool, "a", 30.0).await?;
    let id = claimed.lease.operation_id.clone();
    checkpoints::save(pool, &claimed.lease, &checkpoint(3, "db:ckpt/3")).await?;
    claimed.lease.mark_cancelled(pool, None).await?;
    let saved = checkpoints::get(pool, &id).await?.unwrap();
    assert_eq!(saved.corrupt_reason, None);
    assert_eq!(saved.state_sha256.len(), 64);
    assert!(listed_resumable(pool, &id).await?);

    // Edited by hand, as a DBA might: the state no longer matches its SHA-256.
    sqlx::query(
        "UPDATE ktrdr.checkpoints SET state = jsonb_set(state, '{epoch}', '9') WHERE operation_id = $1",
    )
    .bind(&id)
    .execute(pool)
    .await?;
    let why = format!(
        "checkpoint state of operation {id} does not match its sha256 {}: it was changed after it was saved",
        saved.state_sha256
    );
    let edited = checkpoints::get(pool, &id).await?.unwrap();
    assert_eq!(edited.corrupt_reason.as_deref(), Some(why.as_str()));
    let refused = operations::resume(pool, &id).await.unwrap_err();
    assert!(matches!(refused, Error::Conflict(_)), "{refused:?}");
    assert_eq!(refused.to_string(), corrupted_message(&id, &why));
    assert_eq!(operations::get(pool, &id).await?.status, Status::Cancelled);
    Ok(())
}

#[tokio::test]
async fn a_checkpoint_marked_corrupt_is_not_resumable_until_a_new_save_replaces_it()
-> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let retried = ktrdr_testkit::dummy_with_attempts(2);
    let first = ktrdr_testkit::submit_and_claim(pool, &retried, "a", 30.0).await?;
    let id = first.lease.operation_id.clone();
    checkpoints::save(pool, &first.lease, &checkpoint(3, "db:ckpt/3")).await?;
    first.lease.fail(pool, "transient", true).await?;
    let second = ktrdr_testkit::claim_next(pool, "b", "dummy")
        .await?
        .expect("the retry");

    // A stale attempt records nothing, though it is told the same message.
    let why = "artifact db:ckpt/3 is missing";
    let message = checkpoints::mark_corrupt(pool, &first.lease, why).await?;
    assert_eq!(message, corrupted_message(&id, why));
    assert_eq!(
        checkpoints::get(pool, &id).await?.unwrap().corrupt_reason,
        None
    );

    assert_eq!(
        checkpoints::mark_corrupt(pool, &second.lease, why).await?,
        message
    );
    assert_eq!(
        checkpoints::get(pool, &id)
            .await?
            .unwrap()
            .corrupt_reason
            .as_deref(),
        Some(why)
    );
    // A new checkpoint of the attempt is whole again.
    checkpoints::save(pool, &second.lease, &checkpoint(4, "db:ckpt/4")).await?;
    assert_eq!(
        checkpoints::get(pool, &id).await?.unwrap().corrupt_reason,
        None
    );

    checkpoints::mark_corrupt(pool, &second.lease, why).await?;
    second.lease.fail(pool, &message, false).await?;
    assert_eq!(operations::get(pool, &id).await?.status, Status::Failed);
    assert!(!listed_resumable(pool, &id).await?, "listed as resumable");
    assert!(!operations::get(pool, &id).await?.resumable);
    let refused = operations::resume(pool, &id).await.unwrap_err();
    assert_eq!(refused.to_string(), message);
    Ok(())
}

#[tokio::test]
async fn retry_runs_a_failed_or_cancelled_operation_again_from_scratch() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let store = ArtifactStore::Database(pool.clone());
    let unknown = operations::retry(pool, &store, "op_nope")
        .await
        .unwrap_err();
    assert!(matches!(unknown, Error::NotFound(_)), "{unknown:?}");

    let claimed = ktrdr_testkit::running_dummy(pool, "a", 30.0).await?;
    let id = claimed.lease.operation_id.clone();
    let refused = operations::retry(pool, &store, &id).await.unwrap_err();
    assert!(matches!(refused, Error::Conflict(_)), "{refused:?}");
    assert_eq!(
        refused.to_string(),
        format!(
            "OPERATION_NOT_RETRYABLE: operation {id} is RUNNING; only FAILED or CANCELLED operations can be run again"
        )
    );
    let artifact = store
        .put(&format!("checkpoints/{id}/a.ckpt"), b"weights")
        .await?;
    let saved = NewCheckpoint {
        artifact: Some(artifact.clone()),
        ..checkpoint(2, "")
    };
    checkpoints::save(pool, &claimed.lease, &saved).await?;
    claimed
        .lease
        .heartbeat(
            pool,
            30.0,
            &ktrdr::operations::Progress {
                percent: 40.0,
                ..Default::default()
            },
        )
        .await?;
    checkpoints::mark_corrupt(pool, &claimed.lease, "artifact is corrupt").await?;
    claimed
        .lease
        .fail(pool, "CHECKPOINT_CORRUPTED: ...", false)
        .await?;

    operations::retry(pool, &store, &id).await?;
    let op = operations::get(pool, &id).await?;
    assert_eq!(op.status, Status::Pending);
    assert_eq!((op.error_message, op.progress_percent), (None, 0.0));
    assert!(op.max_attempts > op.attempt, "room for the next attempt");
    assert!(checkpoints::get(pool, &id).await?.is_none());
    assert!(
        store.get(&artifact).await.is_err(),
        "the artifact was left behind"
    );
    let events = operations::events(pool, &id).await?;
    assert_eq!(
        events.last().and_then(|e| e.reason.as_deref()),
        Some("retried from scratch")
    );
    // Without a checkpoint, too: a failed operation that never saved one.
    let next = ktrdr_testkit::claim_next(pool, "b", "dummy")
        .await?
        .expect("the retry");
    next.lease.fail(pool, "boom", false).await?;
    operations::retry(pool, &store, &id).await?;
    assert_eq!(operations::get(pool, &id).await?.status, Status::Pending);
    Ok(())
}

#[tokio::test]
async fn of_ten_concurrent_resumes_exactly_one_wins() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let claimed = ktrdr_testkit::running_dummy(pool, "a", 30.0).await?;
    let id = claimed.lease.operation_id.clone();
    checkpoints::save(pool, &claimed.lease, &checkpoint(3, "db:ckpt/3")).await?;
    claimed
        .lease
        .mark_cancelled(pool, Some("stop for now"))
        .await?;

    let resumes = (0..10).map(|_| {
        let (pool, id) = (pool.clone(), id.clone());
        tokio::spawn(async move { operations::resume(&pool, &id).await })
    });
    let outcomes: Vec<_> = futures::future::join_all(resumes)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(
        outcomes.iter().filter(|r| r.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    for err in outcomes.into_iter().filter_map(Result::err) {
        // A loser either lost the optimistic lock or saw the winner's result.
        let text = err.to_string();
        assert!(
            matches!(err, Error::Conflict(_))
                && (text.starts_with("RESUME_CONFLICT")
                    || text.starts_with("OPERATION_NOT_RESUMABLE")),
            "{text}"
        );
    }
    let op = operations::get(pool, &id).await?;
    assert_eq!(op.status, Status::Pending);
    assert_eq!(op.max_attempts, 2, "room for the next attempt");
    let again = ktrdr_testkit::claim_next(pool, "b", "dummy")
        .await?
        .expect("the resumed operation");
    assert_eq!(again.lease.attempt, 2);
    assert_eq!(checkpoints::get(pool, &id).await?.unwrap().unit_value, 3);
    Ok(())
}

#[tokio::test]
async fn cleanup_removes_old_checkpoints_and_strays_but_nothing_outside_the_root()
-> anyhow::Result<()> {
    use ktrdr::artifacts::ArtifactStore;
    let pool = &TestDatabase::create().await?.pool;
    let base = std::env::temp_dir().join(format!("ktrdr-cleanup-{}", std::process::id()));
    let root = base.join("artifacts");
    let store = ArtifactStore::Directory(root.clone());
    let outside = base.join("outside.txt");
    std::fs::create_dir_all(&root)?;
    std::fs::write(&outside, "precious")?;

    // An old checkpoint whose row was crafted to point outside the root, one genuine old one, a
    // stray artifact no row references, and a model that is no checkpoint.
    let mut ids = Vec::new();
    for location in ["file:../outside.txt", "genuine"] {
        let claimed = ktrdr_testkit::running_dummy(pool, "w", 30.0).await?;
        let id = claimed.lease.operation_id.clone();
        let artifact = if location == "genuine" {
            store
                .put(&format!("checkpoints/{id}/a.ot"), b"weights")
                .await?
        } else {
            ArtifactRef {
                location: location.into(),
                sha256: "00".repeat(32),
                size_bytes: 8,
            }
        };
        let new = NewCheckpoint {
            artifact: Some(artifact),
            ..checkpoint(1, "unused")
        };
        checkpoints::save(pool, &claimed.lease, &new).await?;
        claimed.lease.mark_cancelled(pool, None).await?;
        ids.push(id);
    }
    sqlx::query("UPDATE ktrdr.checkpoints SET created_at = now() - interval '40 days'")
        .execute(pool)
        .await?;
    let stray = store.put("checkpoints/op_gone/stray.ot", b"stray").await?;
    let model = store.put("models/op_x/weights.ot", b"model").await?;
    let claimed = ktrdr_testkit::running_dummy(pool, "w", 30.0).await?;
    let recent_id = claimed.lease.operation_id.clone();
    let recent = store
        .put(&format!("checkpoints/{recent_id}/r.ot"), b"recent")
        .await?;
    checkpoints::save(
        pool,
        &claimed.lease,
        &NewCheckpoint {
            artifact: Some(recent.clone()),
            ..checkpoint(1, "x")
        },
    )
    .await?;

    let report = checkpoints::cleanup(pool, &store, 30.0, std::time::Duration::ZERO, None).await?;
    assert_eq!(report.checkpoints_deleted, 2);
    assert_eq!(
        report.artifacts_deleted, 1,
        "only the genuine one: the crafted path is refused"
    );
    assert_eq!(report.unreferenced_artifacts_swept, 1, "the stray");
    assert_eq!(std::fs::read_to_string(&outside)?, "precious");
    assert!(
        store.get(&model).await.is_ok(),
        "models are not checkpoints"
    );
    assert!(store.get(&stray).await.is_err());
    assert!(
        store.get(&recent).await.is_ok(),
        "a recent, referenced checkpoint stays"
    );
    assert!(checkpoints::get(pool, &recent_id).await?.is_some());
    for id in ids {
        assert!(checkpoints::get(pool, &id).await?.is_none());
    }
    std::fs::remove_dir_all(&base)?;
    Ok(())
}

#[tokio::test]
async fn a_checkpoint_is_deleted_only_when_its_operation_is_not_running() -> anyhow::Result<()> {
    let pool = &TestDatabase::create().await?.pool;
    let store = ArtifactStore::Database(pool.clone());
    let artifact = store.put("checkpoints/x/a.ckpt", b"weights").await?;
    let claimed = ktrdr_testkit::running_dummy(pool, "w", 30.0).await?;
    let id = claimed.lease.operation_id.clone();
    let saved = NewCheckpoint {
        artifact: Some(artifact.clone()),
        ..checkpoint(2, "")
    };
    checkpoints::save(pool, &claimed.lease, &saved).await?;

    let refused = checkpoints::delete(pool, &store, &id).await.unwrap_err();
    assert!(matches!(refused, Error::Conflict(_)), "{refused:?}");
    assert_eq!(
        refused.to_string(),
        format!("operation {id} is running: cancel it before deleting its checkpoint")
    );
    let unknown = checkpoints::delete(pool, &store, "op_nope")
        .await
        .unwrap_err();
    assert_eq!(unknown.to_string(), "operation not found: op_nope");

    claimed.lease.mark_cancelled(pool, None).await?;
    checkpoints::delete(pool, &store, &id).await?;
    assert!(checkpoints::get(pool, &id).await?.is_none());
    assert!(
        store.get(&artifact).await.is_err(),
        "the artifact was left behind"
    );
    let again = checkpoints::delete(pool, &store, &id).await.unwrap_err();
    assert!(
        again.to_string().starts_with("CHECKPOINT_NOT_FOUND"),
        "{again}"
    );
    Ok(())
}
