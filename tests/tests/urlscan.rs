//! urlscan.io end to end: a real `certhound watch` scanning its findings on a loopback urlscan
//! that behaves like the real API (fixed windows, rate-limit headers, 429 past the limit, 404
//! until a scan is done, 400 for unresolvable names). Quotas hold findings back without losing
//! any; a finding that waited past `max_wait` goes out without a scan and says why; a restart
//! resumes polling instead of submitting again; the screenshot link is only there for a finished
//! scan.

use certhound_tests::messages::lite;
use certhound_tests::observed::Observed;
use certhound_tests::urlscan_server::{FakeUrlscan, API_KEY};
use certhound_tests::{timeouts, Certhound, FakeCertstream, Step, TestConfig};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

fn config(feed: &str, urlscan: &FakeUrlscan) -> TestConfig {
    let mut c = TestConfig::with_feed(feed);
    c.urlscan_at(&urlscan.base_url());
    c.set_str("urlscan", "api_key", API_KEY);
    c.set_str("urlscan", "poll_timeout", "30s");
    c
}

fn feed_of(domains: &[String]) -> Vec<Step> {
    domains
        .iter()
        .enumerate()
        .map(|(i, d)| Step::Text(lite(&[d.as_str()], i as u64 + 1)))
        .collect()
}

/// `n` numbered domains, `paypal-{tag}-{i}.com`.
fn numbered(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("paypal-{tag}-{i}.com")).collect()
}

/// A fake urlscan that takes `limit` submissions in each `window`.
async fn with_quota(window: Duration, limit: u32) -> FakeUrlscan {
    let urlscan = FakeUrlscan::start().await;
    urlscan.set_window(window).set_limit_per_window(limit);
    urlscan
}

/// `certhound watch` on a feed of `domains` with [`config`] (changed by `adjust`), once every
/// one of them is a finding (or the test fails after `timeout`).
async fn watch_until_found(
    urlscan: &FakeUrlscan,
    domains: &[String],
    timeout: Duration,
    adjust: impl FnOnce(&mut TestConfig),
) -> (FakeCertstream, Certhound) {
    let feed = FakeCertstream::start(feed_of(domains)).await;
    let mut cfg = config(&feed.url(), urlscan);
    adjust(&mut cfg);
    let mut certhound = Certhound::watch(&cfg);
    let wanted: Vec<&str> = domains.iter().map(String::as_str).collect();
    certhound.expect_findings(&wanted, timeout).await;
    (feed, certhound)
}

