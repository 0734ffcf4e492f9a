//! # ktrdr-testkit — test support for ktrdr's crates (a dev-dependency only; never shipped)
//!
//! - [`TestDatabase`]: a migrated database of its own for one test, on the server named by
//!   `DATABASE_URL` (or the embedded cluster), dropped when the value is — also when an assertion
//!   failed and the test is unwinding, so a failing test leaks nothing.
//! - [`TempCluster`]: a private PostgreSQL cluster for tests that stop or restart the server.
//! - [`WorkerProcess`]: a real `ktrdr-worker` process, killed on drop, its log printed when the
//!   test failed.
//! - [`wait_for`]: await a condition instead of sleeping and hoping.
//! - Queue shortcuts for any crate's tests: submit [`pending_dummy`] operations (or
//!   [`submit_dummies`] in bulk, or [`submit_through_sql`] past the kinds' checks), claim them
//!   ([`running_dummy`], [`submit_and_claim`], [`claim_next`]), listen ([`listening`],
//!   [`next_wakeup`]), read back what happened ([`event_history`], [`submitted_params`],
//!   [`count_rows`], [`ticker_leader`]) and assert what did not ([`assert_no_dummy_to_claim`],
//!   [`assert_nothing_submitted`]).
//!
//! A test that needs only the pool borrows it from the database it creates; the database lives
//! until the end of the test's block (a borrowed temporary lives as long as the borrow's variable):
//!
//! ```no_run
//! # async fn demo() -> ktrdr::Result<()> {
//! let pool = &ktrdr_testkit::TestDatabase::create().await?.pool;
//! let claimed = ktrdr_testkit::running_dummy(pool, "worker-1", 30.0).await?;
//! assert_eq!(claimed.lease.attempt, 1);
//! # Ok(()) }
//! ```

mod worker_process;

use std::{os::unix::fs::PermissionsExt, path::PathBuf, time::Duration};

use ktrdr::{
    Result,
    db::{self, embedded::EmbeddedCluster, scratch::ScratchDatabase},
    job_kinds::JobKinds,
    notify::{self, Wakeup},
    operations::{self, ClaimedOperation, NewOperation},
};
use sqlx::PgPool;
use tokio::{sync::mpsc::UnboundedReceiver, task::JoinHandle};

pub use worker_process::WorkerProcess;

/// A migrated database of its own for one test; dropped with this value.
pub struct TestDatabase {
    pub pool: PgPool,
    scratch: Option<ScratchDatabase>,
}

impl TestDatabase {
    pub async fn create() -> Result<Self> {
        let admin_url = db::resolve_database_url()?;
        let scratch = ScratchDatabase::create(&admin_url, "ktrdr_test").await?;
        let pool = scratch.pool(20).await?;
        Ok(Self {
            pool,
            scratch: Some(scratch),
        })
    }

    /// URL of this database, for child processes.
    pub fn url(&self) -> &str {
        &self.scratch.as_ref().expect("not dropped yet").url
    }
}

impl Drop for TestDatabase {
    /// Drops the database on a thread of its own (with its own runtime: this may run inside the
    /// test's runtime, or while a failed assertion unwinds). `WITH (FORCE)` ends the pool's
    /// connections.
    fn drop(&mut self) {
        let Some(scratch) = self.scratch.take() else {
            return;
        };
        let name = scratch.name.clone();
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| err.to_string())?
                .block_on(scratch.drop_database())
                .map_err(|err| err.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(err)) => eprintln!("test database {name} was not dropped: {err}"),
            Err(_) => {
                eprintln!("test database {name} was not dropped: the dropping thread panicked")
            }
        }
    }
}

/// A private PostgreSQL cluster in a temporary directory, for tests that stop or restart the server.
/// Stopped and removed on drop.
pub struct TempCluster {
    pub cluster: EmbeddedCluster,
    pub url: String,
}

