//! # ktrdr-testkit — test support for ktrdr's crates (a dev-dependency only; never shipped)
//!
//! - [`TestDatabase`]: a migrated database of its own for one test, on the server named by
//!   `DATABASE_URL` (or the embedded cluster), dropped when the value is — also when an assertion
//!   failed and the test is unwinding, so a failing test leaks nothing.
//! - [`TempCluster`]: a private PostgreSQL cluster for tests that stop or restart the server.
//! - [`WorkerProcess`]: a real `ktrdr-worker` process, killed on drop, its log printed when the
//!   test failed.
//! - [`wait_for`]: await a condition instead of sleeping and hoping.
//!
//! ```no_run
//! # async fn demo() -> ktrdr::Result<()> {
//! let test_db = ktrdr_testkit::TestDatabase::create().await?;
//! let claimed = ktrdr_testkit::running_dummy(&test_db.pool, "worker-1", 30.0).await?;
//! assert_eq!(claimed.lease.attempt, 1);
//! # Ok(()) }
//! ```

mod worker_process;

use std::{os::unix::fs::PermissionsExt, path::PathBuf, time::Duration};

use ktrdr::{
    Result,
    db::{self, embedded::EmbeddedCluster, scratch::ScratchDatabase},
    job_kinds::JobKinds,
    operations::{self, ClaimedOperation, NewOperation},
};
use sqlx::PgPool;

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
    let id = submit_dummy(pool, &NewOperation::new("dummy")).await?;
    let claimed = operations::claim(pool, worker_id, &["dummy".into()], 1, lease_seconds).await?;
    Ok(claimed
        .into_iter()
        .find(|c| c.lease.operation_id == id)
        .expect("running_dummy needs a queue with no other pending dummy operation"))
}

/// Submits `op` checked as the queue's built-in kinds (`dummy`) only.
pub async fn submit_dummy(pool: &PgPool, op: &NewOperation) -> Result<String> {
    operations::submit(pool, &JobKinds::BUILT_IN, op).await
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
