//! Lossless reconnect: the watch role reads certhound's own server through a proxy that drops
//! every connection five times while entries flow. Each reconnect asks `?since=<last seq>` and
//! the server sends what was missed from its history, so the watch role processes every
//! certificate exactly once and reports every planted finding.

use certhound_tests::ct_log::{generated_entry, FakeCtLog};
use certhound_tests::ct_server::{rfc6962_log, server_config, start};
use certhound_tests::observed::Observed;
use certhound_tests::output::event_str;
use certhound_tests::tcp_proxy::TcpProxy;
use certhound_tests::{timeouts, CerthoundCommand, TestConfig};

#[tokio::test]
async fn watch_misses_nothing_across_five_forced_disconnects() {
    let log = FakeCtLog::start(Vec::new()).await;
    let (mut server, addr) = start("server", &server_config(&rfc6962_log(&log))).await;
    let proxy = TcpProxy::start(addr).await;

    let w = TestConfig::with_feed(&format!("ws://{}/", proxy.addr()));
    let mut watch = CerthoundCommand::new().test_config(&w).arg("watch").spawn();
    watch
        .expect_event("connected to feed", timeouts::EVENT)
        .await;

    // Six rounds of 100 certificates, the last a phishing name; the connection is cut
    // right after each of the first five rounds is appended, while its messages are in flight.
    let mut planted = Vec::new();
    let mut index = 0u64;
    for round in 0..6u64 {
        let domain = format!("paypal-account-verify{round}.com");
        let mut batch = Vec::new();
        for i in 0..100u64 {
            // The planted name last: once its finding is out, the whole round was read.
            let name = if i == 99 {
                domain.clone()
            } else {
                format!("host{index}.example.org")
            };
            batch.push(generated_entry(index, &[&name], i % 2 == 0));
            index += 1;
        }
        log.append(batch);
        if round < 5 {
            // Wait until the server has this round's first entries, then cut mid-stream.
            log.wait_for(timeouts::EVENT, |st| {
                st.requests
                    .iter()
                    .any(|r| r.path.contains(&format!("start={}", round * 100)))
            })
            .await
            .unwrap();
            proxy.cut();
        }
        planted.push(domain);
        let refs: Vec<&str> = planted.iter().map(String::as_str).collect();
        watch.expect_findings(&refs, timeouts::BULK).await;
    }
    watch
        .wait_for_events("connected to feed", 6, timeouts::EVENT, |_| true)
        .await
        .unwrap();
    watch.stop_cleanly("after SIGTERM").await;
    server.stop_cleanly("after SIGTERM").await;
    let served = server
        .last_event("server_metrics")
        .expect("server's final metrics");
    assert_eq!(served["fields"]["server_published"], 600, "{served}");
    let last = watch.last_event("metrics").expect("final metrics");
    let f = &last["fields"];
    let urls: Vec<String> = watch
        .events("connected to feed")
        .iter()
        .filter_map(|e| event_str(e, "url"))
        .collect();
    assert_eq!(
        f["certificates"], 600,
        "every certificate exactly once: {last}; connections: {urls:?}"
    );
    assert_eq!(f["feed_gaps"], 0, "{last}");
    assert!(f["reconnects"].as_u64().unwrap() >= 5, "{last}");
    assert!(proxy.accepted() >= 6);
    let found = watch.findings();
    assert_eq!(found.len(), 6, "{found:?}");
}
