//! The feed actor: holds the websocket connection to a certstream server and hands frames to the
//! matcher in batches.
//!
//! Liveness: a ping goes out every `ping_interval`; when nothing at all (message, pong) arrives
//! for `idle_timeout`, the connection is taken as half-open and replaced. Every failure leads to
//! a reconnect after an exponential backoff with jitter, reset once a connection delivers.
//!
//! Resume: when the feed's messages carry a `seq` and `watch.resume` is on, each connection asks
//! for `?since=<highest seq received>` (at start: the position stored with the last findings;
//! nothing on a first start, `since=0` after a drop before anything arrived), so a drop or a
//! restart loses nothing. The seq
//! is read here from the front of each frame (certhound's server writes `{"seq":N,` first), so
//! a reconnect does not ask again for frames already handed to the matcher; what a restart
//! receives twice is deduplicated downstream.
//!
//! Backpressure: the feed never waits for the matcher. Batches the matcher has no room for wait
//! in a small local queue (as long as the matcher's mailbox); past that the oldest are shed and
//! counted in `shed_messages`, with a warning. The certstream server would drop a slow client's
//! messages anyway; shedding here at least says so.
//!
//! Frames over `max_frame_bytes` are counted and skipped. tungstenite itself must buffer a
//! message before we can see its size, so it is given a hard ceiling of 16 times that; a message
//! over the ceiling ends the connection (counted as oversized too) and the feed reconnects.

use crate::backoff::Backoff;
use crate::metrics::Metrics;
use crate::slot::Slot;
use crate::watch::matcher::{CertBatch, Matcher};
use actix::dev::SendError;
use actix::prelude::*;
use certhound_config::{redact_url, PipelineConfig, WatchConfig};
use futures_util::{SinkExt, StreamExt};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{interval, timeout, Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage, Utf8Bytes};
use tokio_util::sync::CancellationToken;

pub struct FeedActor {
    watch: WatchConfig,
    pipeline: PipelineConfig,
    matcher: Slot<Matcher>,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    /// Connections made by earlier incarnations of this actor, so that a restart does not make
    /// the first connection of the new one look like a first connection.
    connections: Arc<std::sync::atomic::AtomicU64>,
    /// Highest feed `seq` matched (see the module comment).
    position: Arc<std::sync::atomic::AtomicU64>,
}

impl FeedActor {
    pub fn new(
        watch: WatchConfig,
        pipeline: PipelineConfig,
        matcher: Slot<Matcher>,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
        connections: Arc<std::sync::atomic::AtomicU64>,
        position: Arc<std::sync::atomic::AtomicU64>,
    ) -> Self {
        FeedActor {
            watch,
            pipeline,
            matcher,
            metrics,
            stop,
            connections,
            position,
        }
    }
}

impl Actor for FeedActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let run = FeedLoop {
            watch: self.watch.clone(),
            batcher: Batcher::new(&self.pipeline, self.matcher.clone(), self.metrics.clone()),
            metrics: self.metrics.clone(),
            stop: self.stop.clone(),
            connections: self.connections.clone(),
            linger: self.pipeline.batch_linger,
            position: self.position.clone(),
        };
        ctx.wait(
            run.run()
                .into_actor(self)
                .map(|_, _, ctx: &mut Context<Self>| ctx.stop()),
        );
    }
}

/// Collects frames into batches and hands them to the matcher without ever waiting.
pub struct Batcher {
    batch: Vec<Utf8Bytes>,
    batch_size: usize,
    pending: VecDeque<Vec<Utf8Bytes>>,
    max_pending: usize,
    matcher: Slot<Matcher>,
    metrics: Arc<Metrics>,
    last_shed_warning: Option<Instant>,
}

impl Batcher {
    pub fn new(cfg: &PipelineConfig, matcher: Slot<Matcher>, metrics: Arc<Metrics>) -> Self {
        Batcher {
            batch: Vec::with_capacity(cfg.batch_size),
            batch_size: cfg.batch_size,
            pending: VecDeque::new(),
            max_pending: cfg.matcher_queue,
            matcher,
            metrics,
            last_shed_warning: None,
        }
    }

    pub fn push(&mut self, frame: Utf8Bytes) {
        self.batch.push(frame);
        if self.batch.len() >= self.batch_size {
            self.flush();
        }
    }

