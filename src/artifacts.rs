//! The artifact store: where trained models (and later checkpoints) are kept, behind one interface
//! with two backends —
//!
//! - a directory tree (`KTRDR_ARTIFACTS_PATH`), for workers sharing a volume: each artifact is written
//!   to a temporary name, fsynced, and renamed, so a reader never sees half a file;
//! - the `ktrdr.artifacts` table, the default, for workers on hosts without a shared filesystem.
//!
//! Every artifact is addressed by a location (`file:<key>` or `db:<key>`) and carries its SHA-256,
//! checked on every read: a corrupt or missing artifact is an error naming it, never garbage.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::{Error, Result, config};

/// The variable naming the artifact store's directory.
pub const ARTIFACTS_PATH: &str = "KTRDR_ARTIFACTS_PATH";
/// The variable naming the checkpoint store's directory, when it is not the artifact store.
pub const CHECKPOINT_ARTIFACTS_PATH: &str = "CHECKPOINT_ARTIFACTS_PATH";

#[derive(Debug, Clone)]
pub enum ArtifactStore {
    Directory(PathBuf),
    Database(PgPool),
}

/// Where an artifact is and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactRef {
    pub location: String,
    pub sha256: String,
    pub size_bytes: u64,
}

impl ArtifactStore {
    /// The directory of `KTRDR_ARTIFACTS_PATH` when set (an absolute path, else an error naming
    /// the variable), else the database.
    pub fn from_env(pool: &PgPool) -> Result<Self> {
        Ok(match config::directory_setting(ARTIFACTS_PATH)? {
            Some(path) => ArtifactStore::Directory(path),
            None => ArtifactStore::Database(pool.clone()),
        })
    }

    /// Where checkpoints go: the directory of `CHECKPOINT_ARTIFACTS_PATH` when set (e.g. fast scratch
    /// space, apart from the models), else the same store as everything else ([`Self::from_env`]).
    pub fn for_checkpoints(pool: &PgPool) -> Result<Self> {
        match config::directory_setting(CHECKPOINT_ARTIFACTS_PATH)? {
            Some(path) => Ok(ArtifactStore::Directory(path)),
            None => Self::from_env(pool),
        }
    }

    /// Refuses a store this process cannot write to, so that it is found out at start rather than
    /// when the first job ends: a directory gets a probe file written and removed; in the database
    /// the role needs INSERT and DELETE on `ktrdr.artifacts`.
    pub async fn check_writable(&self) -> Result<()> {
        match self {
            ArtifactStore::Directory(root) => probe_writable(root).map_err(|err| {
                Error::Artifact(format!(
                    "directory {} is not writable: {err}",
                    root.display()
                ))
            }),
            ArtifactStore::Database(pool) => {
                let allowed: bool = sqlx::query_scalar(
                    "SELECT has_table_privilege('ktrdr.artifacts', 'INSERT, DELETE')",
                )
                .fetch_one(pool)
                .await?;
                if allowed {
                    Ok(())
                } else {
                    Err(Error::Artifact(
                        "database table ktrdr.artifacts is not writable: this role lacks INSERT or \
                         DELETE on it"
                            .into(),
                    ))
                }
            }
        }
    }

    /// Stores `content` under `key` (a relative path such as `models/op_x/weights.ot`).
    pub async fn put(&self, key: &str, content: &[u8]) -> Result<ArtifactRef> {
        let relative = checked_key(key)?;
        let sha256 = hex_sha256(content);
        let location = match self {
            ArtifactStore::Directory(root) => {
                let path = root.join(&relative);
                write_durably(&path, content).map_err(|err| {
                    Error::Artifact(format!("cannot write {}: {err}", path.display()))
                })?;
                format!("file:{key}")
            }
            ArtifactStore::Database(pool) => {
                sqlx::query(
                    "INSERT INTO ktrdr.artifacts (key, content, sha256, size_bytes) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (key) DO UPDATE SET content = excluded.content, sha256 = excluded.sha256,
                         size_bytes = excluded.size_bytes, created_at = now()",
                )
                .bind(key)
                .bind(content)
                .bind(&sha256)
                .bind(content.len() as i64)
                .execute(pool)
                .await?;
                format!("db:{key}")
            }
        };
        Ok(ArtifactRef {
            location,
            sha256,
            size_bytes: content.len() as u64,
        })
    }

