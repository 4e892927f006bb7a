//! The `tail` source: follows a growing JSON-lines file like `tail -F`.
//!
//! Only complete lines are read: a partial last line waits for its newline.
//! Each chunk (at most [`CHUNK_BYTES`] or [`CHUNK_LINES`] lines) is parsed with
//! [`data::read_ndjson`] on the blocking pool and delivered with a
//! [`CheckpointUpdate::Tail`] naming the file (device, inode) and the byte offset
//! and line count just after it; the daemon saves that position, and a restart
//! resumes from it (from the start of the file if it was truncated or replaced
//! meanwhile).
//!
//! Rotation by rename (logrotate's create mode): when the path names another
//! file, the old one is drained through the handle still open, until it has
//! stayed the same for one `poll_interval` (a writer may still append to it
//! before it reopens); its last line counts even without a newline, since it
//! will never grow. Then the new file is followed from its first byte.
//! Truncation in place (copytruncate): the same file, shorter than the offset,
//! is read again from its start. While the path is missing (between the rename
//! and the create) the old handle is kept.
//!
//! [`DirWatch`] (`notify` on the parent folder) wakes the source; polling every
//! `poll_interval` is the fallback.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::directory::{DirWatch, LogThrottle};
use super::SourceContext;
use crate::config::{StartAt, TailSourceConfig};
use crate::data::{self, Batch, DataError};
use crate::state::{CheckpointUpdate, TailPosition};

/// Most bytes delivered in one batch.
const CHUNK_BYTES: usize = 8 << 20;

/// Most lines delivered in one batch.
const CHUNK_LINES: usize = 65_536;

/// A longer line is skipped and reported, not parsed.
const MAX_LINE_BYTES: usize = 64 << 20;

/// After a file event, how long to wait for more lines before reading.
const COALESCE: Duration = Duration::from_millis(20);

/// How long identical warnings are held back after one is logged.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// Follows `config.path` until shutdown or until the daemon stops taking
/// batches. `start` is the position saved by a previous run, if any.
pub async fn run(config: TailSourceConfig, ctx: SourceContext, start: Option<TailPosition>) {
    let initial = match (start, config.start_at) {
        (Some(position), _) => Initial::Resume(position),
        (None, StartAt::Beginning) => Initial::Beginning,
        (None, StartAt::End) => Initial::End,
    };
    let parent = match config.path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let only = config.path.file_name().map(|n| n.to_os_string());
    let mut watch = DirWatch::new(ctx.label.clone(), only);
    let mut follower = Follower {
        origin: config.path.display().to_string(),
        path: config.path,
        quiet_for: config.poll_interval,
        ctx,
        initial,
        open: None,
        rotation: None,
        throttle: LogThrottle::new(LOG_EVERY),
    };
    loop {
        if follower.ctx.shutdown.is_cancelled() {
            return;
        }
        watch.ensure(&parent);
        match follower.step().await {
            Step::More => continue,
            Step::Idle => {}
            Step::Stop => return,
        }
        let shutdown = follower.ctx.shutdown.clone();
        if !watch.wait(config.poll_interval, COALESCE, &shutdown).await {
            return;
        }
    }
}

/// Where to start in the next file opened.
enum Initial {
    /// The saved position, if it is still this file's.
    Resume(TailPosition),
    /// The first byte.
    Beginning,
    /// Just after the last complete line at start-up.
    End,
    /// A file that replaced the one followed: its first byte.
    Replacement,
}

/// The file in hand and how far it has been delivered.
struct OpenFile {
    file: Arc<File>,
    dev: u64,
    ino: u64,
    offset: u64,
    line: u64,
}

/// The path names another file: the old one's length and since when it has had it.
struct Rotation {
    len: u64,
    since: Instant,
}

/// What a step leaves to do.
enum Step {
    /// Something was delivered or repositioned: step again at once.
    More,
    /// Nothing to read: wait for an event or the poll interval.
    Idle,
    /// The daemon is gone.
    Stop,
}