    /// Hands the current batch (and any waiting ones) to the matcher, as far as it has room.
    pub fn flush(&mut self) {
        if !self.batch.is_empty() {
            let full = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_size));
            self.pending.push_back(full);
        }
        if let Some(addr) = self.matcher.current() {
            while let Some(b) = self.pending.pop_front() {
                match addr.try_send(CertBatch(b)) {
                    Ok(()) => {}
                    Err(SendError::Full(CertBatch(b))) | Err(SendError::Closed(CertBatch(b))) => {
                        self.pending.push_front(b);
                        break;
                    }
                }
            }
        }
        while self.pending.len() > self.max_pending {
            let shed = self.pending.pop_front().map(|b| b.len()).unwrap_or(0);
            Metrics::add(&self.metrics.shed_messages, shed as u64);
            let now = Instant::now();
            if self
                .last_shed_warning
                .is_none_or(|t| now.duration_since(t) > Duration::from_secs(10))
            {
                self.last_shed_warning = Some(now);
                tracing::warn!(
                    shed_total = self
                        .metrics
                        .shed_messages
                        .load(std::sync::atomic::Ordering::Relaxed),
                    "matcher is behind: shedding feed messages"
                );
            }
        }
        self.metrics
            .labelled
            .queue("matcher", self.pending.len(), self.max_pending);
    }

    pub fn has_pending(&self) -> bool {
        !self.batch.is_empty() || !self.pending.is_empty()
    }
}

struct FeedLoop {
    watch: WatchConfig,
    batcher: Batcher,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    connections: Arc<std::sync::atomic::AtomicU64>,
    linger: Duration,
    position: Arc<std::sync::atomic::AtomicU64>,
}

/// Why a connection ended.
enum Ended {
    Stopped,
    Lost(String),
}

