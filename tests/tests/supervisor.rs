//! Supervision: a matcher actor that panics (on the test-only poison name given in
//! `CERTHOUND_TEST_PANIC_DOMAIN`) is restarted and the stream goes on; past the restart budget
//! certhound exits with code 70.

use certhound_tests::messages::{domains_only, full, lite};
use certhound_tests::output::{event_str, event_u64, is_event};
use certhound_tests::{timeouts, CerthoundCommand, FakeCertstream, Step, TestConfig};

const POISON: &str = "poison-pill.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panicking_matcher_is_restarted_and_findings_continue() {
    let after = [
        "paypal-after-restart.com",
        "amazon-after-restart.net",
        "secure-login-after-restart.org",
    ];
    let server = FakeCertstream::start(vec![
        Step::Text(lite(&["paypal-before-poison.com"], 1)),
        Step::Gate,
        Step::Text(lite(&["www.poison-pill.example", POISON], 2)),
        // Held until the restart is logged, so that these are not in the poisoned batch.
        Step::Gate,
        Step::Text(lite(&[after[0]], 3)),
        Step::Text(full(&[after[1]], 4)),
        Step::Text(domains_only(&[after[2]])),
    ])
    .await;
    let config = TestConfig::with_feed(&server.url());
    let mut certhound = CerthoundCommand::new()
        .test_config(&config)
        .arg("watch")
        .env("CERTHOUND_TEST_PANIC_DOMAIN", POISON)
        .spawn();

    certhound
        .expect_findings(&["paypal-before-poison.com"], timeouts::EVENT)
        .await;
    server.release();
    let restarted = certhound
        .wait_for_events("actor restarted", 1, timeouts::EVENT, |e| {
            event_str(e, "actor").as_deref() == Some("matcher")
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        event_str(&restarted[0], "reason").is_some(),
        "restart has a reason: {}",
        restarted[0]
    );
    server.release();

    certhound.expect_findings(&after, timeouts::EVENT).await;
    assert!(certhound.is_running());
    assert_eq!(
        server.connections(),
        1,
        "a matcher restart does not drop the feed"
    );

    let describe = certhound.stop_cleanly("after SIGTERM").await;
    let got = certhound.found_domains();
    assert!(!got.iter().any(|d| d.contains("poison-pill")), "{describe}");
    let last = &certhound
        .last_event("metrics")
        .unwrap_or_else(|| panic!("no metrics event\n{describe}"));
    assert!(event_u64(last, "restarts").unwrap_or(0) >= 1, "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_budget_exhausted_exits_70() {
    let mut script = Vec::new();
    for i in 0..5u64 {
        if i > 0 {
            // One poison per matcher incarnation: the next one is sent after the restart.
            script.push(Step::Gate);
        }
        script.push(Step::Text(lite(&[POISON], 100 + i)));
        script.push(Step::Text(lite(&[&format!("normal-{i}.example")], 200 + i)));
    }
    let server = FakeCertstream::start(script).await;
    let mut config = TestConfig::with_feed(&server.url());
    config.set("supervisor", "restart_budget", "2");
    config.set_str("supervisor", "restart_window", "1m");
    config.set_str("supervisor", "restart_backoff", "10ms");
    let mut certhound = CerthoundCommand::new()
        .test_config(&config)
        .arg("watch")
        .env("CERTHOUND_TEST_PANIC_DOMAIN", POISON)
        .spawn();

    // After each restart, let the next poison through; stop when the budget is exhausted.
    for k in 1..=4 {
        certhound
            .wait_until(
                &format!("restart {k} or exhaustion"),
                timeouts::EVENT,
                |_, err| {
                    err.iter().any(|l| is_event(l, "restart budget exhausted"))
                        || err
                            .iter()
                            .filter(|l| is_event(l, "actor restarted"))
                            .count()
                            >= k
                },
            )
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if certhound
            .stderr
            .iter()
            .any(|l| is_event(l, "restart budget exhausted"))
        {
            break;
        }
        server.release();
    }

    let status = certhound.wait_exit(timeouts::EXIT).await;
    let describe = certhound.describe("after the poison");
    assert_eq!(status.code(), Some(70), "{describe}");
    let exhausted = certhound.events("restart budget exhausted");
    let matcher_exhausted: Vec<_> = exhausted
        .iter()
        .filter(|e| event_str(e, "actor").as_deref() == Some("matcher"))
        .collect();
    assert_eq!(matcher_exhausted.len(), 1, "{describe}");
    assert_eq!(
        matcher_exhausted[0]["level"], "ERROR",
        "{}",
        matcher_exhausted[0]
    );
    let restarts = certhound.events("actor restarted");
    assert_eq!(
        restarts.len(),
        2,
        "restart_budget = 2 restarts, then exit: {describe}"
    );
    // The failure that exhausted the budget was no restart: the counter agrees with the log.
    let last = certhound
        .events("metrics")
        .into_iter()
        .find(|e| e["fields"]["last"] == true)
        .unwrap_or_else(|| panic!("a last metrics event: {describe}"));
    assert_eq!(event_u64(&last, "restarts"), Some(2), "{last}");
}
