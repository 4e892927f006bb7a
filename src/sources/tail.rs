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
//! `poll_interval` is the fallback. Every file operation (open, stat, read) runs
//! on the blocking pool, never on the async runtime's threads.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::wakeup::DirWatch;
use super::{Level, SourceContext, SourceErrorReason};
use crate::config::{StartAt, TailSourceConfig};
use crate::data::{self, Batch, ColumnPlan, DataError};
use crate::store::checkpoints::{CheckpointUpdate, TailPosition};

/// Most bytes delivered in one batch.
const CHUNK_BYTES: usize = 8 << 20;

/// Most lines delivered in one batch.
const CHUNK_LINES: usize = 65_536;

/// A longer line is skipped and reported, not parsed.
const MAX_LINE_BYTES: usize = 64 << 20;

/// After a file event, how long to wait for more lines before reading.
const COALESCE: Duration = Duration::from_millis(20);

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
    let mut watch = DirWatch::new(ctx.label.clone(), ctx.log.clone(), only);
    let mut follower = Follower {
        origin: config.path.display().to_string(),
        path: config.path,
        quiet_for: config.poll_interval,
        ctx,
        initial,
        open: None,
        rotation: None,
        prefetch: None,
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

/// A chunk's rows, or `None` when the chunk is one line too long to parse.
type Parsed = Option<Result<Batch, DataError>>;

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
    /// The chunk after the one being delivered, read and parsed meanwhile.
    prefetch: Option<Prefetch>,
}

/// What a read and parse gives: the chunk and its rows, or `None` when no
/// complete line is there.
type ReadResult = io::Result<Option<(Chunk, Parsed)>>;

/// A chunk read and parsed ahead, while the one before it was delivered (the
/// loop journals and counts a delivery before it is acknowledged: reading on
/// meanwhile keeps both cores busy).
struct Prefetch {
    /// The file, offset and line it starts at, and the plan it was parsed with.
    at: (u64, u64, u64, u64),
    plan: Arc<ColumnPlan>,
    started: Instant,
    task: tokio::task::JoinHandle<ReadResult>,
}

/// Reads the complete lines at `offset` of `file` and parses them with `plan`.
fn read_and_parse(
    file: &File,
    offset: u64,
    first_line: u64,
    eof_ends_line: bool,
    plan: &ColumnPlan,
    origin: &str,
) -> ReadResult {
    let Some(chunk) = read_chunk(file, offset, eof_ends_line)? else {
        return Ok(None);
    };
    let parsed = chunk
        .bytes
        .as_deref()
        .map(|bytes| data::read_ndjson(bytes, plan, origin, first_line));
    Ok(Some((chunk, parsed)))
}

