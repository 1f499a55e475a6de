//! SNS and Secrets Manager through the real aws-sdk clients, against moto on loopback: a finding
//! is published to the topic (read back from moto) with a subject SNS accepts; secrets created in
//! moto are read at start; a missing secret stops the start with an error naming it; no secret
//! value reaches the logs.

use certhound_tests::messages::lite;
use certhound_tests::moto::Moto;
use certhound_tests::observed::Observed;
use certhound_tests::urlscan_server::{FakeUrlscan, API_KEY};
use certhound_tests::{timeouts, Certhound, CerthoundCommand, FakeCertstream, Step, TestConfig};
use std::time::{Duration, Instant};

fn with_moto(mut cmd: CerthoundCommand, moto: &Moto) -> CerthoundCommand {
    for (k, v) in moto.env() {
        cmd = cmd.env(k, v);
    }
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_are_published_to_sns_with_a_valid_subject() {
    let moto = Moto::start().await;
    let topic = moto.create_topic("certhound-alerts").await;
    let domain = format!("paypal-{}-verify.com", "long".repeat(25));
    let feed = FakeCertstream::start(vec![Step::Text(lite(&[domain.as_str()], 1))]).await;
    let mut cfg = TestConfig::with_feed(&feed.url());
    cfg.set_str("notify.sns", "topic_arn", &topic);
    cfg.set_str("aws", "endpoint_url", &moto.endpoint());
    cfg.set_str("aws", "region", "us-east-1");
    let mut certhound = with_moto(
        CerthoundCommand::new().test_config(&cfg).arg("watch"),
        &moto,
    )
    .spawn();
    certhound
        .expect_findings(&[domain.as_str()], timeouts::EVENT)
        .await;
    // moto has no event for a publish: look until it shows (bounded).
    let deadline = Instant::now() + timeouts::EVENT;
    let sent = loop {
        let sent = moto.sent_notifications().await;
        if !sent.is_empty() {
            break sent;
        }
        assert!(Instant::now() < deadline, "nothing published");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(sent.len(), 1, "{sent:?}");
    let (message, subject, attributes) = &sent[0];
    let subject = subject.clone().expect("a subject");
    assert!(subject.chars().count() < 100, "{subject}");
    assert!(!subject.chars().any(char::is_control), "{subject:?}");
    assert!(
        subject.starts_with("certhound: phishing candidate paypal-"),
        "{subject}"
    );
    assert!(message.contains(&format!("Domain: {domain}")), "{message}");
    assert!(
        message.contains("CDu: registration data: not looked up"),
        "{message}"
    );
    assert!(message.contains("Rules: keyword:paypal"), "{message}");
    assert_eq!(
        attributes["domain"]["Value"],
        domain.as_str(),
        "{attributes}"
    );
    certhound.stop_cleanly("after SIGTERM").await;
    let stored = certhound_tests::durable::stored_findings(&cfg).await;
    assert_eq!(
        certhound_tests::durable::channel_state(&stored[0], "sns"),
        Some("sent")
    );
}

/// `certhound watch` (with moto's environment) on a feed with one finding for `domain`, which it
/// scans on `urlscan` with the API key it reads from moto's secret `urlscan.io/api-key`;
/// `adjust` adds the test's own keys.
async fn watch_with_key_secret(
    moto: &Moto,
    urlscan: &FakeUrlscan,
    domain: &str,
    adjust: impl FnOnce(&mut TestConfig),
) -> (FakeCertstream, Certhound) {
    let feed = FakeCertstream::start(vec![Step::Text(lite(&[domain], 1))]).await;
    let mut cfg = TestConfig::with_feed(&feed.url());
    cfg.urlscan_at(&urlscan.base_url());
    cfg.set_str(
        "secrets",
        "urlscan_api_key",
        "urlscan.io/api-key#urlscan-api-key",
    );
    adjust(&mut cfg);
    cfg.set_str("aws", "endpoint_url", &moto.endpoint());
    let certhound = with_moto(CerthoundCommand::new().test_config(&cfg).arg("watch"), moto).spawn();
    (feed, certhound)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_read_at_start_and_never_logged() {
    let moto = Moto::start().await;
    moto.create_secret(
        "urlscan.io/api-key",
        &serde_json::json!({"urlscan-api-key": API_KEY}),
    )
    .await;
    let urlscan = FakeUrlscan::start().await;
    let domain = "paypal-secret-scan.com";
    let (_feed, mut certhound) = watch_with_key_secret(&moto, &urlscan, domain, |_| {}).await;
    certhound.expect_findings(&[domain], timeouts::EVENT).await;
    // The fake accepts only the right key: a scan proves the secret was read.
    let state = urlscan.state();
    assert_eq!(state.submissions().len(), 1);
    assert_eq!(state.submissions()[0].header("api-key"), Some(API_KEY));
    certhound.stop_cleanly("after SIGTERM").await;
    certhound.pump();
    let logs = certhound.stderr.join("\n");
    assert!(logs.contains("secret loaded"), "{logs}");
    assert!(!logs.contains(API_KEY), "a secret value reached the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_stops_the_start_naming_it() {
    let moto = Moto::start().await;
    let mut cfg = TestConfig::with_feed("ws://127.0.0.1:9/");
    cfg.set_str("secrets", "urlscan_api_key", "no/such/secret#key");
    cfg.set_str("aws", "endpoint_url", &moto.endpoint());
    let out = with_moto(
        CerthoundCommand::new().test_config(&cfg).arg("watch"),
        &moto,
    )
    .run(timeouts::EXIT)
    .await;
    assert_eq!(out.code(), Some(2), "{}", out.describe());
    let err = out.stderr_text();
    assert!(err.contains("secrets.urlscan_api_key"), "{err}");
    assert!(err.contains("no/such/secret"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_is_picked_up_without_a_restart() {
    let moto = Moto::start().await;
    let (old, new) = ("old-urlscan-key-1", "rotated-urlscan-key-2");
    moto.create_secret(
        "urlscan.io/api-key",
        &serde_json::json!({"urlscan-api-key": old}),
    )
    .await;
    // This urlscan only takes the rotated key.
    let urlscan = FakeUrlscan::with_key(new).await;
    let domain = "paypal-rotated-key.com";
    let (_feed, mut certhound) = watch_with_key_secret(&moto, &urlscan, domain, |cfg| {
        cfg.set_str("secrets", "refresh", "1s");
    })
    .await;
    // The old key is refused...
    urlscan
        .wait_for(timeouts::EVENT, |s| s.count_status(401) >= 1)
        .await
        .unwrap_or_else(|_| panic!("the old key was never tried"));
    // ...the secret is rotated, and the finding goes out with its scan.
    moto.put_secret(
        "urlscan.io/api-key",
        &serde_json::json!({"urlscan-api-key": new}),
    )
    .await;
    certhound.expect_findings(&[domain], timeouts::BULK).await;
    assert_eq!(certhound.findings()[0]["scan"]["finished"], true);
    assert!(!certhound
        .events("secret changed; using the new value")
        .is_empty());
    certhound.stop_cleanly("after SIGTERM").await;
    certhound.pump();
    let logs = certhound.stderr.join("\n");
    assert!(
        !logs.contains(old) && !logs.contains(new),
        "a secret value reached the logs"
    );
}
