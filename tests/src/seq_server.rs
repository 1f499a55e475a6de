//! A certstream websocket server on 127.0.0.1 in *history mode*: a fixed list of messages, each
//! given a top-level `"seq"` (1..=N) in its JSON. A connection whose request carries `?since=S`
//! receives the messages with seq > S in order; without `since`, from seq 1. This is the fake of a
//! feed that lets a client resume where it stopped, as certhound does with `watch.resume = true`.
//!
//! Messages can be paced (`burst` messages, then a short pause), so that a test can kill the
//! client mid-stream, and held before chosen seqs until the test calls [`FakeSeqCertstream::release`].
//! Every connection's requested `since` is recorded. After the last message the connection stays
//! open and pings are answered.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::certstream_server::accept_websocket;
use crate::http_fake::{Fake, FakeListener};
use crate::observed::{Observed, Waited};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// What one connection asked for and got.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqConnection {
    /// Request path, without the query (`/`, `/full-stream`).
    pub path: String,
    /// The full query string, if any.
    pub query: Option<String>,
    /// `since` of the query; `None` without one. A `since` that is not a number is recorded as
    /// `Some(u64::MAX)` (and nothing is sent).
    pub since: Option<u64>,
    /// Messages sent on this connection.
    pub sent: usize,
    /// Seq of the last message sent on this connection (0: none).
    pub last_seq: u64,
    /// The connection ended (client closed or went away).
    pub ended: bool,
}

/// Counters of what the server saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeqStats {
    /// Every accepted connection, in order.
    pub connections: Vec<SeqConnection>,
    /// Messages sent, all connections together (replays count again).
    pub sent: usize,
    /// The highest seq sent on any connection.
    pub max_seq_sent: u64,
    /// Websocket pings received.
    pub pings: usize,
}

impl SeqStats {
    /// `since` of every connection, in order.
    pub fn sinces(&self) -> Vec<Option<u64>> {
        self.connections.iter().map(|c| c.since).collect()
    }
}

/// How the messages are paced on each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Messages sent back to back...
    pub burst: usize,
    /// ...then this pause.
    pub pause: Duration,
}

impl Pacing {
    /// As fast as the socket takes them.
    pub const FREE: Pacing = Pacing {
        burst: usize::MAX,
        pause: Duration::ZERO,
    };
}

/// Builder of a [`FakeSeqCertstream`].
#[derive(Debug, Clone)]
pub struct FakeSeqCertstreamBuilder {
    messages: Vec<String>,
    pacing: Pacing,
    gates: BTreeSet<u64>,
}

impl FakeSeqCertstreamBuilder {
    /// Sends `burst` messages, then pauses for `pause`, and so on (per connection).
    pub fn pace(mut self, burst: usize, pause: Duration) -> Self {
        assert!(burst > 0, "burst of at least one message");
        self.pacing = Pacing { burst, pause };
        self
    }

    /// Holds the message with this seq (and all after it) until one [`FakeSeqCertstream::release`];
    /// once passed, a gate does not hold a later connection that replays that seq.
    pub fn gate_before(mut self, seq: u64) -> Self {
        self.gates.insert(seq);
        self
    }

    pub async fn start(self) -> FakeSeqCertstream {
        FakeSeqCertstream::start_with(self).await
    }
}

/// What the connection tasks share with the server's methods.
pub struct Shared {
    /// The messages with their seq inserted; `messages[i]` has seq `i + 1`.
    messages: Vec<String>,
    pacing: Pacing,
    /// Gates not passed yet.
    gates: Mutex<BTreeSet<u64>>,
    gate: Semaphore,
    stats: watch::Sender<SeqStats>,
}

/// The running server; stops (and closes every connection) when dropped.
pub type FakeSeqCertstream = Fake<Shared, SeqStats>;

/// `message` (a JSON object) with a top-level `"seq": seq`.
pub fn with_seq(message: &str, seq: u64) -> String {
    let mut v: Value = serde_json::from_str(message)
        .unwrap_or_else(|e| panic!("history message is not JSON ({e}): {message}"));
    let obj = v
        .as_object_mut()
        .unwrap_or_else(|| panic!("history message is not a JSON object: {message}"));
    obj.insert("seq".into(), Value::from(seq));
    v.to_string()
}

/// `since` from a query string (`a=1&since=42`).
fn since_of(query: Option<&str>) -> Option<u64> {
    let query = query?;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == "since").then(|| v.parse().unwrap_or(u64::MAX))
    })
}

impl FakeSeqCertstream {
    /// A builder for a server that plays `messages` (JSON objects) with seq 1..=N.
    pub fn builder(messages: Vec<String>) -> FakeSeqCertstreamBuilder {
        FakeSeqCertstreamBuilder {
            messages,
            pacing: Pacing::FREE,
            gates: BTreeSet::new(),
        }
    }

