//! The server role end to end: the real `certhound server` tails a loopback CT log (RFC 6962
//! or static-ct-api) and serves what it read as a certstream feed; a websocket client checks
//! every message.
//!
//! - the 30 real fixture entries come out as the independent server's expected JSON, field by
//!   field, over both log APIs;
//! - static-ct: partial tiles, gzip, growth into full tiles, each tile and issuer fetched once;
//! - 429s and 500s from one log are waited out without losing an entry;
//! - a restart (SIGTERM) resumes at the stored position: no entry skipped, none repeated, the
//!   seq numbering continues so a client's `?since=` needs no gap;
//! - `certhound run`: both roles in one process, from a CT log to a finding.

use certhound_tests::ct_log::{
    fixture_entries, generated_entry, FakeCtLog, FakeEntry, Fault, PathKind,
};
use certhound_tests::ct_server::{self, rfc6962_log, server_config, static_log};
use certhound_tests::feed_client::{cert_indexes, first_difference, FeedClient};
use certhound_tests::observed::Observed;
use certhound_tests::{timeouts, Certhound, CerthoundCommand, TestConfig};
use serde_json::Value;
use std::collections::BTreeMap;

/// Starts `certhound <role>`; returns it with its feed's URL (`ws://127.0.0.1:PORT`).
async fn start(role: &str, c: &TestConfig) -> (Certhound, String) {
    let (p, addr) = ct_server::start(role, c).await;
    (p, format!("ws://{addr}"))
}

/// Connects to `path` of the feed and receives `n` messages.
async fn read(feed: &str, path: &str, n: usize) -> FeedClient {
    let mut c = FeedClient::connect(&format!("{feed}{path}")).await.unwrap();
    c.collect(n, timeouts::BULK).await.unwrap();
    c
}

/// SIGTERM, and a clean exit.
async fn stop(mut p: Certhound) -> Certhound {
    p.stop_cleanly("exit").await;
    p
}

/// The fixture's expected form (`expected_full`, ...) of each of the 30 entries.
fn expected(form: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/ct/live_entries.json"
    ))
    .unwrap();
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    all.iter()
        .map(|e| serde_json::from_str(e[form].as_str().unwrap()).unwrap())
        .collect()
}

/// Compares the feed's messages with the fixtures, ignoring what depends on the log they were
/// captured from (index, link, source) or on the moment (`seen`), and our own `seq`.
fn assert_agrees(got: &[Value], want: &[Value]) {
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = first_difference(
            g,
            w,
            &["seen", "cert_index", "cert_link", "source", "seq"],
            "",
        );
        assert!(d.is_none(), "entry {i}: {}", d.unwrap());
        assert_eq!(g["data"]["cert_index"], i as u64, "entry {i}");
    }
}

/// Generated log entries for the indexes `range`, each for the one name `name(index)`, a
/// precertificate where `precert(index)`.
fn entries(
    range: std::ops::Range<u64>,
    name: impl Fn(u64) -> String,
    precert: impl Fn(u64) -> bool,
) -> Vec<FakeEntry> {
    range
        .map(|i| generated_entry(i, &[&name(i)], precert(i)))
        .collect()
}

