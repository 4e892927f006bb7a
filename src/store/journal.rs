//! The journal: every batch the window takes in, appended to a file before it is
//! counted, so that a crash (`SIGKILL`, an OOM kill) loses neither window rows nor
//! input positions, and counts none twice.
//!
//! The window snapshot ([`super::snapshot`]) holds the window's rows
//! and, in its metadata, the checkpoints of the file sources and the sequence
//! number of the last journal entry it includes; it is written every few seconds.
//! Between snapshots, each batch is appended here as one frame: its rows (Arrow
//! IPC stream), its source, arrival time and checkpoint. On start-up the daemon
//! restores the snapshot and replays the frames written after it, which rebuilds
//! exactly the window and the checkpoints of the moment the process died; the
//! sources then resume from those checkpoints. After each snapshot the journal is
//! emptied. [`super::Store`] drives all of this; this file is only the format.
//!
//! A frame is `DXJ2`, the header length (u32 LE), the body length (u64 LE), the
//! XXH3-64 (LE) of header and body, the header (JSON), the body. Frames marked
//! `DXJ1` (earlier versions) carry the first 8 bytes of the SHA-256 of header
//! and body instead, and are still read.
//! A frame cut short by a crash, or one whose checksum does not match, ends the
//! replay: everything before it is used, it and anything after are dropped (and
//! the source re-reads those rows, since its checkpoint did not move). Appends are
//! not fsynced: the journal survives the process dying, not the machine losing
//! power (the snapshot, which is fsynced, bounds that loss to its interval).
//! Written by hand because no crate offers a small append-only log of Arrow
//! batches with checkpoints; the format is a few lines on top of Arrow IPC.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::hash::Hasher;
use twox_hash::XxHash3_64;

use super::checkpoints::CheckpointUpdate;
use crate::data::{Batch, ColumnPlan};

/// The frames this version writes: XXH3-64 checksums.
const MAGIC: &[u8; 4] = b"DXJ2";
/// The frames of earlier versions: SHA-256 checksums (read, not written).
const MAGIC_SHA256: &[u8; 4] = b"DXJ1";
/// Magic, header length, body length, checksum.
const PREFIX: usize = 4 + 4 + 8 + 8;

/// Errors reading or writing the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// File I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A batch could not be encoded.
    #[error("{path}: cannot encode a batch: {source}")]
    Arrow {
        /// The journal file.
        path: PathBuf,
        /// The Arrow error.
        source: arrow::error::ArrowError,
    },
    /// A header could not be encoded.
    #[error("{path}: cannot encode an entry header: {source}")]
    Header {
        /// The journal file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    seq: u64,
    source: String,
    arrived_ms: u64,
    checkpoint: Option<CheckpointUpdate>,
}

/// One replayed entry.
#[derive(Debug)]
pub struct Entry {
    /// Its sequence number (increasing).
    pub seq: u64,
    /// The source label it came from.
    pub source: String,
    /// When the batch arrived.
    pub arrived: SystemTime,
    /// The checkpoint the batch moved its source to.
    pub checkpoint: Option<CheckpointUpdate>,
    /// Its rows, laid out by the plan the journal was read with (a column the
    /// entry lacks, or whose kind changed, is missing).
    pub batches: Vec<Batch>,
}

/// What a journal file holds.
#[derive(Debug, Default)]
pub struct Replay {
    /// Entries after the requested sequence number, in order.
    pub entries: Vec<Entry>,
    /// The largest sequence number in the file (0 if none).
    pub last_seq: u64,
    /// Bytes of whole, valid frames at the start of the file.
    pub valid_len: u64,
    /// Bytes after them (a frame cut short or damaged), dropped.
    pub dropped_bytes: u64,
}

/// The journal file, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    len: u64,
    next_seq: u64,
}