    /// Starts a server that plays `messages` as fast as the client reads them.
    pub async fn start(messages: Vec<String>) -> FakeSeqCertstream {
        Self::builder(messages).start().await
    }

    async fn start_with(b: FakeSeqCertstreamBuilder) -> FakeSeqCertstream {
        let messages = b
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| with_seq(m, i as u64 + 1))
            .collect();
        Fake::serve(
            FakeListener::bind().await,
            |stats| Shared {
                messages,
                pacing: b.pacing,
                gates: Mutex::new(b.gates),
                gate: Semaphore::new(0),
                stats,
            },
            |listener, shared| {
                let gate = shared.clone();
                let shared = shared.clone();
                listener
                    .serve_tcp(move |tcp| connection(tcp, shared.clone()))
                    .on_drop(move || gate.gate.close())
            },
        )
    }

    /// `ws://127.0.0.1:PORT/` (the lite path).
    pub fn url(&self) -> String {
        self.url_with_path("/")
    }

    /// `ws://127.0.0.1:PORT<path>`; `path` may carry a query (`/?token=x`).
    pub fn url_with_path(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr(), path)
    }

    /// Number of messages (the last seq).
    pub fn len(&self) -> usize {
        self.shared.messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.shared.messages.is_empty()
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> SeqStats {
        self.observed().borrow().clone()
    }

    /// `since` of every connection so far, in order.
    pub fn sinces(&self) -> Vec<Option<u64>> {
        self.observed().borrow().sinces()
    }

    /// Lets one gate pass (permits add up: releasing before the gate is reached works).
    pub fn release(&self) {
        self.shared.gate.add_permits(1);
    }

    /// Waits until at least `n` connections were accepted.
    pub async fn wait_for_connections(&self, n: usize, timeout: Duration) -> Waited<SeqStats> {
        self.wait_for(timeout, |s| s.connections.len() >= n).await
    }

    /// Waits until the message with this seq was sent (on any connection).
    pub async fn wait_for_seq(&self, seq: u64, timeout: Duration) -> Waited<SeqStats> {
        self.wait_for(timeout, |s| s.max_seq_sent >= seq).await
    }
}

/// One connection: the handshake, recorded with its `since`, then the messages after it.
async fn connection(tcp: TcpStream, shared: Arc<Shared>) {
    let Some((ws, path, query)) = accept_websocket(tcp).await else {
        return;
    };
    let since = since_of(query.as_deref());
    let mut index = 0;
    shared.stats.send_modify(|s| {
        index = s.connections.len();
        s.connections.push(SeqConnection {
            path,
            query,
            since,
            ..SeqConnection::default()
        });
    });
    serve(ws, &shared, index, since.unwrap_or(0)).await;
    shared
        .stats
        .send_modify(|s| s.connections[index].ended = true);
}

/// Reads (so that pings are answered: tungstenite queues the pong and flushes it on the next
/// read) until the client goes away.
async fn read_loop(mut stream: SplitStream<WebSocketStream<TcpStream>>, shared: Arc<Shared>) {
    loop {
        match stream.next().await {
            Some(Ok(Message::Ping(_))) => shared.stats.send_modify(|s| s.pings += 1),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
            Some(Ok(_)) => {}
        }
    }
}

/// Waits for a release if a gate not yet passed stands before `seq`.
async fn pass_gate(shared: &Shared, seq: u64) -> bool {
    if !shared.gates.lock().unwrap().contains(&seq) {
        return true;
    }
    match shared.gate.acquire().await {
        Ok(permit) => {
            permit.forget();
            shared.gates.lock().unwrap().remove(&seq);
            true
        }
        Err(_) => false,
    }
}

