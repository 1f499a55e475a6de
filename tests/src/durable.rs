//! Helpers for the tests of certhound's durable store: reading a JSONL findings file, waiting for
//! it to reach a number of lines (the file has no event to wait on: polled in a bounded loop with
//! short waits) and for a webhook to have every finding, listing the stored findings with
//! `certhound findings --json`, checking the `cannot open store` failure, and planting findings
//! among background messages.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::domains::Background;
use crate::messages::{domains_only, full, lite};
use crate::process::{Certhound, CerthoundCommand, Finished};
use crate::{timeouts, FakeSeqCertstream, FakeWebhook, TestConfig};

/// The exit code of certhound when its store cannot be opened.
pub const EXIT_STORE: i32 = 74;

/// The lines of a JSONL file (a missing file has none); a last line without its newline is kept
/// as it is (and will fail to parse if torn).
pub fn read_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(s) => s.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

/// The lines of a JSONL findings file, parsed; panics naming the line that is not JSON.
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    parse_jsonl(&read_lines(path), &path.display().to_string())
}

/// JSON lines (a JSONL file's, or a process's stdout), blank ones skipped, parsed; panics on a
/// line that is not JSON, naming `source` and the line's number.
pub fn parse_jsonl(lines: &[String], source: &str) -> Vec<Value> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{source} line {} is not JSON ({e}): {l}", i + 1))
        })
        .collect()
}

/// Waits until the file has at least `n` non-empty lines (polled every 100 ms: a file gives no
/// event); `Err` with the count seen at the deadline.
pub async fn wait_for_lines(path: &Path, n: usize, timeout: Duration) -> Result<usize, usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let count = read_lines(path)
            .iter()
            .filter(|l| !l.trim().is_empty())
            .count();
        if count >= n {
            return Ok(count);
        }
        if Instant::now() >= deadline {
            return Err(count);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The wait at the end of a crash or restart test: until every `planted` domain reached `sink`
/// under a key and the JSONL file `jsonl` has as many lines; fails the test with `certhound`'s
/// output (`what` it is), the domains still missing and the `?since=` values `server` was asked
/// for.
pub async fn wait_for_all_delivered(
    certhound: &Certhound,
    what: &str,
    sink: &FakeWebhook,
    server: &FakeSeqCertstream,
    jsonl: &Path,
    planted: &[String],
) {
    if let Err(s) = sink
        .wait_for_unique_keys(planted.len(), timeouts::BULK)
        .await
    {
        let seen = s.accepted_keys_per_domain();
        let missing: Vec<&String> = planted.iter().filter(|d| !seen.contains_key(*d)).collect();
        panic!(
            "{}\nwebhook saw {} unique keys; missing domains: {missing:?}\nserver: {:?}",
            certhound.describe(what),
            s.accepted_keys().len(),
            server.stats().sinces()
        );
    }
    if let Err(n) = wait_for_lines(jsonl, planted.len(), timeouts::BULK).await {
        panic!(
            "{}\nJSONL has {n} lines, waiting for {}",
            certhound.describe(what),
            planted.len()
        );
    }
}

/// Each line's `registrable_domain` → how many lines carry it.
pub fn domain_counts(findings: &[Value]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for f in findings {
        let d = f["registrable_domain"]
            .as_str()
            .unwrap_or_else(|| panic!("finding without registrable_domain: {f}"));
        *m.entry(d.to_string()).or_insert(0) += 1;
    }
    m
}

/// The `id`s of findings (panics on a finding without one).
pub fn ids(findings: &[Value]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            f["id"]
                .as_str()
                .unwrap_or_else(|| panic!("finding without a string id: {f}"))
                .to_string()
        })
        .collect()
}

/// `certhound --config <config> findings --json [extra...]`, run to its end.
pub async fn findings_cli(config: &TestConfig, extra: &[&str]) -> Finished {
    CerthoundCommand::new()
        .test_config(config)
        .args(["findings", "--json"])
        .args(extra.iter().copied())
        .run(timeouts::EXIT)
        .await
}

/// The stored findings as `certhound findings --json` lists them (asserting exit 0 and one JSON
/// object per stdout line).
pub async fn stored_findings(config: &TestConfig) -> Vec<Value> {
    let out = findings_cli(config, &[]).await;
    let d = out.describe();
    assert_eq!(out.code(), Some(0), "certhound findings --json: {d}");
    out.stdout
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("findings --json line is not JSON ({e}): {l}\n{d}"));
            assert!(v.is_object(), "not an object: {l}\n{d}");
            // Every finding says why it alerted: a score at or above the default threshold
            // and the terms that make it up.
            assert!(
                v["score"].as_f64().is_some_and(|s| s >= 1.0),
                "score: {l}\n{d}"
            );
            assert!(
                v["terms"].as_array().is_some_and(|t| !t.is_empty()),
                "terms: {l}\n{d}"
            );
            v
        })
        .collect()
}

/// The state of `channel` in a `findings --json` entry (`"sent"`, `"pending"`, `"failed: ..."`).
pub fn channel_state<'a>(finding: &'a Value, channel: &str) -> Option<&'a str> {
    finding["channels"][channel].as_str()
}

