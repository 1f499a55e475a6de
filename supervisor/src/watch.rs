//! The watch role, wired: feed (or replay file) → matcher → one notifier actor per channel, all
//! under the [`Supervisor`].
//!
//! Threads: the matcher, the CPU-heavy part, has an arbiter (thread) of its own; the feed, the
//! notifiers and the supervision loops share the system arbiter.
//!
//! Shutdown (SIGTERM from ECS, SIGINT from a terminal, or the end of a replay file): the feed
//! stops reading and hands over its last batch; a `Drain` through the matcher's mailbox returns
//! once every batch before it is matched; a `Flush` to each notifier returns once every finding
//! before it is delivered. All of it within `supervisor.shutdown_deadline`; then the final
//! `metrics` event is logged and the process exits 0.

use crate::logging::log_metrics;
use crate::supervision::Supervisor;
use actix::prelude::*;
use certhound_actors::dedupe::Dedupe;
use certhound_actors::feed::FeedActor;
use certhound_actors::matcher::{Drain, Matcher};
use certhound_actors::metrics::Metrics;
use certhound_actors::notify::jsonl::JsonlNotifier;
use certhound_actors::notify::{FindingSink, NotifierActor, NotifierSink};
use certhound_actors::replay;
use certhound_actors::rules::RuleSet;
use certhound_config::Config;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Where certificates come from.
pub enum Source {
    Feed,
    Replay(PathBuf),
}

/// Runs the watch pipeline until shutdown; returns the process exit code.
pub fn run(cfg: Config, source: Source) -> i32 {
    let rules = match RuleSet::new(&cfg.matcher) {
        Ok(r) => Arc::new(r),
        Err(e) => {
            eprintln!("certhound: config key `matcher.keywords`: {e}");
            return crate::EXIT_CONFIG;
        }
    };
    let input = match &source {
        Source::Replay(path) => match replay::open(path) {
            Ok(i) => Some(i),
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot open replay file");
                return 1;
            }
        },
        Source::Feed => None,
    };
    // Refuse to start with a sink that cannot be opened, rather than restart on it forever.
    if let Some(j) = &cfg.notify.jsonl {
        if let Err(e) = JsonlNotifier::open(&j.path) {
            tracing::error!(path = %j.path, error = %e, "cannot open notify.jsonl.path");
            return 1;
        }
    }
    let system = actix_rt::System::new();
    let code = system.block_on(pipeline(cfg, source, input, rules));
    drop(system);
    code
}

async fn pipeline(
    cfg: Config,
    source: Source,
    input: Option<Box<dyn std::io::BufRead + Send>>,
    rules: Arc<RuleSet>,
) -> i32 {
    let metrics = Arc::new(Metrics::default());
    let stopping = CancellationToken::new();
    let (supervisor, mut fatal) =
        Supervisor::new(cfg.supervisor.clone(), metrics.clone(), stopping.clone());
    let here = actix_rt::Arbiter::current();

    // Notifiers first: the matcher needs their slots.
    let mut sinks: Vec<Box<dyn FindingSink>> = Vec::new();
    if let Some(j) = cfg.notify.jsonl.clone() {
        let m = metrics.clone();
        let sup = supervisor.supervise(
            "notify-jsonl",
            &here,
            cfg.pipeline.notify_queue,
            move || {
                let n = JsonlNotifier::open(&j.path).map_err(|e| format!("{}: {e}", j.path))?;
                Ok(NotifierActor::new(n, m.clone()))
            },
        );
        sinks.push(Box::new(NotifierSink::new("jsonl", sup.slot)));
    }
    tracing::info!(channels = ?cfg.notify.channels(), keywords = rules.len(), "notifiers ready");

    let matcher_thread = actix_rt::Arbiter::new();
    let matcher = {
        let m = metrics.clone();
        let dedupe_cfg = cfg.dedupe.clone();
        let sinks: Vec<Box<dyn FindingSink>> = sinks.iter().map(|s| s.boxed_clone()).collect();
        supervisor.supervise(
            "matcher",
            &matcher_thread.handle(),
            cfg.pipeline.matcher_queue,
            move || {
                Ok(Matcher::new(
                    rules.clone(),
                    Dedupe::new(dedupe_cfg.window, dedupe_cfg.capacity),
                    sinks.iter().map(|s| s.boxed_clone()).collect(),
                    m.clone(),
                ))
            },
        )
    };

    let started = Instant::now();
    let feed_stop = CancellationToken::new();
    let mut ingest_done: std::pin::Pin<Box<dyn std::future::Future<Output = Option<u64>>>> =
        match (source, input) {
            (Source::Replay(_), Some(input)) => Box::pin(async {
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
                let feed = supervisor.supervise("feed", &here, 16, move || {
                    Ok(FeedActor::new(
                        w.clone(),
                        p.clone(),
                        s.clone(),
                        m.clone(),
                        stop.clone(),
                        connections.clone(),
                    ))
                });
                Box::pin(async move {
                    let _ = feed.done.await;
                    None
                })
            }
        };

    let mut metrics_tick = tokio::time::interval(cfg.log.metrics_interval);
    metrics_tick.tick().await;
    let mut code = 0;
    let mut replayed = None;
    let mut ingest_finished = false;
    loop {
        tokio::select! {
            n = &mut ingest_done, if !ingest_finished => {
                ingest_finished = true;
                replayed = n;
                if replayed.is_some() { break; }
            }
            _ = shutdown_signal() => {
                tracing::info!("shutdown requested");
                break;
            }
            Some(c) = fatal.recv() => {
                code = c;
                break;
            }
            _ = metrics_tick.tick() => log_metrics(&metrics.snapshot(), false),
        }
    }

    // From here on an actor that stops is not restarted: tell the supervisor first, then stop
    // ingest and drain downstream in order, all within the deadline.
    let deadline = cfg.supervisor.shutdown_deadline;
    stopping.cancel();
    feed_stop.cancel();
    let drained = tokio::time::timeout(deadline, async {
        if !ingest_finished {
            let _ = (&mut ingest_done).await;
        }
        let mut slot = matcher.slot.clone();
        if let Some(addr) = slot.next_live().await {
            let _ = addr.send(Drain).await;
        }
        for s in sinks.iter_mut() {
            s.flush().await;
        }
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
    matcher_thread.stop();
    System::current().stop_with_code(code);
    code
}

async fn shutdown_signal() {
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
