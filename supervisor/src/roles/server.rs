//! The server role, wired: log list → one tailer per CT log → the decoder → the hub → the
//! websocket listener, under the [`Supervisor`].
//!
//! Threads: the decoder (CPU-heavy) has an arbiter of its own; the tailers, the hub's clients
//! and the listener share the arbiter they are started on.
//!
//! State: the per-log positions and the seq reservation are written to the store every
//! `ct.position_interval` and at shutdown, so a restart continues where the last one stopped:
//! after SIGTERM with no entry skipped or repeated; after a crash, entries published since the
//! last write are published again (under new seqs; the watch role's dedupe absorbs them).
//!
//! Shutdown: the tailers stop fetching, a `Drain` through the decoder's mailbox returns once
//! every batch sent before it is published, the positions are written, and then the listener
//! closes its clients.

use crate::exit::Exit;
use crate::logging::log_metrics;
use crate::supervision::Supervisor;
use certhound_actors::ct::decoder::{Decoder, Drain, Positions};
use certhound_actors::ct::fetch::{CtRates, LogHttp};
use certhound_actors::ct::loglist::{self, LogInfo};
use certhound_actors::ct::rfc6962::{Rfc6962Tailer, Tail};
use certhound_actors::ct::static_ct::{Issuers, StaticCtTailer};
use certhound_actors::metrics::Metrics;
use certhound_actors::server::hub::Hub;
use certhound_actors::server::listener;
use certhound_actors::slot::Slot;
use certhound_actors::store::Store;
use certhound_config::{Config, LogKind};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Seqs reserved ahead of use (see [`Store::save_server_state`]): far more than a
/// `position_interval` can use, so a crash never lets a seq be handed out twice.
const SEQ_RESERVE: u64 = 1_000_000;

/// A started server role.
pub struct Running {
    hub: Hub,
    store: Store,
    positions: Positions,
    decoder: Slot<Decoder>,
    /// Stops the tailers (each log's token is a child).
    tailers_stop: CancellationToken,
    /// Stops the listener and its clients.
    listener_stop: CancellationToken,
    writer_stop: CancellationToken,
    pub decoder_thread: actix_rt::Arbiter,
    /// The address the feed listens on (the port is known even when `:0` was asked for).
    pub local_addr: std::net::SocketAddr,
    /// Every log's request rate, for the reloader.
    pub rates: CtRates,
}

/// Binds the listener and starts every actor of the role. `Err` is an exit code, after an
/// error line.
pub async fn start(
    cfg: &Config,
    supervisor: &Supervisor,
    store: Store,
    metrics: Arc<Metrics>,
) -> Result<Running, Exit> {
    let socket = match tokio::net::TcpListener::bind(&cfg.server.listen).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "certhound: cannot listen on server.listen {}: {e}",
                cfg.server.listen
            );
            return Err(Exit::Failure);
        }
    };
    let local_addr = socket.local_addr().map_err(|_| Exit::Failure)?;
    let (stored, reserved) = match store.server_state() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("certhound: cannot read the server state from the store: {e}");
            return Err(Exit::Store);
        }
    };
    // Numbering continues above anything handed out before, even after a crash.
    let first_seq = reserved + 1;
    if let Err(e) = store.save_server_state(&[], first_seq + SEQ_RESERVE, false) {
        eprintln!("certhound: cannot write the server state to the store: {e}");
        return Err(Exit::Store);
    }
    let positions = Positions::from_stored(stored);
    let hub = Hub::new(&cfg.server, first_seq, metrics.clone());
    tracing::info!(listen = %local_addr, first_seq, "certstream feed listening");

    let listener_stop = CancellationToken::new();
    {
        let (hub, scfg, stop) = (hub.clone(), cfg.server.clone(), listener_stop.clone());
        tokio::spawn(async move { listener::serve(socket, hub, scfg, stop).await });
    }

    let decoder_thread = actix_rt::Arbiter::new();
    let decoder = {
        let (hub, positions, m, cache) = (
            hub.clone(),
            positions.clone(),
            metrics.clone(),
            cfg.ct.issuer_cache,
        );
        supervisor
            .supervise(
                "ct-decoder",
                &decoder_thread.handle(),
                cfg.ct.decode_queue,
                move || {
                    Ok(Decoder::new(
                        hub.clone(),
                        positions.clone(),
                        cache,
                        m.clone(),
                    ))
                },
            )
            .slot
    };

    let client = match LogHttp::client(&cfg.ct) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("certhound: {e}");
            return Err(Exit::Failure);
        }
    };
    let tailers_stop = CancellationToken::new();
    let rates = CtRates::default();
    let tailers = Tailers {
        cfg: cfg.clone(),
        supervisor: supervisor.clone(),
        client: client.clone(),
        rates: rates.clone(),
        decoder: decoder.clone(),
        positions: positions.clone(),
        metrics: metrics.clone(),
        stop: tailers_stop.clone(),
        issuers: Issuers::new(cfg.ct.issuer_cache),
        running: HashMap::new(),
    };
    actix_rt::spawn(follow_log_list(tailers, client));

    let writer_stop = CancellationToken::new();
    {
        let (store, positions, hub, every, stop) = (
            store.clone(),
            positions.clone(),
            hub.clone(),
            cfg.ct.position_interval,
            writer_stop.clone(),
        );
        actix_rt::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                save(&store, &positions, &hub, false);
            }
        });
    }
    Ok(Running {
        hub,
        store,
        positions,
        decoder,
        tailers_stop,
        listener_stop,
        writer_stop,
        decoder_thread,
        local_addr,
        rates,
    })
}