/// A run of complete lines read from the file.
struct Chunk {
    /// The lines, or `None` for one line too long to parse.
    bytes: Option<Vec<u8>>,
    /// Offset just after the chunk.
    end: u64,
    /// Lines in the chunk.
    lines: u64,
}

struct Follower {
    path: PathBuf,
    origin: String,
    /// How long a rotated-away file must stay unchanged before it is left.
    quiet_for: Duration,
    ctx: SourceContext,
    initial: Initial,
    open: Option<OpenFile>,
    rotation: Option<Rotation>,
    throttle: LogThrottle,
}

impl Follower {
    /// Reads what is there, then checks the path for rotation and truncation.
    async fn step(&mut self) -> Step {
        if self.open.is_none() && !self.open_path() {
            return Step::Idle;
        }
        match self.deliver_next(false).await {
            Step::Idle => {}
            other => return other,
        }
        let Some(open) = self.open.as_mut() else {
            return Step::Idle;
        };
        match std::fs::metadata(&self.path) {
            // Between a rename and the create: keep reading the old file.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Step::Idle,
            Err(e) => {
                let message = format!("{}: cannot check the file: {e}", self.origin);
                self.warn(&message);
                Step::Idle
            }
            Ok(meta) if (meta.dev(), meta.ino()) == (open.dev, open.ino) => {
                self.rotation = None;
                if meta.len() >= open.offset {
                    return Step::Idle;
                }
                tracing::info!(
                    source = %self.ctx.label,
                    file = %self.origin,
                    "file truncated; reading it again from the start"
                );
                open.offset = 0;
                open.line = 0;
                Step::More
            }
            Ok(_) => self.rotated().await,
        }
    }

    /// The path names another file: drains the old one until it is quiet, then
    /// switches to the new one.
    async fn rotated(&mut self) -> Step {
        let Some(open) = self.open.as_ref() else {
            return Step::Idle;
        };
        let len = open.file.metadata().map_or(open.offset, |m| m.len());
        let now = Instant::now();
        match &self.rotation {
            Some(r) if r.len == len && now.duration_since(r.since) >= self.quiet_for => {}
            Some(r) if r.len == len => return Step::Idle,
            _ => {
                self.rotation = Some(Rotation { len, since: now });
                return Step::Idle;
            }
        }
        // The old file is quiet: its last line ends at its end.
        match self.deliver_next(true).await {
            Step::Idle => {}
            other => return other,
        }
        tracing::info!(
            source = %self.ctx.label,
            file = %self.origin,
            "file rotated; following the new file from its start"
        );
        self.open = None;
        self.rotation = None;
        self.initial = Initial::Replacement;
        if self.open_path() {
            Step::More
        } else {
            Step::Idle
        }
    }

