//! `certhound explain DOMAIN`: the normalisation steps and the verdict for one name — a
//! punycode homoglyph is read as the brand, an allowlisted brand domain is said to be
//! allowlisted, an innocent name matches no rule.

use certhound_tests::domains::punycode;
use certhound_tests::{timeouts, CerthoundCommand, Finished};

async fn explain(domain: &str) -> Finished {
    CerthoundCommand::new()
        .args(["explain", domain])
        .run(timeouts::EXIT)
        .await
}

#[tokio::test]
async fn punycode_homoglyph_reads_as_paypal() {
    let ascii = punycode("\u{440}\u{430}ypal-login.com"); // Cyrillic er (U+0440) and a (U+0430)
    assert!(ascii.starts_with("xn--"));
    let out = explain(&ascii).await;
    let d = out.describe();
    assert_eq!(out.code(), Some(0), "{d}");
    let text = out.stdout_text();
    assert!(text.contains("paypal"), "{d}");
    assert!(text.contains("keyword:paypal"), "{d}");
    assert!(
        text.contains("\u{440}\u{430}ypal-login.com"),
        "shows the Unicode form: {d}"
    );
}

#[tokio::test]
async fn allowlisted_brand_domain() {
    let out = explain("www.paypal.com").await;
    let d = out.describe();
    assert_eq!(out.code(), Some(0), "{d}");
    assert!(out.stdout_text().contains("allowlist"), "{d}");
}

#[tokio::test]
async fn innocent_name_matches_no_rule() {
    let out = explain("example.org").await;
    let d = out.describe();
    assert_eq!(out.code(), Some(0), "{d}");
    assert!(
        out.stdout_text()
            .contains("no finding: no brand, look-alike or suspicious word"),
        "{d}"
    );
    assert!(!out.stdout_text().contains("keyword:"), "{d}");
}

#[tokio::test]
async fn a_look_alike_shows_its_terms_score_and_threshold() {
    let out = explain("paypla-secure.com").await;
    let d = out.describe();
    assert_eq!(out.code(), Some(0), "{d}");
    let text = out.stdout_text();
    assert!(
        text.contains("lookalike paypal (1 edit in paypla) +1.00"),
        "{d}"
    );
    assert!(text.contains("suspicious_word secure +0.50"), "{d}");
    assert!(text.contains("score:        1.50 (threshold 1.00)"), "{d}");
    assert!(text.contains("verdict:      finding: score 1.50"), "{d}");
}

#[tokio::test]
async fn a_common_keyword_alone_is_below_the_threshold() {
    let out = explain("chase88.com").await;
    let d = out.describe();
    assert_eq!(out.code(), Some(0), "{d}");
    let text = out.stdout_text();
    assert!(text.contains("chase (common word)"), "{d}");
    assert!(text.contains("is below the threshold 1.00"), "{d}");
}
