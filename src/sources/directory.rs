//! The `directory` source: picks up data files that appear in a folder and
//! delivers each one once, as a whole.
//!
//! A file is a candidate when its extension names a format [`crate::data`] reads
//! (`.parquet`, `.arrow`/`.ipc`, `.csv`, `.ndjson`/`.jsonl`, `.json`); dotfiles,
//! `*.tmp` and subfolders are ignored. It is complete once its [`FileStamp`]
//! (length and mtime) has stayed the same for `settle` (a file renamed into place
//! is simply a file that is already stable). Complete files are read in name
//! order with [`data::read_path`] on the blocking pool and handed to the daemon
//! with a [`CheckpointUpdate::FileDone`]; the daemon records the name and stamp in
//! the state file, whose `processed` map this source receives at start-up, so a
//! restart neither skips nor repeats a file (a file rewritten later, with a new
//! stamp, is read again). Unreadable files are reported once, with the same
//! checkpoint, so they are not retried forever. Done files can be moved aside.
//!
//! `notify` (inotify on Linux) wakes the source on changes; a rescan every
//! `poll_interval` is the fallback. The scan itself is the only source of truth,
//! so lost or coalesced events cost latency, never data (see [`super::wakeup`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::wakeup::DirWatch;
use super::{Level, SourceContext, SourceErrorReason};
use crate::config::DirectorySourceConfig;
use crate::data::{self, DataError, Format};
use crate::store::checkpoints::{CheckpointUpdate, FileStamp};

/// The shortest time between two scans, however busy the file events are.
const MIN_RESCAN_GAP: Duration = Duration::from_millis(20);

/// Watches `config.path` for new complete files and delivers each once, until
/// shutdown or until the daemon stops taking batches. `processed` maps file
/// names to the stamp they had when they were delivered (from the state file).
pub async fn run(
    config: DirectorySourceConfig,
    ctx: SourceContext,
    processed: BTreeMap<String, FileStamp>,
) {
    let source = DirectorySource {
        config,
        ctx,
        processed,
        pending: HashMap::new(),
        present: HashSet::new(),
        io_reported: HashSet::new(),
    };
    source.run().await;
}

/// A file seen in the folder, with its stamp at scan time.
struct Candidate {
    name: String,
    path: PathBuf,
    stamp: FileStamp,
}

/// A file waiting to settle: the stamp it has had since `since`.
struct Pending {
    stamp: FileStamp,
    since: Instant,
}

struct DirectorySource {
    config: DirectorySourceConfig,
    ctx: SourceContext,
    /// Name -> stamp of every file delivered (or reported unreadable).
    processed: BTreeMap<String, FileStamp>,
    /// Files seen but not yet stable for `settle`.
    pending: HashMap<String, Pending>,
    /// Names in the last scan: processed files missing from it are forgotten
    /// with the next file's checkpoint.
    present: HashSet<String>,
    /// I/O failures already reported to the daemon (reported once per stamp).
    io_reported: HashSet<(String, FileStamp)>,
}

impl DirectorySource {
    async fn run(mut self) {
        let mut watch = DirWatch::new(self.ctx.label.clone(), self.ctx.log.clone(), None);
        tracing::info!(source = %self.ctx.label, path = %self.config.path.display(), "watching directory");
        loop {
            if self.ctx.shutdown.is_cancelled() {
                return;
            }
            watch.ensure(&self.config.path);
            let candidates = match scan(self.config.path.clone()).await {
                Ok(candidates) => candidates,
                Err(e) => {
                    let message = format!(
                        "{}: cannot read the watched directory: {e}",
                        self.config.path.display()
                    );
                    self.ctx.say(Level::Error, &message);
                    Vec::new()
                }
            };
            for file in self.settled(candidates, Instant::now()) {
                // Shutdown is only honoured between files: the one in hand is finished.
                if self.ctx.shutdown.is_cancelled() {
                    return;
                }
                if !self.process(file).await {
                    return;
                }
            }
            let wait = self.next_wake(Instant::now());
            if !watch.wait(wait, MIN_RESCAN_GAP, &self.ctx.shutdown).await {
                return;
            }
        }
    }