impl FeedLoop {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.watch.reconnect.clone());
        loop {
            if self.stop.is_cancelled() {
                break;
            }
            let ended = match self.connect().await {
                Ok(ws) => {
                    let n = self
                        .connections
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n > 0 {
                        Metrics::add(&self.metrics.reconnects, 1);
                    }
                    let reconnects = self
                        .metrics
                        .reconnects
                        .load(std::sync::atomic::Ordering::Relaxed);
                    tracing::info!(url = %redact_url(&self.url()), reconnects, "connected to feed");
                    Metrics::set(&self.metrics.feed_connected, 1);
                    let ended = self.read(ws, &mut backoff).await;
                    Metrics::set(&self.metrics.feed_connected, 0);
                    ended
                }
                Err(e) => {
                    Metrics::add(&self.metrics.connect_failures, 1);
                    Ended::Lost(format!("connect failed: {e}"))
                }
            };
            self.batcher.flush();
            match ended {
                Ended::Stopped => break,
                Ended::Lost(reason) => {
                    let delay = backoff.next_delay();
                    tracing::warn!(url = %redact_url(&self.watch.feed_url), reason = %reason, retry_in_ms = delay.as_millis() as u64, "feed connection lost");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.stop.cancelled() => break,
                    }
                }
            }
        }
        self.batcher.flush();
        if self.batcher.has_pending() {
            let n: usize = self.batcher.pending.iter().map(Vec::len).sum();
            Metrics::add(&self.metrics.shed_messages, n as u64);
            tracing::warn!(
                messages = n,
                "feed stopped with messages the matcher had no room for"
            );
        }
    }

    async fn connect(
        &self,
    ) -> Result<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        String,
    > {
        let ceiling = self.watch.max_frame_bytes.saturating_mul(16);
        let cfg = WebSocketConfig::default()
            .max_message_size(Some(ceiling))
            .max_frame_size(Some(ceiling));
        let url = self.url();
        let fut = tokio_tungstenite::connect_async_with_config(url.as_str(), Some(cfg), true);
        tokio::select! {
            r = timeout(self.watch.connect_timeout, fut) => match r {
                Ok(Ok((ws, _response))) => Ok(ws),
                Ok(Err(e)) => Err(describe(&e)),
                Err(_) => Err(format!("no connection within {:?}", self.watch.connect_timeout)),
            },
            _ = self.stop.cancelled() => Err("stopping".into()),
        }
    }

    /// The feed URL, with `since` when resuming.
    fn url(&self) -> String {
        let position = self.position.load(std::sync::atomic::Ordering::Relaxed);
        let base = &self.watch.feed_url;
        // A first connection with nothing stored asks for live messages only; once connected,
        // a reconnect asks for everything since what was received, even if that is nothing.
        let first = self.connections.load(std::sync::atomic::Ordering::Relaxed) == 0;
        if !self.watch.resume || (position == 0 && first) {
            return base.clone();
        }
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}since={position}")
    }

    async fn read<S>(
        &mut self,
        mut ws: tokio_tungstenite::WebSocketStream<S>,
        backoff: &mut Backoff,
    ) -> Ended
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let mut ping = interval(self.watch.ping_interval);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        ping.tick().await;
        let mut linger = interval(self.linger.max(Duration::from_millis(1)));
        linger.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_rx = Instant::now();
        let mut delivered = false;
        let max = self.watch.max_frame_bytes;
        loop {
            let idle_deadline = last_rx + self.watch.idle_timeout;
            tokio::select! {
                frame = ws.next() => {
                    last_rx = Instant::now();
                    self.metrics.labelled.feed_last_frame_ms.store(
                        crate::metrics::now_ms(),
                        std::sync::atomic::Ordering::Relaxed,
                    );
                    match frame {
                        Some(Ok(WsMessage::Text(text))) => {
                            Metrics::add(&self.metrics.frames, 1);
                            if text.len() > max {
                                Metrics::add(&self.metrics.oversized, 1);
                                tracing::debug!(bytes = text.len(), max, "skipped oversized frame");
                                continue;
                            }
                            if !delivered {
                                delivered = true;
                                backoff.reset();
                            }
                            if let Some(seq) = leading_seq(&text) {
                                self.position.fetch_max(seq, std::sync::atomic::Ordering::Relaxed);
                            }
                            self.batcher.push(text);
                        }
                        Some(Ok(WsMessage::Binary(_))) => {
                            Metrics::add(&self.metrics.frames, 1);
                            Metrics::add(&self.metrics.non_text, 1);
                        }
                        Some(Ok(WsMessage::Close(frame))) => {
                            let reason = frame.map(|f| format!("closed by server: {} {}", f.code, f.reason)).unwrap_or_else(|| "closed by server".into());
                            return Ended::Lost(reason);
                        }
                        Some(Ok(_)) => {} // ping (answered by tungstenite), pong, raw frame
                        Some(Err(tungstenite::Error::Capacity(e))) => {
                            Metrics::add(&self.metrics.frames, 1);
                            Metrics::add(&self.metrics.oversized, 1);
                            return Ended::Lost(format!("message over the hard limit: {e}"));
                        }
                        Some(Err(e)) => return Ended::Lost(describe(&e)),
                        None => return Ended::Lost("connection ended".into()),
                    }
                }
                _ = ping.tick() => {
                    // A send can block on a dead peer's full buffer: bound it by the idle timeout.
                    match timeout(self.watch.idle_timeout, ws.send(WsMessage::Ping(Default::default()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Ended::Lost(format!("ping failed: {}", describe(&e))),
                        Err(_) => return Ended::Lost("ping could not be sent".into()),
                    }
                }
                _ = linger.tick() => self.batcher.flush(),
                _ = tokio::time::sleep_until(idle_deadline) => {
                    Metrics::add(&self.metrics.idle_timeouts, 1);
                    return Ended::Lost(format!("nothing received for {:?} (half-open connection)", self.watch.idle_timeout));
                }
                _ = self.stop.cancelled() => {
                    let _ = timeout(Duration::from_secs(1), ws.close(None)).await;
                    return Ended::Stopped;
                }
            }
        }
    }
}

/// The `seq` of a frame that starts with `{"seq":N` (certhound's server puts it first); `None`
/// for any other frame (the matcher still reads a `seq` elsewhere in the object).
fn leading_seq(text: &str) -> Option<u64> {
    let digits = text.strip_prefix("{\"seq\":")?;
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    digits[..end].parse().ok()
}

/// A connection error as one line, without the URL's credentials (tungstenite errors do not
/// carry the URL, but HTTP errors carry the response status).
fn describe(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(resp) => format!("HTTP {} on websocket upgrade", resp.status()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::leading_seq;

    #[test]
    fn seq_is_read_from_the_front_only() {
        assert_eq!(leading_seq(r#"{"seq":42,"message_type":"x"}"#), Some(42));
        assert_eq!(leading_seq(r#"{"seq":7}"#), Some(7));
        assert_eq!(leading_seq(r#"{"message_type":"x","seq":42}"#), None);
        assert_eq!(leading_seq(r#"{"seq":"42"}"#), None);
        assert_eq!(leading_seq(r#"{"seq":99999999999999999999999}"#), None);
    }
}
