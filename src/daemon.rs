//! `drift-exporter serve`: wires sources -> window -> evaluator -> metrics, with
//! the store underneath.
//!
//! [`run`] goes through named steps: load the config, bind the server (it
//! answers `/healthz` while the reference loads), profile the reference, open the
//! [`Store`] (which restores the window), start the sources, then one loop that
//! owns the window. Sources and the HTTP server talk to the loop through one
//! channel, so no lock guards the window.
//!
//! In the loop, a delivery is pushed into the window, appended to the store
//! (before it is counted, and before it is acknowledged), counted, and
//! acknowledged; evaluations are coalesced to at most one per
//! `window.evaluation_delay` (always within a second of the last batch), each
//! starting no sooner than half the last one's duration after it ended (so
//! they take at most two thirds of the time, and ingest the rest), and run
//! on the blocking pool over the window's rows as they were when it started
//! (shared, not copied), so a batch never waits for an evaluation; the store
//! snapshots every `state.snapshot_interval`. SIGHUP reloads the config (a
//! bad new config is logged and the old one kept; the reference is profiled again
//! only when the reference, the columns or the profile settings changed).
//! SIGTERM/SIGINT stop the sources and the server, apply what is in flight, and
//! take a last snapshot.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::net::TcpListener;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::concept;
use crate::config::ScoringSettings;
use crate::config::{CliOverrides, Config, ConfigError};
use crate::data::{Batch, ColumnPlan};
use crate::drift::{self, DriftReport};
use crate::evaluator;
use crate::labels::{self, JoinCounts, LabelJoin};
use crate::metrics::Metrics;
use crate::quality;
use crate::reference::{ReferenceError, ReferenceProfile};
use crate::sample;
use crate::server::{self, AppState};
use crate::sources::{self, Delivery, Level, SourceContext, SourceEvent, SourceLog, Started};
use crate::store::{Restored, Store, StoreError, StorePaths};
use crate::tally::{LentTally, TallyJob};
use crate::window::{unix_seconds, Window};

/// How long shutdown waits for sources and requests in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Events buffered between the sources and the loop.
const EVENT_QUEUE: usize = 64;

/// How often freed memory is handed back after batches came in.
const TRIM_EVERY: Duration = Duration::from_secs(5);

/// Errors that stop the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The reference could not be profiled.
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    /// The listen address is taken or invalid.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The state files are unreadable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The web config (`--web.config.file`) cannot be used.
    #[error(transparent)]
    WebConfig(#[from] crate::web_config::WebConfigError),
    /// A start-up task failed (a bug).
    #[error("{0}")]
    Task(String),
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
    /// `--web.*` flags.
    pub cli: CliOverrides,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub async fn run(options: ServeOptions) -> Result<(), DaemonError> {
    let config = Config::load(&options.config_path, &options.cli)?;
    let mut signals = Signals::install()?;
    let metrics = Arc::new(Metrics::new()?);
    let links = Links::new();
    let (app, mut server_tasks) = start_server(&config, metrics.clone(), &links).await?;
    let profile = Arc::new(load_reference(config.clone(), options.config_path.clone()).await?);
    let plan = Arc::new(profile.plan.clone());
    let _ = links.plan_tx.send(plan.clone());
    let restored = open_store(&config, &profile, plan).await?;
    let mut core = Core {
        config,
        options,
        profile,
        window: restored.window,
        join: restored.join,
        store: restored.store,
        metrics,
        app: app.clone(),
        plan_tx: links.plan_tx.clone(),
        log: links.log.clone(),
        needs_evaluation: true,
        evaluation: None,
        pace: Pace::default(),
        generation: 0,
        churn: 0,
    };
    if restored.replayed > 0 {
        // Fold the replayed entries into a snapshot now, so the journal starts empty.
        core.store.snapshot(&core.window, &core.join).await;
    }
    core.publish_setup();
    core.record_join(&JoinCounts::default());
    // The restored window is scored before the daemon says it is ready.
    // From the rows, not the tally: building the tally (its places' index
    // and every value placed) costs more than one gather and sort, and the
    // next evaluation builds it off the loop once the daemon is ready.
    let first = core.evaluation_inputs(false);
    match tokio::task::spawn_blocking(move || evaluator::install(move || first.run())).await {
        Ok(evaluated) => {
            tracing::info!(
                window_rows = evaluated.rows,
                seconds = evaluated.seconds,
                "first evaluation"
            );
            core.publish(evaluated)
        }
        Err(e) => {
            return Err(DaemonError::Task(format!(
                "the first evaluation failed: {e}"
            )))
        }
    }
    // Sources first: once /readyz says ready, POST /ingest is served.
    let mut source_tasks = start_sources(&core, &links, &app);
    app.ready.store(true, Ordering::Release);
    tracing::info!("ready");
    let Links {
        events_tx,
        mut events_rx,
        sources_token,
        server_token,
        ..
    } = links;
    // Only the sources hold senders now: the channel closes when they are gone.
    drop(events_tx);
    core.serve(&mut events_rx, &mut signals).await;
    sources_token.cancel();
    server_token.cancel();
    core.drain(&mut events_rx, &mut source_tasks, &mut server_tasks)
        .await;
    Ok(())
}

/// The signals the daemon reacts to.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> Result<Signals, DaemonError> {
        let install = |kind| signal(kind).map_err(DaemonError::Signal);
        Ok(Signals {
            term: install(SignalKind::terminate())?,
            int: install(SignalKind::interrupt())?,
            hup: install(SignalKind::hangup())?,
        })
    }
}

