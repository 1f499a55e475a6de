//! The watch role, wired: feed (or replay file) → matcher → recorder (store) → one delivery
//! actor per channel, all under the [`Supervisor`].
//!
//! Threads: the matcher, the CPU-heavy part, and the recorder, which waits on fsync, have an
//! arbiter (thread) each; the feed, the delivery actors and the supervision loops share the
//! system arbiter.
//!
//! Shutdown (SIGTERM from ECS, SIGINT from a terminal, or the end of a replay file): the feed
//! stops reading and hands over its last batch; a `Drain` through the matcher's mailbox returns
//! once every batch before it is matched; a `Commit` to the recorder once its findings are
//! stored; a `Drain` to each delivery actor once its queue is empty. All of it within
//! `supervisor.shutdown_deadline`: what is not delivered by then stays stored and is delivered
//! after the next start. Then the final `metrics` event is logged and the process exits 0.

use crate::exit::Exit;
use crate::reload;

use crate::channels::{drain_fn, ChannelDeps, Channels, DrainFn};
use crate::logging::log_metrics;
use crate::supervision::Supervisor;
use actix::prelude::*;
use certhound_actors::enrich::lookups::Lookups;
use certhound_actors::enrich::resolver::Resolver;
use certhound_actors::enrich::stage::{EnrichStage, STAGE as ENRICH_STAGE};
use certhound_actors::metrics::Metrics;
use certhound_actors::notify::jsonl::JsonlNotifier;
use certhound_actors::notify::sns::SnsNotifier;
use certhound_actors::notify::telegram::{TelegramLimits, TelegramNotifier};
use certhound_actors::notify::webhook::WebhookNotifier;
use certhound_actors::rules::{self, RuleSet, SharedRules};
use certhound_actors::scan::client::Client as ScanClient;
use certhound_actors::scan::stage::{ScanLimits, ScanStage, Urlscan, STAGE as SCAN_STAGE};
use certhound_actors::store::{unix_now, Store};
use certhound_actors::tuning::Retune;
use certhound_actors::watch::dedupe::Dedupe;
use certhound_actors::watch::feed::FeedActor;
use certhound_actors::watch::matcher::{self, Matcher};
use certhound_actors::watch::recorder::{Commit, Recorder};
use certhound_actors::watch::replay;
use certhound_actors::watch::stage::{Drain, Route};
use certhound_config::{Config, SharedSecret};
use reload::Reloader;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Where certificates come from.
pub enum Source {
    Feed,
    /// Both roles in one process (`certhound run`): the server role tails CT logs and serves
    /// its feed; the watch role reads that feed over loopback.
    Run,
    /// A file; `enrich` asks for registration lookups, which a replay of old certificates
    /// usually does not want ("registered recently" is judged against now).
    Replay {
        path: PathBuf,
        enrich: bool,
    },
}

/// Runs the watch pipeline until shutdown; returns the process exit code. The rules are
/// reloaded from the config file the command line names (see [`reload`]).
pub fn run(cfg: Config, config_file: Option<PathBuf>, source: Source) -> Exit {
    let rules = match RuleSet::new(&cfg.matcher) {
        Ok(r) => rules::shared(r),
        Err(e) => {
            eprintln!("certhound: {e}");
            return Exit::Config;
        }
    };
    // Before anything can change `cfg` (secrets, the feed URL in run mode).
    let reloader = Reloader::new(config_file, &cfg);
    let input = match &source {
        Source::Replay { path, .. } => match replay::open(path) {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot open replay file");
                return Exit::Failure;
            }
        },
        Source::Feed | Source::Run => None,
    };
    // Refuse to start with a channel that cannot be opened, rather than restart on it forever.
    if let Some(j) = &cfg.notify.jsonl {
        if let Err(e) = JsonlNotifier::open(&j.path) {
            tracing::error!(path = %j.path, error = %e, "cannot open notify.jsonl.path");
            return Exit::Failure;
        }
    }
    if let Some(w) = &cfg.notify.webhook {
        if let Err(e) = WebhookNotifier::new(w) {
            tracing::error!(error = %e, "cannot set up notify.webhook");
            return Exit::Failure;
        }
    }
    let mut cfg = cfg;
    let sdk = match crate::secrets::prepare_notify(&mut cfg) {
        Ok(sdk) => sdk,
        Err(code) => return code,
    };
    let store = match Store::open(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("certhound: {e}");
            return Exit::Store;
        }
    };
    match store.summary() {
        Ok(s) => tracing::info!(
            path = %Store::describe(&cfg.store),
            findings = s.findings,
            pending = s.pending,
            cursor = s.cursor.unwrap_or(0),
            "store opened"
        ),
        Err(e) => {
            eprintln!(
                "certhound: cannot open store {}: {e}",
                Store::describe(&cfg.store)
            );
            return Exit::Store;
        }
    }
    let system = actix_rt::System::new();
    let (code, threads) = system.block_on(pipeline(
        cfg,
        source,
        input,
        rules,
        reloader,
        store.clone(),
        sdk,
    ));
    super::close(system, threads, store);
    code
}

