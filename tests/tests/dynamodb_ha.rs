//! Two `certhound watch` processes sharing one DynamoDB store (moto, through the real SDK), as
//! two ECS tasks would: both read the same feed, each on its own slot with its own JSONL file,
//! both posting to one webhook.
//!
//! - SIGKILL of either process at random points, each restarted at once on its slot: every
//!   planted finding is in the two JSONL files merged exactly once, reached the webhook under
//!   exactly one Idempotency-Key, and is listed by `certhound findings` as sent on both channels.
//! - A process killed while it holds deliveries (its webhook does not answer) and not restarted:
//!   the other delivers what it held once the lease ran out, and not before.

use certhound_tests::durable::{
    channel_state, domain_counts, planted_domains, planted_feed, read_jsonl, stored_findings,
};
use certhound_tests::moto::Moto;
use certhound_tests::observed::Observed;
use certhound_tests::{timeouts, Certhound, FakeSeqCertstream, FakeWebhook, TestConfig};
use rand::{Rng, SeedableRng};
use std::collections::BTreeSet;
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

const SEED: u64 = 0x00D1_7A2B_2026;

/// A watch task on `slot` of the table `table` in `moto`, reading `feed` and resuming it.
fn task_config(moto: &Moto, table: &str, slot: &str, feed: &str, lease_secs: u64) -> TestConfig {
    let mut c = TestConfig::with_feed(feed);
    c.set("watch", "resume", "true");
    c.set_str("aws", "endpoint_url", &moto.endpoint());
    c.set_str("aws", "region", "us-east-1");
    c.set_str("store", "backend", "dynamodb");
    c.set_str("store.dynamodb", "table", table);
    c.set_str("store.dynamodb", "slot", slot);
    c.set("store.dynamodb", "create_table", "true");
    c.set_str("store.dynamodb", "lease", &format!("{lease_secs}s"));
    c.set_str(
        "store.dynamodb",
        "slot_lease",
        // Short: a restarted task waits this long at most for its own old slot lock.
        &format!("{}s", (lease_secs / 3).min(3)),
    );
    c.fast_retries();
    c
}

/// moto's credentials for the children (they inherit this process's environment).
fn aws_env(moto: &Moto) {
    for (k, v) in moto.env() {
        std::env::set_var(k, v);
    }
}

