//! `certhound explain DOMAIN`: the normalisation steps and the verdict for one name — a
//! punycode homoglyph is read as the brand, an allowlisted brand domain is said to be
//! allowlisted, an innocent name matches no rule.

use certhound_tests::domains::punycode;
use certhound_tests::{timeouts, CerthoundCommand};

/// `certhound explain DOMAIN`, which must exit 0: its stdout, and the run described for
/// assertion messages.
async fn explain(domain: &str) -> (String, String) {
    let out = CerthoundCommand::new()
        .args(["explain", domain])
        .run(timeouts::EXIT)
        .await;
    let d = out.describe();
    assert_eq!(out.code(), Some(0), "{d}");
    (out.stdout_text(), d)
}

/// [`explain`], whose output must contain each of `lines`; returns the output and the run
/// described, for the test's further checks.
async fn explain_shows(domain: &str, lines: &[&str]) -> (String, String) {
    let (text, d) = explain(domain).await;
    for line in lines {
        assert!(text.contains(line), "{d}");
    }
    (text, d)
}

#[tokio::test]
async fn punycode_homoglyph_reads_as_paypal() {
    let ascii = punycode("\u{440}\u{430}ypal-login.com"); // Cyrillic er (U+0440) and a (U+0430)
    assert!(ascii.starts_with("xn--"));
    let (text, d) = explain_shows(&ascii, &["paypal", "keyword:paypal"]).await;
    assert!(
        text.contains("\u{440}\u{430}ypal-login.com"),
        "shows the Unicode form: {d}"
    );
}

#[tokio::test]
async fn allowlisted_brand_domain() {
    explain_shows("www.paypal.com", &["allowlist"]).await;
}

#[tokio::test]
async fn innocent_name_matches_no_rule() {
    let (text, d) = explain_shows(
        "example.org",
        &["no finding: no brand, look-alike or suspicious word"],
    )
    .await;
    assert!(!text.contains("keyword:"), "{d}");
}

#[tokio::test]
async fn a_look_alike_shows_its_terms_score_and_threshold() {
    explain_shows(
        "paypla-secure.com",
        &[
            "lookalike paypal (1 edit in paypla) +1.00",
            "suspicious_word secure +0.50",
            "score:        1.50 (threshold 1.00)",
            "verdict:      finding: score 1.50",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_common_keyword_alone_is_below_the_threshold() {
    explain_shows(
        "chase88.com",
        &["chase (common word)", "is below the threshold 1.00"],
    )
    .await;
}
