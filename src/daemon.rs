//! `drift-exporter serve`: wires sources -> window -> evaluator -> metrics.
//!
//! One task (the loop in [`run`]) owns the window, the reference profile and the
//! state file; sources and the HTTP server talk to it through a channel, so no
//! lock guards the window. Batches are applied as they come; evaluations are
//! coalesced to at most one per `window.evaluation_delay` (always within a second
//! of the last batch). SIGTERM/SIGINT stop the sources and the server, apply what
//! is in flight, and save the state file and the window; SIGHUP reloads the config
//! (a bad new config is logged and the old one kept).
//!
//! Durability: every batch is appended to the [`journal`](crate::journal) before it
//! is counted (and before an HTTP request is answered); every 10 s, and at
//! shutdown, the window is saved with the sources' checkpoints in its metadata and
//! the journal emptied. Start-up restores that snapshot and replays the journal,
//! so even after `SIGKILL` the window and the checkpoints are those of the moment
//! the process died.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, SourceConfig};
use crate::data::{Batch, ColumnPlan, Rejects};
use crate::drift;
use crate::journal::{Journal, JournalError};
use crate::metrics::Metrics;
use crate::reference::{ReferenceError, ReferenceProfile};
use crate::server::{self, AppState};
use crate::sources::{self, SourceContext, SourceEvent};
use crate::state::{CheckpointUpdate, State, StateError};
use crate::window::{columns_of, unix_seconds, Window};

/// A journal larger than this is folded into a snapshot at once (between the
/// `state.snapshot_interval` ticks).
const JOURNAL_LIMIT: u64 = 64 << 20;
/// The window file's metadata key that holds the state (checkpoints) as JSON.
const STATE_METADATA: &str = "drift_exporter.state";
/// How long shutdown waits for sources and requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Errors that stop the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The reference could not be profiled.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The config has no reference path.
    #[error("{0}: [reference] path is required")]
    NoReference(PathBuf),
    /// The listen address is taken or invalid.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The state file is unreadable.
    #[error(transparent)]
    State(#[from] StateError),
    /// The journal is unreadable.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// Metric registration failed (a bug).
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// A signal handler could not be installed.
    #[error("signal handling: {0}")]
    Signal(std::io::Error),
}

/// What `serve` needs from the command line.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The config file.
    pub config_path: PathBuf,
    /// `--web.listen-address`.
    pub listen_address: Option<String>,
    /// `--web.telemetry-path`.
    pub telemetry_path: Option<String>,
}

/// Loads the config and applies the command-line overrides.
pub fn load_config(options: &ServeOptions) -> Result<Config, DaemonError> {
    let mut config = Config::load(&options.config_path)?;
    if let Some(listen) = &options.listen_address {
        config.server.listen = listen.clone();
    }
    if let Some(path) = &options.telemetry_path {
        config.server.telemetry_path = path.clone();
    }
    config.validate(&options.config_path)?;
    Ok(config)
}

/// Loads the reference profile the config names.
pub fn load_profile(config: &Config, config_path: &Path) -> Result<ReferenceProfile, DaemonError> {
    let path = config
        .reference
        .path
        .as_ref()
        .ok_or_else(|| DaemonError::NoReference(config_path.to_path_buf()))?;
    Ok(ReferenceProfile::load(
        path,
        &config.columns,
        &config.drift,
    )?)
}

/// The window snapshot file that goes with a state file.
pub fn window_path(state_path: &Path) -> PathBuf {
    state_path.with_extension("window.arrow")
}

/// The journal file that goes with a state file.
pub fn journal_path(state_path: &Path) -> PathBuf {
    state_path.with_extension("journal")
}