impl TempCluster {
    pub fn start() -> Result<Self> {
        let home =
            std::env::temp_dir().join(format!("ktrdr-cluster-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&home)
            .and_then(|_| {
                // The server may run as the postgres user (when tests run as root): let it in.
                std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o755))
            })
            .map_err(|err| {
                ktrdr::Error::Embedded(format!("cannot create {}: {err}", home.display()))
            })?;
        let cluster = EmbeddedCluster::ephemeral(home)?;
        let url = cluster.ensure_running()?;
        Ok(Self { cluster, url })
    }

    pub fn home(&self) -> PathBuf {
        self.cluster.home().to_path_buf()
    }

    /// A two-connection pool on this cluster, migrated.
    pub async fn migrated_pool(&self) -> Result<PgPool> {
        let pool = db::connect_with_size(&self.url, 2).await?;
        db::migrate(&pool).await?;
        Ok(pool)
    }

    /// A new pool once the server accepts connections again, waiting at most 30 s.
    pub async fn reachable_pool(&self) -> Result<PgPool> {
        db::wait_until_reachable(&self.url, Duration::from_secs(30)).await
    }

    /// Stops the server.
    pub async fn stop_server(&self) -> Result<()> {
        self.on_blocking_thread(|cluster| cluster.stop()).await
    }

    /// Starts the stopped server again.
    pub async fn start_server(&self) -> Result<()> {
        self.on_blocking_thread(|cluster| cluster.ensure_running().map(drop))
            .await
    }

    /// Restarts the server.
    pub async fn restart_server(&self) -> Result<()> {
        self.on_blocking_thread(|cluster| cluster.restart()).await
    }

    /// Runs `pg_ctl` (which blocks) on a blocking thread, off the test's runtime.
    async fn on_blocking_thread(
        &self,
        pg_ctl: impl FnOnce(&EmbeddedCluster) -> Result<()> + Send + 'static,
    ) -> Result<()> {
        let cluster = self.cluster.clone();
        tokio::task::spawn_blocking(move || pg_ctl(&cluster))
            .await
            .expect("the pg_ctl thread panicked")
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(self.cluster.home());
    }
}

/// Submits a `dummy` operation and claims it as `worker_id` with a lease of `lease_seconds`: an
/// operation in `running` with its attempt's lease, for tests of the fenced calls.
pub async fn running_dummy(
    pool: &PgPool,
    worker_id: &str,
    lease_seconds: f64,
) -> Result<ClaimedOperation> {
    submit_and_claim(pool, &NewOperation::new("dummy"), worker_id, lease_seconds).await
}

/// Submits `op` (of a built-in kind) and claims it as `worker_id` with a lease of `lease_seconds`.
pub async fn submit_and_claim(
    pool: &PgPool,
    op: &NewOperation,
    worker_id: &str,
    lease_seconds: f64,
) -> Result<ClaimedOperation> {
    let id = submit_dummy(pool, op).await?;
    let types = [op.operation_type.clone()];
    let claimed = operations::claim(pool, worker_id, &types, 1, lease_seconds).await?;
    Ok(claimed
        .into_iter()
        .find(|c| c.lease.operation_id == id)
        .expect("submit_and_claim needs a queue with no other pending operation of its type"))
}

/// Claims the next pending operation of `operation_type` as `worker_id` with a 30 s lease, if any.
pub async fn claim_next(
    pool: &PgPool,
    worker_id: &str,
    operation_type: &str,
) -> Result<Option<ClaimedOperation>> {
    let types = [operation_type.to_string()];
    let claimed = operations::claim(pool, worker_id, &types, 1, 30.0).await?;
    Ok(claimed.into_iter().next())
}

/// Asserts that no pending `dummy` operation is left for a worker to claim.
pub async fn assert_no_dummy_to_claim(pool: &PgPool) -> Result<()> {
    let claimed = claim_next(pool, "w", "dummy").await?;
    assert!(claimed.is_none(), "left to claim: {claimed:?}");
    Ok(())
}