    /// Updates the settle clocks from a scan and returns the files that are
    /// complete and not yet processed, in name order.
    fn settled(&mut self, candidates: Vec<Candidate>, now: Instant) -> Vec<Candidate> {
        let mut ready = Vec::new();
        let mut present = HashSet::with_capacity(candidates.len());
        for file in candidates {
            present.insert(file.name.clone());
            if self.processed.get(&file.name) == Some(&file.stamp) {
                self.pending.remove(&file.name);
                continue;
            }
            let pending = self.pending.entry(file.name.clone()).or_insert(Pending {
                stamp: file.stamp,
                since: now,
            });
            if pending.stamp != file.stamp {
                *pending = Pending {
                    stamp: file.stamp,
                    since: now,
                };
            }
            if now.duration_since(pending.since) >= self.config.settle {
                ready.push(file);
            }
        }
        self.pending.retain(|name, _| present.contains(name));
        self.present = present;
        ready
    }

    /// How long to sleep: until the next pending file may have settled, at most
    /// `poll_interval`.
    fn next_wake(&self, now: Instant) -> Duration {
        let due = self
            .pending
            .values()
            .map(|p| (p.since + self.config.settle).saturating_duration_since(now));
        due.fold(self.config.poll_interval, Duration::min)
            .max(MIN_RESCAN_GAP)
    }

    /// Reads and delivers one complete file. Returns false when the daemon is gone.
    async fn process(&mut self, file: Candidate) -> bool {
        let plan = self.ctx.plan.borrow().clone();
        let started = Instant::now();
        let (path, read_plan) = (file.path.clone(), plan.clone());
        let read = tokio::task::spawn_blocking(move || {
            let read = data::read_path(&path, &read_plan);
            // The stamp after reading: a change means another version was
            // (partly) read, which must not be recorded under the old stamp.
            let after = std::fs::metadata(&path).ok().map(|m| FileStamp::of(&m));
            (read, after)
        })
        .await;
        let parse_seconds = started.elapsed().as_secs_f64();
        let done = CheckpointUpdate::FileDone {
            name: file.name.clone(),
            stamp: file.stamp,
            forget: self.forget(&file.name),
        };
        let batches = match read {
            Ok((_, Some(after))) if after != file.stamp => {
                tracing::debug!(source = %self.ctx.label, file = %file.path.display(), "file changed while it was read; waiting for it to settle again");
                self.pending.insert(
                    file.name,
                    Pending {
                        stamp: after,
                        since: Instant::now(),
                    },
                );
                return true;
            }
            Ok((Ok(batches), _)) => batches,
            Ok((Err(DataError::Io { source, .. }), _))
                if source.kind() == io::ErrorKind::NotFound =>
            {
                tracing::debug!(source = %self.ctx.label, file = %file.path.display(), "file vanished before it was read");
                self.pending.remove(&file.name);
                return true;
            }
            Ok((Err(err @ DataError::Io { .. }), _)) => {
                return self.io_failed(&file, err.to_string()).await
            }
            Ok((Err(err), _)) => return self.unreadable(file, err.to_string(), done).await,
            Err(join) => {
                let message = format!("{}: the reader failed: {join}", file.path.display());
                return self.unreadable(file, message, done).await;
            }
        };
        let Some(summary) = self
            .ctx
            .deliver(batches, parse_seconds, plan, Some(done.clone()))
            .await
        else {
            return false;
        };
        tracing::info!(
            source = %self.ctx.label,
            file = %file.path.display(),
            rows = summary.rows,
            rejected = summary.rejects.total_rows(),
            seconds = parse_seconds,
            "file ingested"
        );
        self.pending.remove(&file.name);
        self.mark_processed(&file, &done);
        if let Some(done_dir) = self.config.done_dir.clone() {
            self.move_aside(&file, done_dir).await;
        }
        true
    }

