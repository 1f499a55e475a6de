//! Enrichment end to end: a real `certhound watch` with `[enrich]` on, its RDAP bootstrap and
//! server on loopback. A domain registered two days ago is reported with its registration data
//! (CDu, Delta, recent); one registered and last changed years ago is stored but skipped, not
//! reported; one the registry does not know (404, no WHOIS) is reported with "registration date
//! unknown".

use certhound_tests::durable::{channel_state, stored_findings};
use certhound_tests::messages::lite;
use certhound_tests::rdap_server::days_ago;
use certhound_tests::rdap_server::{Answer, FakeRdap};
use certhound_tests::{timeouts, Certhound, FakeCertstream, Step, TestConfig};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recent_domains_are_reported_with_registration_data_old_ones_are_not() {
    let recent = "paypal-fresh-login.com";
    let old = "paypal-ancient-login.com";
    let unknown = "paypal-nowhere-login.com";
    let rdap = FakeRdap::start(&["com"]).await;
    rdap.answer(recent, Answer::dates(&days_ago(2), &days_ago(2)));
    rdap.answer(old, Answer::dates("2015-03-01", "2016-04-01"));
    // `unknown` is not scripted: 404.
    let feed = FakeCertstream::start(vec![
        Step::Text(lite(&[old], 1)),
        Step::Text(lite(&[recent], 2)),
        Step::Text(lite(&[unknown], 3)),
    ])
    .await;
    let mut config = TestConfig::with_feed(&feed.url());
    config.enrich_with_rdap(&rdap.bootstrap_url());
    config.set_str("enrich.limits", "connect_timeout", "2s");
    config.set_str("enrich.limits", "read_timeout", "2s");
    let mut certhound = Certhound::watch(&config);
    certhound
        .expect_findings(&[recent, unknown], timeouts::EVENT)
        .await;

    // The old domain is stored, marked skipped with the reason, never on stdout.
    let deadline = Instant::now() + timeouts::EVENT;
    let old_entry = loop {
        let stored = stored_findings(&config).await;
        let entry = stored.into_iter().find(|f| {
            f["registrable_domain"] == old && channel_state(f, "jsonl") != Some("pending")
        });
        if let Some(e) = entry {
            break e;
        }
        assert!(
            Instant::now() < deadline,
            "the old domain was never enriched"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let state = channel_state(&old_entry, "jsonl")
        .unwrap_or_default()
        .to_string();
    assert!(
        state.starts_with("skipped: not registered or changed within 30 days"),
        "{state}"
    );

    let findings = certhound.findings();
    let by = |d: &str| {
        findings
            .iter()
            .find(|f| f["registrable_domain"] == d)
            .cloned()
            .unwrap_or_else(|| panic!("no finding for {d}: {findings:?}"))
    };
    assert!(
        findings.iter().all(|f| f["registrable_domain"] != old),
        "{findings:?}"
    );
    let r = by(recent)["registration"].clone();
    assert_eq!(r["recent"], true, "{r}");
    assert_eq!(r["delta_days"], 2, "{r}");
    for (key, prefix) in [
        ("cdu", days_ago(2)),
        ("created", days_ago(2)),
        ("source", "rdap ".to_string()),
    ] {
        assert!(
            r[key].as_str().unwrap_or_default().starts_with(&prefix),
            "{r}"
        );
    }
    let u = by(unknown)["registration"].clone();
    assert!(u["recent"].is_null(), "{u}");
    assert!(
        u["note"]
            .as_str()
            .unwrap_or_default()
            .starts_with("registration date unknown"),
        "{u}"
    );

    certhound.stop_cleanly("after SIGTERM").await;
    let last = &certhound.last_event("metrics").expect("final metrics");
    assert_eq!(last["fields"]["enriched"], 3, "{last}");
    assert_eq!(last["fields"]["not_recent"], 1, "{last}");
}