impl Follower {
    /// Reads what is there, then checks the path for rotation and truncation.
    async fn step(&mut self) -> Step {
        if self.open.is_none() && !self.open_path().await {
            return Step::Idle;
        }
        match self.deliver_next(false).await {
            Step::Idle => {}
            other => return other,
        }
        let Some((dev, ino, offset)) = self.open.as_ref().map(|o| (o.dev, o.ino, o.offset)) else {
            return Step::Idle;
        };
        let path = self.path.clone();
        match blocking(move || std::fs::metadata(&path)).await {
            // Between a rename and the create: keep reading the old file.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Step::Idle,
            Err(e) => {
                let message = format!("{}: cannot check the file: {e}", self.origin);
                self.warn(&message);
                Step::Idle
            }
            Ok(meta) if (meta.dev(), meta.ino()) == (dev, ino) => {
                self.rotation = None;
                if meta.len() >= offset {
                    return Step::Idle;
                }
                tracing::info!(
                    source = %self.ctx.label,
                    file = %self.origin,
                    "file truncated; reading it again from the start"
                );
                if let Some(open) = self.open.as_mut() {
                    open.offset = 0;
                    open.line = 0;
                }
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
        let (file, offset) = (open.file.clone(), open.offset);
        let len = blocking(move || file.metadata())
            .await
            .map_or(offset, |m| m.len());
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
        if self.open_path().await {
            Step::More
        } else {
            Step::Idle
        }
    }

    /// Opens the path and positions it by `initial`. False if it cannot be opened.
    async fn open_path(&mut self) -> bool {
        let path = self.path.clone();
        let from_end = matches!(self.initial, Initial::End);
        let opened = blocking(move || {
            let file = File::open(&path)?;
            let meta = file.metadata()?;
            // Only a new tail that starts at the end looks for the last line.
            let end = from_end.then(|| end_of_last_line(&file, meta.len()));
            Ok((file, meta, end))
        })
        .await;
        let (file, meta, end) = match opened {
            Ok(opened) => opened,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A file created after start-up is all new lines.
                if matches!(self.initial, Initial::End) {
                    self.initial = Initial::Beginning;
                }
                let message = format!("{}: does not exist yet; waiting for it", self.origin);
                self.ctx.say(Level::Info, &message);
                return false;
            }
            Err(e) => {
                let message = format!("{}: cannot open: {e}", self.origin);
                self.warn(&message);
                return false;
            }
        };
        let (dev, ino, len) = (meta.dev(), meta.ino(), meta.len());
        let end = end.unwrap_or(Ok(len));
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
            Initial::End => match end {
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
        let (file, dev, ino) = (open.file.clone(), open.dev, open.ino);
        let (offset, line, first_line) = (open.offset, open.line, open.line + 1);
        let plan = self.ctx.plan.borrow().clone();
        let mut started = Instant::now();
        let mut read = None;
        // The chunk read ahead is used if it starts here, was parsed with
        // the plan in force, and found lines (else it is read again now:
        // lines may have come since).
        if let Some(ahead) = self.prefetch.take() {
            let here = (dev, ino, offset, line);
            if !eof_ends_line && ahead.at == here && Arc::ptr_eq(&ahead.plan, &plan) {
                let result = ahead
                    .task
                    .await
                    .unwrap_or_else(|join| Err(io::Error::other(join.to_string())));
                if !matches!(result, Ok(None)) {
                    started = ahead.started;
                    read = Some(result);
                }
            }
        }
        let read = match read {
            Some(read) => read,
            None => {
                let (read_plan, origin) = (plan.clone(), self.origin.clone());
                let work = move || {
                    read_and_parse(
                        &file,
                        offset,
                        first_line,
                        eof_ends_line,
                        &read_plan,
                        &origin,
                    )
                };
                blocking(work).await
            }
        };
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
            dev,
            ino,
            offset: chunk.end,
            line: line + chunk.lines,
        };
        let checkpoint = Some(CheckpointUpdate::Tail(position));
        if !eof_ends_line && chunk.lines > 0 {
            self.read_ahead(position, &plan);
        }
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
                    .is_some()
            }
            Some(Err(e)) => {
                self.ctx
                    .report_error(SourceErrorReason::Unreadable, e.to_string(), checkpoint)
                    .await
            }
            None => {
                let message = format!(
                    "{}: line {first_line}: longer than {} MiB; skipped",
                    self.origin,
                    MAX_LINE_BYTES >> 20
                );
                self.ctx
                    .report_error(SourceErrorReason::Unreadable, message, checkpoint)
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

    /// Starts reading and parsing the chunk at `from` on the blocking pool.
    fn read_ahead(&mut self, from: TailPosition, plan: &Arc<ColumnPlan>) {
        let Some(open) = self.open.as_ref() else {
            return;
        };
        let (file, read_plan, origin) = (open.file.clone(), plan.clone(), self.origin.clone());
        let (offset, first_line) = (from.offset, from.line + 1);
        let task = tokio::task::spawn_blocking(move || {
            read_and_parse(&file, offset, first_line, false, &read_plan, &origin)
        });
        self.prefetch = Some(Prefetch {
            at: (open.dev, open.ino, from.offset, from.line),
            plan: plan.clone(),
            started: Instant::now(),
            task,
        });
    }

    fn warn(&self, message: &str) {
        self.ctx.say(Level::Warn, message);
    }
}

/// Runs file I/O on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|join| Err(io::Error::other(join.to_string())))
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

/// The offset just after the last newline in the first `len` bytes: 0 when the
/// file has none (it is one line being written), `len` when the last
/// [`MAX_LINE_BYTES`] have none.
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
mod tests {
    use super::*;
    use crate::sources::SourceEvent;
    use std::io::Write;
    use std::path::Path;
    use tokio::sync::mpsc;
    use tokio::time::timeout;
    use tokio_util::sync::CancellationToken;

    use crate::sources::test_support::{self, QUIET, WITHIN};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    struct Harness {
        rx: mpsc::Receiver<SourceEvent>,
        shutdown: CancellationToken,
        task: tokio::task::JoinHandle<()>,
        /// The last position delivered.
        position: Option<TailPosition>,
        /// Row error messages seen.
        errors: Vec<String>,
    }

    fn config(path: &Path, start_at: StartAt) -> TailSourceConfig {
        TailSourceConfig {
            path: path.to_path_buf(),
            start_at,
            poll_interval: Duration::from_millis(50),
        }
    }

    fn start(config: TailSourceConfig, position: Option<TailPosition>) -> Harness {
        let (ctx, rx, shutdown) = test_support::context(format!("tail:{}", config.path.display()));
        let task = tokio::spawn(run(config, ctx, position));
        Harness {
            rx,
            shutdown,
            task,
            position: None,
            errors: Vec::new(),
        }
    }

    impl Harness {
        /// Rows of the next batch within `within` (acknowledged), None if none came.
        async fn next_rows(
            &mut self,
            within: Duration,
        ) -> Result<Option<usize>, Box<dyn std::error::Error>> {
            let Some(event) = timeout(within, self.rx.recv()).await.ok().flatten() else {
                return Ok(None);
            };
            match event {
                SourceEvent::Delivery(batch) => {
                    batch
                        .ack
                        .ok_or("batches carry an ack")?
                        .send(())
                        .map_err(|()| "the ack receiver is gone")?;
                    match batch.checkpoint {
                        Some(CheckpointUpdate::Tail(p)) => self.position = Some(p),
                        other => panic!("expected a tail checkpoint, got {other:?}"),
                    }
                    for b in &batch.batches {
                        self.errors.extend(b.rejects.errors.iter().cloned());
                    }
                    Ok(Some(batch.batches.iter().map(|b| b.rows).sum()))
                }
                SourceEvent::Error { message, .. } => panic!("unexpected error: {message}"),
            }
        }

        /// Receives batches until `expected` rows have come; fails on more.
        async fn rows(&mut self, expected: usize) -> TestResult {
            let mut total = 0;
            while total < expected {
                match self.next_rows(WITHIN).await? {
                    Some(rows) => total += rows,
                    None => panic!("got {total} rows, expected {expected}"),
                }
            }
            assert_eq!(total, expected, "more rows than expected");
            Ok(())
        }

        async fn assert_quiet(&mut self) -> TestResult {
            if let Some(rows) = self.next_rows(QUIET).await? {
                panic!("expected nothing more, got {rows} rows");
            }
            Ok(())
        }

        async fn stop(self) -> TestResult {
            test_support::stop(self.shutdown, self.task).await
        }
    }

    fn append(path: &Path, text: &str) -> TestResult {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        file.write_all(text.as_bytes())?;
        Ok(())
    }

    fn lines(range: std::ops::Range<u32>) -> String {
        range.map(|i| format!("{{\"x\":{i}}}\n")).collect()
    }

    /// The position at the end of the file at `path`, after `line` lines.
    fn at_end(path: &Path, line: u64) -> Result<TailPosition, Box<dyn std::error::Error>> {
        let (dev, ino, offset) = identity(path)?;
        Ok(TailPosition {
            dev,
            ino,
            offset,
            line,
        })
    }

    fn identity(path: &Path) -> Result<(u64, u64, u64), Box<dyn std::error::Error>> {
        let meta = std::fs::metadata(path)?;
        Ok((meta.dev(), meta.ino(), meta.len()))
    }

    #[tokio::test]
    async fn appended_lines_are_delivered() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.jsonl");
        append(&path, &lines(0..2))?;
        let mut h = start(config(&path, StartAt::Beginning), None);
        h.rows(2).await?;
        append(&path, &lines(2..5))?;
        h.rows(3).await?;
        h.assert_quiet().await?;
        assert_eq!(h.position, Some(at_end(&path, 5)?));
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn chunks_read_ahead_deliver_every_line_once_in_order() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.jsonl");
        // Several chunks (each read while the one before is delivered), the
        // last one partial, then lines appended after the read-ahead found
        // the end of the file.
        let n = 2 * CHUNK_LINES as u32 + 1_234;
        append(&path, &lines(0..n))?;
        let mut h = start(config(&path, StartAt::Beginning), None);
        let mut sizes = Vec::new();
        let mut total = 0;
        while total < n as usize {
            let rows = h
                .next_rows(WITHIN)
                .await?
                .ok_or("a chunk within the wait")?;
            sizes.push(rows);
            total += rows;
        }
        assert_eq!(total, n as usize, "no line twice");
        assert_eq!(h.position.map(|p| p.line), Some(n as u64));
        assert!(sizes.len() >= 3, "several chunks: {sizes:?}");
        append(&path, &lines(n..n + 10))?;
        h.rows(10).await?;
        h.assert_quiet().await?;
        assert_eq!(h.position, Some(at_end(&path, n as u64 + 10)?));
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_partial_line_waits_for_its_newline() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.jsonl");
        append(&path, "{\"x\":1}\n{\"x\":")?;
        let mut h = start(config(&path, StartAt::Beginning), None);
        h.rows(1).await?;
        h.assert_quiet().await?;
        assert_eq!(h.position.map(|p| (p.offset, p.line)), Some((8, 1)));
        append(&path, "2}\n")?;
        h.rows(1).await?;
        assert_eq!(h.position.map(|p| (p.offset, p.line)), Some((16, 2)));
        assert!(h.errors.is_empty(), "{:?}", h.errors);
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn rotation_by_rename_delivers_every_line_once() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.jsonl");
        append(&path, &lines(0..3))?;
        let mut h = start(config(&path, StartAt::Beginning), None);
        h.rows(3).await?;
        // Two more lines and an unterminated one, then logrotate's create mode.
        append(&path, &lines(3..5))?;
        append(&path, "{\"x\":5}")?;
        std::fs::rename(&path, dir.path().join("p.jsonl.1"))?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        append(&path, &lines(6..10))?;
        h.rows(3 + 4).await?;
        h.assert_quiet().await?;
        let (dev, ino, len) = identity(&path)?;
        let expected = TailPosition {
            dev,
            ino,
            offset: len,
            line: 4,
        };
        assert_eq!(h.position, Some(expected));
        assert!(h.errors.is_empty(), "{:?}", h.errors);
        append(&path, &lines(10..12))?;
        h.rows(2).await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn copytruncate_restarts_at_the_beginning() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.jsonl");
        append(&path, &lines(0..3))?;
        let mut h = start(config(&path, StartAt::Beginning), None);
        h.rows(3).await?;
        std::fs::copy(&path, dir.path().join("p.jsonl.1"))?;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)?
            .set_len(0)?;
        tokio::time::sleep(Duration::from_millis(150)).await;
        append(&path, &lines(3..5))?;
        h.rows(2).await?;
        h.assert_quiet().await?;
        let (_, _, len) = identity(&path)?;
        assert_eq!(h.position.map(|p| (p.offset, p.line)), Some((len, 2)));
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn resumes_from_a_saved_position() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.jsonl");
        append(&path, &lines(0..3))?;
        let (dev, ino, offset) = identity(&path)?;
        append(&path, "{\"x\":3}\nnot json\n")?;
        let saved = TailPosition {
            dev,
            ino,
            offset,
            line: 3,
        };
        let mut h = start(config(&path, StartAt::Beginning), Some(saved));
        h.rows(1).await?;
        h.assert_quiet().await?;
        // Row numbers continue from the saved line count.
        assert!(
            h.errors.iter().any(|e| e.contains("line 5")),
            "{:?}",
            h.errors
        );
        assert_eq!(h.position.map(|p| p.line), Some(5));
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_file_replaced_while_stopped_is_read_from_its_start() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.jsonl");
        append(&path, &lines(0..3))?;
        let (dev, ino, offset) = identity(&path)?;
        std::fs::rename(&path, dir.path().join("p.jsonl.1"))?;
        append(&path, &lines(3..5))?;
        let saved = TailPosition {
            dev,
            ino,
            offset,
            line: 3,
        };
        let mut h = start(config(&path, StartAt::Beginning), Some(saved));
        h.rows(2).await?;
        h.assert_quiet().await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn start_at_end_skips_what_is_there() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.jsonl");
        append(&path, &lines(0..3))?;
        append(&path, "{\"x\":")?;
        let mut h = start(config(&path, StartAt::End), None);
        h.assert_quiet().await?;
        // The line being written at start-up is completed and counts.
        append(&path, "3}\n")?;
        append(&path, &lines(4..6))?;
        h.rows(3).await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn start_at_end_reads_a_file_created_later_whole() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.jsonl");
        let mut h = start(config(&path, StartAt::End), None);
        h.assert_quiet().await?;
        append(&path, &lines(0..2))?;
        h.rows(2).await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_missing_file_is_waited_for() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("later.jsonl");
        let mut h = start(config(&path, StartAt::Beginning), None);
        h.assert_quiet().await?;
        append(&path, &lines(0..2))?;
        h.rows(2).await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn file_events_wake_the_source_between_polls() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.jsonl");
        append(&path, &lines(0..1))?;
        let mut cfg = config(&path, StartAt::Beginning);
        cfg.poll_interval = Duration::from_secs(30);
        let mut h = start(cfg, None);
        h.rows(1).await?;
        append(&path, &lines(1..3))?;
        h.rows(2).await?;
        h.stop().await?;
        Ok(())
    }

