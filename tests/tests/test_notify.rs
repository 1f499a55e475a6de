//! `certhound test-notify`: one marked test alert through every configured channel (here the
//! webhook, on a loopback sink, and SNS, on moto), a per-channel report, exit 0 only when every
//! channel took it.

use certhound_tests::moto::Moto;
use certhound_tests::webhook_sink::{FakeWebhook, Reply, Rule};
use certhound_tests::{timeouts, CerthoundCommand, TestConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_alert_reaches_every_channel_and_failures_are_reported() {
    let moto = Moto::start().await;
    let topic = moto.create_topic("certhound-test").await;
    let sink = FakeWebhook::start().await;
    let mut cfg = TestConfig::new();
    cfg.set_str("notify.webhook", "url", &sink.url());
    cfg.set_str("notify.sns", "topic_arn", &topic);
    cfg.set_str("aws", "endpoint_url", &moto.endpoint());
    let run = |cfg: &TestConfig| {
        let mut cmd = CerthoundCommand::new().test_config(cfg).arg("test-notify");
        for (k, v) in moto.env() {
            cmd = cmd.env(k, v);
        }
        cmd.run(timeouts::EXIT)
    };
    let out = run(&cfg).await;
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    let err = out.stderr_text();
    for channel in ["jsonl: sent", "webhook: sent", "sns: sent"] {
        assert!(err.contains(channel), "{err}");
    }
    assert_eq!(sink.accepted_keys().len(), 1);
    let sent = moto.sent_notifications().await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].0.contains("TEST ALERT"), "{}", sent[0].0);
    assert!(out.stdout_text().contains("certhound-test-alert.example"));

    // A channel that refuses: reported with its error, exit 1, the others still sent.
    sink.set_rules(vec![Rule::first(1, Reply::status(400))]);
    let out = run(&cfg).await;
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    let err = out.stderr_text();
    assert!(err.contains("webhook: FAILED: HTTP 400"), "{err}");
    assert!(err.contains("sns: sent"), "{err}");
}