#[tokio::test]
async fn rfc6962_fixture_entries_come_out_as_the_reference_json() {
    let log = FakeCtLog::start(fixture_entries()).await;
    log.set_max_batch(7); // a log that answers fewer than asked
    let c = server_config(&rfc6962_log(&log));
    let (server, feed) = start("server", &c).await;
    let full = read(&feed, "/full-stream?since=0", 30).await;
    assert_agrees(&full.received, &expected("expected_full"));
    // Seqs are 1..=30 in log order, and the source names the configured log.
    let seqs: Vec<u64> = full
        .received
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=30).collect::<Vec<_>>());
    assert_eq!(full.received[0]["data"]["source"]["name"], "Fake RFC 6962");
    assert_eq!(
        full.received[3]["data"]["cert_link"],
        format!("{}ct/v1/get-entries?start=3&end=3", log.rfc6962_url())
    );
    // The other two forms, replayed from the history.
    let lite = read(&feed, "/?since=0", 30).await;
    assert_agrees(&lite.received, &expected("expected_lite"));
    let dom = read(&feed, "/domains-only?since=0", 30).await;
    for (g, w) in dom.received.iter().zip(expected("expected_domains_only")) {
        assert_eq!(g["message_type"], w["message_type"]);
        assert_eq!(g["data"], w["data"]);
    }
    // Asked 256 at a time, answered 7: the rest was asked for, nothing twice.
    let s = log.state();
    assert!(s.count(PathKind::GetEntries) >= 5, "{:?}", s.by_kind);
    stop(server).await;
}

#[tokio::test]
async fn static_ct_tiles_partial_gzip_and_growth() {
    let log = FakeCtLog::start(fixture_entries()).await;
    log.set_gzip(true);
    let c = server_config(&static_log(&log));
    let (server, feed) = start("server", &c).await;
    let mut full = read(&feed, "/full-stream?since=0", 30).await;
    assert_agrees(&full.received, &expected("expected_full"));
    // Grow past the first tile: 30 + 300 = 330 entries, a full tile 0 and a partial tile 1.
    let more = entries(30..330, |i| format!("host{i}.example.org"), |i| i % 2 == 0);
    log.append(more);
    full.collect(330, timeouts::BULK).await.unwrap();
    assert_eq!(cert_indexes(&full.received), (0..330).collect::<Vec<_>>());
    let g = &full.received[100]["data"];
    assert_eq!(g["update_type"], "PrecertLogEntry");
    assert_eq!(g["leaf_cert"]["all_domains"][0], "host100.example.org");
    assert_eq!(
        g["chain"].as_array().map(Vec::len),
        Some(1),
        "issuer fetched"
    );
    // No refetch loops: after the checkpoints settle, each tile path was read once and each
    // issuer once, although the log was polled many times.
    log.wait_for_requests(PathKind::Checkpoint, 10, timeouts::EVENT)
        .await
        .unwrap();
    let s = log.state();
    assert_eq!(s.max_per_path(PathKind::DataTile), 1, "{:?}", s.by_path);
    assert_eq!(s.max_per_path(PathKind::PartialTile), 1, "{:?}", s.by_path);
    assert_eq!(s.max_per_path(PathKind::Issuer), 1, "{:?}", s.by_path);
    stop(server).await;
}