    /// Opens the path and positions it by `initial`. False if it cannot be opened.
    fn open_path(&mut self) -> bool {
        let opened = File::open(&self.path).and_then(|file| {
            let meta = file.metadata()?;
            Ok((file, meta))
        });
        let (file, meta) = match opened {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let message = format!("{}: does not exist yet; waiting for it", self.origin);
                if let Some(held_back) = self.throttle.admit(&message) {
                    tracing::info!(source = %self.ctx.label, held_back, "{message}");
                }
                return false;
            }
            Err(e) => {
                let message = format!("{}: cannot open: {e}", self.origin);
                self.warn(&message);
                return false;
            }
        };
        let (dev, ino, len) = (meta.dev(), meta.ino(), meta.len());
        let (offset, line) = match std::mem::replace(&mut self.initial, Initial::Replacement) {
            Initial::Resume(p) if (p.dev, p.ino) == (dev, ino) && len >= p.offset => {
                tracing::info!(source = %self.ctx.label, file = %self.origin, offset = p.offset, line = p.line, "resuming");
                (p.offset, p.line)
            }
            Initial::Resume(p) if (p.dev, p.ino) == (dev, ino) => {
                tracing::info!(source = %self.ctx.label, file = %self.origin, "file truncated while stopped; reading it from the start");
                (0, 0)
            }
            Initial::Resume(_) => {
                tracing::info!(source = %self.ctx.label, file = %self.origin, "file replaced (rotated) while stopped; reading the new file from its start");
                (0, 0)
            }
            Initial::Beginning | Initial::Replacement => (0, 0),
            Initial::End => match end_of_last_line(&file, len) {
                Ok(offset) => (offset, 0),
                Err(e) => {
                    let message = format!("{}: cannot read: {e}", self.origin);
                    self.warn(&message);
                    self.initial = Initial::End;
                    return false;
                }
            },
        };
        self.open = Some(OpenFile {
            file: Arc::new(file),
            dev,
            ino,
            offset,
            line,
        });
        true
    }

    /// Reads, parses and delivers the next chunk of complete lines (with
    /// `eof_ends_line`, a final unterminated line too). `Idle` when there is none.
    async fn deliver_next(&mut self, eof_ends_line: bool) -> Step {
        let Some(open) = self.open.as_ref() else {
            return Step::Idle;
        };
        let (file, offset, first_line) = (open.file.clone(), open.offset, open.line + 1);
        let plan = self.ctx.plan.borrow().clone();
        let (read_plan, origin) = (plan.clone(), self.origin.clone());
        let started = Instant::now();
        let work = move || -> io::Result<Option<(Chunk, Option<Result<Batch, DataError>>)>> {
            let Some(chunk) = read_chunk(&file, offset, eof_ends_line)? else {
                return Ok(None);
            };
            let parsed = chunk
                .bytes
                .as_deref()
                .map(|bytes| data::read_ndjson(bytes, &read_plan, &origin, first_line));
            Ok(Some((chunk, parsed)))
        };
        let read = tokio::task::spawn_blocking(work)
            .await
            .unwrap_or_else(|join| Err(io::Error::other(join.to_string())));
        let parse_seconds = started.elapsed().as_secs_f64();
        let (chunk, parsed) = match read {
            Ok(Some(read)) => read,
            Ok(None) => return Step::Idle,
            Err(e) => {
                let message = format!("{}: cannot read: {e}", self.origin);
                self.warn(&message);
                return Step::Idle;
            }
        };
        let position = TailPosition {
            dev: open.dev,
            ino: open.ino,
            offset: chunk.end,
            line: open.line + chunk.lines,
        };
        let checkpoint = Some(CheckpointUpdate::Tail(position));
        let delivered = match parsed {
            Some(Ok(batch)) => {
                tracing::debug!(
                    source = %self.ctx.label,
                    file = %self.origin,
                    rows = batch.rows,
                    rejected = batch.rejects.total_rows(),
                    offset = position.offset,
                    "lines read"
                );
                let batches = vec![batch];
                self.ctx
                    .deliver(batches, parse_seconds, plan, checkpoint)
                    .await
            }
            Some(Err(e)) => {
                let message = e.to_string();
                self.warn(&message);
                self.ctx
                    .report_error("unreadable", message, checkpoint)
                    .await
            }
            None => {
                let message = format!(
                    "{}: line {first_line}: longer than {} MiB; skipped",
                    self.origin,
                    MAX_LINE_BYTES >> 20
                );
                self.warn(&message);
                self.ctx
                    .report_error("unreadable", message, checkpoint)
                    .await
            }
        };
        if !delivered {
            return Step::Stop;
        }
        if let Some(open) = self.open.as_mut() {
            open.offset = position.offset;
            open.line = position.line;
        }
        Step::More
    }

    fn warn(&mut self, message: &str) {
        if let Some(held_back) = self.throttle.admit(message) {
            tracing::warn!(source = %self.ctx.label, held_back, "{message}");
        }
    }
}

