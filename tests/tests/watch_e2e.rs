//! End to end: `certhound watch` on a fake certstream feed of 10,000 messages (lite, full and
//! domains-only, real fixture messages among them) with exactly 20 planted phishing registrable
//! domains (plain, homoglyph in Unicode and punycode, wildcard, multi-SAN) and allowlisted brand
//! names; stdout must hold exactly the 20 findings.

use std::collections::{BTreeMap, BTreeSet};

use certhound_tests::domains::{is_benign, punycode, Background};
use certhound_tests::fixtures::{calidog_message, live_entries};
use certhound_tests::messages::{domains_only, full, heartbeat, lite};
use certhound_tests::output::{event_u64, registrable_domain, rules};
use certhound_tests::{timeouts, Certhound, FakeCertstream, Step, TestConfig};

const TOTAL: usize = 10_000;

/// A certificate (or dns_entries message) carrying names of interest.
struct Special {
    message: String,
}

fn lite_s(domains: &[&str], idx: u64) -> Special {
    Special {
        message: lite(domains, idx),
    }
}
fn full_s(domains: &[&str], idx: u64) -> Special {
    Special {
        message: full(domains, idx),
    }
}
fn dns_s(domains: &[&str]) -> Special {
    Special {
        message: domains_only(domains),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_yield_exactly_the_planted_findings() {
    let cyr_paypal = "\u{440}\u{430}ypal-secure.com"; // Cyrillic er (U+0440) and a (U+0430)
    let cyr_paypal_ascii = punycode(cyr_paypal);
    let cyr_microsoft = "micr\u{43e}soft-teams-share.net"; // Cyrillic o (U+043E)
    let cyr_microsoft_ascii = punycode(cyr_microsoft);
    assert!(cyr_paypal_ascii.starts_with("xn--") && cyr_microsoft_ascii.starts_with("xn--"));

    let mut bg = Background::new(2026);
    let b1 = bg.next_name();
    let b2 = bg.next_name();

    // Planted certificates and messages, in the order they are sent.
    let planted: Vec<Special> = vec![
        lite_s(
            &["paypal-login-verify.xyz", "www.paypal-login-verify.xyz"],
            9_000_001,
        ),
        full_s(&["bancodirecta-seguro.com"], 9_000_002),
        // Homoglyph as Unicode...
        lite_s(&[cyr_paypal], 9_000_003),
        full_s(&[&cyr_microsoft_ascii], 9_000_004),
        // Wildcard.
        lite_s(
            &["*.netflix-billing-update.com", "netflix-billing-update.com"],
            9_000_005,
        ),
        // Several names under one registrable domain: one finding.
        full_s(
            &[
                "amazon-orders-help.com",
                "www.amazon-orders-help.com",
                "login.amazon-orders-help.com",
                "*.amazon-orders-help.com",
            ],
            9_000_006,
        ),
        // Two phishing registrable domains on one certificate: two findings.
        lite_s(
            &["apple-icloud-unlock.com", &b1, "chase-secure-banking.net"],
            9_000_007,
        ),
        dns_s(&["secure-login-verify.info"]),
        lite_s(&["coinbase-wallet-recovery.io"], 9_000_009),
        full_s(
            &["dhl-parcel-tracking.top", "www.dhl-parcel-tracking.top"],
            9_000_010,
        ),
        dns_s(&[&b2, "wellsfargo-alerts.com"]),
        lite_s(&["docusign-envelope-review.net"], 9_000_012),
        // ...and the same homoglyph as punycode, later: no second finding.
        dns_s(&[&cyr_paypal_ascii]),
        full_s(&["outlook-mailbox-verify.com"], 9_000_013),
        dns_s(&["binance-support-desk.com"]),
        lite_s(&["santander-clientes.es"], 9_000_015),
        full_s(&["metamask-wallet-restore.app"], 9_000_016),
        // A planted domain again, on another certificate: deduplicated.
        lite_s(&["mail.paypal-login-verify.xyz"], 9_000_017),
        dns_s(&["usps-redelivery-notice.com"]),
        lite_s(
            &["hsbc-online-banking.co.uk", "www.hsbc-online-banking.co.uk"],
            9_000_019,
        ),
    ];
    // The very last message of the feed: when its finding is out, everything before it was read.
    let last = lite_s(&["instagram-copyright-appeal.net"], 9_000_020);

    // The brands' own names: never a finding.
    let allowlisted: Vec<Special> = vec![
        lite_s(&["www.paypal.com", "paypal.com"], 9_100_001),
        full_s(&["login.microsoftonline.com"], 9_100_002),
        dns_s(&["appleid.apple.com"]),
        lite_s(&["amazon.co.uk", "www.amazon.co.uk"], 9_100_004),
    ];

    let expected: BTreeSet<String> = [
        "paypal-login-verify.xyz",
        "bancodirecta-seguro.com",
        &cyr_paypal_ascii,
        &cyr_microsoft_ascii,
        "netflix-billing-update.com",
        "amazon-orders-help.com",
        "apple-icloud-unlock.com",
        "chase-secure-banking.net",
        "secure-login-verify.info",
        "coinbase-wallet-recovery.io",
        "dhl-parcel-tracking.top",
        "wellsfargo-alerts.com",
        "docusign-envelope-review.net",
        "outlook-mailbox-verify.com",
        "binance-support-desk.com",
        "santander-clientes.es",
        "metamask-wallet-restore.app",
        "usps-redelivery-notice.com",
        "hsbc-online-banking.co.uk",
        "instagram-copyright-appeal.net",
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    assert_eq!(expected.len(), 20);

    // The real messages (CaliDog and the 30 live entries in all three shapes), minus any whose
    // names could match a rule (none do today).
    let mut real: Vec<String> = vec![calidog_message()];
    for e in live_entries() {
        if e.domains().iter().all(|d| is_benign(d)) {
            real.extend([e.expected_lite, e.expected_full, e.expected_domains_only]);
        } else {
            eprintln!(
                "live entry {} left out: its names could match a rule",
                e.name
            );
        }
    }
    assert!(
        real.len() >= 61,
        "most real messages usable: {}",
        real.len()
    );

    // Interleave: specials spread evenly, real ones every 50th, heartbeats every 701st, the
    // rest synthetic background in all three shapes.
    let specials: Vec<String> = planted
        .into_iter()
        .chain(allowlisted)
        .map(|s| s.message)
        .collect();
    let stride = (TOTAL - 1) / (specials.len() + 1);
    let mut script: Vec<Step> = Vec::with_capacity(TOTAL);
    let mut real_i = 0;
    let mut specials_i = specials.into_iter();
    let mut n_real = 0;
    for i in 0..TOTAL - 1 {
        let msg = if i % stride == stride - 1 && specials_i.len() > 0 {
            specials_i.next().unwrap()
        } else if i % 50 == 25 {
            real_i += 1;
            n_real += 1;
            real[(real_i - 1) % real.len()].clone()
        } else if i % 701 == 700 {
            heartbeat()
        } else {
            let names: Vec<String> = (0..1 + i % 3).map(|_| bg.next_name()).collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            match i % 3 {
                0 => lite(&names, i as u64),
                1 => full(&names, i as u64),
                _ => domains_only(&names),
            }
        };
        script.push(Step::Text(msg));
    }
    assert_eq!(specials_i.len(), 0, "all specials placed");
    assert!(
        n_real >= real.len(),
        "every real message sent at least once"
    );
    script.push(Step::Text(last.message));
    assert_eq!(script.len(), TOTAL);

    let server = FakeCertstream::start(script).await;
    let mut config = TestConfig::with_feed(&server.url());
    // The test is about detection, not load shedding: room for the whole burst.
    config.set("pipeline", "matcher_queue", "10000");
    let mut certhound = Certhound::watch(&config);

    let wait = certhound
        .wait_for_stdout_lines(expected.len(), timeouts::BULK)
        .await;
    if let Err(e) = wait {
        let stats = server.stats();
        panic!("{e}\nserver: {stats:?}");
    }
    assert_eq!(server.steps_sent(), TOTAL, "whole feed sent");

    let describe = certhound.stop_cleanly("after SIGTERM").await;

    let findings = certhound.findings();
    let mut by_domain: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
    for f in &findings {
        by_domain
            .entry(registrable_domain(f).to_string())
            .or_default()
            .push(f.clone());
    }
    let got: BTreeSet<String> = by_domain.keys().cloned().collect();
    assert_eq!(
        got,
        expected,
        "missing: {:?}\nunexpected: {:?}\n{describe}",
        expected.difference(&got).collect::<Vec<_>>(),
        got.difference(&expected).collect::<Vec<_>>()
    );
    for (d, fs) in &by_domain {
        assert_eq!(
            fs.len(),
            1,
            "one finding per registrable domain, {d}: {fs:#?}"
        );
    }
    assert_eq!(findings.len(), 20);

    for f in &findings {
        let domain = f["domain"].as_str().expect("domain is a string");
        assert!(
            domain.is_ascii() && domain == domain.to_lowercase() && !domain.starts_with("*."),
            "domain is lowercase ASCII without wildcard: {f}"
        );
        assert!(
            domain == registrable_domain(f)
                || domain.ends_with(&format!(".{}", registrable_domain(f))),
            "domain is under its registrable domain: {f}"
        );
        assert!(!rules(f).is_empty(), "finding names its rules: {f}");
        assert!(
            f["matched_names"].as_array().is_some_and(|a| !a.is_empty()),
            "{f}"
        );
        assert!(
            f["detected_at"].as_str().is_some_and(|s| s.contains('T')),
            "{f}"
        );
    }

    let one = |d: &str| by_domain[d][0].clone();
    assert!(rules(&one("paypal-login-verify.xyz")).contains(&"keyword:paypal".to_string()));
    assert_eq!(
        one("netflix-billing-update.com")["domain"],
        "netflix-billing-update.com"
    );

    let homoglyph = one(&cyr_paypal_ascii);
    assert_eq!(
        homoglyph["domain"],
        cyr_paypal_ascii.as_str(),
        "{homoglyph}"
    );
    assert_eq!(homoglyph["domain_unicode"], cyr_paypal, "{homoglyph}");
    assert_eq!(homoglyph["homoglyph"], true, "{homoglyph}");
    assert!(
        rules(&homoglyph).contains(&"keyword:paypal".to_string()),
        "{homoglyph}"
    );
    let homoglyph = one(&cyr_microsoft_ascii);
    assert_eq!(homoglyph["homoglyph"], true, "{homoglyph}");
    assert!(
        rules(&homoglyph).contains(&"keyword:microsoft".to_string()),
        "{homoglyph}"
    );
    let plain = one("coinbase-wallet-recovery.io");
    assert_eq!(plain["homoglyph"], false, "{plain}");
    assert!(
        plain["domain_unicode"].is_null(),
        "domain_unicode only when it differs: {plain}"
    );

    let words = one("secure-login-verify.info");
    assert!(
        rules(&words).iter().any(|r| r.starts_with("words:")),
        "{words}"
    );

    let multi = one("amazon-orders-help.com");
    assert_eq!(multi["cert"]["cert_index"], 9_000_006, "{multi}");
    assert_eq!(
        multi["cert"]["all_domains"].as_array().map(Vec::len),
        Some(4),
        "{multi}"
    );
    let two = [
        one("apple-icloud-unlock.com"),
        one("chase-secure-banking.net"),
    ];
    for f in &two {
        assert_eq!(f["cert"]["cert_index"], 9_000_007, "{f}");
        assert_eq!(
            f["source"]["url"],
            certhound_tests::messages::SOURCE_URL,
            "{f}"
        );
    }

    // The final metrics agree.
    let last_metrics = &certhound
        .last_event("metrics")
        .unwrap_or_else(|| panic!("no metrics event\n{describe}"));
    assert_eq!(
        event_u64(last_metrics, "findings"),
        Some(20),
        "{last_metrics}"
    );
    assert!(
        event_u64(last_metrics, "frames").unwrap_or(0) >= TOTAL as u64,
        "{last_metrics}"
    );
    assert_eq!(
        event_u64(last_metrics, "shed_messages").unwrap_or(0),
        0,
        "{last_metrics}"
    );
    assert!(
        event_u64(last_metrics, "duplicates").unwrap_or(0) >= 2,
        "{last_metrics}"
    );
    // Nothing crashed: no actor was restarted (not even while shutting down).
    assert_eq!(
        event_u64(last_metrics, "restarts"),
        Some(0),
        "{last_metrics}\n{describe}"
    );
    assert!(certhound.events("actor restarted").is_empty(), "{describe}");
}