async fn pipeline(
    cfg: Config,
    source: Source,
    input: Option<Box<dyn std::io::BufRead + Send>>,
    rules: SharedRules,
    reloader: Reloader,
    store: Store,
    sdk: Option<aws_config::SdkConfig>,
) -> (Exit, Vec<actix_rt::Arbiter>) {
    let enrich = cfg.enrich.enabled
        && match &source {
            Source::Feed | Source::Run => true,
            Source::Replay { enrich, .. } => *enrich,
        };
    let scan_on = cfg.urlscan.enabled() && !matches!(&source, Source::Replay { enrich: false, .. });
    let metrics = Arc::new(Metrics::default());
    let stopping = CancellationToken::new();
    let (supervisor, mut fatal) =
        Supervisor::new(cfg.supervisor.clone(), metrics.clone(), stopping.clone());
    let here = actix_rt::Arbiter::current();

    // The server role first, so that its feed is there when the watch role connects.
    let mut cfg = cfg;
    // Everything whose limits a reload retunes; each is made once here, outside the actors'
    // factories, so a restarted actor keeps the limits in force and the cells already spent.
    let mut tuned: Vec<Arc<dyn Retune>> = Vec::new();
    let server = if matches!(source, Source::Run) {
        match crate::server::start(&cfg, &supervisor, store.clone(), metrics.clone()).await {
            Ok(r) => {
                cfg.watch.feed_url = format!("ws://127.0.0.1:{}/", r.local_addr.port());
                tuned.push(Arc::new(r.rates.clone()));
                Some(r)
            }
            Err(code) => return (code, Vec::new()),
        }
    } else {
        None
    };
    // The analyst page's token, which a secrets refresh can replace while running.
    let admin_token = cfg.admin.token.clone().map(SharedSecret::new);
    let page = match crate::admin::Page::new(&cfg, store.clone(), admin_token.clone()) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the analyst page");
            return (Exit::Failure, Vec::new());
        }
    };
    let _admin = match crate::admin::start_for_role(
        &cfg.admin,
        metrics.clone(),
        store.clone(),
        !matches!(source, Source::Replay { .. }),
        matches!(source, Source::Run),
        page,
    )
    .await
    {
        Ok(guard) => guard,
        Err(code) => return (code, Vec::new()),
    };

    // Secrets that a refresh can replace while running (see `refresh_secrets`).
    let tg_token = cfg
        .notify
        .telegram
        .as_ref()
        .and_then(|t| t.token.clone())
        .map(SharedSecret::new);
    let us_key = cfg.urlscan.api_key.clone().map(SharedSecret::new);
    if let Some(sdk) = sdk.clone() {
        if !cfg.secrets.refs().is_empty() {
            actix_rt::spawn(crate::secrets::refresh_secrets(
                cfg.secrets.clone(),
                sdk,
                tg_token.clone(),
                us_key.clone(),
                admin_token.clone(),
            ));
        }
    }

    // Delivery first, then the recorder that wakes it, then the matcher that feeds the recorder.
    let mut delivery = Channels::default();
    let deps = ChannelDeps {
        supervisor: &supervisor,
        arbiter: &here,
        store: store.clone(),
        delivery: cfg.delivery.clone(),
        metrics: metrics.clone(),
    };
    if let Some(j) = cfg.notify.jsonl.clone() {
        delivery.add(&deps, move || {
            JsonlNotifier::open(&j.path).map_err(|e| format!("{}: {e}", j.path))
        });
    }
    if let Some(h) = cfg.notify.webhook.clone() {
        delivery.add(&deps, move || WebhookNotifier::new(&h));
    }
    if let Some(t) = cfg.notify.telegram.clone() {
        let token = tg_token.clone();
        let limits = TelegramLimits::new(&t);
        tuned.push(limits.clone());
        delivery.add(&deps, move || {
            let token = token.clone().ok_or("notify.telegram.token is not set")?;
            TelegramNotifier::with_token(&t, token, limits.clone(), enrich, scan_on)
        });
    }
    if let (Some(sns), Some(sdk)) = (cfg.notify.sns.clone(), sdk.clone()) {
        delivery.add(&deps, move || {
            Ok(SnsNotifier::new(&sdk, &sns.topic_arn, enrich, scan_on))
        });
    }
    tracing::info!(channels = ?delivery.names, keywords = rules.load().len(), "channels ready");

    // Stages between the store and the channels, built from the last to the first: each wakes
    // the next (or the channels) when a finding moves on. Their drains run in pipeline order.
    let mut route = Route::to_channels(delivery.names.clone(), delivery.wakes.clone());
    let mut stage_drains: Vec<DrainFn> = Vec::new();
    let scan = scan_on;
    if scan {
        let key = us_key
            .clone()
            .ok_or_else(|| "urlscan.api_key is not set".to_string());
        let client = match key.and_then(|k| ScanClient::with_key(&cfg.urlscan, k)) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!(error = %e, "cannot set up [urlscan]");
                return (Exit::Failure, Vec::new());
            }
        };
        let wake = Arc::new(Notify::new());
        let limits = ScanLimits::new(&cfg.urlscan);
        tuned.push(limits.clone());
        let (store, u, m, w, r) = (
            store.clone(),
            cfg.urlscan.clone(),
            metrics.clone(),
            wake.clone(),
            route.clone(),
        );
        let urlscan = Urlscan { client, limits };
        let sup = supervisor.supervise("scan", &here, 16, move || {
            Ok(ScanStage::new(
                urlscan.clone(),
                store.clone(),
                u.clone(),
                r.clone(),
                w.clone(),
                m.clone(),
            ))
        });
        stage_drains.push(drain_fn(sup.slot, || Drain));
        route = route.via(SCAN_STAGE, wake);
    }
    if enrich {
        let resolver = match Resolver::new(cfg.enrich.clone()) {
            Ok(r) => Arc::new(r),
            Err(e) => {
                tracing::error!(error = %e, "cannot set up [enrich]");
                return (Exit::Failure, Vec::new());
            }
        };
        tuned.push(resolver.clone());
        let lookups = Arc::new(Lookups::new(
            resolver.clone(),
            cfg.enrich.cache.clone(),
            Some(store.clone()),
        ));
        // The RDAP bootstrap: IANA's, fetched now and then; the shipped copy until it arrives.
        let refresh = cfg.enrich.rdap.bootstrap_refresh;
        actix_rt::spawn(async move {
            loop {
                match resolver.refresh_bootstrap().await {
                    Ok(0) => return,
                    Ok(n) => tracing::info!(tlds = n, "RDAP bootstrap loaded"),
                    Err(e) => tracing::warn!(error = %e, "keeping the RDAP bootstrap in use"),
                }
                tokio::time::sleep(refresh).await;
            }
        });
        let wake = Arc::new(Notify::new());
        let (store, e, m, w, r) = (
            store.clone(),
            cfg.enrich.clone(),
            metrics.clone(),
            wake.clone(),
            route.clone(),
        );
        let sup = supervisor.supervise("enrich", &here, 16, move || {
            Ok(EnrichStage::new(
                lookups.clone(),
                store.clone(),
                e.clone(),
                r.clone(),
                w.clone(),
                m.clone(),
            ))
        });
        stage_drains.insert(0, drain_fn(sup.slot, || Drain));
        route = route.via(ENRICH_STAGE, wake);
    }

    let recorder_thread = actix_rt::Arbiter::new();
    let recorder = {
        let (store, m, sc) = (store.clone(), metrics.clone(), cfg.store.clone());
        supervisor.supervise(
            "recorder",
            &recorder_thread.handle(),
            cfg.pipeline.recorder_queue,
            move || Ok(Recorder::new(store.clone(), route.clone(), &sc, m.clone())),
        )
    };

    // Where the feed resumes: the position stored with the last findings.
    let position = Arc::new(AtomicU64::new(store.cursor().ok().flatten().unwrap_or(0)));
    let matcher_thread = actix_rt::Arbiter::new();
    let matcher = {
        let m = metrics.clone();
        let dedupe_cfg = cfg.dedupe.clone();
        let (store, recorder_slot, position, rules) = (
            store.clone(),
            recorder.slot.clone(),
            position.clone(),
            rules.clone(),
        );
        supervisor.supervise(
            "matcher",
            &matcher_thread.handle(),
            cfg.pipeline.matcher_queue,
            move || {
                // The dedupe set is rebuilt from the store at each start, so a restarted matcher (or
                // process) does not report again what was reported within the window.
                let now = unix_now();
                let since = now.saturating_sub(dedupe_cfg.window.as_secs());
                let _ = store.compact_dedupe(since, dedupe_cfg.capacity);
                let mut dedupe = Dedupe::new(dedupe_cfg.window, dedupe_cfg.capacity);
                store
                    .for_each_dedupe_since(since, |domain, at| dedupe.remember(domain, at))
                    .map_err(|e| e.to_string())?;
                Ok(Matcher::new(
                    rules.clone(),
                    dedupe,
                    recorder_slot.clone(),
                    m.clone(),
                    position.clone(),
                ))
            },
        )
    };

    // Reloads (SIGHUP, a changed config or allowlist file) until shutdown: the matcher,
    // restarted or not, loads the rules from `rules` for every certificate; the limits of
    // `tuned` change in place.
    actix_rt::spawn(reloader.run(Some(rules), tuned, metrics.clone(), stopping.clone()));

    let started = Instant::now();
    let feed_stop = CancellationToken::new();
    let mut ingest_done: std::pin::Pin<Box<dyn std::future::Future<Output = Option<u64>>>> =
        match (source, input) {
            (Source::Replay { .. }, Some(input)) => Box::pin(async {
                replay::replay(
                    input,
                    cfg.pipeline.batch_size,
                    cfg.watch.max_frame_bytes,
                    matcher.slot.clone(),
                    metrics.clone(),
                )
                .await
                .map_err(|e| tracing::error!(error = %e, "replay failed"))
                .ok()
            }),
            _ => {
                let (w, p, s, m, stop) = (
                    cfg.watch.clone(),
                    cfg.pipeline.clone(),
                    matcher.slot.clone(),
                    metrics.clone(),
                    feed_stop.clone(),
                );
                let connections = Arc::new(AtomicU64::new(0));
                let position = position.clone();
                let feed = supervisor.supervise("feed", &here, 16, move || {
                    Ok(FeedActor::new(
                        w.clone(),
                        p.clone(),
                        s.clone(),
                        m.clone(),
                        stop.clone(),
                        connections.clone(),
                        position.clone(),
                    ))
                });
                Box::pin(async move {
                    let _ = feed.done.await;
                    None
                })
            }
        };

    let mut replayed = None;
    let mut ingest_finished = false;
    // A replay that read its whole file ends the role; a feed that ends does not (it is
    // restarted), nor does a replay that failed.
    let ingest = async {
        replayed = (&mut ingest_done).await;
        ingest_finished = true;
        if replayed.is_none() {
            std::future::pending::<()>().await;
        }
    };
    let code = until_stopped(cfg.log.metrics_interval, &mut fatal, &metrics, ingest)
        .await
        .unwrap_or_else(|| {
            tracing::info!("shutdown requested");
            Exit::Ok
        });

    // From here on an actor that stops is not restarted: tell the supervisor first, then stop
    // ingest and drain downstream in order, all within the deadline.
    let deadline = cfg.supervisor.shutdown_deadline;
    stopping.cancel();
    let mut threads = vec![matcher_thread, recorder_thread];
    if let Some(server) = server {
        // Run mode: the server publishes what it has fetched, then the watch role reads the
        // feed up to its last message before it stops, so that nothing published is left
        // unread (bounded by a part of the deadline).
        let (thread, last) = server.stop(false).await;
        threads.push(thread);
        let _ = tokio::time::timeout(deadline / 4, async {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(20));
            while position.load(std::sync::atomic::Ordering::Relaxed) < last {
                tick.tick().await;
            }
        })
        .await;
    }
    feed_stop.cancel();
    let drained = tokio::time::timeout(deadline, async {
        if !ingest_finished {
            let _ = (&mut ingest_done).await;
        }
        let mut slot = matcher.slot.clone();
        if let Some(addr) = slot.next_live().await {
            let _ = addr.send(matcher::Drain).await;
        }
        let mut slot = recorder.slot.clone();
        if let Some(addr) = slot.next_live().await {
            let _ = addr.send(Commit).await;
        }
        for drain in stage_drains.iter_mut() {
            drain().await;
        }
        delivery.drain().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            deadline_s = deadline.as_secs_f64(),
            "shutdown deadline passed before the pipeline drained"
        );
    }
    let snap = metrics.snapshot();
    if let Some(lines) = replayed {
        let secs = started.elapsed().as_secs_f64();
        tracing::info!(
            lines,
            messages = snap.messages,
            findings = snap.findings,
            elapsed_s = secs,
            msgs_per_s = (snap.frames as f64 / secs.max(1e-9)).round(),
            "replay finished"
        );
    }
    log_metrics(&snap, true);
    System::current().stop_with_code(code.code());
    (code, threads)
}

/// The main wait of a role: until an actor reports a fatal error (its exit code), `done` ends
/// (0) or shutdown is asked (`None`: the caller logs it, so that the event keeps the role's
/// target), logging the metrics every `metrics_interval`.
pub async fn until_stopped(
    metrics_interval: std::time::Duration,
    fatal: &mut tokio::sync::mpsc::Receiver<Exit>,
    metrics: &Metrics,
    done: impl std::future::Future<Output = ()>,
) -> Option<Exit> {
    let mut tick = tokio::time::interval(metrics_interval);
    tick.tick().await;
    tokio::pin!(done);
    loop {
        tokio::select! {
            _ = &mut done => return Some(Exit::Ok),
            _ = shutdown_signal() => return None,
            Some(c) = fatal.recv() => return Some(c),
            _ = tick.tick() => log_metrics(&metrics.snapshot(), false),
        }
    }
}

pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
