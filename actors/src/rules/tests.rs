//! The engine's decisions on named cases: the examples of issue 11 (look-alikes missed before,
//! ordinary names flagged before), the allowlist, the fast path against the full scoring.

use super::*;
use crate::normalise;
use certhound_config::MatcherConfig;

fn defaults() -> RuleSet {
    RuleSet::new(&MatcherConfig::default()).unwrap()
}

fn alerts(rules: &RuleSet, name: &str) -> bool {
    rules
        .assess(name, CertContext::default())
        .alerts_at(rules.threshold())
}

/// Fails with the rule explanation when `name` does not alert.
fn assert_alerts(rules: &RuleSet, name: &str) {
    assert!(
        alerts(rules, name),
        "{name} should alert: {:?}",
        rules.explain(name)
    );
}

/// Fails with the rule explanation when `name` alerts.
fn assert_no_alert(rules: &RuleSet, name: &str) {
    assert!(
        !alerts(rules, name),
        "{name} should not alert: {:?}",
        rules.explain(name)
    );
}

/// What `check` (the matcher's path, with the fast path in front) decides.
fn check(rules: &RuleSet, name: &str) -> Verdict {
    let n = normalise::normalise(name);
    rules.check(&n, CertContext::default(), &mut Scratch::default())
}

#[test]
fn look_alikes_that_used_to_be_missed_alert() {
    let rules = defaults();
    for name in [
        "a\u{1e13}ob\u{117}.com",             // aḓobė.com: diacritics
        "\u{10b}ha\u{219}e.com",              // ċhașe.com: diacritics on a common keyword
        "am\u{251}\u{17a}on.com",             // amɑźon.com: Latin alpha and an acute
        "l\u{1f9}stagram.com", // lǹstagram.com: ǹ folds to n, so rn/m on one side only
        "\u{440}\u{430}\u{443}\u{440}al.com", // раураl.com: Cyrillic
        "aypal.com",           // omission
        "paypla.com",          // transposition
        "paypal0.com",         // addition
        "paypa1.com",          // 1/l
        "arnazon-login.com",   // rn/m
        "pay-pal.com",         // hyphenation
        "paypaal.com",         // repetition
        "peypal.com",          // vowel swap
        "netfllx.com",         // replacement
    ] {
        assert_alerts(&rules, name);
    }
}

#[test]
fn brands_with_phishing_words_alert() {
    let rules = defaults();
    for name in [
        "paypal-secure.com",
        "securepaypal.com",
        "paypal-login-verify.xyz",
        "bancodirecta-seguro.com",
        "paypal.com.account-verify.info",
        "login.microsoft.com.evil.example",
        "my-netflix-billing.net",
        "apple-id-verify.com",
        "chase-online-banking.com",
        "paypal.tk", // paypal.* is not allowlisted under risky suffixes
    ] {
        assert_alerts(&rules, name);
    }
}

#[test]
fn ordinary_names_that_used_to_alert_do_not() {
    let rules = defaults();
    for name in [
        "turtlebayresort.com", // no ebay in turtle+bay
        "thebay.com",
        "chase88.com", // common keyword without context
        "newlandchase.com.ar",
        "poc.report.purchase.ar", // purchase holds no chase
        "9to5google.com",
        "applemartinez.com.ar",
        "about.google",
        "adobe.io",
        "papal.com",   // an English word one edit from paypal
        "mailing.com", // ...and from nothing
        "marketingplatform.google....",
    ] {
        assert_no_alert(&rules, name);
    }
}

#[test]
fn the_brands_own_domains_are_allowlisted() {
    let rules = defaults();
    for name in [
        "www.paypal.com",
        "paypal.de",
        "login.microsoftonline.com",
        "m.facebook.com",
    ] {
        let a = rules.assess(name, CertContext::default());
        assert!(a.allowlisted, "{name}");
        assert!(!a.alerts_at(rules.threshold()), "{name}");
    }
    assert_eq!(check(&rules, "paypal.co.uk"), Verdict::Allowlisted);
}

#[test]
fn the_fast_path_agrees_with_the_full_score() {
    let rules = defaults();
    let text = include_str!("../../../tests/fixtures/domains/labelled.tsv");
    let mut findings = 0;
    let names = text.lines().skip(1).flat_map(|line| {
        let name = line.split('\t').next().unwrap();
        // As a subdomain too: the brand-in-subdomain term then applies.
        [name.to_string(), format!("h1.{name}")]
    });
    for name in names {
        let name = name.as_str();
        let a = rules.assess(name, CertContext::default());
        let v = check(&rules, name);
        match &v {
            Verdict::Finding(m) => {
                findings += 1;
                assert!(a.alerts_at(rules.threshold()), "{name}: {v:?} vs {a:?}");
                assert_eq!(m.score, a.score, "{name}");
                assert_eq!(m.rules, a.rules, "{name}");
            }
            Verdict::Allowlisted => assert!(a.allowlisted, "{name}"),
            Verdict::Clean => assert!(a.score < rules.threshold(), "{name}: {a:?}"),
        }
    }
    assert!(findings > 5000, "{findings}");
}

