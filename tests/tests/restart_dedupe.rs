//! Dedupe survives a restart: a registrable domain reported in a first run (stopped with SIGTERM,
//! exit 0) and seen again in a second run on the same store, from a feed without `seq` (so nothing
//! is resumed or replayed), is not reported again within the default 24 h window; a new domain in
//! the second run is. The second run's `store opened` event tells what the store holds.

use certhound_tests::durable::{channel_state, domain_counts, stored_findings};
use certhound_tests::messages::{domains_only, full, lite};
use certhound_tests::output::{event_str, event_u64};
use certhound_tests::{timeouts, Certhound, FakeCertstream, Step, TestConfig};

const OLD: &str = "paypal-restart-dedupe.com";
const NEW: &str = "netflix-restart-dedupe.net";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_reported_before_a_restart_is_not_reported_again() {
    let mut config = TestConfig::new();

    // Run 1: OLD is reported.
    let server1 =
        FakeCertstream::start(vec![Step::Text(lite(&[OLD, &format!("www.{OLD}")], 1))]).await;
    config.feed(&server1.url());
    let mut run1 = Certhound::watch(&config);
    run1.expect_findings(&[OLD], timeouts::EVENT).await;
    let describe = run1.stop_cleanly("run 1").await;
    let got = run1.found_domains();
    assert_eq!(got, [OLD], "{describe}");
    let first_id = run1.findings()[0]["id"].as_str().map(str::to_string);
    assert!(first_id.is_some(), "finding has an id: {describe}");
    drop(server1);

    // Run 2, same store, a fresh feed: OLD on two other certificates, then NEW. Messages are
    // matched in order, so once NEW is out, both OLD certificates were seen.
    let server2 = FakeCertstream::start(vec![
        Step::Text(lite(&[OLD], 2)),
        Step::Text(full(&[&format!("login.{OLD}"), &format!("*.{OLD}")], 3)),
        Step::Text(domains_only(&[&format!("mail.{OLD}")])),
        Step::Text(lite(&[NEW, &format!("www.{NEW}")], 4)),
    ])
    .await;
    config.feed(&server2.url());
    let mut run2 = Certhound::watch(&config);
    let opened = &run2.expect_event("store opened", timeouts::EVENT).await;
    assert_eq!(
        event_str(opened, "path").as_deref(),
        Some(config.store_path().to_str().unwrap()),
        "{opened}"
    );
    assert_eq!(event_u64(opened, "findings"), Some(1), "{opened}");
    assert_eq!(
        event_u64(opened, "pending"),
        Some(0),
        "run 1 delivered before it exited: {opened}"
    );
    run2.expect_findings(&[NEW], timeouts::EVENT).await;
    let describe = run2.stop_cleanly("run 2").await;
    let got = run2.found_domains();
    assert_eq!(got, [NEW], "only the new domain in run 2: {describe}");
    assert_ne!(
        run2.findings()[0]["id"].as_str().map(str::to_string),
        first_id,
        "{describe}"
    );
    let last = &run2
        .last_event("metrics")
        .unwrap_or_else(|| panic!("no metrics event\n{describe}"));
    assert!(
        event_u64(last, "duplicates").unwrap_or(0) >= 1,
        "OLD counted as a duplicate: {last}"
    );
    assert_eq!(event_u64(last, "stored"), Some(1), "{last}");

    // The store holds each domain once, both delivered.
    let stored = stored_findings(&config).await;
    let counts = domain_counts(&stored);
    assert_eq!(counts.len(), 2, "{stored:#?}");
    assert_eq!(counts.get(OLD), Some(&1), "{stored:#?}");
    assert_eq!(counts.get(NEW), Some(&1), "{stored:#?}");
    for f in &stored {
        assert_eq!(channel_state(f, "jsonl"), Some("sent"), "{f}");
    }
    assert_eq!(
        stored
            .iter()
            .find(|f| f["registrable_domain"] == OLD)
            .and_then(|f| f["id"].as_str())
            .map(str::to_string),
        first_id
    );
}
