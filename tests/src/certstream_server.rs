//! A real certstream websocket server on 127.0.0.1 that plays a script: a fake of the certstream
//! feed certhound watches. The script is shared by all connections: each connection continues
//! where the previous one stopped (so `DropConnection` between two batches makes the client
//! reconnect to get the second batch). Pings are answered while the server is not silent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::http_fake::{Fake, FakeListener};
use crate::observed::{Observed, Waited};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// One step of the script.
#[derive(Debug, Clone)]
pub enum Step {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// Close the TCP socket abruptly (no close frame); the next connection continues the script.
    DropConnection,
    /// Stop sending and stop reading (pings go unanswered) but keep the TCP socket open (until the
    /// server is dropped): a half-open connection. The next connection continues the script.
    GoSilent,
    /// A normal close frame; the next connection continues the script.
    Close,
    /// Wait until the test calls [`FakeCertstream::release`] (pings are still answered). Lets a
    /// test wait for certhound to react before the rest of the script is sent.
    Gate,
}

impl Step {
    pub fn text(s: impl Into<String>) -> Step {
        Step::Text(s.into())
    }
}

/// Counters of what the server saw and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Websocket connections accepted (handshake done).
    pub connections: usize,
    /// Websocket pings received.
    pub pings: usize,
    /// Script steps carried out (a `Gate` counts once passed).
    pub steps_sent: usize,
    /// Request paths of the accepted connections, in order.
    pub paths: Vec<String>,
    /// Connections that ended (client closed or went away, or dropped by the script).
    pub disconnections: usize,
}

/// What the connection tasks share with the server's methods.
pub struct Shared {
    script: Mutex<VecDeque<Step>>,
    stats: watch::Sender<Stats>,
    gate: Semaphore,
    /// Silent connections, kept open until the server is dropped.
    parked: Mutex<Vec<WebSocketStream<TcpStream>>>,
}

/// The running server; stops (and closes every connection) when dropped.
pub type FakeCertstream = Fake<Shared, Stats>;

impl FakeCertstream {
    /// Starts a server on 127.0.0.1 (ephemeral port) that plays `script`.
    pub async fn start(script: Vec<Step>) -> FakeCertstream {
        Fake::serve(
            FakeListener::bind().await,
            |stats| Shared {
                script: Mutex::new(script.into()),
                stats,
                gate: Semaphore::new(0),
                parked: Mutex::new(Vec::new()),
            },
            |listener, shared| {
                let parked = shared.clone();
                let shared = shared.clone();
                listener
                    .serve_tcp(move |tcp| connection(tcp, shared.clone()))
                    .on_drop(move || parked.parked.lock().unwrap().clear())
            },
        )
    }

    /// `ws://127.0.0.1:PORT/` (the lite path).
    pub fn url(&self) -> String {
        self.url_with_path("/")
    }

    /// `ws://127.0.0.1:PORT<path>`, e.g. `/full-stream`.
    pub fn url_with_path(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr(), path)
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        self.observed().borrow().clone()
    }

    pub fn connections(&self) -> usize {
        self.observed().borrow().connections
    }

    pub fn pings(&self) -> usize {
        self.observed().borrow().pings
    }

    pub fn steps_sent(&self) -> usize {
        self.observed().borrow().steps_sent
    }

    /// Request paths of the accepted connections.
    pub fn paths(&self) -> Vec<String> {
        self.observed().borrow().paths.clone()
    }

    /// Steps of the script not yet carried out.
    pub fn steps_left(&self) -> usize {
        self.shared.script.lock().unwrap().len()
    }

    /// Lets one `Gate` step pass (permits add up: releasing before the gate is reached works).
    pub fn release(&self) {
        self.shared.gate.add_permits(1);
    }

    /// Waits until at least `n` connections were accepted.
    pub async fn wait_for_connections(&self, n: usize, timeout: Duration) -> Waited<Stats> {
        self.wait_for(timeout, |s| s.connections >= n).await
    }

    /// Waits until at least `n` steps were carried out.
    pub async fn wait_for_steps(&self, n: usize, timeout: Duration) -> Waited<Stats> {
        self.wait_for(timeout, |s| s.steps_sent >= n).await
    }
}

/// The websocket handshake on an accepted connection; the stream and the request's path and
/// query (`None` when the handshake fails). Shared with the history-mode feed (`seq_server`).
pub(crate) async fn accept_websocket(
    tcp: TcpStream,
) -> Option<(WebSocketStream<TcpStream>, String, Option<String>)> {
    let target = Arc::new(Mutex::new((String::new(), None::<String>)));
    let t = target.clone();
    // The error type is tungstenite's.
    #[allow(clippy::result_large_err)]
    let callback = move |req: &Request, resp: Response| {
        *t.lock().unwrap() = (
            req.uri().path().to_string(),
            req.uri().query().map(str::to_string),
        );
        Ok(resp)
    };
    let ws = tokio_tungstenite::accept_hdr_async(tcp, callback)
        .await
        .ok()?;
    let (path, query) = target.lock().unwrap().clone();
    Some((ws, path, query))
}

