//! Detection quality of the shipped default rules on the labelled set in
//! `tests/fixtures/domains/labelled.tsv` (2,988 phishing and 2,736 benign host names from
//! wesleyraptor/streamingphish, Apache-2.0). Every name is judged alone, as the matcher does:
//! rules, then the allowlist on its registrable domain. The figures are printed; the floors
//! asserted are just below them, so that a change that weakens detection fails here.

use certhound_actors::rules::{CertContext, RuleSet};
use certhound_config::MatcherConfig;

/// A file of `tests/fixtures/domains/`.
fn domains_fixture(name: &str) -> String {
    let path = format!(
        "{}/../tests/fixtures/domains/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn default_rules_on_the_labelled_set() {
    let text = domains_fixture("labelled.tsv");
    let rules = RuleSet::new(&MatcherConfig::default()).unwrap();
    let (mut tp, mut fp, mut fn_, mut tn) = (0u32, 0u32, 0u32, 0u32);
    let mut false_positives = Vec::new();
    let mut missed = Vec::new();
    for line in text.lines().skip(1) {
        let Some((domain, label)) = line.split_once('\t') else {
            continue;
        };
        let flagged = rules
            .assess(domain, CertContext::default())
            .alerts_at(rules.threshold());
        match (label, flagged) {
            ("phishing", true) => tp += 1,
            ("phishing", false) => {
                fn_ += 1;
                missed.push(domain.to_string());
            }
            ("benign", true) => {
                fp += 1;
                false_positives.push(domain.to_string());
            }
            _ => tn += 1,
        }
    }
    let precision = f64::from(tp) / f64::from(tp + fp);
    let recall = f64::from(tp) / f64::from(tp + fn_);
    let fp_rate = f64::from(fp) / f64::from(fp + tn);
    println!(
        "tp={tp} fp={fp} fn={fn_} tn={tn} precision={precision:.3} recall={recall:.3} benign flagged={fp_rate:.3}"
    );
    println!(
        "false positives: {:?}",
        &false_positives[..false_positives.len().min(60)]
    );
    println!("missed: {:?}", &missed[..missed.len().min(60)]);
    if let Ok(p) = std::env::var("CERTHOUND_QUALITY_DUMP") {
        std::fs::write(p, format!("{false_positives:#?}\n{missed:#?}")).unwrap();
    }
    assert_eq!(tp + fn_, 2988);
    assert_eq!(fp + tn, 2736);
    // Measured 2026-12: recall 0.978, precision 0.993, 0.8 % of benign names flagged.
    assert!(recall >= 0.97, "recall {recall:.3}");
    assert!(precision >= 0.985, "precision {precision:.3}");
    assert!(fp_rate <= 0.012, "benign flagged {fp_rate:.3}");
}

/// The most popular sites must not alert: each would be an alert on every certificate renewal
/// of theirs. `top-sites.txt` is the Moz Top 500 (npm `top-sites`, MIT). A name that is not a
/// domain (the list has one truncated entry) must not alert either.
#[test]
fn no_popular_site_alerts() {
    let text = domains_fixture("top-sites.txt");
    let rules = RuleSet::new(&MatcherConfig::default()).unwrap();
    let names: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(names.len(), 500);
    let alerting: Vec<String> = names
        .iter()
        .filter_map(|n| {
            let a = rules.assess(n, CertContext::default());
            a.alerts_at(rules.threshold())
                .then(|| format!("{n} ({:.2}: {})", a.score, a.rules.join(", ")))
        })
        .collect();
    assert!(alerting.is_empty(), "popular sites alerting: {alerting:#?}");
}