/// The channels and tokens that connect the sources, the server and the loop.
struct Links {
    plan_tx: watch::Sender<Arc<ColumnPlan>>,
    plan_rx: watch::Receiver<Arc<ColumnPlan>>,
    events_tx: mpsc::Sender<SourceEvent>,
    events_rx: mpsc::Receiver<SourceEvent>,
    sources_token: CancellationToken,
    server_token: CancellationToken,
    log: SourceLog,
}

impl Links {
    fn new() -> Links {
        let (plan_tx, plan_rx) = watch::channel(Arc::new(ColumnPlan::default()));
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        Links {
            plan_tx,
            plan_rx,
            events_tx,
            events_rx,
            sources_token: CancellationToken::new(),
            server_token: CancellationToken::new(),
            log: SourceLog::default(),
        }
    }

    /// The context of the source labelled `label`.
    fn context(&self, label: String) -> SourceContext {
        SourceContext {
            label: Arc::from(label),
            plan: self.plan_rx.clone(),
            events: self.events_tx.clone(),
            shutdown: self.sources_token.clone(),
            log: self.log.clone(),
        }
    }
}

/// Binds the listen address and starts serving (`/readyz` says 503 until the
/// loop starts).
async fn start_server(
    config: &Config,
    metrics: Arc<Metrics>,
    links: &Links,
) -> Result<(Arc<AppState>, JoinSet<()>), DaemonError> {
    let web = match &config.server.web_config_file {
        Some(path) => crate::web_config::WebConfigFile::open(path)?,
        None => crate::web_config::WebConfigFile::none(),
    };
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
    let app = Arc::new(AppState {
        metrics,
        report: RwLock::new(None),
        ready: false.into(),
        ingest: OnceLock::new(),
        telemetry_path: config.server.telemetry_path.clone(),
        max_body_bytes: config.server.max_body_bytes,
        ingest_limits: server::IngestLimits::new(
            config.server.max_concurrent_ingests,
            config.server.max_ingest_bytes,
            config.server.body_timeout,
        ),
        web,
    });
    let mut tasks = JoinSet::new();
    let ingest_listener = match &config.server.ingest_listen {
        Some(address) => {
            Some(
                TcpListener::bind(address)
                    .await
                    .map_err(|source| DaemonError::Bind {
                        address: address.clone(),
                        source,
                    })?,
            )
        }
        None => None,
    };
    let main_endpoints = if ingest_listener.is_some() {
        server::Endpoints::AllButIngest
    } else {
        server::Endpoints::All
    };
    tasks.spawn(server::serve(
        listener,
        app.clone(),
        main_endpoints,
        links.server_token.clone(),
    ));
    tracing::info!(address = %local, telemetry_path = %config.server.telemetry_path, "listening");
    if let Some(ingest) = ingest_listener {
        let address = ingest
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tasks.spawn(server::serve(
            ingest,
            app.clone(),
            server::Endpoints::IngestOnly,
            links.server_token.clone(),
        ));
        tracing::info!(address = %address, "listening for POST /ingest");
    }
    Ok((app, tasks))
}