/// Submits `op` checked as the queue's built-in kinds (`dummy`) only.
pub async fn submit_dummy(pool: &PgPool, op: &NewOperation) -> Result<String> {
    operations::submit(pool, &JobKinds::BUILT_IN, op).await
}

/// Submits a plain `dummy` operation (no params, priority 0, one attempt) and returns its id.
pub async fn pending_dummy(pool: &PgPool) -> Result<String> {
    submit_dummy(pool, &NewOperation::new("dummy")).await
}

/// A plain `dummy` operation that may be attempted `max_attempts` times.
pub fn dummy_with_attempts(max_attempts: i32) -> NewOperation {
    NewOperation {
        max_attempts,
        ..NewOperation::new("dummy")
    }
}

/// Submits `count` plain `dummy` operations in one call and returns their ids.
pub async fn submit_dummies(pool: &PgPool, count: i32) -> Result<Vec<String>> {
    operations::submit_many(
        pool,
        &JobKinds::BUILT_IN,
        &NewOperation::new("dummy"),
        count,
    )
    .await
}

/// Submits an operation straight through SQL, past the job kinds' checks, and returns its id.
pub async fn submit_through_sql(
    pool: &PgPool,
    operation_type: &str,
    params: serde_json::Value,
) -> Result<String> {
    Ok(sqlx::query_scalar("SELECT ktrdr.submit_operation($1, $2)")
        .bind(operation_type)
        .bind(params)
        .fetch_one(pool)
        .await?)
}

/// Starts a listener on `channels` and waits until it has subscribed (its first wakeup).
pub async fn listening(
    pool: &PgPool,
    channels: &'static [&'static str],
) -> (UnboundedReceiver<Wakeup>, JoinHandle<()>) {
    let (mut wakeups, listener) = notify::spawn_listener(pool.clone(), channels);
    assert_eq!(wakeups.recv().await, Some(Wakeup::Reconnected));
    (wakeups, listener)
}

/// The next wakeup a listener hears, waiting at most 30 s; `None` when the listener is gone.
pub async fn next_wakeup(wakeups: &mut UnboundedReceiver<Wakeup>) -> Option<Wakeup> {
    tokio::time::timeout(Duration::from_secs(30), wakeups.recv())
        .await
        .expect("a wakeup within 30 s")
}

/// (to_status, attempt, worker) of every event of the operation, oldest first.
pub async fn event_history(
    pool: &PgPool,
    operation_id: &str,
) -> Result<Vec<(String, i32, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT to_status, attempt, worker_id FROM ktrdr.operation_events
         WHERE operation_id = $1 ORDER BY event_id",
    )
    .bind(operation_id)
    .fetch_all(pool)
    .await?)
}

/// The params of every operation in the queue, in no particular order.
pub async fn submitted_params(pool: &PgPool) -> Result<Vec<serde_json::Value>> {
    Ok(sqlx::query_scalar("SELECT params FROM ktrdr.operations")
        .fetch_all(pool)
        .await?)
}

/// Asserts that the queue holds no operation at all; `what` names what would have been submitted.
pub async fn assert_nothing_submitted(pool: &PgPool, what: &str) -> Result<()> {
    let submitted = submitted_params(pool).await?;
    assert!(submitted.is_empty(), "{what} was submitted: {submitted:?}");
    Ok(())
}

/// The id of the ticker's leader (the process whose orphan detector runs), if there is one.
pub async fn ticker_leader(pool: &PgPool) -> Option<String> {
    sqlx::query_scalar("SELECT leader_id FROM ktrdr.orphan_detector WHERE running")
        .fetch_optional(pool)
        .await
        .ok()
        .flatten()
        .flatten()
}

/// Runs `query`, a `SELECT count(*) …`, and returns the count.
pub async fn count_rows(pool: &PgPool, query: &'static str) -> Result<i64> {
    Ok(sqlx::query_scalar(query).fetch_one(pool).await?)
}

/// Polls `condition` every 20 ms until it yields a value, and panics naming `what` after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut condition: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = condition().await {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