    /// The processed files the last scan no longer saw (deleted, or moved to
    /// `done_dir`), except `keep`: forgotten with `keep`'s checkpoint.
    fn forget(&self, keep: &str) -> Vec<String> {
        self.processed
            .keys()
            .filter(|name| name.as_str() != keep && !self.present.contains(name.as_str()))
            .cloned()
            .collect()
    }

    /// Records `file` as processed, forgetting what its checkpoint forgets.
    fn mark_processed(&mut self, file: &Candidate, done: &CheckpointUpdate) {
        if let CheckpointUpdate::FileDone { forget, .. } = done {
            for name in forget {
                self.processed.remove(name);
            }
        }
        self.processed.insert(file.name.clone(), file.stamp);
    }

    /// Moves a delivered file into `done_dir`; a failure is only logged (the
    /// file stays, and is not read again while its stamp is unchanged).
    async fn move_aside(&mut self, file: &Candidate, done_dir: PathBuf) {
        let (from, name, to) = (file.path.clone(), file.name.clone(), done_dir.clone());
        let moved = tokio::task::spawn_blocking(move || move_into(&from, &to, &name))
            .await
            .unwrap_or_else(|join| Err(io::Error::other(join.to_string())));
        if let Err(e) = moved {
            let message = format!(
                "{}: cannot move the processed file to {}: {e}",
                file.path.display(),
                done_dir.display()
            );
            self.ctx.say(Level::Warn, &message);
        }
    }

    /// A file whose content cannot be read: reported once and marked done.
    async fn unreadable(
        &mut self,
        file: Candidate,
        message: String,
        done: CheckpointUpdate,
    ) -> bool {
        self.pending.remove(&file.name);
        self.mark_processed(&file, &done);
        self.ctx
            .report_error(SourceErrorReason::Unreadable, message, Some(done))
            .await
    }

    /// A file that cannot be opened or read (permissions...): retried after
    /// another settle period, reported to the daemon once per stamp (logged
    /// here, throttled, on the retries), never marked done.
    async fn io_failed(&mut self, file: &Candidate, message: String) -> bool {
        if let Some(pending) = self.pending.get_mut(&file.name) {
            pending.since = Instant::now();
        }
        if self.io_reported.insert((file.name.clone(), file.stamp)) {
            return self
                .ctx
                .report_error(SourceErrorReason::Io, message, None)
                .await;
        }
        self.ctx.say(Level::Warn, &message);
        true
    }
}

/// Whether a directory entry's name is one this source reads.
fn is_candidate_name(name: &str) -> bool {
    !name.starts_with('.')
        && !name.to_ascii_lowercase().ends_with(".tmp")
        && Format::from_path(Path::new(name)).is_some()
}

/// Lists the candidate files of `dir`, sorted by name (on the blocking pool).
async fn scan(dir: PathBuf) -> io::Result<Vec<Candidate>> {
    tokio::task::spawn_blocking(move || scan_blocking(&dir))
        .await
        .unwrap_or_else(|join| Err(io::Error::other(join.to_string())))
}

