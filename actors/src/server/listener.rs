//! The listener: accepts connections, reads each HTTP/1.1 request head itself and either answers a
//! plain GET or hands the connection to a websocket client task fed by the [`Hub`].
//!
//! Each connection gets `server.handshake_timeout` and 8 KiB for its request head. Paths: `/`
//! (lite), `/full-stream`, `/domains-only` (also with a trailing `/`) as websocket with an
//! optional `?since=SEQ`; `GET /example.json` (the latest message, lite form) and
//! `GET /latest.json` (`{"messages":[...]}`, the last `server.latest` lite messages, newest
//! first, as CaliDog's server). A plain GET on a stream path gets 400, an unknown path 404, a websocket client past
//! `server.max_connections` 503 (counted in `server_refused`).
//!
//! A client task writes what its [`Subscription`] gives (gap notice, replay, then live messages)
//! in batches of at most [`BATCH`] messages, flushing after each, so that nothing is buffered
//! beyond one batch: when the socket does not take them, the messages wait in the client's bounded
//! queue in the hub, and when that is full the hub cuts the client off (backpressure ends there,
//! never in `publish`). Live messages published during a replay wait in that same queue, so a
//! client that cannot take its replay before `server.client_queue` live messages pile up is cut
//! off as slow too (and reconnects with a later `since`). A ping goes out every `server.ping_interval`; a client from which nothing
//! (pong or any frame) has arrived for `server.idle_timeout` is closed.
//!
//! Shutdown: when the token is cancelled the listener stops accepting, every client task sends a
//! close frame (given a second at most, as the socket may be full) and ends; `serve` returns once
//! all of them have.

use super::hub::{Form, Hub, Subscription};
use crate::metrics::Metrics;
use certhound_config::ServerConfig;
use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{timeout, Instant};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// Bound of a request head.
const MAX_HEAD: usize = 8 * 1024;
/// Most messages written to a client between two flushes.
pub const BATCH: usize = 64;
/// Clients only send pings, pongs and close frames.
const MAX_INCOMING: usize = 4 * 1024;
/// Time given to a close frame at the end.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves the feed on `listener` until `shutdown` is cancelled (see the module comment).
pub async fn serve(
    listener: TcpListener,
    hub: Hub,
    cfg: ServerConfig,
    shutdown: CancellationToken,
) {
    let cfg = Arc::new(cfg);
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            // Reap finished connection tasks so that the set does not grow.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "server: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let (hub, cfg, slots, shutdown) =
            (hub.clone(), cfg.clone(), slots.clone(), shutdown.clone());
        tasks.spawn(async move {
            if let Err(e) = connection(stream, hub, cfg, slots, shutdown).await {
                tracing::debug!(%peer, error = %e, "server: connection ended");
            }
        });
    }
    drop(listener);
    while tasks.join_next().await.is_some() {}
}

/// What a request asked for.
enum Route {
    Stream(Form),
    Example,
    Latest,
}

/// What the listener needs of a request's head.
#[derive(Debug)]
pub struct Head {
    method: String,
    path: String,
    query: Option<String>,
    websocket_key: Option<String>,
    upgrade: bool,
}

impl Head {
    /// The query string of the request target, if any.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }
}

/// What the bytes read so far are.
#[derive(Debug)]
pub enum HeadParse {
    /// A whole head, and its length in bytes (what follows is the body or the first frame).
    Complete(Head, usize),
    /// Not yet a whole head: read more (up to `MAX_HEAD`).
    Partial,
    /// Not HTTP.
    Invalid,
}

/// Parses the head of a request from `buf` (outside input: the fuzz target `http_head`).
pub fn parse_head(buf: &[u8]) -> HeadParse {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let target = req.path.unwrap_or("/");
            let (path, query) = match target.split_once('?') {
                Some((p, q)) => (p.to_string(), Some(q.to_string())),
                None => (target.to_string(), None),
            };
            let header = |name: &str| {
                req.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(name))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
            };
            let upgrade = header("upgrade").is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("websocket"))
            }) && header("connection").is_some_and(|v| {
                v.split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
            }) && header("sec-websocket-version").is_some_and(|v| v.trim() == "13");
            let head = Head {
                method: req.method.unwrap_or("").to_string(),
                path,
                query,
                websocket_key: header("sec-websocket-key").map(|k| k.trim().to_string()),
                upgrade,
            };
            HeadParse::Complete(head, len)
        }
        Ok(httparse::Status::Partial) => HeadParse::Partial,
        Err(_) => HeadParse::Invalid,
    }
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<(Head, Vec<u8>)>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        match parse_head(&buf) {
            HeadParse::Complete(head, len) => return Ok(Some((head, buf.split_off(len)))),
            HeadParse::Partial if buf.len() < MAX_HEAD => {}
            HeadParse::Partial | HeadParse::Invalid => return Ok(None),
        }
    }
}

