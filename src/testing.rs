//! Support for the project's tests and benchmarks: an isolated, migrated database per test on the
//! server named by `DATABASE_URL` (or the embedded cluster), and throw-away clusters for tests that
//! must restart PostgreSQL.

use std::{os::unix::fs::PermissionsExt, path::PathBuf};

use sqlx::PgPool;

use crate::{
    Result,
    db::{self, embedded::EmbeddedCluster, scratch::ScratchDatabase},
    operations::{self, ClaimedOperation, NewOperation},
};

/// A migrated database of its own for one test, dropped by [`TestDatabase::cleanup`].
pub struct TestDatabase {
    pub pool: PgPool,
    scratch: ScratchDatabase,
}

impl TestDatabase {
    pub async fn create() -> Result<Self> {
        let admin_url = db::resolve_database_url()?;
        let scratch = ScratchDatabase::create(&admin_url, "ktrdr_test").await?;
        let pool = scratch.pool(20).await?;
        Ok(Self { pool, scratch })
    }

    /// URL of this database, for child processes.
    pub fn url(&self) -> &str {
        &self.scratch.url
    }

    pub async fn cleanup(self) -> Result<()> {
        self.pool.close().await;
        self.scratch.drop_database().await
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
                crate::Error::Embedded(format!("cannot create {}: {err}", home.display()))
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
    let id = operations::submit(pool, &NewOperation::new("dummy")).await?;
    let claimed = operations::claim(pool, worker_id, &["dummy".into()], 1, lease_seconds).await?;
    Ok(claimed
        .into_iter()
        .find(|c| c.lease.operation_id == id)
        .expect("running_dummy needs a queue with no other pending dummy operation"))
}

/// Polls `condition` every 20 ms until it yields a value, and panics naming `what` after `limit`.
/// Tests await conditions with this instead of sleeping and hoping.
pub async fn wait_for<T, F, Fut>(what: &str, limit: std::time::Duration, mut condition: F) -> T
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
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
