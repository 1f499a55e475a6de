//! `certhound eval`: on the labelled fixture the figures add up and the threshold sweep is
//! consistent; on a small file of obvious cases the counts are exact and unreadable lines
//! (no tab, unknown label, not UTF-8) are counted as skipped, never a crash; an unreachable
//! threshold flags nothing and has no precision; `--names` counts what would alert and by which
//! rule; a missing file, a bad `--threshold` and a bad config are errors with their exit codes.
//!
//! The assertions hold for any sane engine: an obvious brand-plus-suspicious-words name on a
//! risky TLD alerts at the default threshold, `example.org` does not; no exact scores.

use certhound_tests::fixtures::fixture_path;
use certhound_tests::{timeouts, CerthoundCommand, Finished};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Phishing and benign names in `labelled.tsv` (see its README).
const FIXTURE_PHISHING: u64 = 2988;
const FIXTURE_BENIGN: u64 = 2736;

async fn eval<S: Into<String>>(args: impl IntoIterator<Item = S>) -> Finished {
    CerthoundCommand::new()
        .arg("eval")
        .args(args)
        .run(timeouts::EXIT)
        .await
}

fn fixture() -> String {
    fixture_path("domains/labelled.tsv").display().to_string()
}

/// Writes `content` to `name` in a new temporary directory (kept with the returned guard).
fn temp_file(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, content).expect("write input");
    (dir, path)
}

fn arg(p: &Path) -> String {
    p.display().to_string()
}

/// The JSON object on stdout of a run that exited 0.
fn json_of(out: &Finished) -> Value {
    let d = out.describe();
    assert_eq!(out.code(), Some(0), "{d}");
    serde_json::from_str(&out.stdout_text()).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {d}"))
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("`{key}` is a count: {v}"))
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("`{key}` is a number: {v}"))
}

fn assert_no_panic(out: &Finished) {
    let text = format!("{}\n{}", out.stdout_text(), out.stderr_text()).to_lowercase();
    assert!(
        !text.contains("panicked") && !text.contains("backtrace"),
        "{}",
        out.describe()
    );
}

/// The sweep's rows are in rising threshold order, flag fewer names as the threshold rises,
/// and exactly one is the threshold in force, with the top-level figures.
fn assert_sweep_consistent(report: &Value) {
    let sweep = report["sweep"].as_array().expect("sweep is an array");
    assert!(sweep.len() >= 2, "{report}");
    for w in sweep.windows(2) {
        assert!(
            f(&w[0], "threshold") < f(&w[1], "threshold"),
            "rising: {w:?}"
        );
        assert!(
            u(&w[0], "flagged") >= u(&w[1], "flagged"),
            "flagged never increases with the threshold: {w:?}"
        );
    }
    let in_force: Vec<&Value> = sweep.iter().filter(|r| r["in_force"] == true).collect();
    assert_eq!(
        in_force.len(),
        1,
        "one row is the threshold in force: {sweep:?}"
    );
    let row = in_force[0];
    let c = &report["counts"];
    assert_eq!(row["threshold"], report["threshold"], "{row}");
    assert_eq!(u(row, "flagged"), u(c, "tp") + u(c, "fp"), "{row} {c}");
    for key in ["precision", "recall", "fp_rate"] {
        assert_eq!(row[key], report[key], "{key}: {row}");
    }
}

#[tokio::test]
async fn labelled_fixture_figures_add_up() {
    let out = eval(["--json".to_string(), fixture()]).await;
    let r = json_of(&out);
    let c = &r["counts"];
    assert_eq!(u(c, "tp") + u(c, "fn"), FIXTURE_PHISHING, "{c}");
    assert_eq!(u(c, "fp") + u(c, "tn"), FIXTURE_BENIGN, "{c}");
    assert_eq!(u(&r, "positives"), FIXTURE_PHISHING);
    assert_eq!(u(&r, "negatives"), FIXTURE_BENIGN);
    assert_eq!(
        u(&r, "skipped_lines"),
        0,
        "the header is not a skipped line"
    );
    assert_eq!(f(&r, "threshold"), 1.0, "the default matcher.threshold");
    for key in ["precision", "recall", "fp_rate", "f1"] {
        let x = f(&r, key);
        assert!((0.0..=1.0).contains(&x), "{key} = {x}");
    }
    assert!(u(c, "tp") > 0, "the default rules find some phishing: {c}");
    assert_eq!(f(&r, "recall"), u(c, "tp") as f64 / FIXTURE_PHISHING as f64);
    assert_eq!(f(&r, "fp_rate"), u(c, "fp") as f64 / FIXTURE_BENIGN as f64);
    assert_sweep_consistent(&r);

    // Every flagged name is counted under each of its rules (and rule kinds).
    let by_rule = r["by_rule"].as_object().expect("by_rule is an object");
    assert!(!by_rule.is_empty(), "{r}");
    for (rule, n) in by_rule {
        assert!(u(n, "positives") <= u(c, "tp"), "{rule}: {n}");
        assert!(u(n, "negatives") <= u(c, "fp"), "{rule}: {n}");
    }
    let kinds = r["by_rule_kind"].as_object().expect("by_rule_kind");
    assert!(!kinds.is_empty(), "{r}");
    for (kind, n) in kinds {
        assert!(u(n, "positives") <= u(c, "tp"), "{kind}: {n}");
        assert!(u(n, "negatives") <= u(c, "fp"), "{kind}: {n}");
    }

    let fps = r["false_positives"].as_array().expect("false_positives");
    let missed = r["missed"].as_array().expect("missed");
    assert_eq!(fps.len() as u64, u(c, "fp").min(20));
    assert_eq!(missed.len() as u64, u(c, "fn").min(20));
    for e in fps {
        assert!(
            f(e, "score") >= 1.0,
            "a false positive reached the threshold: {e}"
        );
        assert!(e["terms"].is_array(), "{e}");
    }
    for w in fps.windows(2) {
        assert!(
            f(&w[0], "score") >= f(&w[1], "score"),
            "highest first: {w:?}"
        );
    }
}

