//! Shutdown: SIGTERM or SIGINT makes `certhound watch` log its final `metrics` event and exit 0,
//! without treating its own actors' stopping as failures (no `actor restarted`, no missed drain
//! deadline).

use certhound_tests::messages::lite;
use certhound_tests::output::event_u64;
use certhound_tests::{timeouts, Certhound, FakeCertstream, Step, TestConfig};

async fn stops_cleanly_on(signal: i32) {
    let server =
        FakeCertstream::start(vec![Step::Text(lite(&["paypal-shutdown-check.com"], 1))]).await;
    let config = TestConfig::with_feed(&server.url());
    let mut certhound = Certhound::watch(&config);
    certhound
        .expect_findings(&["paypal-shutdown-check.com"], timeouts::EVENT)
        .await;

    let describe = certhound.stop_cleanly_on(signal, "after the signal").await;
    let last = &certhound
        .last_event("metrics")
        .unwrap_or_else(|| panic!("no final metrics event\n{describe}"));
    assert_eq!(event_u64(last, "findings"), Some(1), "{last}");
    assert!(
        certhound.events("actor restarted").is_empty(),
        "actors stopped for shutdown were restarted:\n{describe}"
    );
    assert_eq!(event_u64(last, "restarts"), Some(0), "{last}");
    assert!(
        certhound
            .events("shutdown deadline passed before the pipeline drained")
            .is_empty(),
        "{describe}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_cleanly() {
    stops_cleanly_on(libc::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_cleanly() {
    stops_cleanly_on(libc::SIGINT).await;
}