    /// Reads an artifact and checks its SHA-256.
    pub async fn get(&self, artifact: &ArtifactRef) -> Result<Vec<u8>> {
        let content = match (self, artifact.location.split_once(':')) {
            (ArtifactStore::Directory(root), Some(("file", key))) => {
                let path = root.join(checked_key(key)?);
                fs::read(&path).map_err(|err| {
                    Error::Artifact(format!("cannot read artifact {}: {err}", path.display()))
                })?
            }
            (ArtifactStore::Database(pool), Some(("db", key))) => sqlx::query_scalar::<_, Vec<u8>>(
                "SELECT content FROM ktrdr.artifacts WHERE key = $1",
            )
            .bind(key)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| Error::Artifact(format!("artifact {} is missing", artifact.location)))?,
            _ => {
                return Err(Error::Artifact(format!(
                    "artifact {} is not in this store ({})",
                    artifact.location,
                    self.describe()
                )));
            }
        };
        let actual = hex_sha256(&content);
        if actual != artifact.sha256 {
            return Err(Error::Artifact(format!(
                "artifact {} is corrupt: sha256 {actual}, expected {}",
                artifact.location, artifact.sha256
            )));
        }
        Ok(content)
    }

    /// Removes an artifact of this store; one that is already gone is not an error.
    pub async fn delete(&self, location: &str) -> Result<()> {
        match (self, location.split_once(':')) {
            (ArtifactStore::Directory(root), Some(("file", key))) => {
                let path = root.join(checked_key(key)?);
                match fs::remove_file(&path) {
                    Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(Error::Artifact(
                        format!("cannot delete {}: {err}", path.display()),
                    )),
                    _ => Ok(()),
                }
            }
            (ArtifactStore::Database(pool), Some(("db", key))) => {
                sqlx::query("DELETE FROM ktrdr.artifacts WHERE key = $1")
                    .bind(key)
                    .execute(pool)
                    .await?;
                Ok(())
            }
            _ => Err(Error::Artifact(format!(
                "artifact {location} is not in this store ({})",
                self.describe()
            ))),
        }
    }

    /// Locations of the artifacts under `prefix/` written at least `min_age` ago.
    pub async fn list_older_than(
        &self,
        prefix: &str,
        min_age: std::time::Duration,
    ) -> Result<Vec<String>> {
        let prefix = checked_key(prefix)?;
        match self {
            ArtifactStore::Directory(root) => {
                let mut found = Vec::new();
                let mut pending = vec![root.join(&prefix)];
                while let Some(dir) = pending.pop() {
                    let Ok(entries) = fs::read_dir(&dir) else {
                        continue;
                    };
                    for entry in entries.flatten() {
                        let path = entry.path();
                        // symlink_metadata: never follow a link out of the root.
                        match fs::symlink_metadata(&path) {
                            Ok(meta) if meta.is_dir() => pending.push(path),
                            Ok(meta) if meta.is_file() => {
                                let age = meta
                                    .modified()
                                    .ok()
                                    .and_then(|m| m.elapsed().ok())
                                    .unwrap_or_default();
                                if age < min_age {
                                    continue;
                                }
                                if let Ok(key) = path.strip_prefix(root) {
                                    found.push(format!("file:{}", key.display()));
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Ok(found)
            }
            ArtifactStore::Database(pool) => {
                let keys: Vec<String> = sqlx::query_scalar(
                    "SELECT 'db:' || key FROM ktrdr.artifacts
                     WHERE key LIKE $1 || '/%' AND created_at < now() - make_interval(secs => $2)",
                )
                .bind(prefix.to_string_lossy().as_ref())
                .bind(min_age.as_secs_f64())
                .fetch_all(pool)
                .await?;
                Ok(keys)
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            ArtifactStore::Directory(root) => format!("directory {}", root.display()),
            ArtifactStore::Database(_) => "database table ktrdr.artifacts".into(),
        }
    }
}

pub fn hex_sha256(content: &[u8]) -> String {
    Sha256::digest(content)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A key must be a relative path of plain names — no empty part (so no leading `/` and no `//`), no
/// `.` or `..`, no NUL — so that joined to a store's root it names a path inside that root, whatever
/// an id or a hand-edited row put into it.
pub(crate) fn checked_key(key: &str) -> Result<PathBuf> {
    let plain =
        |part: &str| !part.is_empty() && part != "." && part != ".." && !part.contains('\0');
    if key.split('/').all(plain) {
        Ok(PathBuf::from(key))
    } else {
        Err(Error::Artifact(format!(
            "artifact key {key:?} must be a relative path of plain names (no empty part, '.', '..' or NUL)"
        )))
    }
}

/// Creates `dir` if missing, then writes and removes a probe file in it: whether this process can
/// store files there (also used for the worker's outbox).
pub fn probe_writable(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".write-probe-{}", std::process::id()));
    fs::write(&probe, b"ktrdr")?;
    fs::remove_file(&probe)
}

/// Temporary name, fsync, rename, fsync of the directory: the file is either absent or whole (also
/// used by the worker's outbox).
pub fn write_durably(path: &Path, content: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("keys have a file name");
    fs::create_dir_all(dir)?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = fs::File::create(&temporary)?;
    file.write_all(content)?;
    file.sync_all()?;
    fs::rename(&temporary, path)?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::checked_key;

    #[test]
    fn keys_cannot_leave_the_root() {
        assert!(checked_key("models/op_1/weights.ot").is_ok());
        for bad in [
            "",
            "../etc/passwd",
            "/etc/passwd",
            "models/../../x",
            "./x",
            "models//x",
            "models/x/",
            "models/x\0/y",
        ] {
            assert!(checked_key(bad).is_err(), "{bad}");
        }
    }
}