/// Rebuilds the window and the checkpoints of the last run: the window snapshot
/// (with the state in its metadata; the state file when the snapshot has none),
/// then every journal entry written after it. Returns them, the journal open for
/// appending, and how many entries were replayed.
fn restore(
    config: &Config,
    plan: Arc<ColumnPlan>,
    state_path: &Path,
) -> Result<(Window, State, Journal, usize), DaemonError> {
    let mut window = Window::new(config.window.size, config.window.duration, plan.clone());
    let saved_state = match window.restore(&window_path(state_path)) {
        Ok((rows, metadata)) => {
            if rows > 0 {
                tracing::info!(rows, "window restored from the last snapshot");
            }
            metadata
                .and_then(|m| m.get(STATE_METADATA).cloned())
                .and_then(|json| match serde_json::from_str::<State>(&json) {
                    Ok(state) => Some(state),
                    Err(e) => {
                        tracing::warn!(error = %e, "the window snapshot's checkpoints are unreadable; using the state file");
                        None
                    }
                })
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot restore the window; starting empty");
            None
        }
    };
    let mut state = match saved_state {
        Some(state) => state,
        None => State::load(state_path)?,
    };
    let path = journal_path(state_path);
    let replay = Journal::read(&path, state.journal_seq)?;
    if replay.dropped_bytes > 0 {
        tracing::warn!(
            journal = %path.display(),
            bytes = replay.dropped_bytes,
            "the journal ends with an incomplete entry (the process stopped while writing it); its rows are read again from their source"
        );
    }
    let replayed = replay.entries.len();
    for entry in replay.entries {
        for record in &entry.batches {
            let batch = Batch {
                rows: record.num_rows(),
                columns: columns_of(record, &plan),
                rejects: Rejects::default(),
            };
            window.push(&batch, &plan, entry.arrived);
        }
        if let Some(update) = entry.checkpoint {
            state.apply(&entry.source, update);
        }
        state.journal_seq = entry.seq;
    }
    if replayed > 0 {
        tracing::info!(
            entries = replayed,
            window_rows = window.rows(),
            "journal replayed: the window and checkpoints are those of the last run's end"
        );
    }
    let last_seq = replay.last_seq.max(state.journal_seq);
    let journal = Journal::open(&path, replay.valid_len, last_seq)?;
    Ok((window, state, journal, replayed))
}

/// The loop's own state.
struct Core {
    config: Config,
    options: ServeOptions,
    profile: Arc<ReferenceProfile>,
    window: Window,
    state: State,
    state_path: PathBuf,
    journal: Journal,
    /// The last journal append failed (logged once until one succeeds).
    journal_failing: bool,
    metrics: Arc<Metrics>,
    app: Arc<AppState>,
    plan_tx: watch::Sender<Arc<ColumnPlan>>,
    dirty: bool,
    unsaved: bool,
    last_reject_log: std::collections::HashMap<Arc<str>, Instant>,
}

impl Core {
    fn model(&self) -> &str {
        &self.config.model.name
    }

    fn handle(&mut self, event: SourceEvent) {
        match event {
            SourceEvent::Batch(batch) => {
                let started = Instant::now();
                let now = SystemTime::now();
                let mut rows = 0u64;
                let mut rejects = Rejects::default();
                for b in &batch.batches {
                    self.window.push(b, &batch.plan, now);
                    rows += b.rows as u64;
                    rejects.merge(&b.rejects);
                }
                self.journal(
                    &batch.source,
                    now,
                    &batch.plan,
                    &batch.batches,
                    batch.checkpoint.as_ref(),
                );
                let seconds = batch.parse_seconds + started.elapsed().as_secs_f64();
                self.metrics.record_batch(
                    &self.config.model.name,
                    &batch.source,
                    rows,
                    &rejects,
                    seconds,
                    unix_seconds(now),
                );
                if rejects.total_rows() > 0 {
                    self.log_rejects(&batch.source, &rejects);
                }
                if let Some(update) = batch.checkpoint {
                    self.state.apply(&batch.source, update);
                }
                tracing::debug!(source = %batch.source, rows, window_rows = self.window.rows(), "batch added");
                self.dirty = true;
                self.unsaved = true;
                if let Some(ack) = batch.ack {
                    let _ = ack.send(());
                }
            }
            SourceEvent::Error {
                source,
                reason,
                message,
                checkpoint,
                ack,
            } => {
                tracing::warn!(source = %source, reason, "{message}");
                self.metrics.record_source_error(&source, reason);
                if let Some(update) = checkpoint {
                    let plan = self.window.plan().clone();
                    self.journal(&source, SystemTime::now(), &plan, &[], Some(&update));
                    self.state.apply(&source, update);
                    self.unsaved = true;
                }
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
            }
        }
    }

    /// Logs rejections at most once per source every 10 s (they are always counted).
    fn log_rejects(&mut self, source: &Arc<str>, rejects: &Rejects) {
        let now = Instant::now();
        let due = self
            .last_reject_log
            .get(source)
            .is_none_or(|last| now.duration_since(*last) >= Duration::from_secs(10));
        if due {
            self.last_reject_log.insert(source.clone(), now);
            tracing::warn!(
                source = %source,
                rejected_rows = rejects.total_rows(),
                first_errors = ?rejects.errors,
                "rows with rejected values (counted in drift_rejected_rows_total; further messages for this source suppressed for 10 s)"
            );
        }
    }

