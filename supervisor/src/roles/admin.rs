//! The admin listener (`[admin] listen`): `GET /metrics` in the Prometheus text format,
//! `/healthz` and `/readyz` for the ECS container health check or a load balancer.
//!
//! A plain HTTP/1.1 server, one request per connection: the callers are a scraper every few
//! seconds and a health check, so there is nothing to gain from keep-alive, and a request head
//! larger than 8 KiB or slower than 5 s is answered 400/408 and closed (a port scanner or a
//! stuck client cannot hold it). It runs on the system arbiter beside the supervision loops and
//! never blocks: a scrape reads atomics and a few small maps, `/readyz` reads the store's
//! cursor (one read transaction).
//!
//! `/healthz` is 200 while the process runs. `/readyz` is 200 when the process does its job,
//! else 503 with one line per reason: the store cannot be read; a supervised actor is down
//! (crashed and waiting for its restart); the watch role's feed has delivered nothing
//! (heartbeats count) for `admin.ready_staleness`; the server role has had no successful answer
//! from any CT log for as long. Right after the start the clock of the last two starts at the
//! start, so a fresh task has `ready_staleness` to connect.

use crate::exit::Exit;
use certhound_actors::metrics::{self, Metrics};
use certhound_actors::store::Store;
use certhound_config::AdminConfig;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, DropGuard};

/// Largest request head read.
const MAX_HEAD: usize = 8 * 1024;
/// Time a client has to send its request head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);

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

    fn render_metrics(&self) -> String {
        let mut registry = metrics::registry();
        self.metrics.register(&mut registry);
        registry.register_collector(Box::new(Memory));
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

/// Starts the admin listener for a role (what it watches: a live `feed`, CT logs `ct`); it
/// stops when the returned guard is dropped. A listener that cannot start stops the role.
pub async fn start_for_role(
    cfg: &AdminConfig,
    metrics: Arc<Metrics>,
    store: Store,
    feed: bool,
    ct: bool,
) -> Result<DropGuard, Exit> {
    let stop = CancellationToken::new();
    let state = AdminState {
        metrics,
        store,
        feed,
        ct,
        staleness: cfg.ready_staleness,
        started_ms: metrics::now_ms(),
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
    tracing::info!(addr = %local, "admin listener: /metrics /healthz /readyz");
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
    let mut buf = Vec::with_capacity(1024);
    let head = tokio::time::timeout(HEAD_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = conn.read(&mut chunk).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(Some(()));
            }
            if buf.len() > MAX_HEAD {
                return Ok(None);
            }
        }
    })
    .await;
    let (status, content_type, body, head_only) = match head {
        Err(_) => (
            408,
            "text/plain",
            "request head not received in time\n".into(),
            false,
        ),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(None)) if buf.is_empty() => return Ok(()),
        Ok(Ok(None)) => (400, "text/plain", "request head too large\n".into(), false),
        Ok(Ok(Some(()))) => route(&buf, state),
    };
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reason(status),
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body.as_bytes());
    }
    conn.write_all(&out).await?;
    conn.shutdown().await
}

/// (status, content type, body, whether to leave the body out: HEAD).
fn route(head: &[u8], state: &AdminState) -> (u16, &'static str, String, bool) {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
        return (400, "text/plain", "bad request\n".into(), false);
    }
    let method = req.method.unwrap_or("");
    let head_only = method == "HEAD";
    if method != "GET" && !head_only {
        return (405, "text/plain", "only GET and HEAD\n".into(), false);
    }
    let path = req.path.unwrap_or("/").split('?').next().unwrap_or("/");
    match path {
        "/metrics" => (
            200,
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            state.render_metrics(),
            head_only,
        ),
        "/healthz" => (200, "text/plain", "ok\n".into(), head_only),
        "/readyz" => {
            let why = state.not_ready();
            if why.is_empty() {
                (200, "text/plain", "ready\n".into(), head_only)
            } else {
                (503, "text/plain", why.join("\n") + "\n", head_only)
            }
        }
        _ => (
            404,
            "text/plain",
            "not found: /metrics, /healthz, /readyz\n".into(),
            head_only,
        ),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        503 => "Service Unavailable",
        _ => "",
    }
}