/// A watch task, once it has its slot and reads the feed.
async fn started(config: &TestConfig, what: &str) -> Certhound {
    let mut c = Certhound::watch(config);
    c.wait_for_events("connected to feed", 1, timeouts::BULK, |_| true)
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tasks_with_random_sigkills_deliver_every_finding_once_per_channel() {
    const PLANTED: usize = 200;
    const KILLS: usize = 4;
    let moto = Moto::start_serialised().await;
    aws_env(&moto);
    let planted = planted_domains(PLANTED, "ha");
    let planted_set: BTreeSet<String> = planted.iter().cloned().collect();
    let (messages, _) = planted_feed(&planted, 1_000, 2027);
    // About 10 s for the whole feed: the kills land while findings arrive.
    let feed = FakeSeqCertstream::builder(messages)
        .pace(6, Duration::from_millis(50))
        .start()
        .await;
    let sink = FakeWebhook::start().await;
    // A task restarted on its slot takes its claims back before they run out only if it is back
    // within the lease: a lease of 30 s (slot lock 3 s) covers a restart on this shared
    // machine. (Past the lease the other task takes over, and a JSONL line written just
    // before the kill is written again by the other task: see the takeover test.)
    let mut configs = Vec::new();
    let mut jsonls = Vec::new();
    for slot in ["a", "b"] {
        let mut c = task_config(&moto, "ha", slot, &feed.url(), 30);
        let jsonl = c.path("findings.jsonl");
        c.set_str("notify.jsonl", "path", jsonl.to_str().unwrap());
        c.set_str("notify.webhook", "url", &sink.url());
        configs.push(c);
        jsonls.push(jsonl);
    }
    let mut tasks = [
        started(&configs[0], "a").await,
        started(&configs[1], "b").await,
    ];

    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    let mut kill_points = BTreeSet::new();
    while kill_points.len() < KILLS {
        kill_points.insert(rng.random_range(5..PLANTED - 20));
    }
    // Each task is killed in turn, at points chosen by the seeded RNG.
    for (i, k) in kill_points.into_iter().enumerate() {
        let victim = i % 2;
        let slot = ["a", "b"][victim];
        if let Err(s) = sink.wait_for_unique_keys(k, timeouts::BULK).await {
            panic!(
                "{}\n{}\nwebhook saw {} keys, waiting for {k}",
                tasks[0].describe("a"),
                tasks[1].describe("b"),
                s.accepted_keys().len()
            );
        }
        tasks[victim].send_signal(libc::SIGKILL);
        let status = tasks[victim].wait_exit(timeouts::EXIT).await;
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{slot} killed");
        println!(
            "killed {slot} at {} webhook keys",
            sink.accepted_keys().len()
        );
        // Back at once on its slot: it waits out its own slot lock, then takes back its claims.
        tasks[victim] = started(&configs[victim], slot).await;
    }

    if let Err(s) = sink.wait_for_unique_keys(PLANTED, timeouts::BULK).await {
        let seen = s.accepted_keys_per_domain();
        let missing: Vec<&String> = planted.iter().filter(|d| !seen.contains_key(*d)).collect();
        panic!(
            "{}\n{}\nmissing at the webhook: {missing:?}",
            tasks[0].describe("a"),
            tasks[1].describe("b")
        );
    }
    // The JSONL files merged: every planted domain exactly once.
    let deadline = Instant::now() + timeouts::BULK;
    loop {
        let lines: usize = jsonls
            .iter()
            .map(|p| if p.exists() { read_jsonl(p).len() } else { 0 })
            .sum();
        if lines >= PLANTED {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "JSONL files have {lines} lines, waiting for {PLANTED}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await; // polling the files' length
    }
    for (t, slot) in tasks.iter_mut().zip(["a", "b"]) {
        t.stop_cleanly(slot).await;
    }
    let merged: Vec<serde_json::Value> = jsonls
        .iter()
        .filter(|p| p.exists())
        .flat_map(|p| read_jsonl(p))
        .collect();
    let per_file: Vec<usize> = jsonls
        .iter()
        .map(|p| if p.exists() { read_jsonl(p).len() } else { 0 })
        .collect();
    println!("JSONL lines per task (a, b): {per_file:?}");
    let counts = domain_counts(&merged);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.is_empty(),
        "JSONL lines repeated across tasks: {twice:?}"
    );
    assert_eq!(
        counts.keys().cloned().collect::<BTreeSet<_>>(),
        planted_set,
        "JSONL domains"
    );
    // The webhook: one key per planted domain (a repeated POST of the same key is allowed: the
    // receiver deduplicates by it, as after a single task's crash).
    let state = sink.state();
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
    println!(
        "{} POSTs; {} repeats of an accepted key",
        state.requests.len(),
        state.repeated_accepted()
    );
    // The store, read by either task's config: 200 findings, sent on both channels.
    for c in &configs {
        let stored = stored_findings(c).await;
        assert_eq!(stored.len(), PLANTED, "findings --json");
        for f in &stored {
            assert_eq!(channel_state(f, "jsonl"), Some("sent"), "{f}");
            assert_eq!(channel_state(f, "webhook"), Some("sent"), "{f}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_tasks_deliveries_are_taken_over_when_its_lease_runs_out() {
    const PLANTED: usize = 12;
    const LEASE: Duration = Duration::from_secs(9);
    let moto = Moto::start_serialised().await;
    aws_env(&moto);
    let planted = planted_domains(PLANTED, "to");
    let (messages, _) = planted_feed(&planted, 100, 2028);
    let feed = FakeSeqCertstream::builder(messages).start().await;
    // A's webhook holds every request far longer than the test; B's answers at once.
    let sink_a = FakeWebhook::start().await;
    sink_a.set_delay(Duration::from_secs(600));
    let sink_b = FakeWebhook::start().await;
    let mut config_a = task_config(&moto, "takeover", "a", &feed.url(), LEASE.as_secs());
    config_a.set_str("notify.webhook", "url", &sink_a.url());
    let mut config_b = task_config(&moto, "takeover", "b", &feed.url(), LEASE.as_secs());
    config_b.set_str("notify.webhook", "url", &sink_b.url());

    // A alone stores every finding and starts delivering: its first POST hangs.
    let mut a = started(&config_a, "a").await;
    if let Err(s) = sink_a.wait_for_requests(1, timeouts::BULK).await {
        panic!("{}\nA's webhook got {s:?}", a.describe("a"));
    }
    // B starts, reads the same feed: every domain is A's already, so B stores nothing.
    let mut b = started(&config_b, "b").await;
    feed.wait_for_connections(2, timeouts::EVENT)
        .await
        .unwrap_or_else(|s| panic!("B did not connect: {s:?}"));
    // While A lives and renews its leases, B delivers none of what A holds.
    assert!(
        sink_b
            .wait_for_requests(1, Duration::from_secs(4))
            .await
            .is_err(),
        "B delivered while A held the deliveries"
    );
    a.send_signal(libc::SIGKILL);
    let killed = Instant::now();
    assert_eq!(
        a.wait_exit(timeouts::EXIT).await.signal(),
        Some(libc::SIGKILL)
    );
    // B takes every delivery over once A's leases run out: within 1.25 leases of the kill
    // (renewed at most a third of a lease before it; B looks every quarter lease).
    if let Err(s) = sink_b
        .wait_for_unique_keys(PLANTED, LEASE * 2 + timeouts::EVENT)
        .await
    {
        panic!(
            "{}\nB's webhook has {} keys of {PLANTED}",
            b.describe("b"),
            s.accepted_keys().len()
        );
    }
    let taken_over = killed.elapsed();
    println!("B delivered all {PLANTED} {taken_over:?} after A was killed (lease {LEASE:?})");
    let first_b = sink_b.state().requests.len();
    assert!(first_b >= PLANTED);
    assert!(
        taken_over >= LEASE / 2,
        "B must wait for A's leases ({taken_over:?} after the kill, lease {LEASE:?})"
    );
    b.stop_cleanly("b").await;
    let stored = stored_findings(&config_b).await;
    assert_eq!(stored.len(), PLANTED);
    for f in &stored {
        assert_eq!(channel_state(f, "webhook"), Some("sent"), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_a_slot_in_use_exits_74_and_says_why() {
    let moto = Moto::start_serialised().await;
    aws_env(&moto);
    let feed = FakeSeqCertstream::start(Vec::new()).await;
    let config = task_config(&moto, "slots", "a", &feed.url(), 6);
    let mut first = started(&config, "first").await;
    let mut second = Certhound::watch(&config);
    let status = second.wait_exit(timeouts::EXIT).await;
    let described = second.describe("second");
    assert_eq!(status.code(), Some(74), "{described}");
    assert!(
        described.contains("store.dynamodb.slot `a` is in use by another running certhound"),
        "{described}"
    );
    assert!(first.is_running(), "{}", first.describe("first"));
    first.stop_cleanly("first").await;
    // A clean stop gives the slot up: the next process on it starts without waiting.
    let mut third = started(&config, "third").await;
    assert!(
        third
            .events("store slot held by an earlier process; waiting for its lease to run out")
            .is_empty(),
        "{}",
        third.describe("third")
    );
    third.stop_cleanly("third").await;
}
