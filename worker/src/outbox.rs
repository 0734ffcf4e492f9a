//! The worker's outbox: outcomes that could not be reported because the database was unreachable,
//! or refused them (then they wait here for a start or reconnection that delivers them, counted in
//! the worker's registry row as `undelivered_outcomes`).
//!
//! Each is a small JSON file under `$KTRDR_OUTBOX_DIR` or `.ktrdr/outbox/`, named
//! `{operation_id}-{attempt}.json` with the id percent-encoded outside `[A-Za-z0-9_-]` (so that no id
//! can name a path), written to a temporary name, fsynced, then renamed. The attempt that produced
//! it keeps retrying and removes the file once the database answered; a worker that restarts first
//! delivers whatever the previous process left behind. Delivery uses the recorded lease, so the
//! usual fencing applies: an operation that finished or moved on to a newer attempt answers "stop"
//! and the entry is dropped.

use std::{
    fs,
    path::{Path, PathBuf},
};

use ktrdr::operations::{Lease, Outcome};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// The variable naming the outbox directory.
const OUTBOX_DIR: &str = "KTRDR_OUTBOX_DIR";

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
    /// `$KTRDR_OUTBOX_DIR` (an absolute path), else `outbox/` in the project's `.ktrdr/`.
    pub fn locate() -> anyhow::Result<Self> {
        let dir = match ktrdr::config::directory_setting(OUTBOX_DIR)? {
            Some(dir) => dir,
            None => ktrdr::db::embedded::project_home()?.join("outbox"),
        };
        Ok(Self { dir })
    }

    /// Refuses an outbox this process cannot store outcomes in (a probe file is written and
    /// removed), with one line saying what to do.
    pub fn check_writable(&self) -> anyhow::Result<()> {
        ktrdr::artifacts::probe_writable(&self.dir).map_err(|err| {
            anyhow::anyhow!(
                "outbox directory {} is not writable: {err}; fix its permissions or set {OUTBOX_DIR}",
                self.dir.display()
            )
        })
    }

    /// Stores `report` durably; replaces an earlier entry of the same attempt.
    pub fn store(&self, report: &Report) -> std::io::Result<()> {
        ktrdr::artifacts::write_durably(&self.path_of(&report.lease), &serde_json::to_vec(report)?)
    }

    pub fn remove(&self, lease: &Lease) {
        let _ = fs::remove_file(self.path_of(lease));
    }

    /// How many outcomes wait here.
    pub fn len(&self) -> usize {
        fs::read_dir(&self.dir).map_or(0, |entries| {
            entries
                .flatten()
                .filter(|entry| entry.path().extension().is_some_and(|ext| ext == "json"))
                .count()
        })
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

    /// Where the outcome of `lease` is kept: always directly inside the outbox directory, whatever
    /// the operation id holds (ids come from the database, where a hand-written INSERT can put
    /// anything).
    pub fn path_of(&self, lease: &Lease) -> PathBuf {
        let id = file_name_safe(&lease.operation_id);
        self.dir.join(format!("{id}-{}.json", lease.attempt))
    }
}

/// `text` with every byte outside `[A-Za-z0-9_-]` written as `%XX`: ktrdr's own ids
/// (`op_{type}_{date}_{time}_{hex}`) stay as they are, and no id can name a path (`/`, `..`).
fn file_name_safe(text: &str) -> String {
    let mut safe = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-' {
            safe.push(char::from(byte));
        } else {
            safe.push_str(&format!("%{byte:02X}"));
        }
    }
    safe
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

#[cfg(test)]
mod tests {
    use ktrdr::operations::{Lease, Outcome};

    use super::{Outbox, Report};

    fn report(operation_id: &str) -> Report {
        Report {
            lease: Lease {
                operation_id: operation_id.into(),
                worker_id: "w".into(),
                attempt: 1,
            },
            outcome: Outcome::Failed {
                message: "boom".into(),
                retryable: false,
            },
        }
    }

    #[test]
    fn an_entry_stays_inside_the_outbox_whatever_its_operation_id() {
        let root =
            std::env::temp_dir().join(format!("ktrdr-outbox-{:016x}", rand::random::<u64>()));
        // Two levels down, so that `../../` without the encoding would land in `root`.
        let outbox = Outbox {
            dir: root.join("a").join("outbox"),
        };
        // (id, the file name it gets), in the order of the file names.
        let ids = [
            (
                "../../escaped/pwn",
                "%2E%2E%2F%2E%2E%2Fescaped%2Fpwn-1.json",
            ),
            ("/etc/passwd", "%2Fetc%2Fpasswd-1.json"),
            ("", "-1.json"),
            ("op\0x", "op%00x-1.json"),
            (
                "op_dummy_20261202_010000_0123abcd",
                "op_dummy_20261202_010000_0123abcd-1.json",
            ),
        ];
        for (id, _) in ids {
            outbox.store(&report(id)).unwrap();
        }

        assert!(
            !root.join("escaped").exists(),
            "an entry was written outside the outbox"
        );
        let mut names: Vec<String> = std::fs::read_dir(&outbox.dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ids.map(|(_, name)| name));
        // Each reads back as it was stored, and is removed by its lease.
        let pending: Vec<String> = outbox
            .pending()
            .into_iter()
            .map(|r| r.lease.operation_id)
            .collect();
        assert_eq!(pending, ids.map(|(id, _)| id));
        outbox.remove(&report("../../escaped/pwn").lease);
        assert_eq!(outbox.pending().len(), ids.len() - 1);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