    #[test]
    fn chunks_end_at_the_last_newline() {
        assert_eq!(cut_point(b"a\nb\nc"), Some((4, 2)));
        assert_eq!(cut_point(b"abc"), None);
        let many = "\n".repeat(CHUNK_LINES + 5);
        assert_eq!(
            cut_point(many.as_bytes()),
            Some((CHUNK_LINES, CHUNK_LINES as u64))
        );
    }

    #[test]
    fn long_lines_are_read_whole() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("long.jsonl");
        let long = format!("{{\"x\":1,\"pad\":\"{}\"}}\n", "a".repeat(CHUNK_BYTES + 10));
        std::fs::write(&path, format!("{long}{{\"x\":2}}\n"))?;
        let file = File::open(&path)?;
        let chunk = read_chunk(&file, 0, false)?.ok_or("expected a chunk")?;
        assert_eq!(chunk.end, long.len() as u64);
        assert_eq!(chunk.lines, 1);
        assert_eq!(chunk.bytes.as_deref(), Some(long.as_bytes()));
        let rest = read_chunk(&file, chunk.end, false)?.ok_or("expected a chunk")?;
        assert_eq!(rest.bytes.as_deref(), Some(&b"{\"x\":2}\n"[..]));
        Ok(())
    }

    #[test]
    fn the_end_of_the_last_line_is_found() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("p.jsonl");
        std::fs::write(&path, "ab\ncd\nef")?;
        let file = File::open(&path)?;
        assert_eq!(end_of_last_line(&file, 8)?, 6);
        std::fs::write(&path, "abc")?;
        assert_eq!(end_of_last_line(&file, 3)?, 0);
        Ok(())
    }
}