/// A scan of `url` submitted by another client on the same API key, as the real urlscan
/// would take it.
async fn submit_elsewhere(urlscan: &FakeUrlscan, url: &str) {
    let r = reqwest::Client::new()
        .post(format!("{}api/v1/scan/", urlscan.base_url()))
        .header("API-Key", API_KEY)
        .json(&serde_json::json!({"url": url, "visibility": "public"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

fn by_domain(findings: &[Value], d: &str) -> Value {
    findings
        .iter()
        .find(|f| f["registrable_domain"] == d)
        .cloned()
        .unwrap_or_else(|| panic!("no finding for {d}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_holds_findings_back_and_loses_none() {
    let urlscan = with_quota(Duration::from_secs(2), 5).await;
    let domains = numbered("quota", 50);
    let (_feed, mut certhound) =
        watch_until_found(&urlscan, &domains, timeouts::BULK, |_| {}).await;
    let findings = certhound.findings();
    assert_eq!(findings.len(), 50, "each finding once");
    for d in &domains {
        let scan = &by_domain(&findings, d)["scan"];
        assert_eq!(scan["finished"], true, "{d}: {scan}");
        assert!(
            scan["screenshot_url"]
                .as_str()
                .is_some_and(|s| s.ends_with(".png")),
            "{scan}"
        );
    }
    let state = urlscan.state();
    let per_window = state.submissions_per_window();
    assert!(per_window.iter().all(|(_, n)| *n <= 5), "{per_window:?}");
    assert_eq!(state.submissions().len(), 50, "no finding submitted twice");
    let uuids: BTreeSet<String> = findings
        .iter()
        .map(|f| f["scan"]["uuid"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(uuids.len(), 50);
    // The quota was the constraint (some window was full), and certhound kept to the
    // X-Rate-Limit-Remaining it was told instead of running into 429s.
    assert!(per_window.iter().any(|(_, n)| *n == 5), "{per_window:?}");
    assert_eq!(state.count_status(429), 0, "{per_window:?}");
    certhound.stop_cleanly("after SIGTERM").await;
    certhound.pump();
    let logs = certhound.stderr.join("\n");
    assert!(!logs.contains(API_KEY), "the API key reached the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_wait_a_finding_goes_out_without_a_scan_and_says_why() {
    let urlscan = with_quota(Duration::from_secs(600), 1).await;
    let domains = numbered("wait", 3);
    let (_feed, mut certhound) = watch_until_found(&urlscan, &domains, timeouts::EVENT, |cfg| {
        cfg.set_str("urlscan", "max_wait", "2s");
    })
    .await;
    let findings = certhound.findings();
    let scanned: Vec<&Value> = findings
        .iter()
        .filter(|f| f["scan"]["finished"] == true)
        .collect();
    assert_eq!(scanned.len(), 1, "one scan fits the quota: {findings:?}");
    for f in findings.iter().filter(|f| f["scan"]["finished"] != true) {
        let note = f["scan"]["note"].as_str().unwrap_or_default();
        assert!(note.starts_with("urlscan quota exhausted"), "{f}");
        assert!(f["scan"]["screenshot_url"].is_null(), "{f}");
    }
    assert_eq!(urlscan.state().submissions().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_polling_without_submitting_again() {
    let urlscan = FakeUrlscan::start().await;
    urlscan.ready_only_when_finished();
    let domains = numbered("resume", 3);
    let feed = FakeCertstream::start(feed_of(&domains)).await;
    let cfg = config(&feed.url(), &urlscan);
    let mut first = Certhound::watch(&cfg);
    urlscan
        .wait_for_submissions(3, timeouts::EVENT)
        .await
        .unwrap_or_else(|s| panic!("submissions: {:?}", s.submission_statuses()));
    // The scans are submitted and stored; none has finished, so nothing was notified yet.
    urlscan
        .wait_for_result_polls(3, timeouts::EVENT)
        .await
        .unwrap_or_else(|_| panic!("no polling"));
    assert!(first.findings().is_empty());
    first.send_signal(libc::SIGKILL);
    first.wait_exit(timeouts::EXIT).await;

    urlscan.finish_all();
    let mut second = Certhound::watch(&cfg);
    let wanted: Vec<&str> = domains.iter().map(String::as_str).collect();
    second.expect_findings(&wanted, timeouts::EVENT).await;
    for d in &domains {
        let scan = &by_domain(&second.findings(), d)["scan"];
        assert_eq!(scan["finished"], true, "{scan}");
    }
    assert_eq!(
        urlscan.state().submissions().len(),
        3,
        "no scan submitted twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshot_only_for_finished_scans_and_refusals_are_final() {
    let urlscan = FakeUrlscan::start().await;
    urlscan
        .ready_only_when_finished()
        .unresolvable("paypal-nodns.com");
    let domains = vec![
        "paypal-nodns.com".to_string(),
        "paypal-slow.com".to_string(),
    ];
    let (_feed, mut certhound) = watch_until_found(&urlscan, &domains, timeouts::EVENT, |cfg| {
        cfg.set_str("urlscan", "poll_timeout", "1s");
    })
    .await;
    let findings = certhound.findings();
    let refused = &by_domain(&findings, "paypal-nodns.com")["scan"];
    assert!(
        refused["note"]
            .as_str()
            .unwrap_or_default()
            .contains("DNS Error - Could not resolve domain"),
        "{refused}"
    );
    assert!(
        refused["uuid"].is_null() && refused["screenshot_url"].is_null(),
        "{refused}"
    );
    let slow = &by_domain(&findings, "paypal-slow.com")["scan"];
    assert_eq!(slow["finished"], false, "{slow}");
    assert!(slow["result_url"].as_str().is_some(), "{slow}");
    assert!(
        slow["screenshot_url"].is_null(),
        "no screenshot before the scan finished: {slow}"
    );
    assert!(
        slow["note"]
            .as_str()
            .unwrap_or_default()
            .starts_with("scan not finished within"),
        "{slow}"
    );
    let attempts = urlscan.state().submission_attempts().len();
    assert_eq!(attempts, 2, "the 400 is not retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_stops_submissions_until_reset_after() {
    // urlscan's headers can be missed (another client on the same key): a 429 must then stop
    // submissions until Reset-After, and every finding still gets its scan.
    let urlscan = with_quota(Duration::from_secs(2), 2).await;
    let domains = numbered("busy", 6);
    // Another client spends this window's quota first.
    for i in 0..2 {
        submit_elsewhere(&urlscan, &format!("https://other-{i}.example/")).await;
    }
    let (_feed, mut certhound) =
        watch_until_found(&urlscan, &domains, timeouts::BULK, |_| {}).await;
    for d in &domains {
        assert_eq!(
            by_domain(&certhound.findings(), d)["scan"]["finished"],
            true
        );
    }
    let state = urlscan.state();
    assert!(
        state.count_status(429) >= 1,
        "the other client's use was met as a 429"
    );
    let per_window = state.submissions_per_window();
    assert!(per_window.iter().all(|(_, n)| *n <= 2), "{per_window:?}");
    // After each 429, the next attempt waits for the window's end (no hammering).
    let attempts = state.submission_attempts();
    assert!(attempts.len() <= 6 + 2 + 3, "{} attempts", attempts.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recent_scan_found_by_search_is_reused() {
    let urlscan = FakeUrlscan::start().await;
    let domain = "paypal-seen-before.com";
    submit_elsewhere(&urlscan, &format!("https://{domain}/")).await;
    urlscan.finish_all();
    let (_feed, mut certhound) =
        watch_until_found(&urlscan, &[domain.to_string()], timeouts::EVENT, |cfg| {
            cfg.set("urlscan", "search_first", "true");
        })
        .await;
    let scan = &by_domain(&certhound.findings(), domain)["scan"];
    assert_eq!(scan["reused"], true, "{scan}");
    assert_eq!(scan["finished"], true, "{scan}");
    assert_eq!(
        urlscan.state().submissions().len(),
        1,
        "no quota spent on a new scan"
    );
    assert!(!urlscan.state().searches().is_empty());
}
