//! The admin listener of a running `certhound watch`: `/metrics` scraped and parsed as
//! Prometheus text while messages flow, and `/readyz` following the feed going down and coming
//! back (through a TCP proxy the test can switch off).

use certhound_tests::admin::{self, scrape_until, wait_status};
use certhound_tests::domains::Background;
use certhound_tests::messages::lite;
use certhound_tests::output::event_u64;
use certhound_tests::tcp_proxy::TcpProxy;
use certhound_tests::{timeouts, Certhound, CerthoundCommand, FakeCertstream, Step, TestConfig};

const PLANTED: &str = "paypal-account-recovery.com";

/// `n` background messages numbered from `base`.
fn background(bg: &mut Background, n: u64, base: u64) -> Vec<Step> {
    (0..n)
        .map(|i| Step::Text(lite(&[&bg.next_name()], base + i)))
        .collect()
}

#[tokio::test]
async fn metrics_move_as_messages_flow_and_parse_as_prometheus_text() {
    let mut bg = Background::new(7);
    // 20 messages, a pause, then 30 more with one finding among them.
    let mut script = background(&mut bg, 20, 0);
    script.push(Step::Gate);
    script.extend(background(&mut bg, 15, 100));
    script.push(Step::Text(lite(&[PLANTED], 200)));
    script.extend(background(&mut bg, 14, 300));
    let server = FakeCertstream::start(script).await;
    let mut c = TestConfig::with_feed(&server.url());
    c.admin();
    let mut p = Certhound::watch(&c);
    let addr = admin::address(&mut p).await;

    let first = scrape_until(addr, timeouts::EVENT, "20 messages counted", |s| {
        s.value("certhound_messages_total", &[]) == Some(20.0)
    })
    .await;
    assert_eq!(first.value("certhound_findings_total", &[]), Some(0.0));
    assert_eq!(first.value("certhound_feed_connected", &[]), Some(1.0));
    assert_eq!(
        first.declared_type("certhound_messages_total"),
        Some("counter")
    );
    assert_eq!(
        first.declared_type("certhound_feed_connected"),
        Some("gauge")
    );
    assert!(
        first.text.contains("# HELP certhound_messages_total "),
        "{}",
        first.text
    );

    server.release();
    p.expect_findings(&[PLANTED], timeouts::EVENT).await;
    let done = scrape_until(addr, timeouts::EVENT, "the finding delivered", |s| {
        s.value(
            "certhound_deliveries_total",
            &[("channel", "jsonl"), ("outcome", "sent")],
        ) == Some(1.0)
    })
    .await;
    assert_eq!(done.value("certhound_messages_total", &[]), Some(50.0));
    assert!(done.value("certhound_names_total", &[]) >= Some(50.0));
    assert_eq!(done.value("certhound_findings_total", &[]), Some(1.0));
    assert_eq!(done.value("certhound_stored_total", &[]), Some(1.0));
    assert_eq!(done.value("certhound_delivered_total", &[]), Some(1.0));
    assert_eq!(
        done.value(
            "certhound_deliveries_total",
            &[("channel", "jsonl"), ("outcome", "failed")]
        ),
        None,
        "no failure counted"
    );
    // One observation in each latency histogram (count of the +Inf bucket).
    assert_eq!(
        done.value(
            "certhound_delivery_latency_seconds",
            &[("channel", "jsonl")]
        ),
        Some(1.0),
        "{}",
        done.text
    );
    assert_eq!(
        done.value("certhound_finding_latency_seconds", &[]),
        Some(1.0)
    );
    assert_eq!(
        done.value("certhound_queue_capacity", &[("queue", "matcher")]),
        Some(64.0)
    );
    assert!(done.value("certhound_feed_last_frame_age_seconds", &[]) < Some(30.0));

    // Every field of the `metrics` log event is exported, as a counter or a gauge.
    p.stop_cleanly("after SIGTERM").await;
    let last = &p.last_event("metrics").expect("a metrics event");
    let fields = last["fields"].as_object().expect("event fields");
    let mut checked = 0;
    for (name, _) in fields.iter().filter(|(_, v)| v.is_u64()) {
        let name = match name.as_str() {
            "rss_kb" => "resident_memory_bytes",
            "peak_rss_kb" => "peak_resident_memory_bytes",
            n => n,
        };
        let counter = format!("certhound_{name}_total");
        let gauge = format!("certhound_{name}");
        assert!(
            done.declared_type(&counter) == Some("counter")
                || done.declared_type(&gauge) == Some("gauge"),
            "{name} of the metrics event is not in /metrics"
        );
        checked += 1;
    }
    assert!(checked >= 30, "{checked} fields: {last}");
    assert_eq!(event_u64(last, "findings"), Some(1));
}