#[tokio::test]
async fn threshold_off_the_grid_gets_its_own_row() {
    let out = eval(
        ["--json", "--threshold", "1.35"]
            .map(String::from)
            .into_iter()
            .chain([fixture()]),
    )
    .await;
    let r = json_of(&out);
    assert_eq!(f(&r, "threshold"), 1.35);
    assert_eq!(r["threshold_source"], "--threshold");
    let sweep = r["sweep"].as_array().unwrap();
    assert!(
        sweep.iter().any(|row| f(row, "threshold") == 1.35),
        "{sweep:?}"
    );
    assert!(
        sweep.iter().any(|row| f(row, "threshold") == 1.0),
        "{sweep:?}"
    );
    assert_sweep_consistent(&r);
    let c = &r["counts"];
    assert_eq!(u(c, "tp") + u(c, "fn"), FIXTURE_PHISHING, "{c}");
}

/// Obvious cases, a header, a comment, a blank line and three unreadable lines.
fn small_labelled_file() -> Vec<u8> {
    let mut s = b"domain\tlabel\n# obvious cases\npaypal-login-verify.xyz\tphishing\n\nexample.org\tbenign\nno-tab-here.com\nfoo.com\tmaybe\n".to_vec();
    s.extend_from_slice(b"\xff\xfepaypal.xyz\tphishing\n");
    s
}

#[tokio::test]
async fn small_file_counts_are_exact_and_bad_lines_skipped() {
    let (_dir, path) = temp_file("small.tsv", &small_labelled_file());
    let out = eval(["--json".to_string(), arg(&path)]).await;
    let r = json_of(&out);
    let c = &r["counts"];
    assert_eq!(
        (u(c, "tp"), u(c, "fp"), u(c, "fn"), u(c, "tn")),
        (1, 0, 0, 1),
        "{r}"
    );
    assert_eq!(u(&r, "skipped_lines"), 3, "{r}");
    let lines: Vec<u64> = r["skipped"]
        .as_array()
        .expect("skipped")
        .iter()
        .map(|s| u(s, "line"))
        .collect();
    assert_eq!(lines, [6, 7, 8], "{r}");
    assert_eq!(f(&r, "precision"), 1.0);
    assert_eq!(f(&r, "recall"), 1.0);
    assert_eq!(f(&r, "fp_rate"), 0.0);
    assert_eq!(f(&r, "f1"), 1.0);
    assert!(r["false_positives"].as_array().unwrap().is_empty(), "{r}");
    assert!(r["missed"].as_array().unwrap().is_empty(), "{r}");
    let paypal_rules: Vec<&String> = r["by_rule"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| k.contains("paypal"))
        .collect();
    assert!(
        !paypal_rules.is_empty(),
        "the true positive's brand rule: {r}"
    );
    assert_no_panic(&out);
}

#[tokio::test]
async fn labels_are_read_case_insensitively() {
    let content = b"Domain\tLabel\r\na.example\tPHISHING\r\nb.example\tmalicious\r\nc.example\t1\r\nd.example\tBenign\r\ne.example\tLEGIT\r\nf.example\t0\r\ng.example\tlabel\r\n";
    let (_dir, path) = temp_file("labels.tsv", content);
    let r = json_of(&eval(["--json".to_string(), arg(&path)]).await);
    assert_eq!(u(&r, "positives"), 3, "{r}");
    assert_eq!(u(&r, "negatives"), 3, "{r}");
    assert_eq!(u(&r, "names"), 6, "{r}");
    assert_eq!(
        u(&r, "skipped_lines"),
        1,
        "only the first line can be the header: {r}"
    );
}