#[tokio::test]
async fn rate_limits_and_errors_are_waited_out_without_loss() {
    let entries = entries(0..200, |i| format!("n{i}.example.net"), |_| false);
    let log = FakeCtLog::start(entries).await;
    log.set_max_batch(32);
    log.push_faults(PathKind::GetEntries, 2, Fault::TooMany(1));
    log.push_faults(PathKind::GetEntries, 3, Fault::Status(503));
    log.push_faults(PathKind::GetSth, 1, Fault::Status(500));
    let c = server_config(&rfc6962_log(&log));
    let (server, feed) = start("server", &c).await;
    let client = read(&feed, "/domains-only?since=0", 200).await;
    let names: Vec<String> = client
        .received
        .iter()
        .map(|m| m["data"][0].as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = (0..200).map(|i| format!("n{i}.example.net")).collect();
    assert_eq!(names, want, "every entry once, in order");
    let s = log.state();
    assert!(
        s.requests.iter().filter(|r| r.status == 429).count() == 2
            && s.requests.iter().filter(|r| r.status >= 500).count() == 4,
        "faults served: {:?}",
        s.requests.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    stop(server).await;
}

#[tokio::test]
async fn restart_resumes_at_the_stored_position() {
    let first = entries(0..150, |i| format!("r{i}.example.com"), |i| i % 3 == 0);
    let log = FakeCtLog::start(first).await;
    let c = server_config(&rfc6962_log(&log));
    let (mut server, feed) = start("server", &c).await;
    let client = read(&feed, "/?since=0", 150).await;
    server.stop_cleanly("after SIGTERM").await;
    let last_seq = client.received.last().unwrap()["seq"].as_u64().unwrap();
    let before_restart = log.state().requests.len();

    // While it is down the log grows; the restarted server continues from entry 150.
    let more = entries(150..300, |i| format!("r{i}.example.com"), |_| false);
    log.append(more);
    let (server, feed) = start("server", &c).await;
    let again = read(&feed, &format!("/?since={last_seq}"), 150).await;
    let mut all = cert_indexes(&client.received);
    all.extend(cert_indexes(&again.received));
    assert_eq!(
        all,
        (0..300).collect::<Vec<_>>(),
        "none skipped, none repeated"
    );
    // Numbering went on where it stopped: no gap notice for the reconnecting client.
    assert_eq!(again.received[0]["seq"].as_u64(), Some(last_seq + 1));
    assert!(again.received.iter().all(|m| m["message_type"] != "gap"));
    // The restarted server asked for nothing before 150.
    let starts: Vec<u64> = log.state().requests[before_restart..]
        .iter()
        .filter(|r| r.kind == PathKind::GetEntries)
        .filter_map(|r| {
            let q = r.path.split_once("start=")?.1;
            q.split('&').next()?.parse().ok()
        })
        .collect();
    assert_eq!(starts.first(), Some(&150), "{starts:?}");
    assert!(starts.iter().all(|s| *s >= 150), "{starts:?}");
    stop(server).await;
}

#[tokio::test]
async fn run_mode_goes_from_a_ct_log_to_a_finding() {
    let mut entries = entries(0..40, |i| format!("shop{i}.example.com"), |_| false);
    entries.push(generated_entry(
        40,
        &["paypal-login-verify.xyz", "www.paypal-login-verify.xyz"],
        true,
    ));
    let log = FakeCtLog::start(entries).await;
    let c = server_config(&rfc6962_log(&log));
    let mut run = CerthoundCommand::new().test_config(&c).arg("run").spawn();
    run.expect_findings(&["paypal-login-verify.xyz"], timeouts::BULK)
        .await;
    let f = run.findings();
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0]["domain"], "paypal-login-verify.xyz");
    assert_eq!(f[0]["source"]["name"], "Fake RFC 6962");
    run.stop_cleanly("after SIGTERM").await;
    let last = &run.last_event("metrics").expect("final metrics");
    assert_eq!(last["fields"]["certificates"], 41, "{last}");
}

#[tokio::test]
async fn ct_decode_prints_the_message_of_one_entry() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/ct/live_entries.json"
    ))
    .unwrap();
    let all: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut by_form = BTreeMap::new();
    for e in [&all[0], &all[1]] {
        let out = CerthoundCommand::new()
            .args([
                "ct",
                "decode",
                "--leaf-input",
                e["leaf_input"].as_str().unwrap(),
                "--extra-data",
                e["extra_data"].as_str().unwrap(),
                "--index",
                &e["cert_index"].to_string(),
                "--log-url",
                e["log_url"].as_str().unwrap(),
                "--log-name",
                e["log_name"].as_str().unwrap(),
            ])
            .run(timeouts::EVENT)
            .await;
        assert_eq!(out.code(), Some(0), "{}", out.describe());
        let got: Value = serde_json::from_str(out.stdout_text().trim()).unwrap();
        let want: Value = serde_json::from_str(e["expected_full"].as_str().unwrap()).unwrap();
        let d = first_difference(&got, &want, &["seen"], "");
        assert!(d.is_none(), "{}", d.unwrap());
        by_form.insert(e["name"].as_str().unwrap().to_string(), got);
    }
    // A precertificate without its extra_data cannot be described: a clear error, exit 1.
    let out = CerthoundCommand::new()
        .args([
            "ct",
            "decode",
            "--leaf-input",
            all[0]["leaf_input"].as_str().unwrap(),
        ])
        .run(timeouts::EVENT)
        .await;
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    assert!(
        out.stderr_text().contains("certhound: "),
        "{}",
        out.describe()
    );
    let out = CerthoundCommand::new()
        .args(["ct", "decode", "--leaf-input", "not base64!"])
        .run(timeouts::EVENT)
        .await;
    assert_eq!(out.code(), Some(1));
    assert!(
        out.stderr_text().contains("not base64"),
        "{}",
        out.describe()
    );
    assert_eq!(by_form.len(), 2);
}