fn scan_blocking(dir: &Path) -> io::Result<Vec<Candidate>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        // An entry that vanishes mid-scan is simply not there.
        let Ok(entry) = entry else { continue };
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !is_candidate_name(&name) {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links; a dangling link or a folder is skipped.
        let Ok(metadata) = std::fs::metadata(&path) else {
            continue;
        };
        if metadata.is_file() {
            files.push(Candidate {
                name,
                path,
                stamp: FileStamp::of(&metadata),
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(files)
}

/// Moves a processed file into `done_dir` (created if missing), copying when
/// the folder is on another file system.
fn move_into(from: &Path, done_dir: &Path, name: &str) -> io::Result<()> {
    std::fs::create_dir_all(done_dir)?;
    let to = done_dir.join(name);
    match std::fs::rename(from, &to) {
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            std::fs::copy(from, &to)?;
            std::fs::remove_file(from)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::SourceEvent;
    use tokio::sync::mpsc;
    use tokio::time::timeout;
    use tokio_util::sync::CancellationToken;

    use crate::sources::test_support::{self, QUIET, WITHIN};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// What the test side saw (acks already answered).
    #[derive(Debug)]
    enum Seen {
        Batch {
            rows: usize,
            checkpoint: Option<CheckpointUpdate>,
        },
        Error {
            reason: &'static str,
            message: String,
            checkpoint: Option<CheckpointUpdate>,
        },
    }

    struct Harness {
        rx: mpsc::Receiver<SourceEvent>,
        shutdown: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    fn config(dir: &Path) -> DirectorySourceConfig {
        DirectorySourceConfig {
            path: dir.to_path_buf(),
            settle: Duration::from_millis(50),
            poll_interval: Duration::from_millis(50),
            done_dir: None,
        }
    }

    fn start(config: DirectorySourceConfig, processed: BTreeMap<String, FileStamp>) -> Harness {
        let (ctx, rx, shutdown) =
            test_support::context(format!("directory:{}", config.path.display()));
        let task = tokio::spawn(run(config, ctx, processed));
        Harness { rx, shutdown, task }
    }

    impl Harness {
        /// The next event within `within`, acknowledged.
        async fn next(
            &mut self,
            within: Duration,
        ) -> Result<Option<Seen>, Box<dyn std::error::Error>> {
            let Some(event) = timeout(within, self.rx.recv()).await.ok().flatten() else {
                return Ok(None);
            };
            Ok(Some(match event {
                SourceEvent::Delivery(batch) => {
                    batch
                        .ack
                        .ok_or("batches carry an ack")?
                        .send(())
                        .map_err(|()| "the ack receiver is gone")?;
                    Seen::Batch {
                        rows: batch.batches.iter().map(|b| b.rows).sum(),
                        checkpoint: batch.checkpoint,
                    }
                }
                SourceEvent::Error {
                    reason,
                    message,
                    checkpoint,
                    ack,
                    ..
                } => {
                    ack.ok_or("errors carry an ack")?
                        .send(())
                        .map_err(|()| "the ack receiver is gone")?;
                    Seen::Error {
                        reason: reason.as_str(),
                        message,
                        checkpoint,
                    }
                }
            }))
        }

        /// The next batch: (file name, rows).
        async fn batch(&mut self) -> Result<(String, usize), Box<dyn std::error::Error>> {
            match self.next(WITHIN).await? {
                Some(Seen::Batch {
                    rows,
                    checkpoint: Some(CheckpointUpdate::FileDone { name, .. }),
                }) => Ok((name, rows)),
                other => panic!("expected a file batch, got {other:?}"),
            }
        }

        async fn assert_quiet(&mut self) -> TestResult {
            if let Some(seen) = self.next(QUIET).await? {
                panic!("expected nothing more, got {seen:?}");
            }
            Ok(())
        }

        async fn stop(self) -> TestResult {
            test_support::stop(self.shutdown, self.task).await
        }
    }

    fn write(path: &Path, text: &str) -> TestResult {
        std::fs::write(path, text)?;
        Ok(())
    }

    #[tokio::test]
    async fn files_are_picked_up_once_in_name_order() -> TestResult {
        let dir = tempfile::tempdir()?;
        write(
            &dir.path().join("b.ndjson"),
            "{\"x\":1}\n{\"x\":2}\n{\"x\":3}\n",
        )?;
        write(&dir.path().join("a.csv"), "x\n1\n2\n")?;
        let mut h = start(config(dir.path()), BTreeMap::new());
        assert_eq!(h.batch().await?, ("a.csv".into(), 2));
        assert_eq!(h.batch().await?, ("b.ndjson".into(), 3));
        write(&dir.path().join("c.jsonl"), "{\"x\":4}\n")?;
        assert_eq!(h.batch().await?, ("c.jsonl".into(), 1));
        h.assert_quiet().await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn dotfiles_tmp_files_and_folders_are_ignored() -> TestResult {
        let dir = tempfile::tempdir()?;
        write(&dir.path().join(".hidden.csv"), "x\n1\n")?;
        write(&dir.path().join("partial.csv.tmp"), "x\n1\n")?;
        write(&dir.path().join("notes.txt"), "x\n1\n")?;
        std::fs::create_dir(dir.path().join("sub.csv"))?;
        write(&dir.path().join("sub.csv/inner.csv"), "x\n1\n")?;
        let mut h = start(config(dir.path()), BTreeMap::new());
        h.assert_quiet().await?;
        // A temp file renamed into place is picked up.
        std::fs::rename(
            dir.path().join("partial.csv.tmp"),
            dir.path().join("partial.csv"),
        )?;
        assert_eq!(h.batch().await?, ("partial.csv".into(), 1));
        h.assert_quiet().await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_growing_file_is_read_only_once_it_settles() -> TestResult {
        use std::io::Write;
        let dir = tempfile::tempdir()?;
        let mut cfg = config(dir.path());
        cfg.settle = Duration::from_millis(600);
        let path = dir.path().join("growing.csv");
        let mut file = std::fs::File::create(&path)?;
        file.write_all(b"x\n")?;
        let mut h = start(cfg, BTreeMap::new());
        for i in 0..6 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            writeln!(file, "{i}")?;
            assert!(h.rx.try_recv().is_err(), "read before the file settled");
        }
        drop(file);
        assert_eq!(h.batch().await?, ("growing.csv".into(), 6));
        h.assert_quiet().await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn processed_files_are_skipped_unless_rewritten() -> TestResult {
        let dir = tempfile::tempdir()?;
        write(&dir.path().join("a.csv"), "x\n1\n")?;
        write(&dir.path().join("b.csv"), "x\n1\n2\n")?;
        write(&dir.path().join("c.csv"), "x\n1\n2\n3\n")?;
        let stamp =
            |name: &str| std::fs::metadata(dir.path().join(name)).map(|m| FileStamp::of(&m));
        let mut processed = BTreeMap::new();
        processed.insert("a.csv".to_string(), stamp("a.csv")?);
        // c.csv was processed when it was shorter: it has been rewritten since.
        let mut old = stamp("c.csv")?;
        old.len -= 2;
        processed.insert("c.csv".to_string(), old);
        let mut h = start(config(dir.path()), processed);
        assert_eq!(h.batch().await?, ("b.csv".into(), 2));
        assert_eq!(h.batch().await?, ("c.csv".into(), 3));
        h.assert_quiet().await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn the_source_pauses_until_the_daemon_has_taken_each_file() -> TestResult {
        let dir = tempfile::tempdir()?;
        for name in ["a.csv", "b.csv", "c.csv"] {
            write(&dir.path().join(name), "x\n1\n")?;
        }
        let mut h = start(config(dir.path()), BTreeMap::new());
        // The first file arrives; while the daemon has not taken it (no ack), the
        // source reads nothing more, however many files wait.
        let Some(SourceEvent::Delivery(first)) = timeout(WITHIN, h.rx.recv()).await? else {
            panic!("expected the first file");
        };
        assert!(
            matches!(&first.checkpoint, Some(CheckpointUpdate::FileDone { name, .. }) if name == "a.csv"),
            "{:?}",
            first.checkpoint
        );
        assert!(
            timeout(QUIET, h.rx.recv()).await.is_err(),
            "a second file was read before the first was taken"
        );
        first
            .ack
            .ok_or("batches carry an ack")?
            .send(())
            .map_err(|()| "the ack receiver is gone")?;
        // Taken: the next one follows, then the last.
        assert_eq!(h.batch().await?, ("b.csv".into(), 1));
        assert_eq!(h.batch().await?, ("c.csv".into(), 1));
        h.assert_quiet().await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn files_that_left_the_directory_are_forgotten() -> TestResult {
        let dir = tempfile::tempdir()?;
        let incoming = dir.path().join("incoming");
        std::fs::create_dir(&incoming)?;
        let gone = FileStamp {
            len: 3,
            modified_ns: 1,
        };
        // Processed before a restart, deleted since.
        let processed = BTreeMap::from([("deleted.csv".to_string(), gone)]);
        let mut cfg = config(&incoming);
        cfg.done_dir = Some(dir.path().join("done"));
        let mut h = start(cfg, processed);
        write(&incoming.join("a.csv"), "x\n1\n")?;
        let forgotten = |seen: Option<Seen>| match seen {
            Some(Seen::Batch {
                checkpoint: Some(CheckpointUpdate::FileDone { name, forget, .. }),
                ..
            }) => (name, forget),
            other => panic!("expected a file batch, got {other:?}"),
        };
        assert_eq!(
            forgotten(h.next(WITHIN).await?),
            ("a.csv".into(), vec!["deleted.csv".to_string()])
        );
        // a.csv is moved to done/ after its batch: the next file forgets it.
        let mut moved = false;
        for _ in 0..100 {
            moved = !incoming.join("a.csv").exists();
            if moved {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(moved, "a.csv was not moved aside");
        write(&incoming.join("b.csv"), "x\n1\n")?;
        assert_eq!(
            forgotten(h.next(WITHIN).await?),
            ("b.csv".into(), vec!["a.csv".to_string()])
        );
        h.assert_quiet().await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_truncated_parquet_file_is_reported_unreadable_once() -> TestResult {
        let dir = tempfile::tempdir()?;
        write(&dir.path().join("x.parquet"), "PAR1garbage")?;
        let mut h = start(config(dir.path()), BTreeMap::new());
        match h.next(WITHIN).await? {
            Some(Seen::Error {
                reason,
                message,
                checkpoint: Some(CheckpointUpdate::FileDone { name, .. }),
            }) => {
                assert_eq!(reason, "unreadable");
                assert_eq!(name, "x.parquet");
                assert!(message.contains("x.parquet"), "{message}");
            }
            other => panic!("expected an unreadable error, got {other:?}"),
        }
        write(&dir.path().join("y.csv"), "x\n1\n")?;
        assert_eq!(h.batch().await?, ("y.csv".into(), 1));
        h.assert_quiet().await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn done_files_are_moved_aside() -> TestResult {
        let dir = tempfile::tempdir()?;
        let incoming = dir.path().join("incoming");
        std::fs::create_dir(&incoming)?;
        let done = dir.path().join("done");
        write(&incoming.join("a.csv"), "x\n1\n2\n")?;
        let mut cfg = config(&incoming);
        cfg.done_dir = Some(done.clone());
        let mut h = start(cfg, BTreeMap::new());
        assert_eq!(h.batch().await?, ("a.csv".into(), 2));
        let moved = timeout(WITHIN, async {
            while !done.join("a.csv").exists() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(moved.is_ok(), "a.csv was not moved to the done folder");
        assert!(!incoming.join("a.csv").exists());
        h.assert_quiet().await?;
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn a_missing_folder_is_waited_for() -> TestResult {
        let dir = tempfile::tempdir()?;
        let incoming = dir.path().join("later");
        let mut h = start(config(&incoming), BTreeMap::new());
        h.assert_quiet().await?;
        std::fs::create_dir(&incoming)?;
        write(&incoming.join("a.csv"), "x\n1\n")?;
        assert_eq!(h.batch().await?, ("a.csv".into(), 1));
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn file_events_wake_the_source_between_polls() -> TestResult {
        let dir = tempfile::tempdir()?;
        let mut cfg = config(dir.path());
        cfg.poll_interval = Duration::from_secs(30);
        let mut h = start(cfg, BTreeMap::new());
        tokio::time::sleep(Duration::from_millis(200)).await;
        write(&dir.path().join("a.csv"), "x\n1\n")?;
        assert_eq!(h.batch().await?, ("a.csv".into(), 1));
        h.stop().await?;
        Ok(())
    }

    #[tokio::test]
    async fn run_returns_when_the_daemon_is_gone() -> TestResult {
        let dir = tempfile::tempdir()?;
        write(&dir.path().join("a.csv"), "x\n1\n")?;
        let h = start(config(dir.path()), BTreeMap::new());
        drop(h.rx);
        timeout(WITHIN, h.task)
            .await
            .map_err(|e| format!("run returns: {e}"))??;
        Ok(())
    }
}