impl Journal {
    /// Reads the journal at `path` (a missing file is empty), keeping entries whose
    /// sequence number is above `after_seq`, their rows laid out by `plan`.
    pub fn read(path: &Path, after_seq: u64, plan: &ColumnPlan) -> Result<Replay, JournalError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Replay::default()),
            Err(source) => {
                return Err(JournalError::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let mut replay = Replay::default();
        let mut at = 0usize;
        while let Some((entry, next)) = frame_at(&bytes, at, plan) {
            replay.last_seq = replay.last_seq.max(entry.seq);
            if entry.seq > after_seq {
                replay.entries.push(entry);
            }
            at = next;
        }
        replay.valid_len = at as u64;
        replay.dropped_bytes = (bytes.len() - at) as u64;
        Ok(replay)
    }

    /// Opens the journal for appending after its first `valid_len` bytes (what
    /// [`Journal::read`] found whole; the rest is cut off), numbering new entries
    /// after `last_seq`.
    pub fn open(path: &Path, valid_len: u64, last_seq: u64) -> Result<Journal, JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        file.set_len(valid_len).map_err(io)?;
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            len: valid_len,
            next_seq: last_seq + 1,
        })
    }

    /// Appends one delivered batch (its `batches`, read with `plan`) and returns
    /// its sequence number. On failure the file is cut back to its last whole
    /// frame, so later appends stay readable.
    pub fn append(
        &mut self,
        source: &str,
        arrived: SystemTime,
        plan: &ColumnPlan,
        batches: &[Batch],
        checkpoint: Option<&CheckpointUpdate>,
    ) -> Result<u64, JournalError> {
        let seq = self.next_seq;
        let header = Header {
            seq,
            source: source.to_string(),
            arrived_ms: arrived
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            checkpoint: checkpoint.cloned(),
        };
        let header = serde_json::to_vec(&header).map_err(|source| JournalError::Header {
            path: self.path.clone(),
            source,
        })?;
        let body = self.encode(plan, batches)?;
        let mut frame = Vec::with_capacity(PREFIX + header.len());
        frame.extend_from_slice(MAGIC);
        frame.extend_from_slice(&(header.len() as u32).to_le_bytes());
        frame.extend_from_slice(&(body.len() as u64).to_le_bytes());
        frame.extend_from_slice(&checksum(&header, &body));
        frame.extend_from_slice(&header);
        // The body is written from where it was encoded (not copied behind
        // the header): a frame cut between the two writes fails its checksum.
        let written = self
            .file
            .write_all(&frame)
            .and_then(|()| self.file.write_all(&body));
        if let Err(source) = written {
            // Best effort: a torn frame would hide every later one from a replay.
            let _ = self.file.set_len(self.len);
            return Err(JournalError::Io {
                path: self.path.clone(),
                source,
            });
        }
        self.len += (frame.len() + body.len()) as u64;
        self.next_seq += 1;
        Ok(seq)
    }

    fn encode(&self, plan: &ColumnPlan, batches: &[Batch]) -> Result<Vec<u8>, JournalError> {
        let arrow = |source| JournalError::Arrow {
            path: self.path.clone(),
            source,
        };
        let records: Vec<RecordBatch> = batches
            .iter()
            .filter(|b| b.rows > 0)
            .map(|b| b.to_record_batch(plan))
            .collect::<Result<_, _>>()
            .map_err(arrow)?;
        let mut body = Vec::new();
        // Batches of one delivery may differ in columns (a Parquet file's row groups
        // do not, but an IPC stream's batches share one schema): one stream each.
        for record in &records {
            let mut part = Vec::new();
            let mut writer = StreamWriter::try_new(&mut part, &record.schema()).map_err(arrow)?;
            writer.write(record).map_err(arrow)?;
            writer.finish().map_err(arrow)?;
            drop(writer);
            body.extend_from_slice(&(part.len() as u64).to_le_bytes());
            body.extend_from_slice(&part);
        }
        Ok(body)
    }

    /// Empties the journal (after a snapshot that includes every entry).
    pub fn reset(&mut self) -> Result<(), JournalError> {
        self.file.set_len(0).map_err(|source| JournalError::Io {
            path: self.path.clone(),
            source,
        })?;
        self.len = 0;
        Ok(())
    }

    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The sequence number of the last entry appended (or replayed).
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }
}

/// The XXH3-64 of header and body (a frame's checksum), little-endian.
fn checksum(header: &[u8], body: &[u8]) -> [u8; 8] {
    let mut hash = XxHash3_64::with_seed(0);
    hash.write(header);
    hash.write(body);
    hash.finish().to_le_bytes()
}

/// The first 8 bytes of the SHA-256 of header and body (`DXJ1` frames).
fn checksum_sha256(header: &[u8], body: &[u8]) -> [u8; 8] {
    let mut hash = Sha256::new();
    hash.update(header);
    hash.update(body);
    let mut out = [0; 8];
    out.copy_from_slice(&hash.finalize()[..8]);
    out
}