/// A `since=` that is not a number.
#[derive(Debug)]
pub struct BadSince;

/// `since=` of a query string: `Err` when it is there but not a number.
pub fn since_of(query: Option<&str>) -> Result<Option<u64>, BadSince> {
    let Some(q) = query else { return Ok(None) };
    for pair in q.split('&') {
        if let Some(v) = pair.strip_prefix("since=") {
            return v.parse().map(Some).map_err(|_| BadSince);
        }
    }
    Ok(None)
}

async fn respond(stream: &mut TcpStream, status: &str, kind: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Access-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        stream.write_all(body).await?;
        stream.shutdown().await
    };
    let _ = timeout(CLOSE_GRACE * 5, write).await;
}

async fn text(stream: &mut TcpStream, status: &str, body: &str) {
    respond(stream, status, "text/plain; charset=utf-8", body.as_bytes()).await
}

async fn connection(
    mut stream: TcpStream,
    hub: Hub,
    cfg: Arc<ServerConfig>,
    slots: Arc<Semaphore>,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let read = tokio::select! {
        _ = shutdown.cancelled() => return Ok(()),
        r = timeout(cfg.handshake_timeout, read_head(&mut stream)) => r,
    };
    let Ok(Some((head, rest))) = read.map_err(|_| ()).and_then(|r| r.map_err(|_| ())) else {
        // Timed out, too long or not HTTP: nothing worth answering.
        return Ok(());
    };
    let route = match head.path.as_str() {
        "/" => Route::Stream(Form::Lite),
        "/full-stream" | "/full-stream/" => Route::Stream(Form::Full),
        "/domains-only" | "/domains-only/" => Route::Stream(Form::Domains),
        "/example.json" => Route::Example,
        "/latest.json" => Route::Latest,
        _ => {
            text(&mut stream, "404 Not Found", "not found\n").await;
            return Ok(());
        }
    };
    if head.method != "GET" {
        text(&mut stream, "405 Method Not Allowed", "GET only\n").await;
        return Ok(());
    }
    let json = "application/json";
    match route {
        Route::Example => {
            match hub.example() {
                Some(m) => respond(&mut stream, "200 OK", json, m.lite.as_bytes()).await,
                None => text(&mut stream, "404 Not Found", "no message yet\n").await,
            }
            Ok(())
        }
        Route::Latest => {
            let latest = hub.latest(cfg.latest);
            let mut body = Vec::with_capacity(latest.iter().map(|m| m.lite.len() + 1).sum());
            body.extend_from_slice(b"{\"messages\":[");
            // Newest first, as CaliDog's server.
            for (i, m) in latest.iter().rev().enumerate() {
                if i > 0 {
                    body.push(b',');
                }
                body.extend_from_slice(m.lite.as_bytes());
            }
            body.extend_from_slice(b"]}");
            respond(&mut stream, "200 OK", json, &body).await;
            Ok(())
        }
        Route::Stream(form) => {
            let (Some(key), true) = (head.websocket_key.as_deref(), head.upgrade) else {
                text(
                    &mut stream,
                    "400 Bad Request",
                    "this is a websocket endpoint (certstream)\n",
                )
                .await;
                return Ok(());
            };
            let Ok(since) = since_of(head.query.as_deref()) else {
                text(&mut stream, "400 Bad Request", "since must be a number\n").await;
                return Ok(());
            };
            let Ok(_slot) = slots.try_acquire_owned() else {
                Metrics::add(&hub.metrics().server_refused, 1);
                text(&mut stream, "503 Service Unavailable", "too many clients\n").await;
                return Ok(());
            };
            // Subscribed before the handshake completes: whatever is published once the client
            // has seen the 101 reaches it.
            let sub = hub.subscribe(since);
            let metrics = hub.metrics().clone();
            Metrics::set(&metrics.server_clients, hub.clients() as u64);
            let accept = derive_accept_key(key.as_bytes());
            let response = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            );
            let written =
                timeout(cfg.handshake_timeout, stream.write_all(response.as_bytes())).await;
            if !matches!(written, Ok(Ok(()))) {
                drop(sub);
                Metrics::set(&metrics.server_clients, hub.clients() as u64);
                return Ok(());
            }
            let config = WebSocketConfig::default()
                .max_message_size(Some(MAX_INCOMING))
                .max_frame_size(Some(MAX_INCOMING));
            let ws = WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(config))
                .await;
            Metrics::add(&metrics.server_connections, 1);
            let end = client(ws, form, sub, &cfg, &metrics, &shutdown).await;
            Metrics::set(&metrics.server_clients, hub.clients() as u64);
            tracing::debug!(?end, "server: client ended");
            Ok(())
        }
    }
}

