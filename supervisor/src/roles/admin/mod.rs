//! The admin listener (`[admin] listen`): `GET /metrics` in the Prometheus text format,
//! `/healthz` and `/readyz` for the ECS container health check or a load balancer, and in the
//! watch role the analyst page (`page.rs`, `[admin.page]`).
//!
//! It runs on the system arbiter beside the supervision loops and never blocks it: a scrape
//! reads atomics and a few small maps, `/readyz` reads the store's cursor (one read
//! transaction), the page reads the store on blocking threads. HTTP in `http.rs`.
//!
//! `/healthz` is 200 while the process runs. `/readyz` is 200 when the process does its job,
//! else 503 with one line per reason: the store cannot be read; a supervised actor is down
//! (crashed and waiting for its restart); the watch role's feed has delivered nothing
//! (heartbeats count) for `admin.ready_staleness`; the server role has had no successful answer
//! from any CT log for as long. Right after the start the clock of the last two starts at the
//! start, so a fresh task has `ready_staleness` to connect.

mod allowlist;
mod auth;
mod filter;
mod http;
pub mod page;
mod screenshots;
mod stats;
mod view;

use crate::exit::Exit;
use certhound_actors::metrics::{self, Metrics};
use certhound_actors::store::Store;
use certhound_config::AdminConfig;
use http::{Request, Response};
pub use page::Page;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, DropGuard};

/// What the admin listener reports on.
#[derive(Clone)]
pub struct AdminState {
    pub metrics: Arc<Metrics>,
    pub store: Store,
    /// The watch role reads a live feed (not a replay file).
    pub feed: bool,
    /// The server role tails CT logs.
    pub ct: bool,
    pub staleness: Duration,
    /// When the process started (ms since the epoch).
    pub started_ms: i64,
    /// The analyst page (watch role, `admin.page.enabled`).
    pub page: Option<Arc<Page>>,
}

impl AdminState {
    /// Why the process is not ready; empty when it is.
    pub fn not_ready(&self) -> Vec<String> {
        let mut why = Vec::new();
        if let Err(e) = self.store.cursor() {
            why.push(format!("store: cannot be read: {e}"));
        }
        let down = self.metrics.actors_down.load(Relaxed);
        if down > 0 {
            why.push(format!("actors: {down} down, waiting to be restarted"));
        }
        let now = metrics::now_ms();
        let limit = self.staleness.as_millis() as i64;
        let stale = |last: i64| {
            let since = if last > 0 { last } else { self.started_ms };
            (now - since > limit).then(|| (now - since) as f64 / 1000.0)
        };
        if self.feed {
            if let Some(s) = stale(self.metrics.labelled.feed_last_frame_ms.load(Relaxed)) {
                why.push(format!(
                    "feed: nothing received for {s:.1} s (admin.ready_staleness {})",
                    humantime::format_duration(self.staleness)
                ));
            }
        }
        if self.ct {
            if let Some(s) = stale(self.metrics.labelled.ct_last_success_ms.load(Relaxed)) {
                why.push(format!(
                    "ct: no CT log answered for {s:.1} s (admin.ready_staleness {})",
                    humantime::format_duration(self.staleness)
                ));
            }
        }
        why
    }

    async fn render_metrics(&self) -> String {
        let mut registry = metrics::registry();
        self.metrics.register(&mut registry);
        registry.register_collector(Box::new(Memory));
        if let Some(page) = &self.page {
            // The figures from the verdicts; a store that cannot be read leaves them out (and
            // `/readyz` says why).
            if let Ok(s) = page.stats().await {
                registry.register_collector(Box::new(stats::StatsCollector(s)));
            }
        }
        metrics::encode_text(&registry)
    }
}

/// The process's memory, as the `metrics` log line has it (`rss_kb`, `peak_rss_kb`).
#[derive(Debug)]
struct Memory;