#[tokio::test]
async fn unreachable_threshold_flags_nothing() {
    let (_dir, path) = temp_file("small.tsv", &small_labelled_file());
    let out = eval(
        ["--json", "--threshold", "1000"]
            .map(String::from)
            .into_iter()
            .chain([arg(&path)]),
    )
    .await;
    let r = json_of(&out);
    let c = &r["counts"];
    assert_eq!(u(c, "tp") + u(c, "fp"), 0, "{r}");
    assert!(
        r["precision"].is_null(),
        "no flagged names, no precision: {r}"
    );
    assert_eq!(f(&r, "recall"), 0.0, "{r}");
    assert_eq!(f(&r, "f1"), 0.0, "{r}");
    assert!(r["by_rule"].as_object().unwrap().is_empty(), "{r}");
    let missed: Vec<&str> = r["missed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(missed, ["paypal-login-verify.xyz"], "{r}");
    assert_sweep_consistent(&r);

    // The text report says so instead of printing NaN.
    let text = eval(
        ["--threshold", "1000"]
            .map(String::from)
            .into_iter()
            .chain([arg(&path)]),
    )
    .await;
    let d = text.describe();
    assert_eq!(text.code(), Some(0), "{d}");
    let t = text.stdout_text();
    assert!(t.contains("n/a"), "{d}");
    assert!(!t.to_lowercase().contains("nan"), "{d}");
    assert!(t.contains("(in force)"), "{d}");
    assert!(t.contains("skipped 3 lines"), "{d}");
}

#[tokio::test]
async fn names_mode_counts_alerts_by_rule() {
    let names = b"paypal-login-verify.xyz\nexample.org\n# a comment\n\nsecure-paypal-account-verify.top\nwikipedia.org\nwww.paypal.com\n";
    let (_dir, path) = temp_file("names.txt", names);
    let out = eval(["--json".to_string(), "--names".to_string(), arg(&path)]).await;
    let r = json_of(&out);
    assert_eq!(u(&r, "names"), 5, "{r}");
    assert_eq!(u(&r, "alerting"), 2, "{r}");
    assert_eq!(u(&r, "skipped_lines"), 0, "{r}");
    let examples: Vec<&str> = r["examples"]
        .as_array()
        .expect("examples")
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        examples,
        [
            "paypal-login-verify.xyz",
            "secure-paypal-account-verify.top"
        ],
        "{r}"
    );
    let by_rule = r["by_rule"].as_object().expect("by_rule");
    assert!(
        by_rule.keys().any(|k| k.contains("paypal")),
        "the brand's rule: {r}"
    );
    for (rule, n) in by_rule {
        let n = n.as_u64().unwrap_or_else(|| panic!("{rule}: a count"));
        assert!((1..=2).contains(&n), "{rule}: {n}");
    }
    assert!(!r["by_rule_kind"].as_object().unwrap().is_empty(), "{r}");

    let text = eval(["--names".to_string(), arg(&path)]).await;
    let d = text.describe();
    assert_eq!(text.code(), Some(0), "{d}");
    assert!(
        text.stdout_text().contains("paypal-login-verify.xyz"),
        "{d}"
    );
    assert!(!text.stdout_text().contains("wikipedia.org"), "{d}");
}

#[tokio::test]
async fn missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = arg(&dir.path().join("no-such-list.tsv"));
    for args in [
        vec![missing.clone()],
        vec!["--names".into(), missing.clone()],
    ] {
        let out = eval(args).await;
        let d = out.describe();
        assert_eq!(out.code(), Some(1), "{d}");
        assert!(out.stderr_text().contains(&missing), "{d}");
        assert_eq!(
            out.stderr.iter().filter(|l| !l.trim().is_empty()).count(),
            1,
            "{d}"
        );
        assert_no_panic(&out);
    }
}

#[tokio::test]
async fn garbage_file_is_an_error_not_a_panic() {
    // No usable line: a comment, a line far too long, bytes that are not UTF-8.
    let mut garbage = b"# nothing here\n".to_vec();
    garbage.extend(std::iter::repeat_n(b'a', 100_000));
    garbage.extend_from_slice(b"\n\xc3\x28\x80\x00\tphishing\n");
    let (_dir, path) = temp_file("garbage.tsv", &garbage);
    for args in [vec![arg(&path)], vec!["--names".into(), arg(&path)]] {
        let out = eval(args).await;
        let d = out.describe();
        assert_eq!(out.code(), Some(1), "{d}");
        assert!(out.stderr_text().contains("no usable lines"), "{d}");
        assert!(out.stderr_text().contains("2 skipped"), "{d}");
        assert_no_panic(&out);
    }
}

#[tokio::test]
async fn bad_threshold_is_a_usage_error() {
    for bad in ["abc", "-1", "0", "NaN"] {
        let out = eval(
            ["--threshold", bad]
                .map(String::from)
                .into_iter()
                .chain([fixture()]),
        )
        .await;
        let d = out.describe();
        assert_eq!(out.code(), Some(2), "--threshold {bad}: {d}");
        assert!(out.stderr_text().contains("--threshold"), "{d}");
        assert!(out.stdout.iter().all(|l| l.trim().is_empty()), "{d}");
    }
}

#[tokio::test]
async fn bad_config_exits_2() {
    let out = CerthoundCommand::new()
        .env("CERTHOUND_MATCHER__THRESHOLD", "-1")
        .args(["eval".to_string(), fixture()])
        .run(timeouts::EXIT)
        .await;
    let d = out.describe();
    assert_eq!(out.code(), Some(2), "{d}");
    assert!(out.stderr_text().contains("matcher.threshold"), "{d}");
    assert_no_panic(&out);
}