/// Profiles the reference the config names, on the blocking pool.
async fn load_reference(
    config: Config,
    config_path: PathBuf,
) -> Result<ReferenceProfile, DaemonError> {
    let started = Instant::now();
    let path = config_path.clone();
    let profile = tokio::task::spawn_blocking(move || ReferenceProfile::for_config(&config, &path))
        .await
        .map_err(|e| {
            DaemonError::Reference(ReferenceError::Unusable {
                path: config_path,
                message: format!("profiling failed: {e}"),
            })
        })??;
    tracing::info!(
        reference = %profile.path.display(),
        rows = profile.rows,
        columns = profile.columns.len(),
        seconds = started.elapsed().as_secs_f64(),
        "reference profile built"
    );
    Ok(profile)
}

/// Opens the store (restoring the window and the label join, and replaying the
/// journal), on the blocking pool. The window keeps a tally for `profile` from
/// its first row.
async fn open_store(
    config: &Config,
    profile: &Arc<ReferenceProfile>,
    plan: Arc<ColumnPlan>,
) -> Result<Restored, DaemonError> {
    let mut window = Window::new(config.window.size, config.window.duration, plan.clone());
    window.track_with(
        profile.clone(),
        config.drift.scoring.outlier_iqr_k,
        config.drift.scoring.wasserstein,
    );
    let join = new_join(config, profile, plan);
    let paths = StorePaths::new(&config.state.file());
    tokio::task::spawn_blocking(move || Store::open(paths, window, join))
        .await
        .map_err(|e| DaemonError::Task(format!("opening the state files failed: {e}")))?
        .map_err(DaemonError::from)
}

/// The late-label join `config` asks for (off without `[labels]` or without a
/// quality spec in the profile).
fn new_join(config: &Config, profile: &ReferenceProfile, plan: Arc<ColumnPlan>) -> LabelJoin {
    let prediction = profile.quality.as_ref().map(|q| q.prediction_name.as_str());
    LabelJoin::new(
        config.labels.as_ref(),
        config.columns.label.as_deref(),
        prediction,
        plan,
        config.window.size,
        config.window.duration,
    )
}

/// Starts every configured source from the store's checkpoints.
fn start_sources(core: &Core, links: &Links, app: &AppState) -> JoinSet<()> {
    let mut tasks = JoinSet::new();
    let mut started = Started {
        tasks: &mut tasks,
        ingest: &app.ingest,
    };
    for source in &core.config.sources {
        let ctx = links.context(source.label());
        core.metrics.register_source(&ctx.label);
        sources::spawn(source, ctx, core.store.checkpoints(), &mut started);
    }
    tasks
}

/// The loop's own state.
struct Core {
    config: Config,
    options: ServeOptions,
    profile: Arc<ReferenceProfile>,
    window: Window,
    /// Predictions waiting for late labels, and the rows joined to theirs.
    join: LabelJoin,
    store: Store,
    metrics: Arc<Metrics>,
    app: Arc<AppState>,
    plan_tx: watch::Sender<Arc<ColumnPlan>>,
    log: SourceLog,
    /// The window changed since the last evaluation started.
    needs_evaluation: bool,
    /// The evaluation running on the blocking pool, if any.
    evaluation: Option<tokio::task::JoinHandle<Evaluated>>,
    /// When the next evaluation may start.
    pace: Pace,
    /// Counts reloads: an evaluation started before one is not published.
    generation: u64,
    /// Work that allocates and frees much so far: deliveries applied,
    /// evaluations published, snapshots taken. The memory trim runs when it
    /// moved since the last one (a snapshot or an evaluation that ends after
    /// the burst's trim would otherwise leave its freed buffers resident).
    churn: u64,
}

