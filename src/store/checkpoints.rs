//! Checkpoints: what the file sources have already delivered, so a restart
//! neither skips nor double-counts (vector's checkpoints, in one small JSON file,
//! the state file).
//!
//! The [`Store`](super::Store) owns them: a source attaches a [`CheckpointUpdate`]
//! to each delivery, and the store records it only after the rows are in the
//! window and in the journal ([`super::journal`]). The checkpoints are saved with
//! each window snapshot (in its metadata, so rows and positions change in one
//! rename) and, as readable JSON, to the state file atomically (temp file +
//! rename). Sources read their starting point from them once, at start-up, after
//! the journal is replayed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Errors reading or writing the state file.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointsError {
    /// The file exists but cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The state file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid state JSON.
    #[error("{path}: not a drift-exporter state file: {source}")]
    Corrupt {
        /// The state file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// Identity and shape of a file at the time it was read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileStamp {
    /// Size in bytes.
    pub len: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub modified_ns: u64,
}

impl FileStamp {
    /// The stamp of `metadata`.
    pub fn of(metadata: &std::fs::Metadata) -> FileStamp {
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        FileStamp {
            len: metadata.len(),
            modified_ns,
        }
    }
}

/// Where a tail stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct TailPosition {
    /// Device of the file being followed.
    pub dev: u64,
    /// Inode of the file being followed (tells a rotated file from a new one).
    pub ino: u64,
    /// Bytes consumed (always just after a newline).
    pub offset: u64,
    /// Lines consumed (for row numbers in messages).
    pub line: u64,
}

/// The checkpoint of one source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SourceCheckpoint {
    /// Files a directory source has processed, by file name.
    Directory {
        /// File name -> stamp when processed.
        processed: BTreeMap<String, FileStamp>,
    },
    /// The position of a tail source.
    Tail(TailPosition),
}

/// What one delivered batch moves a checkpoint to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CheckpointUpdate {
    /// A directory source finished a file.
    FileDone {
        /// The file's name within the directory.
        name: String,
        /// Its stamp when read.
        stamp: FileStamp,
        /// Processed files no longer in the directory (deleted, or moved to
        /// `done_dir`): forgotten, so the state does not grow with every file
        /// ever read.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        forget: Vec<String>,
    },
    /// A tail source consumed up to here.
    Tail(TailPosition),
}

/// The checkpoints of every source (the whole state file).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoints {
    /// Format version.
    #[serde(default)]
    pub version: u32,
    /// Checkpoints by source label.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceCheckpoint>,
    /// The last journal entry these checkpoints include (see [`super::journal`]).
    #[serde(default)]
    pub journal_seq: u64,
}

impl Checkpoints {
    /// Reads the state file; a missing file is an empty state.
    pub fn load(path: &Path) -> Result<Checkpoints, CheckpointsError> {
        match std::fs::read(path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| CheckpointsError::Corrupt {
                    path: path.to_path_buf(),
                    source,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoints {
                version: 1,
                ..Checkpoints::default()
            }),
            Err(source) => Err(CheckpointsError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Writes the state atomically: a temp file beside it, fsync, rename.
    pub fn save(&self, path: &Path) -> Result<(), CheckpointsError> {
        let io_err = |source| CheckpointsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|source| CheckpointsError::Corrupt {
                path: path.to_path_buf(),
                source,
            })?;
        super::write_atomically(path, &bytes).map_err(io_err)
    }

    /// Records a delivered batch's checkpoint.
    pub fn apply(&mut self, source: &str, update: CheckpointUpdate) {
        match update {
            CheckpointUpdate::FileDone {
                name,
                stamp,
                forget,
            } => {
                let entry = self.sources.entry(source.to_string()).or_insert_with(|| {
                    SourceCheckpoint::Directory {
                        processed: BTreeMap::new(),
                    }
                });
                if !matches!(entry, SourceCheckpoint::Directory { .. }) {
                    *entry = SourceCheckpoint::Directory {
                        processed: BTreeMap::new(),
                    };
                }
                if let SourceCheckpoint::Directory { processed } = entry {
                    for gone in &forget {
                        processed.remove(gone);
                    }
                    processed.insert(name, stamp);
                }
            }
            CheckpointUpdate::Tail(position) => {
                self.sources
                    .insert(source.to_string(), SourceCheckpoint::Tail(position));
            }
        }
    }

    /// Files processed by a directory source.
    pub fn processed_files(&self, source: &str) -> BTreeMap<String, FileStamp> {
        match self.sources.get(source) {
            Some(SourceCheckpoint::Directory { processed }) => processed.clone(),
            _ => BTreeMap::new(),
        }
    }

    /// Where a tail source stopped.
    pub fn tail_position(&self, source: &str) -> Option<TailPosition> {
        match self.sources.get(source) {
            Some(SourceCheckpoint::Tail(p)) => Some(*p),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn missing_file_is_empty_state() -> TestResult {
        let dir = tempfile::tempdir()?;
        let state = Checkpoints::load(&dir.path().join("none.json"))?;
        assert!(state.sources.is_empty());
        Ok(())
    }

    #[test]
    fn round_trips_through_the_file() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("sub/state.json");
        let mut state = Checkpoints::default();
        let stamp = FileStamp {
            len: 3,
            modified_ns: 7,
        };
        state.apply(
            "directory:in",
            CheckpointUpdate::FileDone {
                name: "a.csv".into(),
                stamp,
                forget: Vec::new(),
            },
        );
        state.apply(
            "directory:in",
            CheckpointUpdate::FileDone {
                name: "b.csv".into(),
                stamp,
                forget: vec!["gone.csv".into()],
            },
        );
        // A later file forgets the files that left the directory.
        let mut forgetting = state.clone();
        forgetting.apply(
            "directory:in",
            CheckpointUpdate::FileDone {
                name: "c.csv".into(),
                stamp,
                forget: vec!["a.csv".into()],
            },
        );
        let files = forgetting.processed_files("directory:in");
        assert_eq!(files.keys().collect::<Vec<_>>(), ["b.csv", "c.csv"]);
        let pos = TailPosition {
            dev: 1,
            ino: 2,
            offset: 30,
            line: 3,
        };
        state.apply("tail:log", CheckpointUpdate::Tail(pos));
        state.save(&path)?;
        let back = Checkpoints::load(&path)?;
        assert_eq!(back, state);
        assert_eq!(
            back.processed_files("directory:in").get("a.csv"),
            Some(&stamp)
        );
        assert_eq!(back.tail_position("tail:log"), Some(pos));
        Ok(())
    }

    #[test]
    fn corrupt_file_is_an_error_naming_it() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("state.json");
        std::fs::write(&path, "{not json")?;
        let err = Checkpoints::load(&path)
            .err()
            .ok_or("expected an error")?
            .to_string();
        assert!(err.contains("state.json"), "{err}");
        Ok(())
    }
}
