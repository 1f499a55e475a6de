//! The webhook channel against a loopback receiver: each finding is POSTed as JSON with its id as
//! `Idempotency-Key` (and the configured `Authorization`, never logged). A 400 is a permanent
//! failure: recorded (`failed: ...` in `certhound findings --json`), logged as an ERROR
//! `delivery failed for good`, not retried, and the other findings still go out. 500 is
//! transient: retried until accepted. 429 with `Retry-After: 1` is retried after that second.

use certhound_tests::observed::Observed;
use std::time::Duration;

use certhound_tests::durable::{channel_state, stored_findings};
use certhound_tests::messages::{full, lite};
use certhound_tests::output::{event_str, event_u64, registrable_domain};
use certhound_tests::webhook_sink::{Reply, Rule};
use certhound_tests::{timeouts, Certhound, FakeCertstream, FakeWebhook, Step, TestConfig};
use serde_json::Value;

const TOKEN: &str = "Bearer s3cr3t-webhook-token";

fn config(server: &FakeCertstream, sink: &FakeWebhook) -> TestConfig {
    let mut c = TestConfig::with_feed(&server.url());
    c.set_str("notify.webhook", "url", &sink.url());
    c.fast_retries();
    c
}

/// SIGTERM, exit 0; returns the last `metrics` event.
async fn stop(certhound: &mut Certhound) -> Value {
    let describe = certhound.stop_cleanly("after SIGTERM").await;
    certhound
        .last_event("metrics")
        .unwrap_or_else(|| panic!("no metrics event\n{describe}"))
}

/// A feed with one finding for `domain`, a receiver answering by `rules`, and certhound
/// running until the receiver has accepted that finding once.
async fn deliver_one(
    domain: &str,
    rules: Vec<Rule>,
) -> (FakeCertstream, FakeWebhook, TestConfig, Certhound) {
    let server = FakeCertstream::start(vec![Step::Text(lite(&[domain], 1))]).await;
    let sink = FakeWebhook::with_rules(rules).await;
    let config = config(&server, &sink);
    let certhound = Certhound::watch(&config);
    if let Err(s) = sink.wait_for_unique_keys(1, timeouts::EVENT).await {
        panic!(
            "{}\nsink: {s:#?}",
            certhound.describe("waiting for delivery")
        );
    }
    (server, sink, config, certhound)
}

