//! The server role's websocket feed in process, against real websocket clients on 127.0.0.1:
//! forms and seq, `?since=` replay and gaps, slow and idle clients, the connection limit, the
//! plain GETs and shutdown.

use certhound_actors::metrics::Metrics;
use certhound_actors::server::{serve, Hub};
use certhound_config::ServerConfig;
use futures_util::StreamExt;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(10);

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct Server {
    addr: SocketAddr,
    hub: Hub,
    metrics: Arc<Metrics>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Server {
    async fn start(cfg: ServerConfig) -> Server {
        Server::start_at(cfg, 1).await
    }

    async fn start_at(cfg: ServerConfig, first_seq: u64) -> Server {
        let metrics = Arc::new(Metrics::default());
        let hub = Hub::new(&cfg, first_seq, metrics.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, hub.clone(), cfg, stop.clone()));
        Server {
            addr,
            hub,
            metrics,
            stop,
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr)
    }

    async fn connect(&self, path: &str) -> Client {
        let (ws, _) = timeout(WAIT, tokio_tungstenite::connect_async(self.url(path)))
            .await
            .expect("connect in time")
            .expect("websocket handshake");
        ws
    }

    fn publish(&self, name: &str) -> u64 {
        publish_to(&self.hub, name)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(self.addr).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = Vec::new();
        timeout(WAIT, s.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8(out).unwrap();
        let status = text[9..12].parse().unwrap();
        let body = text.split_once("\r\n\r\n").unwrap().1.to_string();
        (status, body)
    }
}

fn publish_to(hub: &Hub, name: &str) -> u64 {
    let lite = format!(
        r#"{{"message_type":"certificate_update","data":{{"update_type":"X509LogEntry","leaf_cert":{{"all_domains":["{name}"]}},"cert_index":1,"seen":1.0,"source":{{"url":"ct.example/","name":"Test log"}}}}}}"#
    );
    let full = lite.replace(r#""cert_index""#, r#""chain":[],"cert_index""#);
    let doms = format!(r#"{{"message_type":"dns_entries","data":["{name}"]}}"#);
    hub.publish(lite.as_bytes(), full.as_bytes(), doms.as_bytes())
}

fn big_message(hub: &Hub, i: usize) -> u64 {
    let pad = "x".repeat(64 * 1024);
    let lite =
        format!(r#"{{"message_type":"certificate_update","data":{{"i":{i},"pad":"{pad}"}}}}"#);
    hub.publish(lite.as_bytes(), lite.as_bytes(), lite.as_bytes())
}

/// The next text message, as JSON (pings and pongs skipped).
async fn next_json(ws: &mut Client) -> Value {
    loop {
        match timeout(WAIT, ws.next()).await.expect("a message in time") {
            Some(Ok(Message::Text(t))) => return serde_json::from_str(t.as_str()).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// The close frame's code, skipping anything before it.
async fn close_code(ws: &mut Client) -> Option<CloseCode> {
    loop {
        match timeout(WAIT, ws.next()).await.expect("close in time") {
            Some(Ok(Message::Close(f))) => return f.map(|f| f.code),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("error before a close frame: {e}"),
            None => return None,
        }
    }
}

/// Reads until the connection ends (close frame, end or error: a client that did not read has
/// pings buffered, and answering them can fail once the server has closed).
async fn ends(ws: &mut Client) {
    let ended = timeout(WAIT, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the connection ends");
}

/// Waits (with a deadline) until `cond` holds.
async fn until(what: &str, cond: impl Fn() -> bool) {
    timeout(WAIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

fn cfg() -> ServerConfig {
    ServerConfig {
        listen: "127.0.0.1:0".into(),
        ..ServerConfig::default()
    }
}

#[tokio::test]
async fn each_path_gets_its_form_with_seq() {
    let srv = Server::start(cfg()).await;
    let mut lite = srv.connect("/").await;
    let mut full = srv.connect("/full-stream").await;
    let mut full_slash = srv.connect("/full-stream/").await;
    let mut doms = srv.connect("/domains-only").await;
    assert_eq!(srv.publish("a.example"), 1);
    assert_eq!(srv.publish("b.example"), 2);
    for seq in 1..=2u64 {
        let name = if seq == 1 { "a.example" } else { "b.example" };
        let l = next_json(&mut lite).await;
        assert_eq!(l["seq"], seq);
        assert_eq!(l["message_type"], "certificate_update");
        assert_eq!(l["data"]["leaf_cert"]["all_domains"][0], name);
        assert!(l["data"].get("chain").is_none());
        for f in [&mut full, &mut full_slash] {
            let f = next_json(f).await;
            assert_eq!(f["seq"], seq);
            assert!(f["data"]["chain"].is_array());
        }
        let d = next_json(&mut doms).await;
        assert_eq!(d["seq"], seq);
        assert_eq!(d["message_type"], "dns_entries");
        assert_eq!(d["data"][0], name);
    }
    let m = srv.metrics.snapshot();
    assert_eq!(m.server_connections, 4);
    assert_eq!(m.server_clients, 4);
    assert_eq!(m.server_published, 2);
    until("all 8 messages are counted as sent", || {
        srv.metrics.snapshot().server_sent == 8
    })
    .await;
}

#[tokio::test]
async fn since_replays_then_switches_to_live_without_loss_or_duplicates() {
    let srv = Server::start(cfg()).await;
    for i in 0..100 {
        srv.publish(&format!("{i}.example"));
    }
    const TOTAL: u64 = 3000;
    let hub = srv.hub.clone();
    let publisher = tokio::spawn(async move {
        for i in 100..TOTAL {
            publish_to(&hub, &format!("{i}.example"));
            tokio::task::yield_now().await;
        }
    });
    // Connect while the publisher runs: the replay/live switch happens mid-stream.
    let mut ws = srv.connect("/domains-only?since=40").await;
    let mut expected = 41;
    while expected <= TOTAL {
        let m = next_json(&mut ws).await;
        assert_eq!(m["seq"], expected, "seqs must be consecutive: {m}");
        assert_eq!(m["data"][0], format!("{}.example", expected - 1));
        expected += 1;
    }
    publisher.await.unwrap();
    let replayed = srv.metrics.snapshot().server_replayed;
    assert!(
        replayed >= 60,
        "at least seqs 41..=100 were replayed, got {replayed}"
    );
    assert_eq!(srv.metrics.snapshot().server_gaps, 0);
}

#[tokio::test]
async fn too_old_since_gets_a_gap_notice_then_the_history() {
    let srv = Server::start(ServerConfig {
        history: 5,
        latest: 5,
        ..cfg()
    })
    .await;
    for i in 0..10 {
        srv.publish(&format!("{i}.example"));
    }
    let mut ws = srv.connect("/?since=2").await;
    let gap = next_json(&mut ws).await;
    assert_eq!(gap["message_type"], "gap");
    assert!(gap.get("seq").is_none(), "a gap notice has no seq: {gap}");
    assert_eq!(gap["data"]["reason"], "expired");
    assert_eq!(gap["data"]["since"], 2);
    assert_eq!(gap["data"]["first_available"], 6);
    assert_eq!(gap["data"]["last_seq"], 10);
    assert_eq!(gap["data"]["missed"], 3);
    for seq in 6..=10u64 {
        assert_eq!(next_json(&mut ws).await["seq"], seq);
    }
    srv.publish("live.example");
    assert_eq!(next_json(&mut ws).await["seq"], 11);
    let m = srv.metrics.snapshot();
    assert_eq!((m.server_gaps, m.server_replayed), (1, 5));
}

#[tokio::test]
async fn since_ahead_of_the_numbering_gets_a_gap_notice_then_live() {
    let srv = Server::start_at(cfg(), 500).await;
    srv.publish("a.example");
    let mut ws = srv.connect("/?since=9000").await;
    let gap = next_json(&mut ws).await;
    assert_eq!(gap["message_type"], "gap");
    assert_eq!(gap["data"]["reason"], "ahead");
    assert_eq!(gap["data"]["since"], 9000);
    assert_eq!(gap["data"]["first_available"], 501);
    assert!(gap["data"]["missed"].is_null());
    assert_eq!(srv.publish("b.example"), 501);
    let m = next_json(&mut ws).await;
    assert_eq!(
        (
            m["seq"].as_u64(),
            m["data"]["leaf_cert"]["all_domains"][0].as_str()
        ),
        (Some(501), Some("b.example"))
    );
    assert_eq!(srv.metrics.snapshot().server_gaps, 1);
}

#[tokio::test]
async fn without_since_only_live_messages() {
    let srv = Server::start(cfg()).await;
    srv.publish("old.example");
    let mut ws = srv.connect("/").await;
    srv.publish("new.example");
    assert_eq!(next_json(&mut ws).await["seq"], 2);
}

#[tokio::test]
async fn slow_client_is_cut_off_while_a_fast_one_gets_every_message() {
    let srv = Server::start(ServerConfig {
        client_queue: 4,
        history: 8,
        latest: 8,
        ..cfg()
    })
    .await;
    // Never read: its socket buffers fill, then its queue.
    let mut slow = srv.connect("/").await;
    let mut fast = srv.connect("/").await;
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        let mut expected = 1u64;
        loop {
            let m = next_json(&mut fast).await;
            assert_eq!(
                m["seq"], expected,
                "the fast client gets every message in order"
            );
            seen_tx.send(expected).unwrap();
            expected += 1;
        }
    });
    let mut published = 0u64;
    // Paced by the fast client (its queue never holds more than one message), as fast as it reads.
    while srv.metrics.snapshot().server_slow_clients == 0 {
        assert!(published < 20_000, "the slow client was never cut off");
        published = big_message(&srv.hub, published as usize);
        let seen = timeout(WAIT, seen_rx.recv()).await.unwrap().unwrap();
        assert_eq!(seen, published);
    }
    // And the fast client goes on.
    for _ in 0..20 {
        published = big_message(&srv.hub, published as usize);
        assert_eq!(
            timeout(WAIT, seen_rx.recv()).await.unwrap(),
            Some(published)
        );
    }
    assert_eq!(srv.hub.clients(), 1);
    assert_eq!(srv.metrics.snapshot().server_slow_clients, 1);
    until("the slow client's connection has ended", || {
        srv.metrics.snapshot().server_clients == 1
    })
    .await;
    // The slow client, reading at last, finds its connection ended (after what was buffered).
    ends(&mut slow).await;
    reader.abort();
}

#[tokio::test]
async fn connections_past_the_limit_get_503() {
    let srv = Server::start(ServerConfig {
        max_connections: 2,
        ..cfg()
    })
    .await;
    let _a = srv.connect("/").await;
    let b = srv.connect("/full-stream").await;
    match tokio_tungstenite::connect_async(srv.url("/domains-only")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 503)
        }
        other => panic!("expected 503, got {other:?}"),
    }
    assert_eq!(srv.metrics.snapshot().server_refused, 1);
    // A slot frees when a client leaves.
    drop(b);
    until("the closed client's slot is free", || {
        srv.metrics.snapshot().server_clients == 1
    })
    .await;
    let _c = srv.connect("/domains-only").await;
}

#[tokio::test]
async fn plain_gets_example_latest_and_errors() {
    let srv = Server::start(ServerConfig { latest: 3, ..cfg() }).await;
    assert_eq!(srv.get("/example.json").await.0, 404);
    for i in 1..=5 {
        srv.publish(&format!("{i}.example"));
    }
    let (status, body) = srv.get("/example.json").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["seq"], 5);
    assert_eq!(v["data"]["leaf_cert"]["all_domains"][0], "5.example");
    let (status, body) = srv.get("/latest.json").await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let seqs: Vec<u64> = v["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [5, 4, 3], "newest first, as CaliDog's server");
    assert!(v["messages"][0]["data"].get("chain").is_none(), "lite form");
    assert_eq!(srv.get("/nope").await.0, 404);
    assert_eq!(srv.get("/").await.0, 400);
    assert_eq!(srv.get("/full-stream").await.0, 400);
    assert_eq!(srv.get("/?since=abc").await.0, 400);
}

#[tokio::test]
async fn idle_client_without_pongs_is_cut_but_an_answering_one_stays() {
    let srv = Server::start(ServerConfig {
        ping_interval: Duration::from_millis(50),
        idle_timeout: Duration::from_millis(1000),
        ..cfg()
    })
    .await;
    // Not polled, so it answers no ping.
    let mut mute = srv.connect("/").await;
    let mut alive = srv.connect("/").await;
    let (pings_tx, mut pings_rx) = tokio::sync::mpsc::unbounded_channel();
    let answering = tokio::spawn(async move {
        // Reading makes tungstenite answer the pings.
        while let Some(Ok(m)) = alive.next().await {
            if matches!(m, Message::Ping(_)) {
                let _ = pings_tx.send(());
            }
        }
    });
    until("the mute client is cut off", || srv.hub.clients() == 1).await;
    until("the mute client's connection has ended", || {
        srv.metrics.snapshot().server_clients == 1
    })
    .await;
    ends(&mut mute).await;
    // The answering client stays over several idle timeouts' worth of pings.
    for _ in 0..20 {
        timeout(WAIT, pings_rx.recv()).await.unwrap().unwrap();
    }
    assert_eq!(srv.hub.clients(), 1);
    assert!(!answering.is_finished());
}

#[tokio::test]
async fn shutdown_closes_every_client_and_serve_returns() {
    let srv = Server::start(cfg()).await;
    let mut a = srv.connect("/").await;
    let mut b = srv.connect("/full-stream").await;
    srv.stop.cancel();
    assert_eq!(close_code(&mut a).await, Some(CloseCode::Away));
    assert_eq!(close_code(&mut b).await, Some(CloseCode::Away));
    timeout(WAIT, srv.task).await.unwrap().unwrap();
    let _ = a.close(None).await;
}
