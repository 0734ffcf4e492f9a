//! The worker's outbox: outcomes that could not be reported because the database was unreachable.
//!
//! Each is a small JSON file (`{operation_id}-{attempt}.json`, written to a temporary name, fsynced,
//! then renamed) under `$KTRDR_OUTBOX_DIR` or `.ktrdr/outbox/`. The attempt that produced it keeps
//! retrying and removes the file once the database answered; a worker that restarts first delivers
//! whatever the previous process left behind. Delivery uses the recorded lease, so the usual fencing
//! applies: an operation that finished or moved on to a newer attempt answers "stop" and the entry
//! is dropped.

use std::{
    fs,
    path::{Path, PathBuf},
};

use ktrdr::operations::{Lease, Outcome};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// One stored outcome: the attempt's lease (its fencing token) and how the attempt ended.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub lease: Lease,
    pub outcome: Outcome,
}

#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

impl Outbox {
    /// `$KTRDR_OUTBOX_DIR`, else `outbox/` in the project's `.ktrdr/`.
    pub fn locate() -> anyhow::Result<Self> {
        let dir = match std::env::var_os("KTRDR_OUTBOX_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => ktrdr::db::embedded::project_home()?.join("outbox"),
        };
        Ok(Self { dir })
    }

    /// Stores `report` durably; replaces an earlier entry of the same attempt.
    pub fn store(&self, report: &Report) -> std::io::Result<()> {
        ktrdr::artifacts::write_durably(&self.path_of(&report.lease), &serde_json::to_vec(report)?)
    }

    pub fn remove(&self, lease: &Lease) {
        let _ = fs::remove_file(self.path_of(lease));
    }

    /// Every stored report, oldest file name first; unreadable files are logged and skipped.
    pub fn pending(&self) -> Vec<Report> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        paths.iter().filter_map(|path| read_report(path)).collect()
    }

    /// Delivers every stored report but those of operations `running_here` (their attempt
    /// delivers its own); keeps those the database could not take yet.
    pub async fn flush(&self, pool: &PgPool, running_here: impl Fn(&str) -> bool) {
        for report in self.pending() {
            if running_here(&report.lease.operation_id) {
                continue;
            }
            match report.lease.report(pool, &report.outcome).await {
                Ok(reported) => {
                    tracing::info!(
                        operation_id = %report.lease.operation_id, attempt = report.lease.attempt,
                        ?reported, "delivered an outcome from the outbox"
                    );
                    self.remove(&report.lease);
                }
                Err(err) => {
                    tracing::warn!("outbox delivery failed, kept for later: {err}");
                    return;
                }
            }
        }
    }

    fn path_of(&self, lease: &Lease) -> PathBuf {
        self.dir
            .join(format!("{}-{}.json", lease.operation_id, lease.attempt))
    }
}

fn read_report(path: &Path) -> Option<Report> {
    let parsed = fs::read(path)
        .map_err(|err| err.to_string())
        .and_then(|bytes| serde_json::from_slice(&bytes).map_err(|err| err.to_string()));
    match parsed {
        Ok(report) => Some(report),
        Err(err) => {
            tracing::error!("ignoring unreadable outbox entry {}: {err}", path.display());
            None
        }
    }
}