/// Asserts the failure to open the store: exit 74, one stderr line starting
/// `certhound: cannot open store` that names `path` (and whatever `reason_contains` lists), no
/// panic, no backtrace. Returns the line.
pub fn assert_cannot_open_store(out: &Finished, path: &Path, reason_contains: &[&str]) -> String {
    let d = out.describe();
    assert_eq!(out.code(), Some(EXIT_STORE), "exit code 74: {d}");
    let lines: Vec<&String> = out.stderr.iter().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {d}");
    let line = lines[0].clone();
    assert!(
        line.starts_with("certhound: cannot open store"),
        "stderr starts with `certhound: cannot open store`: {d}"
    );
    let p = path.display().to_string();
    assert!(line.contains(&p), "stderr names the path {p}: {d}");
    for r in reason_contains {
        assert!(
            line.to_lowercase().contains(&r.to_lowercase()),
            "stderr gives the reason ({r}): {d}"
        );
    }
    let lower = out.stderr_text().to_lowercase();
    assert!(
        !lower.contains("panicked") && !lower.contains("backtrace"),
        "{d}"
    );
    line
}

/// A feed of `background` benign messages (lite, full and domains-only in turn) with one lite
/// certificate for each planted name (and its `www.`) spread evenly among them; returns the
/// messages and the seq (1-based position) of each planted one.
pub fn planted_feed(planted: &[String], background: usize, seed: u64) -> (Vec<String>, Vec<u64>) {
    let mut bg = Background::new(seed);
    let total = planted.len() + background;
    let mut messages = Vec::with_capacity(total);
    let mut seqs = Vec::with_capacity(planted.len());
    let mut next_planted = 0;
    let mut bg_index = 0u64;
    for pos in 0..total {
        // Planted k goes at about (k + 0.5) * total / planted.len().
        let due = next_planted < planted.len()
            && pos >= (2 * next_planted + 1) * total / (2 * planted.len());
        if due {
            let p = &planted[next_planted];
            let www = format!("www.{p}");
            messages.push(lite(&[p, &www], 5_000_000 + next_planted as u64));
            seqs.push(pos as u64 + 1);
            next_planted += 1;
        } else {
            let n = bg.next_name();
            messages.push(match bg_index % 3 {
                0 => lite(&[&n], 1_000_000 + bg_index),
                1 => full(&[&n], 1_000_000 + bg_index),
                _ => domains_only(&[&n]),
            });
            bg_index += 1;
        }
    }
    assert_eq!(next_planted, planted.len());
    (messages, seqs)
}

/// `count` distinct phishing registrable domains, `<keyword>-<i>-verify.com` over a few default
/// keywords (`paypal`, `netflix`, `banco`, ...).
pub fn planted_domains(count: usize, tag: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &["paypal", "netflix", "banco", "coinbase", "amazon"];
    (0..count)
        .map(|i| format!("{}-{tag}{i}-verify.com", KEYWORDS[i % KEYWORDS.len()]))
        .collect()
}

/// The set of `v`'s items that occur more than once.
pub fn duplicates(v: &[String]) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    v.iter().filter(|x| !seen.insert(*x)).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domains::{is_benign, keyword_hits};

    #[test]
    fn planted_feed_spreads_the_planted_names() {
        let planted = planted_domains(20, "t");
        assert!(planted.iter().all(|p| !keyword_hits(p).is_empty()));
        assert_eq!(planted.iter().collect::<BTreeSet<_>>().len(), 20);
        let (messages, seqs) = planted_feed(&planted, 200, 1);
        assert_eq!(messages.len(), 220);
        assert_eq!(seqs.len(), 20);
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
        assert!(seqs[0] >= 2 && *seqs.last().unwrap() <= 220, "{seqs:?}");
        for (k, seq) in seqs.iter().enumerate() {
            let v: Value = serde_json::from_str(&messages[*seq as usize - 1]).unwrap();
            assert_eq!(v["data"]["leaf_cert"]["all_domains"][0], planted[k]);
        }
        // Every other message is background.
        let planted_positions: BTreeSet<u64> = seqs.iter().copied().collect();
        for (i, m) in messages.iter().enumerate() {
            if planted_positions.contains(&(i as u64 + 1)) {
                continue;
            }
            let v: Value = serde_json::from_str(m).unwrap();
            let names: Vec<&str> = match v["message_type"].as_str() {
                Some("dns_entries") => v["data"].as_array().unwrap(),
                _ => v["data"]["leaf_cert"]["all_domains"].as_array().unwrap(),
            }
            .iter()
            .map(|n| n.as_str().unwrap())
            .collect();
            assert!(names.iter().all(|n| is_benign(n)), "{m}");
        }
    }

    #[test]
    fn duplicates_are_found() {
        let v: Vec<String> = ["a", "b", "a", "c", "b", "a"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(duplicates(&v), ["a".to_string(), "b".to_string()].into());
    }

    #[tokio::test]
    async fn jsonl_lines_are_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.jsonl");
        assert_eq!(
            wait_for_lines(&path, 1, Duration::from_millis(50)).await,
            Err(0)
        );
        std::fs::write(&path, "{\"registrable_domain\":\"a.com\",\"id\":\"s:1\"}\n").unwrap();
        assert_eq!(
            wait_for_lines(&path, 1, Duration::from_secs(5)).await,
            Ok(1)
        );
        let f = read_jsonl(&path);
        assert_eq!(domain_counts(&f)["a.com"], 1);
        assert_eq!(ids(&f), ["s:1"]);
    }
}
