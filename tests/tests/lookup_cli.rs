//! `certhound lookup`, the real binary: the parse of saved answers (`--rdap-file`,
//! `--whois-file`) and live lookups against the loopback RDAP and WHOIS servers (the bootstrap is
//! fetched from the fake RDAP server's `/dns.json`). Checks the printed JSON object — dates as
//! RFC 3339, `recent`, `cdu` and `delta_days` computed against now — and the exit codes: 0 even
//! when the domain is unknown or the file is garbage, 1 when the file cannot be read.

use certhound_tests::observed::Observed;
use std::time::{SystemTime, UNIX_EPOCH};

use certhound_actors::dates::{civil_from_days, parse_rfc3339};
use certhound_tests::fixtures::fixture_path;
use certhound_tests::rdap_server::{Answer, FakeRdap};
use certhound_tests::whois_server::{FakeWhois, WhoisAnswer};
use certhound_tests::{timeouts, CerthoundCommand, Finished, TestConfig};
use serde_json::Value;

const DAY: i64 = 86_400;

/// The keys that are null when nothing is known of the domain.
const UNKNOWN_NULLS: [&str; 6] = [
    "created",
    "updated",
    "expires",
    "cdu",
    "delta_days",
    "recent",
];

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
fn rfc3339(t: i64) -> String {
    let (y, m, d) = civil_from_days(t.div_euclid(DAY));
    let s = t.rem_euclid(DAY);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Unix seconds of a date field of the output (`null` → `None`; a string that is not RFC 3339
/// fails the test).
fn time_of(v: &Value, key: &str) -> Option<i64> {
    match &v[key] {
        Value::Null => None,
        Value::String(s) => Some(
            parse_rfc3339(s).unwrap_or_else(|| panic!("`{key}` is not RFC 3339: {s:?}\n{v:#}")),
        ),
        other => panic!("`{key}` is neither a string nor null: {other}\n{v:#}"),
    }
}

fn path_str(p: &std::path::Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}

/// Runs `certhound [--config] lookup ARGS`; returns the output and stdout parsed as one JSON
/// object (`Value::Null` when stdout is not JSON).
async fn lookup(config: Option<&TestConfig>, args: &[&str]) -> (Finished, Value) {
    let mut cmd = CerthoundCommand::new();
    if let Some(c) = config {
        cmd = cmd.test_config(c);
    }
    let out = cmd
        .arg("lookup")
        .args(args.iter().copied())
        .run(timeouts::EXIT)
        .await;
    let v = serde_json::from_str(&out.stdout_text()).unwrap_or(Value::Null);
    (out, v)
}

/// Asserts exit 0 and a JSON object on stdout with every documented key.
fn assert_object(out: &Finished, v: &Value) {
    let d = out.describe();
    assert_eq!(out.code(), Some(0), "{d}");
    assert!(v.is_object(), "stdout is not one JSON object:\n{d}");
    for key in [
        "domain",
        "registrable_domain",
        "created",
        "updated",
        "expires",
        "registrar",
        "source",
        "recent",
        "cdu",
        "delta_days",
        "error",
    ] {
        assert!(v.get(key).is_some(), "no `{key}`: {v:#}");
    }
}

/// [`lookup`], which must print the JSON object ([`assert_object`]); returns it.
async fn lookup_object(config: Option<&TestConfig>, args: &[&str]) -> Value {
    let (out, v) = lookup(config, args).await;
    assert_object(&out, &v);
    v
}

/// The update date of google.de's DENIC answer (`Changed: 2018-03-12T21:44:25+01:00`), read
/// from the saved answer or from the fake WHOIS server alike.
fn assert_google_de_updated(v: &Value) {
    assert_eq!(
        time_of(v, "updated"),
        parse_rfc3339("2018-03-12T21:44:25+01:00"),
        "{v:#}"
    );
}

/// `recent`, `cdu` and `delta_days` as the default config (30 days, both events) says, from
/// `created`/`updated` and now; `delta_days` may be one more when the day turned during the run.
fn assert_verdict(v: &Value, before: i64) {
    let created = time_of(v, "created");
    let updated = time_of(v, "updated");
    let cdu = updated.or(created);
    assert_eq!(time_of(v, "cdu"), cdu, "cdu = updated, else created: {v:#}");
    let within = |t: Option<i64>| t.is_some_and(|t| before - t <= 30 * DAY);
    let expected_recent = if created.is_none() && updated.is_none() {
        Value::Null
    } else {
        Value::Bool(within(created) || within(updated))
    };
    assert_eq!(v["recent"], expected_recent, "{v:#}");
    match cdu {
        None => assert_eq!(v["delta_days"], Value::Null, "{v:#}"),
        Some(cdu) => {
            let expected = (before - cdu).div_euclid(DAY);
            let got = v["delta_days"].as_i64().expect("delta_days is a number");
            assert!(
                got == expected || got == expected + 1,
                "delta_days {got}, expected {expected} (days since {}): {v:#}",
                rfc3339(cdu)
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Saved answers

#[tokio::test]
async fn rdap_file_prints_the_fixture_dates() {
    let file = path_str(&fixture_path("rdap/verisign_1989shack.com.json"));
    let before = now();
    let v = lookup_object(None, &["--rdap-file", &file]).await;
    assert_eq!(v["created"], "2024-11-22T18:01:08Z", "{v:#}");
    assert_eq!(v["updated"], "2025-11-26T06:34:24Z", "{v:#}");
    assert_eq!(v["expires"], "2026-11-22T18:01:08Z", "{v:#}");
    assert!(
        v["registrar"]
            .as_str()
            .is_some_and(|r| r.contains("Tucows")),
        "{v:#}"
    );
    assert_eq!(v["error"], Value::Null, "{v:#}");
    assert_eq!(v["cdu"], "2025-11-26T06:34:24Z", "{v:#}");
    assert_verdict(&v, before);

    // With --domain, the domain and its registrable domain are named.
    let v = lookup_object(
        None,
        &["--rdap-file", &file, "--domain", "WWW.1989shack.com"],
    )
    .await;
    assert_eq!(v["registrable_domain"], "1989shack.com", "{v:#}");
    assert_eq!(v["created"], "2024-11-22T18:01:08Z", "{v:#}");
}

#[tokio::test]
async fn whois_file_prints_the_denic_update_date() {
    let file = path_str(&fixture_path("whois/raw/google.de.txt"));
    let before = now();
    let v = lookup_object(None, &["--whois-file", &file, "--domain", "google.de"]).await;
    assert_google_de_updated(&v);
    assert!(
        v["updated"].as_str().unwrap().starts_with("2018-03-12"),
        "{v:#}"
    );
    assert_eq!(v["created"], Value::Null, "{v:#}");
    assert_eq!(v["domain"], "google.de", "{v:#}");
    assert_eq!(v["registrable_domain"], "google.de", "{v:#}");
    assert_eq!(v["recent"], false, "{v:#}");
    assert_verdict(&v, before);
}

#[tokio::test]
async fn unreadable_file_exits_1_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let missing = path_str(&dir.path().join("no-such-answer.json"));
    let a_dir = path_str(dir.path());
    for args in [
        vec!["--rdap-file", missing.as_str()],
        vec!["--whois-file", missing.as_str(), "--domain", "x.de"],
        vec!["--rdap-file", a_dir.as_str()],
    ] {
        let (out, _) = lookup(None, &args).await;
        let d = out.describe();
        assert_eq!(out.code(), Some(1), "{args:?}\n{d}");
        assert!(
            out.stderr_text().contains(args[1]),
            "the message names the file: {args:?}\n{d}"
        );
        assert!(out.stdout_text().trim().is_empty(), "{d}");
    }
}

#[tokio::test]
async fn garbage_files_give_nulls_and_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("--rdap-file", b"<html>502 Bad Gateway</html>".to_vec()),
        (
            "--rdap-file",
            br#"{"objectClassName":"domain","events":[{"#.to_vec(),
        ),
        ("--rdap-file", br#"{"objectClassName":"entity"}"#.to_vec()),
        ("--rdap-file", Vec::new()),
        (
            "--whois-file",
            (0u32..4096).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        (
            "--whois-file",
            b"Created: tomorrow\r\nChanged: 2018-13-45\r\n".to_vec(),
        ),
        ("--whois-file", Vec::new()),
    ];
    for (i, (flag, bytes)) in files.iter().enumerate() {
        let path = dir.path().join(format!("answer-{i}"));
        std::fs::write(&path, bytes).unwrap();
        let path = path_str(&path);
        let (out, v) = lookup(None, &[flag, &path, "--domain", "junk.com"]).await;
        assert_object(&out, &v);
        for key in UNKNOWN_NULLS {
            assert_eq!(v[key], Value::Null, "{flag} #{i}: `{key}`: {v:#}");
        }
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{flag} #{i}: no error: {v:#}"
        );
        assert!(
            !out.stderr_text().contains("panicked"),
            "{}",
            out.describe()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Live lookups against the loopback servers

/// A fake RDAP server for `.com` and a fake WHOIS server, and a config whose bootstrap is the
/// fake RDAP server's `/dns.json` and whose WHOIS server is the fake one; no referrals followed.
async fn live() -> (FakeRdap, FakeWhois, TestConfig) {
    let rdap = FakeRdap::start(&["com"]).await;
    let whois = FakeWhois::start().await;
    let c = live_config(&rdap, &whois);
    (rdap, whois, c)
}

fn live_config(rdap: &FakeRdap, whois: &FakeWhois) -> TestConfig {
    let mut c = TestConfig::new();
    c.set_str("enrich.rdap", "bootstrap_url", &rdap.bootstrap_url());
    c.set("enrich.rdap", "follow_registrar", "false");
    c.set("enrich.whois", "follow", "0");
    c.set_str("enrich.whois.servers", "_", &whois.server());
    c.set_str("enrich.limits", "connect_timeout", "2s");
    c.set_str("enrich.limits", "read_timeout", "5s");
    c
}

#[tokio::test]
async fn live_lookup_of_the_fixture() {
    let (rdap, whois, c) = live().await;
    rdap.answer("1989shack.com", Answer::verisign());
    let before = now();
    let v = lookup_object(Some(&c), &["1989shack.com"]).await;
    assert_eq!(v["created"], "2024-11-22T18:01:08Z", "{v:#}");
    assert_eq!(v["updated"], "2025-11-26T06:34:24Z", "{v:#}");
    assert_eq!(v["expires"], "2026-11-22T18:01:08Z", "{v:#}");
    assert_eq!(v["error"], Value::Null, "{v:#}");
    assert!(
        v["source"].as_str().is_some_and(|s| s.contains("rdap")),
        "{v:#}"
    );
    assert_verdict(&v, before);
    let s = rdap.state();
    assert_eq!(
        s.bootstrap_requests(),
        1,
        "the bootstrap was fetched: {s:?}"
    );
    assert_eq!(s.count_for("1989shack.com"), 1, "{s:?}");
    assert!(whois.state().queries.is_empty());
}

/// A sub-domain is looked up by its registrable domain; dates a few days old are `recent`,
/// and `delta_days` counts from the last change.
#[tokio::test]
async fn live_lookup_recent_against_now() {
    let (rdap, _whois, c) = live().await;
    let t = now();
    let created = rfc3339(t - 5 * DAY - 3600);
    let updated = rfc3339(t - 2 * DAY - 3600);
    rdap.answer("fresh-paypa1-login.com", Answer::dates(&created, &updated));
    rdap.answer("old-brand.com", Answer::dates("2015-03-01", "2019-06-01"));

    let before = now();
    let v = lookup_object(Some(&c), &["secure.login.fresh-paypa1-login.com"]).await;
    assert_eq!(v["domain"], "secure.login.fresh-paypa1-login.com", "{v:#}");
    assert_eq!(v["registrable_domain"], "fresh-paypa1-login.com", "{v:#}");
    assert_eq!(v["created"], created.as_str(), "{v:#}");
    assert_eq!(v["updated"], updated.as_str(), "{v:#}");
    assert_eq!(v["recent"], true, "{v:#}");
    assert_eq!(v["cdu"], updated.as_str(), "{v:#}");
    assert_verdict(&v, before);
    assert_eq!(v["delta_days"], 2, "{v:#}");
    assert_eq!(
        rdap.state().count_for("fresh-paypa1-login.com"),
        1,
        "asked for the registrable domain: {:?}",
        rdap.state()
    );

    let v = lookup_object(Some(&c), &["old-brand.com"]).await;
    assert_eq!(v["recent"], false, "{v:#}");
    assert_eq!(v["cdu"], "2019-06-01T00:00:00Z", "{v:#}");
    assert_verdict(&v, before);
}

/// A TLD the bootstrap does not list goes to WHOIS.
#[tokio::test]
async fn live_lookup_falls_back_to_whois() {
    let (rdap, whois, c) = live().await;
    let v = lookup_object(Some(&c), &["google.de"]).await;
    assert_google_de_updated(&v);
    assert!(
        v["source"].as_str().is_some_and(|s| s.contains("whois")),
        "{v:#}"
    );
    assert_eq!(whois.state().count_for("google.de"), 1);
    assert_eq!(rdap.state().domain_requests().len(), 0);
}

/// Nobody knows the domain (RDAP 404, WHOIS "No match"): exit 0, nulls, an error.
#[tokio::test]
async fn live_lookup_of_an_unknown_domain_exits_0() {
    let (rdap, whois, c) = live().await;
    whois.answer("nobody-knows-me.com", WhoisAnswer::NoMatch);
    let v = lookup_object(Some(&c), &["nobody-knows-me.com"]).await;
    for key in UNKNOWN_NULLS {
        assert_eq!(v[key], Value::Null, "`{key}`: {v:#}");
    }
    assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v:#}");
    assert_eq!(rdap.state().count_for("nobody-knows-me.com"), 1);
}