    /// Appends a delivered batch to the journal (before it is counted or answered).
    fn journal(
        &mut self,
        source: &str,
        arrived: SystemTime,
        plan: &ColumnPlan,
        batches: &[Batch],
        checkpoint: Option<&CheckpointUpdate>,
    ) {
        match self
            .journal
            .append(source, arrived, plan, batches, checkpoint)
        {
            Ok(seq) => {
                self.state.journal_seq = seq;
                self.journal_failing = false;
            }
            Err(e) => {
                if !self.journal_failing {
                    tracing::error!(error = %e, "cannot append to the journal; until the next snapshot a crash loses the newest rows");
                }
                self.journal_failing = true;
            }
        }
        if self.journal.len() > JOURNAL_LIMIT {
            self.save_snapshot();
        }
    }

    /// Saves the window with the checkpoints in its metadata (one atomic file),
    /// then empties the journal, then writes the state file (a readable copy, and
    /// the fallback when the window file is gone).
    fn save_snapshot(&mut self) {
        let mut metadata = HashMap::new();
        match serde_json::to_string(&self.state) {
            Ok(json) => {
                metadata.insert(STATE_METADATA.to_string(), json);
            }
            Err(e) => tracing::error!(error = %e, "cannot encode the checkpoints"),
        }
        let path = window_path(&self.state_path);
        match self.window.save(&path, metadata) {
            Ok(()) => {
                self.unsaved = false;
                if let Err(e) = self.journal.reset() {
                    tracing::error!(error = %e, "cannot empty the journal; it keeps growing until the next snapshot");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot save the window; the journal keeps the rows until the next snapshot")
            }
        }
        if let Err(e) = self.state.save(&self.state_path) {
            tracing::error!(error = %e, "cannot save the state file");
        }
    }

    fn evaluate(&mut self) {
        let started = Instant::now();
        let samples = self.window.samples(&self.profile);
        let report = drift::evaluate(&self.profile, &samples, self.window.rows() as u64);
        let scored = self.window.rows() >= self.config.window.min_rows;
        self.metrics.publish_report(
            self.model(),
            &report,
            scored,
            unix_seconds(SystemTime::now()),
        );
        self.metrics
            .record_evaluation(started.elapsed().as_secs_f64());
        if let Ok(mut slot) = self.app.report.write() {
            *slot = Some(Arc::new(report));
        }
        self.dirty = false;
    }

    fn publish_setup(&self) {
        self.metrics.publish_setup(
            &self.config.model.name,
            self.config.model.version.as_deref(),
            &self.profile,
            &self.config.drift.thresholds,
            self.config.window.size,
        );
    }

    async fn reload(&mut self) {
        tracing::info!(config = %self.options.config_path.display(), "SIGHUP: reloading the config");
        let new = match load_config(&self.options) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "config reload failed; keeping the running config");
                return;
            }
        };
        if new.sources != self.config.sources
            || new.server != self.config.server
            || new.state != self.config.state
        {
            tracing::warn!(
                "changes to [server], [state] and [[sources]] take effect after a restart"
            );
        }
        let profile_changed = new.reference != self.config.reference
            || new.columns != self.config.columns
            || new.drift != self.config.drift;
        if profile_changed {
            let (config, path) = (new.clone(), self.options.config_path.clone());
            match tokio::task::spawn_blocking(move || load_profile(&config, &path)).await {
                Ok(Ok(profile)) => {
                    let plan = Arc::new(profile.plan.clone());
                    self.window.replan(plan.clone());
                    let _ = self.plan_tx.send(plan);
                    self.profile = Arc::new(profile);
                }
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "reload: the new reference cannot be used; keeping the running config");
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "reload: profiling failed; keeping the running config");
                    return;
                }
            }
        }
        self.window.set_limits(new.window.size, new.window.duration);
        let (sources, server, state) = (
            self.config.sources.clone(),
            self.config.server.clone(),
            self.config.state.clone(),
        );
        self.config = new;
        self.config.sources = sources;
        self.config.server = server;
        self.config.state = state;
        self.publish_setup();
        self.dirty = true;
        tracing::info!("config reloaded");
    }
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(options: ServeOptions) -> Result<(), DaemonError> {
    use tokio::signal::unix::{signal, SignalKind};
    let config = load_config(&options)?;
    let metrics = Arc::new(Metrics::new()?);
    let listener = TcpListener::bind(&config.server.listen)
        .await
        .map_err(|source| DaemonError::Bind {
            address: config.server.listen.clone(),
            source,
        })?;
    let local = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let mut sigterm = signal(SignalKind::terminate()).map_err(DaemonError::Signal)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?;
    let mut sighup = signal(SignalKind::hangup()).map_err(DaemonError::Signal)?;

    let (plan_tx, plan_rx) = watch::channel(Arc::new(ColumnPlan::default()));
    let (events_tx, mut events_rx) = mpsc::channel::<SourceEvent>(64);
    let server_token = CancellationToken::new();
    let sources_token = CancellationToken::new();
    let context = |label: String| SourceContext {
        label: Arc::from(label),
        plan: plan_rx.clone(),
        events: events_tx.clone(),
        shutdown: sources_token.clone(),
    };
    let http = config
        .sources
        .iter()
        .find(|s| matches!(s, SourceConfig::Http(_)))
        .map(|s| context(s.label()));
    let app = Arc::new(AppState {
        metrics: metrics.clone(),
        report: RwLock::new(None),
        ready: false.into(),
        plan: plan_rx.clone(),
        ingest: http,
        telemetry_path: config.server.telemetry_path.clone(),
        max_body_bytes: config.server.max_body_bytes,
    });
    let mut tasks = JoinSet::new();
    tasks.spawn(server::serve(listener, app.clone(), server_token.clone()));
    tracing::info!(address = %local, telemetry_path = %config.server.telemetry_path, "listening");

    // The server answers /healthz while the reference loads.
    let started = Instant::now();
    let (profile_config, config_path) = (config.clone(), options.config_path.clone());
    let profile = match tokio::task::spawn_blocking(move || {
        load_profile(&profile_config, &config_path)
    })
    .await
    {
        Ok(result) => result?,
        Err(e) => {
            return Err(DaemonError::Reference(ReferenceError::Unusable {
                path: options.config_path.clone(),
                message: format!("profiling failed: {e}"),
            }))
        }
    };
    tracing::info!(
        reference = %profile.path.display(),
        rows = profile.rows,
        columns = profile.columns.len(),
        seconds = started.elapsed().as_secs_f64(),
        "reference profile built"
    );
    let plan = Arc::new(profile.plan.clone());
    let _ = plan_tx.send(plan.clone());
    let state_path = config
        .state
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from("drift-exporter.state.json"));
    let (window, state, journal, replayed) = restore(&config, plan, &state_path)?;
    let mut core = Core {
        config,
        options,
        profile: Arc::new(profile),
        window,
        state,
        state_path,
        journal,
        journal_failing: false,
        metrics,
        app: app.clone(),
        plan_tx,
        dirty: true,
        unsaved: false,
        last_reject_log: Default::default(),
    };
    if replayed > 0 {
        // Fold the replayed entries into a snapshot now, so the journal starts empty.
        core.save_snapshot();
    }
    core.publish_setup();
    core.evaluate();
    app.ready.store(true, Ordering::Release);

    let mut source_tasks = JoinSet::new();
    for source in &core.config.sources {
        let ctx = context(source.label());
        core.metrics.register_source(&ctx.label);
        match source.clone() {
            SourceConfig::Directory(c) => {
                let processed = core.state.processed_files(&ctx.label);
                source_tasks.spawn(sources::directory::run(c, ctx, processed));
            }
            SourceConfig::Tail(c) => {
                let start = core.state.tail_position(&ctx.label);
                source_tasks.spawn(sources::tail::run(c, ctx, start));
            }
            SourceConfig::Http(_) => {}
        }
    }
    drop(events_tx);

    let delay = core
        .config
        .window
        .evaluation_delay
        .min(Duration::from_secs(1));
    let mut tick = tokio::time::interval(delay.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut snapshot = tokio::time::interval(
        core.config
            .state
            .snapshot_interval
            .max(Duration::from_millis(10)),
    );
    snapshot.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            Some(event) = events_rx.recv() => core.handle(event),
            _ = tick.tick() => {
                if core.window.evict_expired(SystemTime::now()) {
                    core.dirty = true;
                }
                if core.dirty {
                    core.evaluate();
                }
            }
            _ = snapshot.tick() => {
                if core.unsaved {
                    core.save_snapshot();
                }
            }
            _ = sighup.recv() => core.reload().await,
            _ = sigterm.recv() => { tracing::info!("SIGTERM: shutting down"); break; }
            _ = sigint.recv() => { tracing::info!("SIGINT: shutting down"); break; }
        }
    }

    // Stop inputs, but keep applying what they deliver until they have finished.
    sources_token.cancel();
    server_token.cancel();
    let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(deadline);
    while !(source_tasks.is_empty() && tasks.is_empty()) {
        tokio::select! {
            Some(event) = events_rx.recv() => core.handle(event),
            _ = source_tasks.join_next(), if !source_tasks.is_empty() => {}
            _ = tasks.join_next(), if !tasks.is_empty() => {}
            _ = &mut deadline => {
                tracing::warn!("sources still busy after the shutdown grace period; stopping anyway");
                break;
            }
        }
    }
    while let Ok(event) = events_rx.try_recv() {
        core.handle(event);
    }
    core.save_snapshot();
    tracing::info!(window_rows = core.window.rows(), state = %core.state_path.display(), "state saved; bye");
    Ok(())
}