/// Reads complete lines from `offset`: up to the last newline within
/// [`CHUNK_BYTES`], or the [`CHUNK_LINES`]th. `None` when no complete line is
/// there yet (with `eof_ends_line`, the bytes before the end of the file count
/// as a line).
fn read_chunk(file: &File, offset: u64, eof_ends_line: bool) -> io::Result<Option<Chunk>> {
    let len = file.metadata()?.len();
    if len <= offset {
        return Ok(None);
    }
    let want = usize::try_from(len - offset).map_or(CHUNK_BYTES, |n| n.min(CHUNK_BYTES));
    let mut bytes = vec![0; want];
    let got = read_at_most(file, &mut bytes, offset)?;
    bytes.truncate(got);
    if got == 0 {
        return Ok(None);
    }
    if let Some((cut, lines)) = cut_point(&bytes) {
        bytes.truncate(cut);
        return Ok(Some(Chunk {
            bytes: Some(bytes),
            end: offset + cut as u64,
            lines,
        }));
    }
    if got < CHUNK_BYTES {
        // No newline before the end of the file.
        return Ok(eof_ends_line.then(|| Chunk {
            bytes: Some(bytes),
            end: offset + got as u64,
            lines: 1,
        }));
    }
    read_long_line(file, offset, bytes, eof_ends_line)
}

/// A line longer than a chunk: keeps reading until its newline; kept whole up
/// to [`MAX_LINE_BYTES`], beyond that only its end is found and it is skipped.
fn read_long_line(
    file: &File,
    offset: u64,
    mut line: Vec<u8>,
    eof_ends_line: bool,
) -> io::Result<Option<Chunk>> {
    let mut block = vec![0; CHUNK_BYTES];
    let mut at = offset + line.len() as u64;
    let mut too_long = false;
    loop {
        let got = read_at_most(file, &mut block, at)?;
        if got == 0 {
            if !eof_ends_line {
                return Ok(None);
            }
            return Ok(Some(Chunk {
                bytes: (!too_long).then_some(line),
                end: at,
                lines: 1,
            }));
        }
        let newline = block[..got].iter().position(|&b| b == b'\n');
        let take = newline.map_or(got, |i| i + 1);
        if !too_long && line.len() + take <= MAX_LINE_BYTES {
            line.extend_from_slice(&block[..take]);
        } else if !too_long {
            too_long = true;
            line = Vec::new();
        }
        at += take as u64;
        if newline.is_some() {
            return Ok(Some(Chunk {
                bytes: (!too_long).then_some(line),
                end: at,
                lines: 1,
            }));
        }
    }
}

/// Where to cut `bytes` (just after a newline) and how many lines that keeps.
fn cut_point(bytes: &[u8]) -> Option<(usize, u64)> {
    let mut last = None;
    let mut lines = 0u64;
    for (i, _) in bytes.iter().enumerate().filter(|(_, &b)| b == b'\n') {
        last = Some(i + 1);
        lines += 1;
        if lines == CHUNK_LINES as u64 {
            break;
        }
    }
    last.map(|cut| (cut, lines))
}

/// Fills as much of `buf` as the file has from `offset`; returns the bytes read.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// The offset just after the last newline in the first `len` bytes (0 when
/// there is none within [`MAX_LINE_BYTES`] of the end: the file is one line
/// being written).
fn end_of_last_line(file: &File, len: u64) -> io::Result<u64> {
    const BLOCK: u64 = 64 << 10;
    let mut end = len;
    let mut block = vec![0; BLOCK as usize];
    while end > 0 && len - end < MAX_LINE_BYTES as u64 {
        let start = end.saturating_sub(BLOCK);
        let size = (end - start) as usize;
        let got = read_at_most(file, &mut block[..size], start)?;
        if let Some(i) = block[..got].iter().rposition(|&b| b == b'\n') {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(if end == 0 { 0 } else { len })
}

#[cfg(test)]
fn _assert_path_is_used(_: &Path) {}