/// Writes the positions; `clean` at the end of a clean shutdown (nothing more is published, so
/// the numbering can continue right after the last seq).
fn save(store: &Store, positions: &Positions, hub: &Hub, clean: bool) {
    let reserved = if clean {
        hub.last_seq()
    } else {
        hub.last_seq() + SEQ_RESERVE
    };
    let snapshot = positions.snapshot();
    match store.save_server_state(&snapshot, reserved, clean) {
        Ok(()) => tracing::debug!(
            logs = snapshot.len(),
            entries = snapshot.iter().map(|(_, next)| next).sum::<u64>(),
            "CT positions written"
        ),
        Err(e) => tracing::error!(error = %e, "cannot write CT positions to the store"),
    }
}

impl Running {
    /// Stops fetching, publishes what was fetched, writes the positions, closes the clients.
    /// Returns the decoder's thread (to join) and the last seq published. `close_clients`:
    /// also close the websocket clients (the server role alone; in run mode the local watch
    /// role still reads the last messages, and the listener ends with the process).
    pub async fn stop(self, close_clients: bool) -> (actix_rt::Arbiter, u64) {
        self.tailers_stop.cancel();
        let mut slot = self.decoder.clone();
        if let Some(addr) = slot.next_live().await {
            let _ = addr.send(Drain).await;
        }
        self.writer_stop.cancel();
        save(&self.store, &self.positions, &self.hub, true);
        tracing::info!(last_seq = self.hub.last_seq(), "CT positions saved");
        if close_clients {
            self.listener_stop.cancel();
        }
        (self.decoder_thread, self.hub.last_seq())
    }
}

/// The tailers running now, by log URL, and what starting one takes.
struct Tailers {
    cfg: Config,
    supervisor: Supervisor,
    client: reqwest::Client,
    rates: CtRates,
    decoder: Slot<Decoder>,
    positions: Positions,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    issuers: Issuers,
    running: HashMap<String, CancellationToken>,
}

