//! Crash safety of the durable outbox: a real `certhound watch` (store in a temporary directory,
//! findings to a JSONL file and to a webhook) reads a resumable feed of 2,200 messages with 200
//! planted phishing domains and is killed with SIGKILL at five points chosen by a seeded RNG, then
//! restarted with the same config each time. In the end every finding is in the JSONL file exactly
//! once, reached the webhook under exactly one Idempotency-Key (the same id as in the file), is
//! listed as sent by `certhound findings --json`, and certhound resumed the feed with `?since=`.

use certhound_tests::observed::Observed;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use certhound_tests::durable::{
    channel_state, domain_counts, duplicates, ids, parse_jsonl, planted_domains, planted_feed,
    read_jsonl, read_lines, stored_findings, wait_for_all_delivered,
};
use certhound_tests::{timeouts, Certhound, FakeSeqCertstream, FakeWebhook, TestConfig};
use rand::{Rng, SeedableRng};

const PLANTED: usize = 200;
const BACKGROUND: usize = 2_000;
const KILLS: usize = 5;
const SEED: u64 = 0x00C4_A5E5_2026;

/// Checks the JSONL file at a crash point: every line whole, no registrable domain twice. (The
/// store is checked at the end; `findings_lists_the_store_after_a_sigkill` checks reading it
/// right after a crash.)
fn check_no_duplicates_so_far(jsonl: &std::path::Path, when: &str) {
    let file = parse_jsonl(&read_lines(jsonl), &format!("{when}: JSONL"));
    let twice: Vec<(String, usize)> = domain_counts(&file)
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    assert!(
        twice.is_empty(),
        "{when}: JSONL has domains twice: {twice:?}"
    );
    println!("{when}: {} lines in the JSONL file", file.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_and_repeats_nothing() {
    let planted = planted_domains(PLANTED, "c");
    let planted_set: BTreeSet<String> = planted.iter().cloned().collect();
    let (messages, _) = planted_feed(&planted, BACKGROUND, 2026);
    let total = messages.len() as u64;
    // About 5 s for the whole feed: kills land mid-stream.
    let server = FakeSeqCertstream::builder(messages)
        .pace(10, Duration::from_millis(20))
        .start()
        .await;
    let sink = FakeWebhook::start().await;

    let mut config = TestConfig::new();
    let jsonl = config.path("findings.jsonl");
    config.feed(&server.url());
    config.set("watch", "resume", "true");
    config.set_str("notify.jsonl", "path", jsonl.to_str().unwrap());
    config.set_str("notify.webhook", "url", &sink.url());
    config.fast_retries();

    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let mut kill_points = BTreeSet::new();
    while kill_points.len() < KILLS {
        kill_points.insert(rng.random_range(1..PLANTED));
    }
    println!("kill after the webhook saw k unique keys, k in {kill_points:?}");

    // Index of the first connection of each run.
    let mut first_connection = Vec::new();
    for (run, k) in kill_points.iter().copied().enumerate() {
        first_connection.push(server.stats().connections.len());
        let mut certhound = Certhound::watch(&config);
        // The kill lands after startup: the store is open and work has resumed.
        certhound
            .wait_for_events("store opened", 1, timeouts::EVENT, |_| true)
            .await
            .unwrap_or_else(|e| panic!("run {run}: {e}"));
        if let Err(s) = sink.wait_for_unique_keys(k, timeouts::BULK).await {
            panic!(
                "{}\nwebhook saw {} unique keys, waiting for {k}; server: {:?}",
                certhound.describe(&format!("run {run}")),
                s.accepted_keys().len(),
                server.stats().sinces()
            );
        }
        certhound.send_signal(libc::SIGKILL);
        let status = certhound.wait_exit(timeouts::EXIT).await;
        if server.stats().connections.len() == *first_connection.last().unwrap() {
            // Killed before it connected (pending deliveries reached k first).
            first_connection.pop();
        }
        assert_eq!(
            status.signal(),
            Some(libc::SIGKILL),
            "{}",
            certhound.describe(&format!("run {run}: killed"))
        );
        let st = server.stats();
        println!(
            "kill {run} at {k} keys: webhook has {} keys, server sent up to seq {} of {total}, \
             sinces so far {:?}",
            sink.accepted_keys().len(),
            st.max_seq_sent,
            st.sinces()
        );
        check_no_duplicates_so_far(&jsonl, &format!("after kill {run}"));
    }

    // The last run goes to the end.
    first_connection.push(server.stats().connections.len());
    let mut certhound = Certhound::watch(&config);
    wait_for_all_delivered(&certhound, "last run", &sink, &server, &jsonl, &planted).await;
    let last_first = *first_connection.last().unwrap();
    if let Err(st) = server
        .wait_for_connections(last_first + 1, timeouts::EVENT)
        .await
    {
        panic!(
            "{}
the last run did not connect: {st:?}",
            certhound.describe("last run")
        );
    }
    certhound.stop_cleanly("last run, after SIGTERM").await;

    // The JSONL file: each planted domain exactly once, ids unique.
    let file = read_jsonl(&jsonl);
    let counts = domain_counts(&file);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "JSONL lines repeated: {twice:?}");
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        planted_set,
        "JSONL domains"
    );
    assert_eq!(file.len(), PLANTED, "JSONL lines");
    let file_ids = ids(&file);
    assert!(duplicates(&file_ids).is_empty(), "JSONL ids repeated");
    let file_id_of: BTreeMap<String, String> = file
        .iter()
        .map(|f| {
            (
                f["registrable_domain"].as_str().unwrap().to_string(),
                f["id"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    // The webhook: 200 distinct keys, one per planted domain, the same ids as in the file.
    let state = sink.state();
    for r in &state.requests {
        assert_eq!(r.method, "POST", "{r:?}");
        assert_eq!(r.path, "/hook", "{r:?}");
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{r:?}"
        );
        let key = r
            .idempotency_key()
            .unwrap_or_else(|| panic!("POST without Idempotency-Key: {r:?}"));
        assert_eq!(r.id(), Some(key), "body id = Idempotency-Key: {r:?}");
    }
    let keys = state.accepted_keys();
    assert_eq!(keys.len(), PLANTED, "distinct Idempotency-Keys");
    let per_domain = state.accepted_keys_per_domain();
    let under_two: Vec<_> = per_domain.iter().filter(|(_, k)| k.len() > 1).collect();
    assert!(
        under_two.is_empty(),
        "a domain reached the webhook under two ids: {under_two:?}"
    );
    assert_eq!(
        per_domain.keys().cloned().collect::<BTreeSet<_>>(),
        planted_set,
        "webhook domains"
    );
    for (domain, keys) in &per_domain {
        assert_eq!(
            keys.iter().next(),
            file_id_of.get(domain),
            "{domain}: webhook key and JSONL id differ"
        );
    }
    let repeats: BTreeMap<String, usize> = state
        .requests_per_key()
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .collect();
    println!(
        "{} POSTs in all; {} repeated POSTs of an already accepted key; keys POSTed more than \
         once: {repeats:?}",
        state.requests.len(),
        state.repeated_accepted()
    );

    // The store: 200 findings, every channel sent, the same ids.
    let stored = stored_findings(&config).await;
    assert_eq!(stored.len(), PLANTED, "findings --json: {stored:#?}");
    assert_eq!(
        domain_counts(&stored)
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>(),
        planted_set
    );
    for f in &stored {
        assert_eq!(channel_state(f, "jsonl"), Some("sent"), "{f}");
        assert_eq!(channel_state(f, "webhook"), Some("sent"), "{f}");
        let d = f["registrable_domain"].as_str().unwrap();
        assert_eq!(
            f["id"].as_str(),
            file_id_of.get(d).map(|s| s.as_str()),
            "{f}"
        );
    }

    // Resumed with ?since= after the kills; never asked for more than exists; the first
    // connection, with an empty store, without since.
    let sinces = server.sinces();
    println!("since of each connection: {sinces:?}");
    assert_eq!(sinces.first(), Some(&None), "first connection: {sinces:?}");
    assert!(
        sinces[1..].iter().any(|s| s.is_some_and(|s| s > 0)),
        "no reconnection with since > 0: {sinces:?}"
    );
    assert!(
        sinces.iter().flatten().all(|s| *s <= total),
        "since past the end: {sinces:?}"
    );
    // Each run starts from the position in the store, which never goes back.
    let at_start: Vec<Option<u64>> = first_connection.iter().map(|i| sinces[*i]).collect();
    assert!(
        at_start[1..].iter().all(|s| s.is_some_and(|s| s > 0)),
        "every restart resumes with since > 0 (a finding was delivered before each kill): \
         {at_start:?}"
    );
    assert!(
        at_start.windows(2).all(|w| w[0] <= w[1]),
        "the stored position never goes back: {at_start:?}"
    );
}

/// `certhound findings` reads a store that a killed certhound left behind (not closed cleanly).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_lists_the_store_after_a_sigkill() {
    let domain = "paypal-after-sigkill.com";
    let server = certhound_tests::FakeCertstream::start(vec![certhound_tests::Step::Text(
        certhound_tests::messages::lite(&[domain], 1),
    )])
    .await;
    let config = TestConfig::with_feed(&server.url());
    let mut certhound = Certhound::watch(&config);
    certhound.expect_findings(&[domain], timeouts::EVENT).await;
    certhound.send_signal(libc::SIGKILL);
    let status = certhound.wait_exit(timeouts::EXIT).await;
    assert_eq!(status.signal(), Some(libc::SIGKILL));

    let stored = stored_findings(&config).await;
    assert_eq!(stored.len(), 1, "{stored:#?}");
    assert_eq!(stored[0]["registrable_domain"], domain, "{stored:#?}");
    // Killed right after the line reached stdout: whether the delivery was marked before the kill
    // is a race, and stdout cannot be read back; either state is right, no other is.
    assert!(
        matches!(channel_state(&stored[0], "jsonl"), Some("sent" | "pending")),
        "{stored:#?}"
    );
}
