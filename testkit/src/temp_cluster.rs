//! [`TempCluster`]: a private PostgreSQL cluster in a temporary directory, for tests that stop,
//! start or restart the server.

use std::{os::unix::fs::PermissionsExt, path::PathBuf, time::Duration};

use ktrdr::{
    Result,
    db::{
        self,
        embedded::{EmbeddedCluster, Shutdown},
    },
};
use sqlx::PgPool;

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
        self.on_blocking_thread(|cluster| cluster.restart(Shutdown::Fast))
            .await
    }

    /// Restarts the server as after a crash (immediate shutdown, crash recovery on start).
    pub async fn restart_server_immediately(&self) -> Result<()> {
        self.on_blocking_thread(|cluster| cluster.restart(Shutdown::Immediate))
            .await
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