impl Tailers {
    /// Starts the logs of `wanted` that are not running, retires those no longer wanted.
    fn apply(&mut self, wanted: Vec<LogInfo>) {
        let urls: std::collections::HashSet<String> =
            wanted.iter().map(|l| l.url.clone()).collect();
        self.running.retain(|url, stop| {
            let keep = urls.contains(url);
            if !keep {
                tracing::info!(log = %url, "log no longer listed: stopped");
                stop.cancel();
            }
            keep
        });
        let here = actix_rt::Arbiter::current();
        for log in wanted {
            if self.running.contains_key(&log.url) {
                continue;
            }
            let stop = self.stop.child_token();
            self.running.insert(log.url.clone(), stop.clone());
            tracing::debug!(log = %log.url, kind = ?log.kind, "tailing");
            let tail = Tail {
                log: log.clone(),
                cfg: self.cfg.ct.clone(),
                client: self.client.clone(),
                rates: self.rates.clone(),
                decoder: self.decoder.clone(),
                positions: self.positions.clone(),
                metrics: self.metrics.clone(),
                stop,
            };
            match log.kind {
                LogKind::Rfc6962 => {
                    self.supervisor.supervise("ct-tailer", &here, 4, move || {
                        Ok(Rfc6962Tailer::new(tail.clone()))
                    });
                }
                LogKind::StaticCt => {
                    let issuers = self.issuers.clone();
                    self.supervisor.supervise("ct-tailer", &here, 4, move || {
                        Ok(StaticCtTailer::new(tail.clone(), issuers.clone()))
                    });
                }
            }
        }
        Metrics::set(&self.metrics.ct_logs, self.running.len() as u64);
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Starts the shipped list's logs, then fetches the list every `ct.log_list_refresh` and
/// follows its changes. A failed fetch keeps the logs running as they are.
async fn follow_log_list(mut tailers: Tailers, client: reqwest::Client) {
    let cfg = tailers.cfg.ct.clone();
    let shipped = loglist::parse(loglist::SHIPPED.as_bytes()).unwrap_or_default();
    let first = loglist::select(&shipped, &cfg, now());
    tracing::info!(logs = first.len(), "CT logs from the shipped list");
    tailers.apply(first);
    if !cfg.use_log_list || cfg.log_list_url.is_empty() {
        return;
    }
    loop {
        let mut wait = cfg.log_list_refresh.max(Duration::from_secs(60));
        let fetched = async {
            let r = client
                .get(&cfg.log_list_url)
                .send()
                .await
                .map_err(|e| e.without_url().to_string())?;
            if !r.status().is_success() {
                return Err(format!("HTTP {}", r.status().as_u16()));
            }
            let body = r.bytes().await.map_err(|e| e.without_url().to_string())?;
            loglist::parse(&body).map_err(|e| e.to_string())
        };
        match fetched.await {
            Ok(list) => {
                let wanted = loglist::select(&list, &cfg, now());
                tracing::info!(logs = wanted.len(), "CT log list fetched");
                tailers.apply(wanted);
            }
            Err(e) => {
                tracing::warn!(url = %cfg.log_list_url, error = %e, "cannot fetch the CT log list; keeping the logs in use");
                wait = wait.min(Duration::from_secs(300));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tailers.stop.cancelled() => return,
        }
    }
}

/// `certhound server`: the server role alone, until SIGTERM/SIGINT; returns the exit code.
/// The CT rates and the log filter reload from `config_file` (see [`crate::reload`]).
pub fn run(cfg: Config, config_file: Option<std::path::PathBuf>) -> Exit {
    let reloader = crate::reload::Reloader::new(config_file, &cfg);
    let store = match Store::open(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("certhound: {e}");
            return Exit::Store;
        }
    };
    let system = actix_rt::System::new();
    let (code, threads) = system.block_on(async {
        let metrics = Arc::new(Metrics::default());
        let stopping = CancellationToken::new();
        let (supervisor, mut fatal) =
            Supervisor::new(cfg.supervisor.clone(), metrics.clone(), stopping.clone());
        let running = match start(&cfg, &supervisor, store.clone(), metrics.clone()).await {
            Ok(r) => r,
            Err(code) => return (code, Vec::new()),
        };
        let tuned: Vec<Arc<dyn certhound_actors::tuning::Retune>> =
            vec![Arc::new(running.rates.clone())];
        actix_rt::spawn(reloader.run(None, tuned, metrics.clone(), stopping.clone()));
        let _admin = match crate::admin::start_for_role(
            &cfg.admin,
            metrics.clone(),
            store.clone(),
            false,
            true,
            None,
        )
        .await
        {
            Ok(guard) => guard,
            Err(code) => return (code, Vec::new()),
        };
        let code = crate::watch::until_stopped(
            cfg.log.metrics_interval,
            &mut fatal,
            &metrics,
            std::future::pending(),
        )
        .await
        .unwrap_or_else(|| {
            tracing::info!("shutdown requested");
            Exit::Ok
        });
        stopping.cancel();
        let stopped =
            tokio::time::timeout(cfg.supervisor.shutdown_deadline, running.stop(true)).await;
        let threads = match stopped {
            Ok((t, _)) => vec![t],
            Err(_) => {
                tracing::warn!("shutdown deadline passed before the decoder drained");
                Vec::new()
            }
        };
        log_metrics(&metrics.snapshot(), true);
        actix::System::current().stop_with_code(code.code());
        (code, threads)
    });
    super::close(system, threads, store);
    code
}