/// The id of the stdout (JSONL) finding for this domain.
fn id_of(certhound: &mut Certhound, domain: &str) -> String {
    certhound
        .findings()
        .iter()
        .find(|f| registrable_domain(f) == domain)
        .and_then(|f| f["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no finding with an id for {domain}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_fails_for_good_and_the_others_are_delivered() {
    let good = ["paypal-hook-good.com", "coinbase-hook-good.net"];
    let bad = "netflix-hook-rejected.org";
    let server = FakeCertstream::start(vec![
        Step::Text(lite(&[good[0]], 1)),
        Step::Text(full(&[bad, &format!("www.{bad}")], 2)),
        Step::Text(lite(&[good[1]], 3)),
    ])
    .await;
    let sink = FakeWebhook::with_rules(vec![Rule::domain(bad, Reply::status(400))]).await;
    let mut config = config(&server, &sink);
    config.set_str("notify.webhook", "authorization", TOKEN);
    let mut certhound = Certhound::watch(&config);

    let failed = certhound
        .expect_event("delivery failed for good", timeouts::EVENT)
        .await;
    if let Err(s) = sink.wait_for_unique_keys(2, timeouts::EVENT).await {
        panic!("{}\nsink: {s:#?}", certhound.describe("waiting for 2 keys"));
    }
    certhound
        .expect_findings(&[good[0], good[1], bad], timeouts::EVENT)
        .await;
    let bad_id = id_of(&mut certhound, bad);
    let good_ids = [
        id_of(&mut certhound, good[0]),
        id_of(&mut certhound, good[1]),
    ];

    let event = &failed;
    assert_eq!(event["level"], "ERROR", "{event}");
    assert_eq!(
        event_str(event, "channel").as_deref(),
        Some("webhook"),
        "{event}"
    );
    assert_eq!(
        event_str(event, "id").as_deref(),
        Some(bad_id.as_str()),
        "{event}"
    );
    assert!(
        event_str(event, "error").is_some_and(|e| !e.is_empty()),
        "{event}"
    );

    let last = stop(&mut certhound).await;
    let describe = certhound.describe("after SIGTERM");
    assert_eq!(event_u64(&last, "delivery_failed"), Some(1), "{last}");
    assert!(
        !certhound
            .stderr
            .iter()
            .any(|l| l.contains("s3cr3t-webhook-token")),
        "the Authorization value was logged:\n{describe}"
    );

    let state = sink.state();
    assert_eq!(
        state.accepted_keys(),
        good_ids.iter().cloned().collect(),
        "{state:#?}"
    );
    let bad_posts = state.for_domain(bad);
    assert_eq!(
        bad_posts.len(),
        1,
        "a permanent failure is not retried: {state:#?}"
    );
    assert_eq!(bad_posts[0].idempotency_key(), Some(bad_id.as_str()));
    for r in &state.requests {
        assert_eq!(r.method, "POST", "{r:?}");
        assert_eq!(r.header("authorization"), Some(TOKEN), "{r:?}");
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{r:?}"
        );
        assert_eq!(r.id(), r.idempotency_key(), "{r:?}");
        assert!(
            r.json["rules"].as_array().is_some_and(|a| !a.is_empty()),
            "{r:?}"
        );
    }

    let stored = stored_findings(&config).await;
    assert_eq!(stored.len(), 3, "{stored:#?}");
    for f in &stored {
        assert_eq!(channel_state(f, "jsonl"), Some("sent"), "{f}");
        let webhook = channel_state(f, "webhook").unwrap_or("<missing>");
        if registrable_domain(f) == bad {
            assert!(webhook.starts_with("failed: "), "{f}");
            assert!(webhook.len() > "failed: ".len(), "a reason is given: {f}");
        } else {
            assert_eq!(webhook, "sent", "{f}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_500s_then_accepted() {
    let domain = "banco-seguro-retry.com";
    let (_server, sink, config, mut certhound) =
        deliver_one(domain, vec![Rule::first(2, Reply::status(500))]).await;
    certhound.expect_findings(&[domain], timeouts::EVENT).await;
    let id = id_of(&mut certhound, domain);
    let last = stop(&mut certhound).await;

    let state = sink.state();
    let statuses: Vec<u16> = state.requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 200], "{state:#?}");
    assert!(
        state
            .requests
            .iter()
            .all(|r| r.idempotency_key() == Some(id.as_str())),
        "every attempt under the same key {id}: {state:#?}"
    );
    assert!(
        event_u64(&last, "delivery_retries").unwrap_or(0) >= 2,
        "{last}"
    );
    assert_eq!(event_u64(&last, "delivery_failed"), Some(0), "{last}");
    let stored = stored_findings(&config).await;
    assert_eq!(stored.len(), 1, "{stored:#?}");
    assert_eq!(
        channel_state(&stored[0], "webhook"),
        Some("sent"),
        "{stored:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_retry_after() {
    let domain = "amazon-hook-throttled.net";
    let (_server, sink, config, mut certhound) =
        deliver_one(domain, vec![Rule::first(1, Reply::too_many(1))]).await;
    let _ = stop(&mut certhound).await;

    let state = sink.state();
    let statuses: Vec<u16> = state.requests.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200], "{state:#?}");
    assert_eq!(
        state.requests[0].idempotency_key(),
        state.requests[1].idempotency_key()
    );
    // A lower bound only: the retry backoff alone (50 ms) would have come back much sooner.
    let gap = state.requests[1].at - state.requests[0].at;
    assert!(
        gap >= Duration::from_millis(900),
        "retried {gap:?} after a 429 with Retry-After: 1"
    );
    let stored = stored_findings(&config).await;
    assert_eq!(
        channel_state(&stored[0], "webhook"),
        Some("sent"),
        "{stored:#?}"
    );
}