/// Paces evaluations: none starts before half the last one's duration has
/// passed since it ended, so evaluations take at most two thirds of the time
/// and ingest keeps the rest. It only holds one back when evaluations take
/// longer than `window.evaluation_delay` (a 1,000,000-row window under full
/// ingest: 390-440 k rows/s against 310-350 k without it, BENCHMARKS.md).
#[derive(Debug, Default, Clone, Copy)]
struct Pace {
    rest_until: Option<Instant>,
}

impl Pace {
    /// An evaluation that took `seconds` ended at `now`.
    fn finished(&mut self, seconds: f64, now: Instant) {
        let rest = Duration::try_from_secs_f64(seconds / 2.0).unwrap_or_default();
        self.rest_until = now.checked_add(rest);
    }

    /// True when an evaluation may start at `now`.
    fn may_start(&self, now: Instant) -> bool {
        self.rest_until.is_none_or(|t| now >= t)
    }
}

/// What an evaluation scores, taken from the loop's state when it starts: the
/// window's tally with what it has not seen yet ([`crate::tally`]), and (for
/// model quality, or when there is no tally) the window's rows and the joined
/// rows as batches whose arrays are shared with the window (taking them copies
/// no value).
struct EvaluationInputs {
    profile: Arc<ReferenceProfile>,
    scoring: ScoringSettings,
    tally: Option<TallyJob>,
    rows: u64,
    window: Vec<Batch>,
    joined: Vec<Batch>,
    generation: u64,
}

/// A finished evaluation.
struct Evaluated {
    /// The window's tally, back from its job.
    tally: Option<LentTally>,
    report: DriftReport,
    rows: usize,
    seconds: f64,
    generation: u64,
}

impl EvaluationInputs {
    /// Scores the rows (off the loop: it may take a while on a large window).
    fn run(self) -> Evaluated {
        let started = Instant::now();
        let rows = self.rows;
        let (tally, samples) = match self.tally {
            Some(job) => {
                let (lent, samples) = job.run();
                (Some(lent), samples)
            }
            None => (
                None,
                sample::samples_from_batches(&self.profile, &self.window).0,
            ),
        };
        let mut report = drift::evaluate(&self.profile, &samples, rows, &self.scoring);
        // The whole window's multivariate signals beside the segments' scores.
        let (multivariate, segments) = rayon::join(
            || crate::multivariate::report_for(&self.profile, &self.window),
            || {
                self.profile.segments.as_ref().map(|segments| {
                    crate::segments::evaluate(
                        segments,
                        &self.profile.plan,
                        &self.window,
                        &self.scoring,
                    )
                })
            },
        );
        report.multivariate = multivariate;
        report.segments = segments.unwrap_or_default();
        if let Some(spec) = &self.profile.quality {
            // Rows labelled in the row, then rows joined to a late label.
            let parts: Vec<Batch> = self.window.into_iter().chain(self.joined).collect();
            report.quality = Some(quality::evaluate(spec, &parts));
            if let Some(reference) = &self.profile.concept {
                report.concept = Some(concept::evaluate(spec, reference, &parts));
            }
        }
        Evaluated {
            tally,
            report,
            rows: rows as usize,
            seconds: started.elapsed().as_secs_f64(),
            generation: self.generation,
        }
    }
}

