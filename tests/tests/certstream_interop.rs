//! The server role's feed against the real Python certstream client (`pip install certstream`,
//! CaliDog's library that most certstream consumers use): `tests/python/certstream_client.py`
//! runs `certstream.listen_for_events` against the feed in process and prints what it received.
//!
//! The interpreter comes from `$CERTSTREAM_PYTHON` (a venv's python with `certstream`
//! installed). Without it the test fails under CI (`$CI` set) and is skipped, saying so, locally.

use certhound_actors::metrics::Metrics;
use certhound_actors::server::{serve, Hub};
use certhound_config::ServerConfig;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;

const HOW: &str = "set CERTSTREAM_PYTHON to a python with the certstream package, e.g. \
     `python3 -m venv /tmp/cs-venv && /tmp/cs-venv/bin/pip install certstream && \
     export CERTSTREAM_PYTHON=/tmp/cs-venv/bin/python`";

fn python() -> Option<PathBuf> {
    match std::env::var_os("CERTSTREAM_PYTHON") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ if std::env::var_os("CI").is_some() => {
            panic!("certstream_interop needs the Python certstream client under CI: {HOW}")
        }
        _ => {
            eprintln!("SKIPPED certstream_interop: CERTSTREAM_PYTHON is not set ({HOW})");
            None
        }
    }
}

fn publish(hub: &Hub, name: &str) -> u64 {
    let data = format!(
        r#""data":{{"update_type":"X509LogEntry","leaf_cert":{{"subject":{{"CN":"{name}"}},"all_domains":["{name}","www.{name}"],"not_before":1700000000,"not_after":1800000000}},"cert_index":7,"cert_link":"https://ct.example/ct/v1/get-entries?start=7&end=7","seen":1700000000.5,"source":{{"url":"https://ct.example/","name":"Example log"}}}}"#
    );
    let lite = format!(r#"{{"message_type":"certificate_update",{data}}}"#);
    let doms = format!(r#"{{"message_type":"dns_entries","data":["{name}","www.{name}"]}}"#);
    hub.publish(lite.as_bytes(), lite.as_bytes(), doms.as_bytes())
}

/// Runs the Python client on `path` of the feed at `addr` until it has `n` messages; publishes
/// `live` more once it is connected (after the replay it asked for).
async fn run_client(
    python: &PathBuf,
    hub: &Hub,
    addr: SocketAddr,
    path: &str,
    n: usize,
    live: &[&str],
) -> Vec<Value> {
    let connections = || hub.metrics().snapshot().server_connections;
    let before = connections();
    let child = spawn_client(python, &format!("ws://{addr}{path}"), n);
    // Live messages once the client is subscribed (it is, before the connection is counted).
    timeout(Duration::from_secs(30), async {
        while connections() == before {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the Python client connects");
    for name in live {
        publish(hub, name);
    }
    received(child).await
}

/// Starts `tests/python/certstream_client.py` on `url`, to receive `n` messages within 30 s.
fn spawn_client(python: &PathBuf, url: &str, n: usize) -> tokio::process::Child {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/certstream_client.py");
    tokio::process::Command::new(python)
        .arg(&script)
        .arg(url)
        .arg(n.to_string())
        .arg("30")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e} ({HOW})", python.display()))
}

/// The messages the client printed, once it has ended successfully.
async fn received(child: tokio::process::Child) -> Vec<Value> {
    let out = timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .expect("the Python client ends")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the Python client failed ({}): stdout {stdout}\nstderr {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test]
async fn python_certstream_client_receives_the_feed() {
    let Some(python) = python() else { return };
    let cfg = ServerConfig {
        listen: "127.0.0.1:0".into(),
        ..ServerConfig::default()
    };
    let metrics = Arc::new(Metrics::default());
    let hub = Hub::new(&cfg, 1, metrics.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(listener, hub.clone(), cfg, stop.clone()));

    for name in ["paypal-login.example", "bank-secure.example", "a.example"] {
        publish(&hub, name);
    }
    // The Python client on a path of this feed, publishing `live` names once it is connected.
    let client = |path, n, live| run_client(&python, &hub, addr, path, n, live);
    // Lite stream: the three published before (asked for with since=0), then two live.
    let got = client("/?since=0", 5, &["live-one.example", "live-two.example"]).await;
    let names = [
        "paypal-login.example",
        "bank-secure.example",
        "a.example",
        "live-one.example",
        "live-two.example",
    ];
    assert_eq!(got.len(), 5, "{got:?}");
    for (i, (m, name)) in got.iter().zip(names).enumerate() {
        assert_eq!(m["message_type"], "certificate_update", "{m}");
        assert_eq!(m["seq"], i as u64 + 1, "{m}");
        let domains = &m["data"]["leaf_cert"]["all_domains"];
        assert_eq!(domains[0], name, "{m}");
        assert_eq!(domains[1], format!("www.{name}"), "{m}");
    }

    // Domains-only stream, live only.
    let got = client("/domains-only", 2, &["x.example", "y.example"]).await;
    assert_eq!(got.len(), 2, "{got:?}");
    for (m, (seq, name)) in got.iter().zip([(6u64, "x.example"), (7, "y.example")]) {
        assert_eq!(m["message_type"], "dns_entries", "{m}");
        assert_eq!(m["seq"], seq, "{m}");
        assert_eq!(
            m["data"],
            serde_json::json!([name, format!("www.{name}")]),
            "{m}"
        );
    }
    assert!(metrics.snapshot().server_connections >= 2);

    stop.cancel();
    timeout(Duration::from_secs(10), server)
        .await
        .expect("serve returns after shutdown")
        .unwrap();
}

/// The real thing end to end: `certhound server` tails a loopback RFC 6962 log of the 30 real
/// fixture entries, and the Python client reads them from `/full-stream`.
#[tokio::test]
async fn python_certstream_client_reads_certhound_server() {
    use certhound_tests::ct_log::{fixture_entries, FakeCtLog};
    use certhound_tests::ct_server::{rfc6962_log, server_config, start};

    let Some(python) = python() else { return };
    let log = FakeCtLog::start(fixture_entries()).await;
    let (mut server, addr) = start("server", &server_config(&rfc6962_log(&log))).await;
    let client = spawn_client(&python, &format!("ws://{addr}/full-stream?since=0"), 30);
    let got = received(client).await;
    let fixtures: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/ct/live_entries.json"
        ))
        .unwrap(),
    )
    .unwrap();
    assert_eq!(got.len(), 30);
    for (m, f) in got.iter().zip(&fixtures) {
        let want: Value = serde_json::from_str(f["expected_full"].as_str().unwrap()).unwrap();
        assert_eq!(m["message_type"], "certificate_update");
        for field in ["all_domains", "serial_number", "sha256", "as_der"] {
            assert_eq!(
                m["data"]["leaf_cert"][field], want["data"]["leaf_cert"][field],
                "{field}"
            );
        }
        assert_eq!(m["data"]["chain"], want["data"]["chain"]);
    }
    server.stop_cleanly("after SIGTERM").await;
}