#[test]
fn terms_say_why_and_add_up_to_the_score() {
    let rules = defaults();
    let a = rules.assess("paypal-secure-login.com", CertContext::default());
    let terms: Vec<String> = a.terms.iter().map(ToString::to_string).collect();
    assert_eq!(terms[0], "brand_part paypal +1.00", "{terms:?}");
    assert!(
        terms.iter().any(|t| t == "suspicious_word login +0.50"),
        "{terms:?}"
    );
    let sum: f64 = a.terms.iter().map(|t| t.weight).sum();
    assert!((sum - a.score).abs() < 0.006, "{sum} vs {}", a.score);
    assert_eq!(a.rules, ["keyword:paypal", "words:login+secure"]);
}

#[test]
fn weights_and_threshold_come_from_the_config() {
    let mut cfg = MatcherConfig::default();
    cfg.weights.brand_part = 0.5;
    let rules = RuleSet::new(&cfg).unwrap();
    assert!(!alerts(&rules, "paypal-hook.com"));
    cfg.threshold = 0.5;
    let rules = RuleSet::new(&cfg).unwrap();
    assert!(alerts(&rules, "paypal-hook.com"));
}

#[test]
fn a_free_ca_adds_its_weight() {
    let rules = defaults();
    let plain = rules.assess("paypal-hook.com", CertContext::default());
    let lets = rules.assess(
        "paypal-hook.com",
        CertContext {
            issuer: Some("Let's Encrypt"),
        },
    );
    assert!(
        (lets.score - plain.score - MatcherConfig::default().weights.free_ca).abs() < 0.006,
        "{} vs {}",
        lets.score,
        plain.score
    );
}

#[test]
fn allowlist_file_entries_count_and_bad_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("allow.txt");
    std::fs::write(&path, "# ours\n1,paypal-hook.com\nnetflix-hook.*\n").unwrap();
    let mut cfg = MatcherConfig {
        allowlist_file: path.display().to_string(),
        ..MatcherConfig::default()
    };
    let rules = RuleSet::new(&cfg).unwrap();
    assert!(!alerts(&rules, "paypal-hook.com"));
    assert!(!alerts(&rules, "www.netflix-hook.de"));
    assert!(alerts(&rules, "paypal-hooks.com"));
    std::fs::write(&path, "ok.com\nbad entry.com\n").unwrap();
    let Err(e) = RuleSet::new(&cfg) else {
        panic!("a bad allowlist line was accepted")
    };
    assert_eq!(e.key, "matcher.allowlist_file");
    assert!(e.message.contains("line 2"), "{e}");
    cfg.allowlist_file = dir.path().join("missing").display().to_string();
    assert!(RuleSet::new(&cfg).is_err());
}

#[test]
fn structure_alone_does_not_make_a_suspicious_word_a_finding() {
    // A real CT name: a cPanel host under a wildcard-DNS service, one suspicious word in it.
    let name = "whm.990754www.8064whm.76update.admin.en.34-54-124-199.sslip.io";
    let rules = defaults();
    let a = rules.assess(name, CertContext::default());
    assert!(!a.alerts_at(rules.threshold()), "{a:?}");
    let mut cfg = MatcherConfig::default();
    cfg.weights.unbranded_structure_cap = 1.0;
    let uncapped = RuleSet::new(&cfg).unwrap();
    assert!(alerts(&uncapped, name), "{:?}", uncapped.explain(name));
    // With a brand the structure counts in full.
    assert!(alerts(
        &rules,
        "paypal.com.76update.admin.en.34-54-124-199.sslip.io"
    ));
}

#[test]
fn a_short_brand_counts_only_against_an_edge_a_hyphen_or_a_digit() {
    let rules = defaults();
    // The word list cuts `my + ing + bank`, but `ing` between two letters is not taken.
    let glued = rules.assess("myingbank-login.com", CertContext::default());
    assert!(!glued.rules.iter().any(|r| r == "keyword:ing"), "{glued:?}");
    assert!(!glued.alerts_at(rules.threshold()), "{glued:?}");
    for name in [
        "dhlexpress-tracking.com",
        "ing-bank-login.com",
        "secure-itau2-login.com",
    ] {
        let a = rules.assess(name, CertContext::default());
        assert!(a.alerts_at(rules.threshold()), "{name}: {a:?}");
    }
}