/// Decodes the frame at `at`; `None` at the end or at a frame cut short or damaged.
fn frame_at(bytes: &[u8], at: usize, plan: &ColumnPlan) -> Option<(Entry, usize)> {
    let prefix = bytes.get(at..at.checked_add(PREFIX)?)?;
    let sum: fn(&[u8], &[u8]) -> [u8; 8] = match &prefix[..4] {
        m if m == MAGIC => checksum,
        m if m == MAGIC_SHA256 => checksum_sha256,
        _ => return None,
    };
    let header_len = u32::from_le_bytes(prefix[4..8].try_into().ok()?) as usize;
    let body_len = usize::try_from(u64::from_le_bytes(prefix[8..16].try_into().ok()?)).ok()?;
    let header_start = at + PREFIX;
    let body_start = header_start.checked_add(header_len)?;
    let end = body_start.checked_add(body_len)?;
    let header = bytes.get(header_start..body_start)?;
    let body = bytes.get(body_start..end)?;
    if sum(header, body) != prefix[16..24] {
        return None;
    }
    let header: Header = serde_json::from_slice(header).ok()?;
    let mut batches = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        let len = usize::try_from(u64::from_le_bytes(rest.get(..8)?.try_into().ok()?)).ok()?;
        let part = rest.get(8..8usize.checked_add(len)?)?;
        let reader = StreamReader::try_new(std::io::Cursor::new(part), None).ok()?;
        for batch in reader {
            batches.push(Batch::from_record_batch(&batch.ok()?, plan));
        }
        rest = &rest[8 + len..];
    }
    Some((
        Entry {
            seq: header.seq,
            source: header.source,
            arrived: UNIX_EPOCH + Duration::from_millis(header.arrived_ms),
            checkpoint: header.checkpoint,
            batches,
        },
        end,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ColumnArray, Rejects};
    use crate::store::checkpoints::TailPosition;
    use arrow::array::{Float64Array, StringArray};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn plan() -> ColumnPlan {
        crate::data::test_plan()
    }

    fn batch(x: &[f64], with_c: bool) -> Batch {
        let c: StringArray = x.iter().map(|v| Some(format!("c{v}"))).collect();
        Batch {
            rows: x.len(),
            columns: vec![
                Some(ColumnArray::Numeric(Float64Array::from(x.to_vec()))),
                with_c.then_some(ColumnArray::Categorical(c)),
            ],
            rejects: Rejects::default(),
        }
    }

    fn xs(entry: &Entry) -> Vec<f64> {
        entry
            .batches
            .iter()
            .flat_map(|b| match &b.columns[0] {
                Some(ColumnArray::Numeric(a)) => a.values().to_vec(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn tail(offset: u64) -> CheckpointUpdate {
        CheckpointUpdate::Tail(TailPosition {
            dev: 1,
            ino: 2,
            offset,
            line: offset / 10,
        })
    }

    #[test]
    fn entries_round_trip_in_order() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("j/journal");
        let mut j = Journal::open(&path, 0, 0)?;
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(
            j.append(
                "tail:a",
                t,
                &plan(),
                &[batch(&[1.0, 2.0], true)],
                Some(&tail(20))
            )?,
            1
        );
        // Two batches of different columns, and a checkpoint-only entry.
        let two = [batch(&[3.0], false), batch(&[4.0, 5.0], true)];
        assert_eq!(j.append("directory:d", t, &plan(), &two, None)?, 2);
        assert_eq!(j.append("tail:a", t, &plan(), &[], Some(&tail(30)))?, 3);
        let replay = Journal::read(&path, 0, &plan())?;
        assert_eq!(replay.entries.len(), 3);
        assert_eq!((replay.last_seq, replay.dropped_bytes), (3, 0));
        assert_eq!(replay.valid_len, j.len());
        let [a, b, c] = &replay.entries[..] else {
            return Err("three entries expected".into());
        };
        assert_eq!((a.seq, a.source.as_str(), a.arrived), (1, "tail:a", t));
        assert_eq!(a.checkpoint, Some(tail(20)));
        assert_eq!(xs(a), vec![1.0, 2.0]);
        assert_eq!(xs(b), vec![3.0, 4.0, 5.0]);
        assert!(b.batches[0].columns[1].is_none(), "absent stays absent");
        assert_eq!((c.batches.len(), c.checkpoint.clone()), (0, Some(tail(30))));
        // Entries a snapshot already holds are skipped.
        let later = Journal::read(&path, 2, &plan())?;
        assert_eq!(
            later.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
            vec![3]
        );
        Ok(())
    }

    #[test]
    fn a_torn_or_damaged_tail_ends_the_replay_and_is_cut_off() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("journal");
        let mut j = Journal::open(&path, 0, 0)?;
        let t = SystemTime::now();
        j.append("s", t, &plan(), &[batch(&[1.0], true)], None)?;
        let whole = j.len();
        j.append("s", t, &plan(), &[batch(&[2.0], true)], None)?;
        drop(j);
        let bytes = std::fs::read(&path)?;
        for cut in [whole as usize + 3, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut])?;
            let replay = Journal::read(&path, 0, &plan())?;
            assert_eq!(replay.entries.len(), 1, "cut at {cut}");
            assert_eq!(replay.valid_len, whole);
            assert_eq!(replay.dropped_bytes, cut as u64 - whole);
        }
        // A flipped byte in the second frame's body fails its checksum.
        let mut damaged = bytes.clone();
        let last = damaged.len() - 5;
        damaged[last] ^= 0xff;
        std::fs::write(&path, &damaged)?;
        let replay = Journal::read(&path, 0, &plan())?;
        assert_eq!(replay.entries.len(), 1);
        // Appending after a torn tail cuts it off first, so new entries are read.
        let mut j = Journal::open(&path, replay.valid_len, replay.last_seq)?;
        assert_eq!(j.append("s", t, &plan(), &[batch(&[3.0], true)], None)?, 2);
        let replay = Journal::read(&path, 0, &plan())?;
        assert_eq!(
            replay.entries.iter().map(xs).collect::<Vec<_>>(),
            vec![vec![1.0], vec![3.0]]
        );
        Ok(())
    }

    #[test]
    fn frames_of_earlier_versions_with_sha256_checksums_are_read() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("journal");
        let mut j = Journal::open(&path, 0, 0)?;
        let t = SystemTime::now();
        j.append("s", t, &plan(), &[batch(&[1.0], true)], None)?;
        j.append("s", t, &plan(), &[batch(&[2.0, 3.0], true)], None)?;
        drop(j);
        // Rewrite every frame as an earlier version wrote it: DXJ1 and SHA-256.
        let mut bytes = std::fs::read(&path)?;
        let mut at = 0;
        while at < bytes.len() {
            let header_len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into()?) as usize;
            let body_len = u64::from_le_bytes(bytes[at + 8..at + 16].try_into()?) as usize;
            let (start, end) = (at + PREFIX, at + PREFIX + header_len + body_len);
            let sum = {
                let (header, body) = bytes[start..end].split_at(header_len);
                checksum_sha256(header, body)
            };
            bytes[at..at + 4].copy_from_slice(MAGIC_SHA256);
            bytes[at + 16..at + 24].copy_from_slice(&sum);
            at = end;
        }
        std::fs::write(&path, &bytes)?;
        let replay = Journal::read(&path, 0, &plan())?;
        assert_eq!(
            replay.entries.iter().map(xs).collect::<Vec<_>>(),
            vec![vec![1.0], vec![2.0, 3.0]]
        );
        assert_eq!(replay.dropped_bytes, 0);
        // A damaged SHA-256 checksum ends the replay there, as an XXH3 one does.
        bytes[16] ^= 0xff;
        std::fs::write(&path, &bytes)?;
        assert!(Journal::read(&path, 0, &plan())?.entries.is_empty());
        Ok(())
    }

    #[test]
    fn reset_empties_the_file_and_keeps_numbering() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("journal");
        let mut j = Journal::open(&path, 0, 41)?;
        j.append(
            "s",
            SystemTime::now(),
            &plan(),
            &[batch(&[1.0], true)],
            None,
        )?;
        assert_eq!(j.last_seq(), 42);
        j.reset()?;
        assert!(j.is_empty());
        assert_eq!(std::fs::metadata(&path)?.len(), 0);
        assert_eq!(j.append("s", SystemTime::now(), &plan(), &[], None)?, 43);
        assert_eq!(Journal::read(&path, 0, &plan())?.entries.len(), 1);
        assert_eq!(
            Journal::read(&dir.path().join("none"), 0, &plan())?
                .entries
                .len(),
            0
        );
        Ok(())
    }
}