/// For the tests of both websocket fakes: sends a ping with `payload` on `ws`, then reads up to
/// its pong (within 10 s); a message before it that `may_precede` refuses fails the test.
#[cfg(test)]
pub(crate) async fn ping_until_pong(
    ws: &mut WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    payload: &[u8],
    may_precede: impl Fn(&Message) -> bool,
) {
    ws.send(Message::Ping(payload.to_vec().into()))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Pong(p))) => {
                assert_eq!(&p[..], payload);
                break;
            }
            Some(Ok(m)) if may_precede(&m) => continue,
            other => panic!("expected a pong, got {other:?}"),
        }
    }
}

/// One connection: the handshake, counted with its path, then the script.
async fn connection(tcp: TcpStream, shared: Arc<Shared>) {
    let Some((ws, path, _)) = accept_websocket(tcp).await else {
        return;
    };
    shared.stats.send_modify(|s| {
        s.connections += 1;
        s.paths.push(path);
    });
    serve(ws, &shared).await;
}

type Sink = SplitSink<WebSocketStream<TcpStream>, Message>;
type Stream = SplitStream<WebSocketStream<TcpStream>>;

/// Reads (so that pings are answered: tungstenite queues the pong and flushes it on the next
/// read) until the client goes away or `stop` is set; returns the stream half.
async fn read_loop(
    mut stream: Stream,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> (Stream, bool) {
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => return (stream, false),
            msg = stream.next() => match msg {
                Some(Ok(Message::Ping(_))) => shared.stats.send_modify(|s| s.pings += 1),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return (stream, true),
                Some(Ok(_)) => {}
            },
        }
    }
}

enum Outcome {
    /// The client went away (or a send failed): the step was not carried out.
    ClientGone,
    /// The script asked for the connection to end; `true`: park it (silent).
    End { park: bool, close: bool },
    /// The script is over.
    Finished,
}

async fn serve(ws: WebSocketStream<TcpStream>, shared: &Arc<Shared>) {
    let (mut sink, stream) = ws.split();
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut reader = tokio::spawn(read_loop(stream, shared.clone(), stop_rx));
    let mut client_gone = false;

    let outcome = loop {
        let step = shared.script.lock().unwrap().front().cloned();
        let Some(step) = step else {
            break Outcome::Finished;
        };
        let done = tokio::select! {
            r = run_step(&step, &mut sink, shared) => r,
            _ = &mut reader, if !client_gone => { client_gone = true; false }
        };
        if client_gone || !done {
            break Outcome::ClientGone;
        }
        match step {
            Step::DropConnection => {
                break Outcome::End {
                    park: false,
                    close: false,
                }
            }
            Step::GoSilent => {
                break Outcome::End {
                    park: true,
                    close: false,
                }
            }
            Step::Close => {
                break Outcome::End {
                    park: false,
                    close: true,
                }
            }
            _ => {}
        }
    };

    match outcome {
        Outcome::ClientGone => {
            if !client_gone {
                let _ = reader.await;
            }
        }
        Outcome::Finished => {
            // Keep the connection open and answer pings until the client goes away.
            if !client_gone {
                let _ = reader.await;
            }
        }
        Outcome::End { park, close } => {
            if close {
                // Wait for the client's close frame (or for it to go away).
                if !client_gone {
                    let _ = tokio::time::timeout(Duration::from_secs(30), &mut reader).await;
                }
            } else if !client_gone {
                let _ = stop_tx.send(true);
                if let Ok((stream, _)) = reader.await {
                    if let Ok(mut ws) = sink.reunite(stream) {
                        if park {
                            shared.parked.lock().unwrap().push(ws);
                            // Not counted as a disconnection: the socket stays open.
                            return;
                        }
                        // Abrupt end: FIN without a websocket close frame.
                        let _ = tokio::io::AsyncWriteExt::shutdown(ws.get_mut()).await;
                        drop(ws);
                    }
                }
            }
        }
    }
    shared.stats.send_modify(|s| s.disconnections += 1);
}