#[tokio::test]
async fn readyz_fails_while_the_feed_is_down_past_the_staleness() {
    let mut bg = Background::new(11);
    let server = FakeCertstream::start(background(&mut bg, 5, 0)).await;
    let proxy = TcpProxy::start(server.addr()).await;
    let mut c = TestConfig::with_feed(&format!("ws://{}/", proxy.addr()));
    c.admin();
    c.set_str("admin", "ready_staleness", "1s");
    // Pongs are frames too: a connected, quiet feed stays fresh.
    c.set_str("watch", "ping_interval", "200ms");
    let mut p = Certhound::watch(&c);
    let addr = admin::address(&mut p).await;

    let (status, _, body) = admin::get(addr, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    wait_status(addr, "/readyz", 200, timeouts::EVENT).await;
    assert_eq!(health(addr, false).await, (Some(0), String::new()));
    // Connected and quiet for longer than the staleness: still ready.
    p.expect_event("connected to feed", timeouts::EVENT).await;
    let quiet = scrape_until(addr, timeouts::EVENT, "5 messages", |s| {
        s.value("certhound_messages_total", &[]) == Some(5.0)
    })
    .await;
    assert_eq!(quiet.value("certhound_feed_connected", &[]), Some(1.0));

    proxy.set_down(true);
    let why = wait_status(addr, "/readyz", 503, timeouts::EVENT).await;
    assert!(why.starts_with("feed: nothing received for "), "{why}");
    assert!(why.contains("admin.ready_staleness 1s"), "{why}");
    let (status, _, _) = admin::get(addr, "/healthz").await;
    assert_eq!(status, 200, "the process still runs");
    // The container health check says the same.
    let (code, out) = health(addr, false).await;
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.starts_with("HTTP 503: feed: nothing received for "),
        "{out}"
    );
    assert_eq!(
        health(addr, true).await.0,
        Some(0),
        "--live: the process runs"
    );
    let down = admin::scrape(addr).await;
    assert_eq!(down.value("certhound_feed_connected", &[]), Some(0.0));

    proxy.set_down(false);
    wait_status(addr, "/readyz", 200, timeouts::EVENT).await;
    assert!(server.connections() >= 2, "reconnected through the proxy");

    let (status, _, _) = admin::get(addr, "/nope").await;
    assert_eq!(status, 404);
    p.stop_cleanly("after SIGTERM").await;
    assert_eq!(
        health(addr, true).await.0,
        Some(1),
        "nothing listens any more"
    );
}

/// `certhound health [--live] --addr ADDR`: its exit code, and its stdout when not ready
/// (empty when ready: the body of a 200 is only echoed, and not compared here).
async fn health(addr: std::net::SocketAddr, live: bool) -> (Option<i32>, String) {
    let mut cmd = CerthoundCommand::new()
        .arg("health")
        .arg("--addr")
        .arg(addr.to_string());
    if live {
        cmd = cmd.arg("--live");
    }
    let out = cmd.run(timeouts::EXIT).await;
    let text = out.stdout_text();
    let shown = if out.code() == Some(0) {
        String::new()
    } else {
        text.trim().to_string()
    };
    (out.code(), shown)
}
