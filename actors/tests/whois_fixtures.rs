//! The WHOIS parser against 44 real WHOIS answers from many registries
//! (`tests/fixtures/whois/raw/<domain>.txt`) and what a mature WHOIS parser (richardpenman/whois)
//! extracted from each (`tests/fixtures/whois/expected/<domain>.json`).
//!
//! Dates are compared at day precision: the UTC day of the instant (an expected value with an
//! offset is converted; of a list, the first element counts). A date that the reference does
//! not have (null or absent) is not checked: the reference misses some (e.g. google.ie's
//! `Updated Date:`), and such extra values are only listed. Registrars are compared exactly,
//! except for the documented cases in `REGISTRAR_DIFFERENCES`, where the reference value is not
//! the domain's registrar and the test pins the value this parser gives instead.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use certhound_actors::enrich::whois_parse::{self, WhoisDates};
use serde_json::Value;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/whois");

/// (domain, registrar this parser must give, why the reference value is not used).
const REGISTRAR_DIFFERENCES: &[(&str, Option<&str>, &str)] = &[
    (
        "microsoft.com",
        Some("TUCOWS, INC."),
        "the 2008 Verisign answer first lists ~30 look-alike name-server hosts, each with its own \
         registrar; the reference took one of those (CRONON AG ...), while the record of \
         MICROSOFT.COM itself says TUCOWS INC. and the registrar's section 'Registrar of \
         Record: TUCOWS, INC.'",
    ),
    (
        "www.gov.uk",
        None,
        "the answer says 'No registrar listed.  This domain is directly registered with \
         Nominet.', which is the absence of a registrar, not a registrar's name",
    ),
];

/// Days since 1970-01-01 (H. Hinnant's days_from_civil), kept independent of the parser.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// "YYYY-MM-DD" of a day count (H. Hinnant's civil_from_days).
fn day_string(days: i64) -> String {
    let z = days + 719_468;
    let era = (if z >= 0 { z } else { z - 146_096 }) / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The UTC day of a reference value: "2018-03-12 21:44:25+01:00",
/// "2018-05-19 12:18:44.329522+00:00", or a list of those (first element).
fn expected_day(v: Option<&Value>) -> Option<String> {
    let s = match v? {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.first()?.as_str()?.to_string(),
        _ => return None,
    };
    let num = |a: usize, b: usize| -> i64 {
        s.get(a..b)
            .and_then(|x| x.parse().ok())
            .unwrap_or_else(|| panic!("unexpected reference date format: {s}"))
    };
    let (y, mo, d, h, mi, sec) = (
        num(0, 4),
        num(5, 7),
        num(8, 10),
        num(11, 13),
        num(14, 16),
        num(17, 19),
    );
    let tz = s
        .rfind(['+', '-'])
        .filter(|&i| i >= 19)
        .unwrap_or_else(|| panic!("reference date without offset: {s}"));
    let sign = if s.as_bytes()[tz] == b'-' { -1 } else { 1 };
    let offset = sign * (num(tz + 1, tz + 3) * 3600 + num(tz + 4, tz + 6) * 60);
    let t = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset;
    Some(day_string(t.div_euclid(86_400)))
}

fn got_day(t: Option<i64>) -> Option<String> {
    t.map(|t| day_string(t.div_euclid(86_400)))
}

#[derive(Default)]
struct Tally {
    /// Fixtures whose reference has the field.
    expected: usize,
    passed: usize,
    /// Values found where the reference has none (not failures).
    extra: Vec<String>,
}

#[test]
fn whois_fixtures_table() {
    let dir = Path::new(FIXTURES);
    let mut domains: Vec<String> = fs::read_dir(dir.join("expected"))
        .expect("tests/fixtures/whois/expected")
        .map(|e| {
            e.expect("dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .collect();
    domains.sort();
    assert_eq!(domains.len(), 44, "expected 44 WHOIS fixtures");

    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut mismatches: Vec<String> = Vec::new();
    let mut documented: Vec<String> = Vec::new();

    for domain in &domains {
        let raw = fs::read(dir.join("raw").join(format!("{domain}.txt"))).expect("raw answer");
        let raw = String::from_utf8_lossy(&raw);
        let expected: Value = serde_json::from_str(
            &fs::read_to_string(dir.join("expected").join(format!("{domain}.json")))
                .expect("expected json"),
        )
        .expect("valid json");
        let got: WhoisDates = whois_parse::parse(&raw);

        assert!(
            !whois_parse::looks_like_no_match(&raw),
            "{domain}: a registered domain's answer taken for 'no match'"
        );
        assert!(
            !whois_parse::looks_rate_limited(&raw),
            "{domain}: a registered domain's answer taken for a rate-limit refusal"
        );

        for (field, key, value) in [
            ("created", "creation_date", got.created),
            ("updated", "updated_date", got.updated),
            ("expires", "expiration_date", got.expires),
        ] {
            let tally = tallies.entry(field).or_default();
            let want = expected_day(expected.get(key));
            let have = got_day(value);
            match (&want, &have) {
                (Some(w), _) => {
                    tally.expected += 1;
                    if Some(w) == have.as_ref() {
                        tally.passed += 1;
                    } else {
                        mismatches.push(format!(
                            "{domain}: {field}: expected {w}, got {}",
                            have.as_deref().unwrap_or("None")
                        ));
                    }
                }
                (None, Some(h)) => tally.extra.push(format!("{domain}={h}")),
                (None, None) => {}
            }
        }

        let tally = tallies.entry("registrar").or_default();
        let want = expected.get("registrar").and_then(Value::as_str);
        let have = got.registrar.as_deref();
        if let Some((_, pinned, why)) = REGISTRAR_DIFFERENCES.iter().find(|(d, _, _)| d == domain) {
            tally.expected += 1;
            if have == *pinned {
                tally.passed += 1;
                documented.push(format!(
                    "{domain}: registrar: reference {want:?}, parser {have:?}: {why}"
                ));
            } else {
                mismatches.push(format!(
                    "{domain}: registrar: expected (documented) {pinned:?}, got {have:?}"
                ));
            }
            continue;
        }
        match (want, have) {
            (Some(w), _) => {
                tally.expected += 1;
                if Some(w) == have {
                    tally.passed += 1;
                } else {
                    mismatches.push(format!("{domain}: registrar: expected {w:?}, got {have:?}"));
                }
            }
            (None, Some(h)) => tally.extra.push(format!("{domain}={h:?}")),
            (None, None) => {}
        }
    }

    println!();
    println!("WHOIS fixtures: {} answers", domains.len());
    println!(
        "{:<10} {:>8} {:>8} {:>8}   extra (reference has none)",
        "field", "passed", "of", "failed"
    );
    for field in ["created", "updated", "expires", "registrar"] {
        let t = &tallies[field];
        println!(
            "{:<10} {:>8} {:>8} {:>8}   {}",
            field,
            t.passed,
            t.expected,
            t.expected - t.passed,
            t.extra.join(", ")
        );
    }
    for d in &documented {
        println!("documented difference: {d}");
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatch(es):\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}
