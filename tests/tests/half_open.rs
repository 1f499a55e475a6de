//! A half-open feed: the server stops sending and stops answering pings but keeps the TCP socket
//! open. With a short ping interval and idle timeout, certhound must notice, reconnect, and
//! report what the next connection carries.

use certhound_tests::observed::Observed;
use std::time::Duration;

use certhound_tests::messages::{full, lite};
use certhound_tests::{timeouts, Certhound, FakeCertstream, Step, TestConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_connection_is_replaced() {
    let server = FakeCertstream::start(vec![
        Step::Text(lite(&["paypal-secure-check.com"], 1)),
        // Held here until certhound has pinged at least once (and got its pong).
        Step::Gate,
        Step::GoSilent,
        Step::Text(full(&["amazon-prime-renewal.net"], 2)),
    ])
    .await;
    let mut config = TestConfig::with_feed(&server.url());
    config.set_str("watch", "ping_interval", "200ms");
    config.set_str("watch", "idle_timeout", "1s");
    let mut certhound = Certhound::watch(&config);

    certhound
        .expect_findings(&["paypal-secure-check.com"], timeouts::EVENT)
        .await;
    server
        .wait_for(timeouts::EVENT, |s| s.pings >= 1)
        .await
        .unwrap_or_else(|s| panic!("certhound never pinged: {s:?}"));
    assert_eq!(
        server.connections(),
        1,
        "pings were answered: no reconnect yet"
    );
    server.release();

    // idle_timeout is 1 s: a generous bound for the replacement connection.
    if let Err(stats) = server
        .wait_for_connections(2, Duration::from_secs(15))
        .await
    {
        panic!(
            "{}\nserver: {stats:?}",
            certhound.describe("no second connection")
        );
    }
    certhound
        .expect_findings(&["amazon-prime-renewal.net"], timeouts::EVENT)
        .await;
    certhound
        .expect_event("feed connection lost", timeouts::EVENT)
        .await;
    assert!(certhound.is_running());

    certhound.stop_cleanly("after SIGTERM").await;
    let got = certhound.found_domains();
    assert_eq!(got, ["paypal-secure-check.com", "amazon-prime-renewal.net"]);
}