/// Carries out one step; `true` when it was done (and taken off the script).
async fn run_step(step: &Step, sink: &mut Sink, shared: &Arc<Shared>) -> bool {
    let ok = match step {
        Step::Text(t) => sink.send(Message::text(t.clone())).await.is_ok(),
        Step::Binary(b) => sink.send(Message::binary(b.clone())).await.is_ok(),
        Step::Close => sink.send(Message::Close(None)).await.is_ok(),
        Step::DropConnection | Step::GoSilent => sink.flush().await.is_ok(),
        Step::Gate => match shared.gate.acquire().await {
            Ok(permit) => {
                permit.forget();
                true
            }
            Err(_) => false,
        },
    };
    if ok {
        shared.script.lock().unwrap().pop_front();
        shared.stats.send_modify(|s| s.steps_sent += 1);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::assert_times_out;
    use tokio_tungstenite::connect_async;

    const T: Duration = Duration::from_secs(10);

    async fn next_text(
        ws: &mut WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>,
    ) -> Option<String> {
        loop {
            match tokio::time::timeout(T, ws.next())
                .await
                .expect("timed out reading")
            {
                Some(Ok(Message::Text(t))) => return Some(t.to_string()),
                Some(Ok(Message::Binary(b))) => return Some(format!("binary:{}", b.len())),
                Some(Ok(Message::Close(_))) => return Some("close".into()),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    #[tokio::test]
    async fn plays_script_across_connections() {
        let server = FakeCertstream::start(vec![
            Step::text("a"),
            Step::Binary(vec![1, 2, 3]),
            Step::DropConnection,
            Step::text("b"),
            Step::Close,
            Step::text("c"),
            Step::Gate,
            Step::text("d"),
        ])
        .await;

        let (mut ws, _) = connect_async(server.url_with_path("/full-stream"))
            .await
            .unwrap();
        assert_eq!(next_text(&mut ws).await.as_deref(), Some("a"));
        assert_eq!(next_text(&mut ws).await.as_deref(), Some("binary:3"));
        // Dropped without a close frame: an error or the end of the stream, not a Close.
        assert_eq!(next_text(&mut ws).await, None);

        let (mut ws, _) = connect_async(server.url()).await.unwrap();
        assert_eq!(next_text(&mut ws).await.as_deref(), Some("b"));
        assert_eq!(next_text(&mut ws).await.as_deref(), Some("close"));
        drop(ws);

        let (mut ws, _) = connect_async(server.url_with_path("/domains-only"))
            .await
            .unwrap();
        assert_eq!(next_text(&mut ws).await.as_deref(), Some("c"));
        server.wait_for_steps(6, T).await.unwrap();
        assert_eq!(server.steps_left(), 2, "held at the gate");
        server.release();
        assert_eq!(next_text(&mut ws).await.as_deref(), Some("d"));

        // Script over: still open, pings answered.
        ping_until_pong(&mut ws, b"hi", |_| true).await;
        let stats = server.wait_for(T, |s| s.pings >= 1).await.unwrap();
        assert_eq!(stats.connections, 3);
        assert_eq!(stats.steps_sent, 8);
        assert_eq!(stats.paths, ["/full-stream", "/", "/domains-only"]);
        server.wait_for_connections(3, T).await.unwrap();
        assert_times_out(server.wait_for_connections(4, Duration::from_millis(50))).await;
    }

    #[tokio::test]
    async fn silent_connection_stops_answering_pings_and_stays_open() {
        let server =
            FakeCertstream::start(vec![Step::text("a"), Step::GoSilent, Step::text("b")]).await;
        let (mut ws, _) = connect_async(server.url()).await.unwrap();
        assert_eq!(next_text(&mut ws).await.as_deref(), Some("a"));
        server.wait_for_steps(2, T).await.unwrap();

        ws.send(Message::Ping(b"1".to_vec().into())).await.unwrap();
        // No pong and no end of stream: the read does not complete.
        let r = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
        assert!(r.is_err(), "silent server answered: {r:?}");
        assert_eq!(server.pings(), 0);

        // The next connection continues the script.
        let (mut ws2, _) = connect_async(server.url()).await.unwrap();
        assert_eq!(next_text(&mut ws2).await.as_deref(), Some("b"));
        assert_eq!(server.connections(), 2);
        drop(ws);
    }

    #[tokio::test]
    async fn step_not_sent_to_a_departed_client_goes_to_the_next_one() {
        let server = FakeCertstream::start(vec![Step::Gate, Step::text("x")]).await;
        let (ws, _) = connect_async(server.url()).await.unwrap();
        server.wait_for_connections(1, T).await.unwrap();
        drop(ws);
        server.wait_for(T, |s| s.disconnections >= 1).await.unwrap();
        server.release();
        let (mut ws, _) = connect_async(server.url()).await.unwrap();
        assert_eq!(next_text(&mut ws).await.as_deref(), Some("x"));
    }
}