/// Why a client task ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Shutdown,
    /// The hub cut it off: its queue was full.
    Slow,
    Idle,
    /// It closed or went away, or a write failed.
    Gone,
}

type Ws = WebSocketStream<TcpStream>;

async fn client(
    ws: Ws,
    form: Form,
    mut sub: Subscription,
    cfg: &ServerConfig,
    metrics: &Metrics,
    shutdown: &CancellationToken,
) -> End {
    let (mut sink, mut frames) = ws.split();
    let start = Instant::now();
    // Milliseconds since `start` when the client was last heard from.
    let heard = AtomicU64::new(0);
    let cut_off = sub.cut_off.clone();
    // Reads everything the client sends; tungstenite answers its pings itself.
    let reader = async {
        while let Some(frame) = frames.next().await {
            heard.store(start.elapsed().as_millis() as u64, Ordering::Relaxed);
            match frame {
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
    };
    let idle = async {
        loop {
            let last = Duration::from_millis(heard.load(Ordering::Relaxed));
            let deadline = start + last + cfg.idle_timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    };
    let writer = async {
        // First what the client asked to catch up on.
        let mut first: Vec<Message> = Vec::new();
        if let Some(gap) = sub.gap.take() {
            first.push(Message::Text(gap));
        }
        let mut ping = tokio::time::interval_at(start + cfg.ping_interval, cfg.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let replay = std::mem::take(&mut sub.replay);
        for chunk in replay.chunks(BATCH) {
            // A long replay still pings, so that an answering client is not taken as idle.
            if futures_util::FutureExt::now_or_never(ping.tick()).is_some()
                && sink.send(Message::Ping(Default::default())).await.is_err()
            {
                return End::Gone;
            }
            let mut batch = std::mem::take(&mut first);
            batch.extend(chunk.iter().map(|m| Message::Text(m.form(form).clone())));
            let n = chunk.len();
            if write_batch(&mut sink, batch).await.is_err() {
                return End::Gone;
            }
            Metrics::add(&metrics.server_sent, n as u64);
        }
        if !first.is_empty() && write_batch(&mut sink, first).await.is_err() {
            return End::Gone;
        }
        // Then live.
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            tokio::select! {
                n = sub.live.recv_many(&mut batch, BATCH) => {
                    if n == 0 {
                        return End::Slow;
                    }
                    let msgs = batch.drain(..).map(|m| Message::Text(m.form(form).clone()));
                    if write_batch(&mut sink, msgs.collect()).await.is_err() {
                        return End::Gone;
                    }
                    Metrics::add(&metrics.server_sent, n as u64);
                }
                _ = ping.tick() => {
                    if sink.send(Message::Ping(Default::default())).await.is_err() {
                        return End::Gone;
                    }
                }
            }
        }
    };
    let end = tokio::select! {
        biased;
        _ = shutdown.cancelled() => End::Shutdown,
        _ = cut_off.cancelled() => End::Slow,
        _ = idle => End::Idle,
        _ = reader => End::Gone,
        end = writer => end,
    };
    let frame = match end {
        End::Shutdown => Some((CloseCode::Away, "server shutting down")),
        End::Slow => Some((CloseCode::Policy, "too slow: queue full")),
        End::Idle => Some((CloseCode::Policy, "idle")),
        End::Gone => None,
    };
    if let Some((code, reason)) = frame {
        let close = Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }));
        let _ = timeout(CLOSE_GRACE, sink.send(close)).await;
    }
    drop(sub);
    end
}

async fn write_batch(
    sink: &mut futures_util::stream::SplitSink<Ws, Message>,
    batch: Vec<Message>,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    for m in batch {
        sink.feed(m).await?;
    }
    sink.flush().await
}
