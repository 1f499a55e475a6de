//! The feed drops the TCP connection (no close frame) three times mid-stream: certhound must
//! reconnect each time, report the findings sent on every connection, and count the reconnects
//! (`connected to feed` events, final `metrics` event).

use certhound_tests::domains::Background;
use certhound_tests::messages::{domains_only, full, lite};
use certhound_tests::output::event_u64;
use certhound_tests::{timeouts, Certhound, FakeCertstream, Step, TestConfig};

/// A batch of background messages with one planted finding in the middle.
fn batch(bg: &mut Background, planted: &str, base: u64) -> Vec<Step> {
    let mut steps = Vec::new();
    for i in 0..30u64 {
        let n = bg.next_name();
        steps.push(Step::Text(match i % 3 {
            0 => lite(&[&n], base + i),
            1 => full(&[&n], base + i),
            _ => domains_only(&[&n]),
        }));
        if i == 15 {
            steps.push(Step::Text(lite(
                &[planted, &format!("www.{planted}")],
                base + 100,
            )));
        }
    }
    steps
}

const PLANTED: [&str; 4] = [
    "paypal-account-recovery.com",
    "netflix-payment-failed.net",
    "coinbase-secure-login.org",
    "dhl-express-delivery.info",
];

fn config(server: &FakeCertstream) -> TestConfig {
    TestConfig::with_feed(&server.url_with_path("/full-stream"))
}

/// The feed's script: a batch (from background seed `seed`) for each planted finding, with the
/// steps `between` them (ending in a dropped connection) before each batch but the first.
fn batches_between(seed: u64, between: &[Step]) -> Vec<Step> {
    let mut bg = Background::new(seed);
    let mut script = Vec::new();
    for (i, planted) in PLANTED.iter().enumerate() {
        if i > 0 {
            script.extend_from_slice(between);
        }
        script.extend(batch(&mut bg, planted, 1000 * i as u64));
    }
    script
}

/// Waits until the feed has had its `n`th connection.
async fn wait_for_connection(server: &FakeCertstream, n: usize) {
    if let Err(stats) = server.wait_for_connections(n, timeouts::EVENT).await {
        panic!("connection {n} not made: {stats:?}");
    }
}

async fn check_reconnects_logged(certhound: &mut Certhound) {
    // One `connected to feed` per connection, the last one with reconnects = 3.
    let connected = certhound
        .wait_for_events("connected to feed", 4, timeouts::EVENT, |_| true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let counts: Vec<Option<u64>> = connected
        .iter()
        .map(|e| event_u64(e, "reconnects"))
        .collect();
    assert_eq!(counts.len(), 4, "{connected:#?}");
    assert_eq!(
        counts.last(),
        Some(&Some(3)),
        "reconnects of the 4th connection: {connected:#?}"
    );
    assert!(
        counts.windows(2).all(|w| w[0] < w[1]),
        "reconnects grow: {counts:?}"
    );
    let lost = certhound.events("feed connection lost");
    assert!(lost.len() >= 3, "{lost:#?}");

    let describe = certhound.stop_cleanly("after SIGTERM").await;
    let last = &certhound
        .last_event("metrics")
        .unwrap_or_else(|| panic!("no metrics event\n{describe}"));
    assert_eq!(event_u64(last, "reconnects"), Some(3), "{last}");
    assert_eq!(event_u64(last, "findings"), Some(4), "{last}");

    let mut got = certhound.found_domains();
    got.sort();
    let mut want: Vec<String> = PLANTED.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want, "{describe}");
}

/// Each drop happens once the previous batch's finding is out, so every batch was fully read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_after_each_drop_and_reports_every_batch() {
    let script = batches_between(11, &[Step::Gate, Step::DropConnection]);
    let server = FakeCertstream::start(script).await;
    let mut certhound = Certhound::watch(&config(&server));

    for (i, planted) in PLANTED.iter().enumerate() {
        certhound
            .wait_for_findings(&[planted], timeouts::EVENT)
            .await
            .unwrap_or_else(|e| panic!("batch {i}: {e}\nserver: {:?}", server.stats()));
        wait_for_connection(&server, i + 1).await;
        server.release();
    }
    assert_eq!(server.connections(), 4, "{:?}", server.stats());
    assert_eq!(server.steps_left(), 0);
    check_reconnects_logged(&mut certhound).await;
    assert_eq!(
        server.connections(),
        4,
        "no extra connection: {:?}",
        server.stats()
    );
}

/// The drops follow the batches at once: what was sent before a drop must still be read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_just_before_a_drop_are_not_lost() {
    let script = batches_between(12, &[Step::DropConnection]);
    let server = FakeCertstream::start(script).await;
    let mut certhound = Certhound::watch(&config(&server));

    certhound
        .wait_for_findings(&PLANTED, timeouts::EVENT)
        .await
        .unwrap_or_else(|e| panic!("{e}\nserver: {:?}", server.stats()));
    wait_for_connection(&server, 4).await;
    check_reconnects_logged(&mut certhound).await;
}