async fn serve(ws: WebSocketStream<TcpStream>, shared: &Arc<Shared>, index: usize, since: u64) {
    let (mut sink, stream) = ws.split();
    let mut reader = tokio::spawn(read_loop(stream, shared.clone()));
    let start = usize::try_from(since)
        .unwrap_or(usize::MAX)
        .min(shared.messages.len());
    let send_all = async {
        let mut in_burst = 0usize;
        for (i, message) in shared.messages.iter().enumerate().skip(start) {
            let seq = i as u64 + 1;
            if !pass_gate(shared, seq).await {
                return;
            }
            if in_burst >= shared.pacing.burst {
                in_burst = 0;
                tokio::time::sleep(shared.pacing.pause).await;
            }
            if sink.send(Message::text(message.clone())).await.is_err() {
                return;
            }
            in_burst += 1;
            shared.stats.send_modify(|s| {
                s.sent += 1;
                s.max_seq_sent = s.max_seq_sent.max(seq);
                let c = &mut s.connections[index];
                c.sent += 1;
                c.last_seq = seq;
            });
        }
        // All sent: stay open (the reader answers pings) until the client goes away.
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = send_all => {}
        _ = &mut reader => {}
    }
    reader.abort();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certstream_server::ping_until_pong;
    use tokio_tungstenite::connect_async;

    const T: Duration = Duration::from_secs(10);

    type Client = WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

    async fn next_value(ws: &mut Client) -> Value {
        loop {
            match tokio::time::timeout(T, ws.next())
                .await
                .expect("timed out reading")
            {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
                Some(Ok(_)) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    fn messages(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| serde_json::json!({"message_type": "heartbeat", "n": i}).to_string())
            .collect()
    }

    #[test]
    fn seq_is_inserted_and_since_parsed() {
        let v: Value = serde_json::from_str(&with_seq(r#"{"a":1}"#, 7)).unwrap();
        assert_eq!(v, serde_json::json!({"a": 1, "seq": 7}));
        assert_eq!(since_of(None), None);
        assert_eq!(since_of(Some("since=5")), Some(5));
        assert_eq!(since_of(Some("token=x&since=12")), Some(12));
        assert_eq!(since_of(Some("token=x")), None);
        assert_eq!(since_of(Some("since=abc")), Some(u64::MAX));
    }

    #[tokio::test]
    async fn replays_from_since_and_records_it() {
        let server = FakeSeqCertstream::start(messages(5)).await;
        assert_eq!(server.len(), 5);

        let (mut ws, _) = connect_async(server.url()).await.unwrap();
        for seq in 1..=5u64 {
            let v = next_value(&mut ws).await;
            assert_eq!(v["seq"], seq);
            assert_eq!(v["n"], seq - 1);
        }
        drop(ws);

        let (mut ws, _) = connect_async(server.url_with_path("/full-stream?since=3"))
            .await
            .unwrap();
        assert_eq!(next_value(&mut ws).await["seq"], 4);
        assert_eq!(next_value(&mut ws).await["seq"], 5);

        // Past the end: nothing, but the connection stays open and answers pings.
        let (mut ws2, _) = connect_async(server.url_with_path("/?x=1&since=9"))
            .await
            .unwrap();
        // Only pings may come before the pong.
        ping_until_pong(&mut ws2, b"p", |m| matches!(m, Message::Ping(_))).await;
        let stats = server.wait_for(T, |s| s.pings >= 1).await.unwrap();
        assert_eq!(stats.sinces(), [None, Some(3), Some(9)]);
        assert_eq!(stats.connections[1].path, "/full-stream");
        assert_eq!(stats.connections[2].query.as_deref(), Some("x=1&since=9"));
        assert_eq!(stats.connections[0].sent, 5);
        assert_eq!(stats.connections[1].last_seq, 5);
        assert_eq!(stats.connections[2].sent, 0);
        assert_eq!(stats.sent, 7);
        assert_eq!(stats.max_seq_sent, 5);
        assert!(
            stats.connections[0].ended
                || server.wait_for(T, |s| s.connections[0].ended).await.is_ok()
        );
    }

    #[tokio::test]
    async fn gate_holds_until_released_and_only_once() {
        let server = FakeSeqCertstream::builder(messages(4))
            .pace(1, Duration::from_millis(1))
            .gate_before(3)
            .start()
            .await;
        let (mut ws, _) = connect_async(server.url()).await.unwrap();
        assert_eq!(next_value(&mut ws).await["seq"], 1);
        assert_eq!(next_value(&mut ws).await["seq"], 2);
        server.wait_for_seq(2, T).await.unwrap();
        // Held at the gate: seq 3 is not sent within a short look.
        let r = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
        assert!(r.is_err(), "gate did not hold: {r:?}");
        assert_eq!(server.stats().max_seq_sent, 2);
        server.release();
        assert_eq!(next_value(&mut ws).await["seq"], 3);
        assert_eq!(next_value(&mut ws).await["seq"], 4);
        drop(ws);

        // A replay from seq 2 is not held again.
        let (mut ws, _) = connect_async(server.url_with_path("/?since=1"))
            .await
            .unwrap();
        for seq in 2..=4u64 {
            assert_eq!(next_value(&mut ws).await["seq"], seq);
        }
    }

    #[tokio::test]
    async fn paced_sending_reaches_the_end() {
        let server = FakeSeqCertstream::builder(messages(25))
            .pace(10, Duration::from_millis(5))
            .start()
            .await;
        let (mut ws, _) = connect_async(server.url()).await.unwrap();
        for seq in 1..=25u64 {
            assert_eq!(next_value(&mut ws).await["seq"], seq);
        }
        server.wait_for_seq(25, T).await.unwrap();
    }
}
