//! Where a series' bars came from (`ktrdr.bar_sources`): a file, named with its SHA-256, or the
//! synthetic generator with its seed. Real and synthetic bars never share a series unless the
//! import replaces what was there.

use std::io::{self, Read};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The origin of a batch of bars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Source {
    File { file_name: String, sha256: String },
    Synth { seed: u64 },
}

impl Source {
    /// `file` or `synth`, as stored.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::File { .. } => "file",
            Source::Synth { .. } => "synth",
        }
    }

    /// What tells two sources of one kind apart: the file's SHA-256, the seed.
    pub fn identity(&self) -> String {
        match self {
            Source::File { sha256, .. } => sha256.clone(),
            Source::Synth { seed } => seed.to_string(),
        }
    }

    pub fn file_name(&self) -> Option<&str> {
        match self {
            Source::File { file_name, .. } => Some(file_name),
            Source::Synth { .. } => None,
        }
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::File { file_name, sha256 } => {
                write!(f, "{file_name} (sha256 {})", &sha256[..12])
            }
            Source::Synth { seed } => write!(f, "synth seed {seed}"),
        }
    }
}

/// One row of `ktrdr.bar_sources`, as `ktrdr data list` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedSource {
    pub kind: String,
    /// The file's SHA-256 or the seed.
    pub identity: String,
    pub file_name: Option<String>,
    pub bars: i64,
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Display for RecordedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.file_name {
            Some(name) => write!(
                f,
                "{name} (sha256 {})",
                self.identity.get(..12).unwrap_or(&self.identity)
            ),
            None => write!(f, "synth seed {}", self.identity),
        }
    }
}

/// A reader that hashes every byte read through it, for a file's SHA-256 in the same pass that
/// imports it.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R> Hashing<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// The SHA-256 (hex) of what was read so far: the file's, once it was read to its end.
    pub(crate) fn sha256(&self) -> String {
        self.hasher
            .clone()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}