impl Core {
    /// Applies events, evaluates and snapshots until SIGTERM or SIGINT.
    async fn serve(&mut self, events: &mut mpsc::Receiver<SourceEvent>, signals: &mut Signals) {
        let delay = self
            .config
            .window
            .evaluation_delay
            .min(Duration::from_secs(1));
        let mut tick = tokio::time::interval(delay.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let snapshot_every = self.config.state.snapshot_interval;
        let mut snapshot = tokio::time::interval(snapshot_every.max(Duration::from_millis(10)));
        snapshot.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Every few seconds, if work came in since: give freed memory back.
        let mut trim = tokio::time::interval(TRIM_EVERY);
        trim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut churn_at_trim = self.churn;
        loop {
            let evaluation = async {
                match self.evaluation.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(event) = events.recv() => self.handle(event).await,
                done = evaluation => {
                    self.evaluation = None;
                    match done {
                        Ok(evaluated) => {
                            self.pace.finished(evaluated.seconds, Instant::now());
                            self.publish(evaluated)
                        }
                        Err(e) => tracing::error!(error = %e, "an evaluation failed (a bug); the next one runs at the next tick"),
                    }
                }
                _ = tick.tick() => {
                    let now = SystemTime::now();
                    if self.window.evict_expired(now) {
                        self.needs_evaluation = true;
                    }
                    self.expire_labels(now);
                    let rested = self.pace.may_start(Instant::now());
                    if self.needs_evaluation && self.evaluation.is_none() && rested {
                        let inputs = self.evaluation_inputs(true);
                        let run = move || evaluator::install(move || inputs.run());
                        self.evaluation = Some(tokio::task::spawn_blocking(run));
                    }
                }
                _ = snapshot.tick() => {
                    if self.store.has_unsaved() {
                        self.store.snapshot(&self.window, &self.join).await;
                        self.churn += 1;
                    }
                }
                _ = trim.tick() => {
                    if self.churn != churn_at_trim {
                        churn_at_trim = self.churn;
                        tokio::task::spawn_blocking(crate::memory::trim);
                    }
                }
                _ = signals.hup.recv() => self.reload().await,
                _ = signals.term.recv() => { tracing::info!("SIGTERM: shutting down"); return; }
                _ = signals.int.recv() => { tracing::info!("SIGINT: shutting down"); return; }
            }
        }
    }

    /// After the inputs were told to stop: applies what they still deliver until
    /// they have finished (or the grace period ends), then takes a last snapshot.
    async fn drain(
        &mut self,
        events: &mut mpsc::Receiver<SourceEvent>,
        sources: &mut JoinSet<()>,
        server: &mut JoinSet<()>,
    ) {
        let deadline = tokio::time::sleep(SHUTDOWN_GRACE);
        tokio::pin!(deadline);
        while !(sources.is_empty() && server.is_empty()) {
            tokio::select! {
                Some(event) = events.recv() => self.handle(event).await,
                _ = sources.join_next(), if !sources.is_empty() => {}
                _ = server.join_next(), if !server.is_empty() => {}
                _ = &mut deadline => {
                    tracing::warn!("sources still busy after the shutdown grace period; stopping anyway");
                    break;
                }
            }
        }
        while let Ok(event) = events.try_recv() {
            self.handle(event).await;
        }
        self.store.snapshot(&self.window, &self.join).await;
        tracing::info!(window_rows = self.window.rows(), state = %self.store.state_path().display(), "state saved; bye");
    }

    async fn handle(&mut self, event: SourceEvent) {
        match event {
            SourceEvent::Delivery(delivery) => self.apply(delivery).await,
            SourceEvent::Error {
                source,
                reason,
                message,
                checkpoint,
                ack,
            } => {
                self.log.log(Level::Warn, &source, &message, &message);
                self.metrics.record_source_error(&source, reason.as_str());
                if let Some(update) = checkpoint {
                    let plan = self.window.plan().clone();
                    let due =
                        self.store
                            .append(&source, SystemTime::now(), &plan, &[], Some(update));
                    if due {
                        self.store.snapshot(&self.window, &self.join).await;
                    }
                }
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
            }
        }
    }

    /// A delivery: into the window, into the store, counted, acknowledged.
    async fn apply(&mut self, delivery: Delivery) {
        let started = Instant::now();
        let now = SystemTime::now();
        let mut joined = JoinCounts::default();
        for batch in &delivery.batches {
            let absorbed =
                labels::absorb(&mut self.window, &mut self.join, batch, &delivery.plan, now);
            let rows = &absorbed.rows;
            let counts = sample::out_of_range_per_row(&self.profile, &rows.columns, rows.rows);
            self.metrics
                .record_row_out_of_range(&self.config.model.name, &counts);
            self.record_serving(&rows.columns);
            joined.add(&absorbed.counts);
        }
        self.record_join(&joined);
        let snapshot_due = self.store.append(
            &delivery.source,
            now,
            &delivery.plan,
            &delivery.batches,
            delivery.checkpoint,
        );
        if snapshot_due {
            self.store.snapshot(&self.window, &self.join).await;
        }
        self.churn += 1;
        let summary = &delivery.summary;
        let seconds = delivery.parse_seconds + started.elapsed().as_secs_f64();
        self.metrics.record_batch(
            &self.config.model.name,
            &delivery.source,
            summary.rows,
            &summary.rejects,
            seconds,
            unix_seconds(now),
        );
        if summary.rejects.total_rows() > 0 {
            let message = format!(
                "{} rows with rejected values (counted in drift_rejected_rows_total); first errors: {:?}",
                summary.rejects.total_rows(),
                summary.rejects.errors
            );
            self.log
                .log(Level::Warn, &delivery.source, "rejected rows", &message);
        }
        tracing::debug!(source = %delivery.source, rows = summary.rows, window_rows = self.window.rows(), "batch added");
        self.needs_evaluation = true;
        if let Some(ack) = delivery.ack {
            let _ = ack.send(());
        }
    }

    /// Expires predictions that waited too long for their label, and joined
    /// rows older than the window's duration.
    fn expire_labels(&mut self, now: SystemTime) {
        if !self.join.enabled() {
            return;
        }
        let joined_rows = self.join.joined_rows();
        let counts = self.join.expire(now);
        if counts.expired > 0 || self.join.joined_rows() != joined_rows {
            self.needs_evaluation = true;
        }
        self.record_join(&counts);
    }

    /// Counts what the label join did, and its pending predictions.
    fn record_join(&self, counts: &JoinCounts) {
        if self.join.enabled() {
            self.metrics
                .record_labels(&self.config.model.name, counts, self.join.pending());
        }
    }

    /// Latency and error flags of incoming rows, when the config names them.
    fn record_serving(&self, columns: &[Option<crate::data::ColumnArray>]) {
        let c = &self.config.columns;
        if c.latency.is_none() && c.error.is_none() {
            return;
        }
        let plan = self.window.plan();
        let index = |name: &Option<String>| name.as_deref().and_then(|n| plan.index_of(n));
        let signals = sample::serving_signals(
            columns,
            index(&c.latency),
            c.latency_unit.seconds(),
            index(&c.error),
        );
        self.metrics
            .record_serving(&self.config.model.name, &signals.latencies, signals.errors);
    }

    /// What the next evaluation scores (from the window's tally, or from its
    /// rows); the window counts as evaluated from here (rows that arrive
    /// meanwhile ask for another one).
    fn evaluation_inputs(&mut self, from_tally: bool) -> EvaluationInputs {
        self.needs_evaluation = false;
        let scoring = self.config.drift.scoring.clone();
        let tally = if from_tally {
            self.window.lend_tally(&self.profile, scoring.outlier_iqr_k)
        } else {
            None
        };
        // Model quality is scored from the labelled rows themselves, and
        // multivariate drift from the rows' features together.
        let labelled = self.profile.quality.is_some();
        let rows_needed =
            labelled || self.profile.multivariate.is_some() || self.profile.segments.is_some();
        EvaluationInputs {
            profile: self.profile.clone(),
            scoring,
            rows: self.window.rows() as u64,
            window: if rows_needed || tally.is_none() {
                self.window.parts().map(|(_, batch)| batch).collect()
            } else {
                Vec::new()
            },
            joined: if labelled {
                self.join.joined_parts().map(|(_, batch)| batch).collect()
            } else {
                Vec::new()
            },
            tally,
            generation: self.generation,
        }
    }

    /// Publishes a finished evaluation (unless a reload happened since it
    /// started: its profile or columns may be gone).
    fn publish(&mut self, mut evaluated: Evaluated) {
        self.churn += 1;
        if let Some(lent) = evaluated.tally.take() {
            self.window.return_tally(lent);
        }
        if evaluated.generation != self.generation {
            self.needs_evaluation = true;
            return;
        }
        let Evaluated {
            report,
            rows,
            seconds,
            ..
        } = evaluated;
        let scored = rows >= self.config.window.min_rows;
        self.metrics
            .set_min_rows(self.config.window.min_rows as u64);
        let reference_calibration = self
            .profile
            .concept
            .as_ref()
            .and_then(|c| c.calibration.as_ref());
        self.metrics.publish_report(
            &self.config.model.name,
            &report,
            reference_calibration,
            scored,
            unix_seconds(SystemTime::now()),
        );
        self.metrics.record_evaluation(seconds);
        if let Ok(mut slot) = self.app.report.write() {
            *slot = Some(Arc::new(report));
        }
    }

    fn publish_setup(&self) {
        self.metrics.publish_setup(
            &self.config.model.name,
            self.config.model.version.as_deref(),
            &self.profile,
            &self.config.drift.scoring,
            self.config.window.size,
            self.config.metrics.bins,
        );
    }

    async fn reload(&mut self) {
        let path = self.options.config_path.clone();
        tracing::info!(config = %path.display(), "SIGHUP: reloading the config");
        let mut new = match Config::load(&path, &self.options.cli) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "config reload failed; keeping the running config");
                return;
            }
        };
        let old = &self.config;
        if new.sources != old.sources || new.server != old.server || new.state != old.state {
            tracing::warn!(
                "changes to [server], [state] and [[sources]] take effect after a restart"
            );
        }
        let reprofile = new.reference != old.reference
            || new.columns != old.columns
            || new.drift.profile != old.drift.profile
            || new.model.quality_settings() != old.model.quality_settings();
        if reprofile {
            match load_reference(new.clone(), path).await {
                Ok(profile) => {
                    let plan = Arc::new(profile.plan.clone());
                    self.window.replan(plan.clone());
                    self.profile = Arc::new(profile);
                    // The join's columns may have changed: a new join, with the
                    // pending predictions and joined rows it can keep.
                    let mut join = new_join(&new, &self.profile, plan.clone());
                    for (arrived, part) in self.join.pending_parts() {
                        join.restore_pending(&part, self.join.plan(), arrived);
                    }
                    for (arrived, part) in self.join.joined_parts() {
                        join.restore_joined(&part, self.join.plan(), arrived);
                    }
                    self.join = join;
                    let _ = self.plan_tx.send(plan);
                }
                Err(e) => {
                    tracing::error!(error = %e, "reload: the new reference cannot be used; keeping the running config");
                    return;
                }
            }
        }
        let (old, scoring) = (&self.config.drift.scoring, &new.drift.scoring);
        if reprofile
            || scoring.outlier_iqr_k != old.outlier_iqr_k
            || scoring.wasserstein != old.wasserstein
        {
            // The tally belongs to one profile, one outlier k, and keeps
            // sorted values or not.
            self.window.track_with(
                self.profile.clone(),
                scoring.outlier_iqr_k,
                scoring.wasserstein,
            );
        }
        self.window.set_limits(new.window.size, new.window.duration);
        self.join
            .set_limits(new.window.size, new.window.duration, new.labels.as_ref());
        new.sources = std::mem::take(&mut self.config.sources);
        new.server = self.config.server.clone();
        new.state = self.config.state.clone();
        self.config = new;
        self.publish_setup();
        self.generation += 1;
        self.needs_evaluation = true;
        tracing::info!("config reloaded");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_evaluation_waits_half_the_last_ones_duration() {
        let mut pace = Pace::default();
        let t0 = Instant::now();
        assert!(pace.may_start(t0), "the first one starts at once");
        pace.finished(0.4, t0);
        assert!(!pace.may_start(t0 + Duration::from_millis(199)));
        assert!(pace.may_start(t0 + Duration::from_millis(200)));
        // A quick evaluation asks for a short rest; a bad duration none.
        pace.finished(0.01, t0);
        assert!(pace.may_start(t0 + Duration::from_millis(5)));
        pace.finished(f64::NAN, t0);
        assert!(pace.may_start(t0));
    }
}
