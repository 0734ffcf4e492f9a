//! The stores a worker writes to — the artifact store (models), the checkpoint store and the outbox —
//! located once from the environment and proven writable when the worker starts, before it claims
//! anything: a store that refuses writes would otherwise be found out only when the first job ends
//! (after a whole training, and again on its retry). Jobs take their stores from here.

use ktrdr::artifacts::{ARTIFACTS_PATH, ArtifactStore, CHECKPOINT_ARTIFACTS_PATH};
use sqlx::PgPool;

use crate::outbox::Outbox;

#[derive(Debug, Clone)]
pub struct Stores {
    /// Trained models (`KTRDR_ARTIFACTS_PATH`, else the database).
    pub artifacts: ArtifactStore,
    /// Checkpoint artifacts (`CHECKPOINT_ARTIFACTS_PATH`, else the artifact store).
    pub checkpoints: ArtifactStore,
}

impl Stores {
    /// Locates the stores and writes a probe to each of them and to `outbox`; the first that cannot
    /// be written stops the worker with one line naming the store, why, and the variable to set.
    pub async fn open(pool: &PgPool, outbox: &Outbox) -> anyhow::Result<Self> {
        let stores = Self {
            artifacts: ArtifactStore::from_env(pool)?,
            checkpoints: ArtifactStore::for_checkpoints(pool)?,
        };
        for (name, store, variable) in [
            ("artifacts", &stores.artifacts, ARTIFACTS_PATH),
            ("checkpoint", &stores.checkpoints, CHECKPOINT_ARTIFACTS_PATH),
        ] {
            if let Err(err) = store.check_writable().await {
                anyhow::bail!("{name} {err}; fix its permissions or set {variable}");
            }
        }
        outbox.check_writable()?;
        Ok(stores)
    }
}