impl Collector for Memory {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (rss_kb, peak_kb) = crate::logging::rss_kb();
        for (name, help, kb) in [
            (
                "resident_memory",
                "Resident set size of the process now",
                rss_kb,
            ),
            (
                "peak_resident_memory",
                "Largest resident set size of the process so far",
                peak_kb,
            ),
        ] {
            let g = ConstGauge::new((kb * 1024) as i64);
            g.encode(encoder.encode_descriptor(
                name,
                help,
                Some(&Unit::Bytes),
                g.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

/// Starts the admin listener for a role (what it watches: a live `feed`, CT logs `ct`; the
/// watch role's analyst `page`); it stops when the returned guard is dropped. A listener that
/// cannot start stops the role.
pub async fn start_for_role(
    cfg: &AdminConfig,
    metrics: Arc<Metrics>,
    store: Store,
    feed: bool,
    ct: bool,
    page: Option<Page>,
) -> Result<DropGuard, Exit> {
    let stop = CancellationToken::new();
    let state = AdminState {
        metrics,
        store,
        feed,
        ct,
        staleness: cfg.ready_staleness,
        started_ms: metrics::now_ms(),
        page: page.map(Arc::new),
    };
    match start(cfg, state, stop.clone()).await {
        Ok(_) => Ok(stop.drop_guard()),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the admin listener");
            Err(Exit::Failure)
        }
    }
}

/// Binds `[admin] listen` and serves it until `stop`; `None` when the listener is off. A bind
/// failure is an error: a task whose health check cannot connect would be replaced anyway,
/// better say why at the start.
pub async fn start(
    cfg: &AdminConfig,
    state: AdminState,
    stop: CancellationToken,
) -> Result<Option<SocketAddr>, String> {
    let Some(addr) = cfg.listen_addr() else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("admin.listen {addr}: cannot listen: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("admin.listen {addr}: {e}"))?;
    if state.page.is_some() {
        tracing::info!(addr = %local, "admin listener: /metrics /healthz /readyz, analyst page /findings");
    } else {
        tracing::info!(addr = %local, "admin listener: /metrics /healthz /readyz");
    }
    let state = Arc::new(state);
    actix_rt::spawn(async move {
        loop {
            let (conn, _) = tokio::select! {
                r = listener.accept() => match r {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, do not spin.
                        tracing::warn!(error = %e, "admin listener: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = stop.cancelled() => break,
            };
            let state = state.clone();
            actix_rt::spawn(async move {
                let _ = serve(conn, &state).await;
            });
        }
    });
    Ok(Some(local))
}

/// One request, one answer, then the connection is closed.
async fn serve(mut conn: TcpStream, state: &AdminState) -> std::io::Result<()> {
    let (resp, head_only) = match http::read_request(&mut conn).await? {
        Ok(None) => return Ok(()),
        Err(resp) => (resp, false),
        Ok(Some(req)) => (route(&req, state).await, req.method == "HEAD"),
    };
    http::write_response(&mut conn, resp, head_only).await
}

async fn route(req: &Request, state: &AdminState) -> Response {
    let get = matches!(req.method.as_str(), "GET" | "HEAD");
    match req.path.as_str() {
        "/metrics" if get => Response::new(
            200,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            state.render_metrics().await,
        ),
        "/healthz" if get => Response::text(200, "ok\n"),
        "/readyz" if get => {
            let why = state.not_ready();
            if why.is_empty() {
                Response::text(200, "ready\n")
            } else {
                Response::text(503, why.join("\n") + "\n")
            }
        }
        "/metrics" | "/healthz" | "/readyz" => Response::text(405, "only GET and HEAD\n"),
        _ => match &state.page {
            Some(page) => match page.route(req).await {
                Some(resp) => resp,
                None => Response::text(404, "not found: /findings, /precision, /api/findings, /metrics, /healthz, /readyz\n"),
            },
            None => Response::text(404, "not found: /metrics, /healthz, /readyz\n"),
        },
    }
}