#[tokio::test]
async fn a_crash_skips_no_entry_and_reuses_no_seq() {
    let entries = entries(0..400, |i| format!("k{i}.example.com"), |_| false);
    let log = FakeCtLog::start(entries).await;
    log.set_max_batch(16);
    let mut c = server_config(&rfc6962_log(&log));
    // Slow enough that the kill lands mid-log: 16 entries a request, 25 requests a second.
    c.set("ct", "per_log_per_second", "25.0");
    c.set("ct", "per_log_concurrency", "1");
    let (mut server, feed) = start("server", &c).await;
    let mut first = read(&feed, "/?since=0", 100).await;
    server.send_signal(libc::SIGKILL);
    server.wait_exit(timeouts::EXIT).await;
    // Everything the killed server sent (its socket is gone, so this ends).
    while first.next(timeouts::EVENT).await.is_some() {}
    let last_seq = first.received.last().unwrap()["seq"].as_u64().unwrap();

    let (server, feed) = start("server", &c).await;
    let mut second = FeedClient::connect(&format!("{feed}/?since={last_seq}"))
        .await
        .unwrap();
    second
        .until(timeouts::BULK, |r| {
            cert_indexes(r).last().copied() == Some(399)
        })
        .await
        .unwrap();
    // The client is told that the numbering moved on (a crash loses the history) ...
    assert_eq!(
        second.received[0]["message_type"], "gap",
        "{}",
        second.received[0]
    );
    // ... no seq is used twice ...
    let seqs: Vec<u64> = second.received[1..]
        .iter()
        .map(|m| m["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs[0] > last_seq, "{} after {last_seq}", seqs[0]);
    // ... and no entry is skipped: the second run starts at or before where the first stopped
    // (what was published since the last position write comes again), then goes on in order.
    let a = cert_indexes(&first.received);
    let b = cert_indexes(&second.received);
    assert!(
        b[0] <= *a.last().unwrap() + 1,
        "{} after {}",
        b[0],
        a.last().unwrap()
    );
    assert_eq!(b, (b[0]..400).collect::<Vec<_>>());
    stop(server).await;
}

#[tokio::test]
async fn logs_come_from_the_log_list_at_its_url() {
    let log = FakeCtLog::start(fixture_entries()).await;
    log.serve_log_list(true, true);
    let mut c = TestConfig::new();
    c.set_str("ct", "log_list_url", &log.log_list_url());
    // Only loopback here: the shipped list's (real, https) logs are left out until the fetched
    // list replaces them.
    c.set("ct", "exclude", r#"["https://"]"#);
    c.set_str("ct", "new_log_start", "start");
    c.set_str("ct", "poll_interval", "100ms");
    c.set_str("server", "listen", "127.0.0.1:0");
    let (mut server, feed) = start("server", &c).await;
    let client = read(&feed, "/?since=0", 60).await;
    let mut by_source: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for m in &client.received {
        by_source
            .entry(m["data"]["source"]["name"].as_str().unwrap().to_string())
            .or_default()
            .push(m["data"]["cert_index"].as_u64().unwrap());
    }
    let all: Vec<u64> = (0..30).collect();
    assert_eq!(
        by_source.get("certhound fake RFC 6962 log"),
        Some(&all),
        "{by_source:?}"
    );
    assert_eq!(
        by_source.get("certhound fake static-ct log"),
        Some(&all),
        "{by_source:?}"
    );
    server.stop_cleanly("after SIGTERM").await;
    let m = server.events("server_metrics");
    assert_eq!(m.last().unwrap()["fields"]["ct_logs"], 2);
}

#[tokio::test]
async fn a_checkpoint_that_does_not_verify_is_not_believed() {
    let log = FakeCtLog::start(fixture_entries()).await;
    // The right origin, someone else's key (Let's Encrypt's Sycamore2026h1 from the log list).
    let other = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEfEEe0JZknA91/c6eNl1aexgeKzuGQUMvRCXPXg9L227O5I4Pi++Abcpq6qxlVUKPYafAJelAnMfGzv3lHCc8gA==";
    let c = server_config(&format!(
        r#"{{ name = "Forged", url = "{}", kind = "static-ct", key = "{other}", origin = "{}" }}"#,
        log.monitoring_url(),
        log.origin()
    ));
    let (mut server, _feed) = start("server", &c).await;
    server
        .wait_for_events("checkpoint rejected", 3, timeouts::EVENT, |_| true)
        .await
        .unwrap();
    server.stop_cleanly("after SIGTERM").await;
    let s = log.state();
    assert_eq!(
        s.count(PathKind::DataTile) + s.count(PathKind::PartialTile),
        0
    );
    let m = server.events("server_metrics");
    let f = &m.last().expect("server metrics")["fields"];
    assert!(f["ct_bad_checkpoints"].as_u64().unwrap() >= 3, "{f}");
    assert_eq!(f["server_published"], 0, "{f}");
}

/// The server role's admin listener: per-log entries, tree size and lag on `/metrics`, and
/// `/readyz` failing while the only log answers nothing but errors for longer than the
/// staleness, then recovering.
#[tokio::test]
async fn ct_log_metrics_and_readiness_follow_the_log() {
    let log = FakeCtLog::start(fixture_entries()).await;
    let mut c = server_config(&rfc6962_log(&log));
    c.admin();
    c.set_str("admin", "ready_staleness", "1s");
    let (mut server, feed) = start("server", &c).await;
    let admin = certhound_tests::admin::address(&mut server).await;
    read(&feed, "/full-stream?since=0", 30).await;
    let url = log.rfc6962_url();
    let labels = [("log", url.as_str())];
    let s = certhound_tests::admin::scrape_until(admin, timeouts::EVENT, "30 entries", |s| {
        s.value("certhound_ct_log_entries_total", &labels) == Some(30.0)
    })
    .await;
    assert_eq!(
        s.value("certhound_ct_log_tree_size_entries", &labels),
        Some(30.0)
    );
    assert_eq!(s.value("certhound_ct_log_lag_entries", &labels), Some(0.0));
    // The fixture entries were logged in May 2026: their age is months, not seconds.
    let age = s
        .value("certhound_ct_log_newest_entry_age_seconds", &labels)
        .expect("newest entry age");
    assert!(age > 86_400.0, "{age}");
    assert_eq!(s.value("certhound_ct_entries_total", &[]), Some(30.0));
    certhound_tests::admin::wait_status(admin, "/readyz", 200, timeouts::EVENT).await;

    // Every tree head request fails from now on (for a while): not ready once the staleness
    // has passed, ready again after the log recovers.
    log.push_faults(PathKind::GetSth, 100_000, Fault::Status(500));
    let why = certhound_tests::admin::wait_status(admin, "/readyz", 503, timeouts::EVENT).await;
    assert!(why.starts_with("ct: no CT log answered for "), "{why}");
    log.clear_faults();
    certhound_tests::admin::wait_status(admin, "/readyz", 200, timeouts::EVENT).await;
    stop(server).await;
}
