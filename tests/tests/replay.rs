//! `certhound replay FILE`: newline-delimited certstream messages from a file (gzip or plain)
//! go through the pipeline; the findings come out as JSON lines on stdout, exit code 0.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use certhound_tests::domains::{punycode, Background};
use certhound_tests::durable::parse_jsonl;
use certhound_tests::fixtures::{calidog_message, live_entries};
use certhound_tests::messages::{domains_only, full, heartbeat, lite};
use certhound_tests::output::{registrable_domain, rules};
use certhound_tests::{timeouts, CerthoundCommand, Finished, TestConfig};

fn feed_lines() -> (Vec<String>, BTreeSet<String>) {
    let cyr = "\u{440}\u{430}ypal-wallet.com"; // Cyrillic er (U+0440) and a (U+0430)
    let mut bg = Background::new(77);
    let mut lines = vec![calidog_message(), heartbeat()];
    for e in live_entries().into_iter().take(5) {
        lines.push(e.expected_lite);
        lines.push(e.expected_full);
    }
    let planted: Vec<String> = vec![
        lite(&["paypal-replay-verify.com"], 1),
        full(&["*.netflix-replay-billing.net"], 2),
        domains_only(&[&bg.next_name(), "secure-login-replay.org"]),
        lite(&[cyr], 3),
        lite(&["www.paypal-replay-verify.com"], 4), // duplicate registrable domain
        lite(&["www.paypal.com"], 5),               // allowlisted
    ];
    for (i, p) in planted.into_iter().enumerate() {
        for j in 0..20u64 {
            let n = bg.next_name();
            lines.push(match j % 3 {
                0 => lite(&[&n], 1000 + j),
                1 => full(&[&n], 1000 + j),
                _ => domains_only(&[&n]),
            });
        }
        lines.push(p);
        if i == 2 {
            lines.push(String::new()); // an empty line
        }
    }
    let expected = [
        "paypal-replay-verify.com".to_string(),
        "netflix-replay-billing.net".to_string(),
        "secure-login-replay.org".to_string(),
        punycode(cyr),
    ]
    .into_iter()
    .collect();
    (lines, expected)
}

async fn replay(path: &Path) -> Finished {
    CerthoundCommand::new()
        .test_config(&TestConfig::new())
        .args(["replay", path.to_str().unwrap()])
        .run(timeouts::BULK)
        .await
}

fn assert_replayed(out: &Finished, expected: &BTreeSet<String>) {
    let d = out.describe();
    assert_eq!(out.code(), Some(0), "{d}");
    let findings = parse_jsonl(&out.stdout, &format!("{d}\nstdout"));
    let got: Vec<String> = findings
        .iter()
        .map(|f| registrable_domain(f).to_string())
        .collect();
    let got_set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(&got_set, expected, "{d}");
    assert_eq!(
        got.len(),
        expected.len(),
        "one finding per registrable domain: {d}"
    );
    for f in &findings {
        assert!(!rules(f).is_empty(), "{f}");
    }
    assert!(
        out.stderr
            .iter()
            .any(|l| certhound_tests::output::is_event(l, "replay finished")),
        "`replay finished` logged: {d}"
    );
}

/// [`feed_lines`] written to a file in a new temporary directory, `feed.jsonl.gz` gzipped or
/// `feed.jsonl` plain; returns the directory, the file and the registrable domains expected.
fn feed_file(gzip: bool) -> (tempfile::TempDir, PathBuf, BTreeSet<String>) {
    let (lines, expected) = feed_lines();
    let dir = tempfile::tempdir().unwrap();
    let path = dir
        .path()
        .join(if gzip { "feed.jsonl.gz" } else { "feed.jsonl" });
    if gzip {
        let mut gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&path).unwrap(),
            flate2::Compression::default(),
        );
        for l in &lines {
            writeln!(gz, "{l}").unwrap();
        }
        gz.finish().unwrap();
    } else {
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    }
    (dir, path, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_a_gzip_file() {
    let (_dir, path, expected) = feed_file(true);
    let out = replay(&path).await;
    assert_replayed(&out, &expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_a_plain_file() {
    let (_dir, path, expected) = feed_file(false);
    let out = replay(&path).await;
    assert_replayed(&out, &expected);
}

/// A replay is a dry run: the same file replayed twice with the same config reports the same
/// findings both times and leaves no store behind. With `--store` it keeps what it stored, and
/// a second replay is silenced by the first one's dedupe entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_is_a_dry_run_unless_asked_to_store() {
    let (dir, path, expected) = feed_file(false);
    let config = TestConfig::new();
    let run = |extra: &[&str]| {
        CerthoundCommand::new()
            .test_config(&config)
            .args(["replay", path.to_str().unwrap()])
            .args(extra.iter().copied())
            .run(timeouts::BULK)
    };
    assert_replayed(&run(&[]).await, &expected);
    assert_replayed(&run(&[]).await, &expected);
    assert!(!config.store_path().exists(), "a dry run writes no store");

    assert_replayed(&run(&["--store"]).await, &expected);
    assert!(config.store_path().exists(), "--store: store.path");
    let again = run(&["--store"]).await;
    assert_eq!(again.code(), Some(0), "{}", again.describe());
    assert!(
        again.stdout.iter().all(|l| l.trim().is_empty()),
        "the first stored replay's dedupe entries silence the second: {}",
        again.describe()
    );
    let elsewhere = dir.path().join("other.redb");
    assert_replayed(
        &run(&["--store", elsewhere.to_str().unwrap()]).await,
        &expected,
    );
    assert!(elsewhere.exists(), "--store FILE");
}
