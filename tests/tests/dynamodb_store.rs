//! The DynamoDB store backend's promises, in process, against moto's DynamoDB through the real
//! SDK: the dedupe decision is one conditional write (50 tasks storing one domain at once: one
//! stores it), a queue entry is claimed by one task (50 at once: one wins), a lease that runs out
//! is taken over and the old holder's late mark changes nothing, a task restarted on its slot
//! takes its own claims back at once, positions are per slot, verdicts are kept beside their
//! findings (and refused for a finding that is not stored), and `certhound findings` reads it.
//! The end-to-end tests with two `certhound watch` processes are in `dynamodb_ha.rs`.

use certhound_actors::finding::{test_finding, Finding};
use certhound_actors::store::{self, Delivery, Store, Verdict, VerdictKind};
use certhound_config::{Config, StoreBackend};
use certhound_tests::moto::Moto;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// A config for a task on `slot` of `table` in `moto`.
fn config(moto: &Moto, table: &str, slot: &str, lease: Duration) -> Config {
    for (k, v) in moto.env() {
        std::env::set_var(k, v);
    }
    let mut cfg = Config::default();
    cfg.aws.endpoint_url = Some(moto.endpoint());
    cfg.aws.region = Some("us-east-1".into());
    cfg.store.backend = StoreBackend::DynamoDb;
    cfg.store.dynamodb.table = table.into();
    cfg.store.dynamodb.slot = slot.into();
    cfg.store.dynamodb.create_table = true;
    cfg.store.dynamodb.lease = lease;
    cfg.store.dynamodb.slot_lease = lease / 2;
    cfg
}

fn finding(domain: &str) -> Finding {
    test_finding(domain)
}

/// Runs `f` on `n` threads released together; their results in thread order.
fn at_once<T: Send + 'static>(
    stores: Vec<Store>,
    f: impl Fn(&Store) -> T + Send + Sync + 'static,
) -> Vec<T> {
    let barrier = Arc::new(Barrier::new(stores.len()));
    let f = Arc::new(f);
    let threads: Vec<_> = stores
        .into_iter()
        .map(|s| {
            let (barrier, f) = (barrier.clone(), f.clone());
            std::thread::spawn(move || {
                barrier.wait();
                f(&s)
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

/// Opens `count` tasks on slots `s0`.. of one table (the first creates it).
fn tasks(moto: &Moto, table: &str, count: usize, lease: Duration) -> Vec<Store> {
    (0..count)
        .map(|i| Store::open(&config(moto, table, &format!("s{i}"), lease)).expect("open"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_storing_one_domain_at_once_store_it_once() {
    let moto = Moto::start_serialised().await;
    let stores = tasks(&moto, "race", 50, Duration::from_secs(60));
    let reader = stores[0].clone();
    let stored = tokio::task::spawn_blocking(move || {
        at_once(stores, |s| {
            let mut batch = vec![finding("paypal-race.example")];
            let n = s
                .record_at(&mut batch, None, &["webhook"], Some(7), store::unix_now())
                .expect("record");
            (n, batch[0].id.clone())
        })
    })
    .await
    .unwrap();
    let winners: Vec<&(usize, String)> = stored.iter().filter(|(n, _)| *n == 1).collect();
    assert_eq!(winners.len(), 1, "exactly one task stores it: {stored:?}");
    assert!(!winners[0].1.is_empty(), "the winner's finding has an id");
    assert!(
        stored
            .iter()
            .filter(|(n, _)| *n == 0)
            .all(|(_, id)| id.is_empty()),
        "the others' findings have no id"
    );
    let listed = reader.list(None).unwrap();
    assert_eq!(listed.len(), 1, "one finding in the table: {listed:?}");
    assert_eq!(listed[0].finding.id, winners[0].1);
    assert_eq!(listed[0].channels.len(), 1);
    assert_eq!(listed[0].channels[0].state, Delivery::Pending);
    // Every task's cursor moved, each its own.
    assert_eq!(reader.cursor().unwrap(), Some(7));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_tasks_claiming_one_delivery_at_once_one_wins() {
    let moto = Moto::start_serialised().await;
    let stores = tasks(&moto, "claims", 50, Duration::from_secs(60));
    let mut batch = vec![finding("claimed.example")];
    stores[0]
        .record_at(&mut batch, None, &["webhook"], None, store::unix_now())
        .unwrap();
    let reader = stores[0].clone();
    let claims = tokio::task::spawn_blocking(move || {
        at_once(stores, |s| s.pending("webhook", 10).expect("pending"))
    })
    .await
    .unwrap();
    let winners: Vec<usize> = (0..claims.len())
        .filter(|i| !claims[*i].is_empty())
        .collect();
    assert_eq!(winners.len(), 1, "one task holds the delivery: {winners:?}");
    assert_eq!(claims[winners[0]][0].1.id, batch[0].id);
    // Nobody else gets it while the lease holds.
    assert!(reader.pending("webhook", 10).unwrap().len() <= usize::from(winners[0] == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_that_runs_out_is_taken_over_and_the_late_mark_changes_nothing() {
    let moto = Moto::start_serialised().await;
    let lease = Duration::from_secs(4);
    let cfg_a = config(&moto, "takeover", "a", lease);
    let a = Store::open(&cfg_a).unwrap();
    let b = Store::open(&config(&moto, "takeover", "b", lease)).unwrap();
    let mut batch = vec![finding("slow.example"), finding("slower.example")];
    a.record_at(&mut batch, None, &["telegram"], None, store::unix_now())
        .unwrap();
    // A's claims are made after this instant, so neither of its leases can run out before
    // `claims_from + lease`. (They run out one after the other: each claim is its own request.)
    let claims_from = Instant::now();
    assert_eq!(a.pending("telegram", 10).unwrap().len(), 2);
    assert!(
        b.pending("telegram", 10).unwrap().is_empty(),
        "held by A within its lease"
    );
    // A dies: dropped without a clean close, its renewals end with it.
    drop(a);
    // B asks until it holds both; its own claims come back to it with each call.
    let mut first_taken = None;
    let taken = loop {
        let got = b.pending("telegram", 10).unwrap();
        if !got.is_empty() && first_taken.is_none() {
            first_taken = Some(claims_from.elapsed());
        }
        if got.len() == 2 {
            break got;
        }
        assert!(
            claims_from.elapsed() < lease * 4,
            "B did not take over both within four leases (holds {})",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let waited = first_taken.expect("taken");
    // Less a little for the two clocks (leases are wall-clock milliseconds, this is monotonic).
    assert!(
        waited >= lease - Duration::from_millis(100),
        "taken over only once the lease ran out ({waited:?})"
    );
    println!("taken over {waited:?} after the claim (lease {lease:?})");
    // A comes back on its slot and marks what it had: B holds them now, so nothing changes.
    let a2 = tokio::task::spawn_blocking(move || Store::open(&cfg_a))
        .await
        .unwrap()
        .unwrap();
    a2.mark("telegram", &[(taken[0].0, Delivery::Sent { at: 1 })])
        .unwrap();
    assert!(a2
        .list(None)
        .unwrap()
        .iter()
        .all(|r| r.channels[0].state == Delivery::Pending));
    let outcomes: Vec<(u64, Delivery)> = taken
        .iter()
        .map(|(n, _)| (*n, Delivery::Sent { at: 2 }))
        .collect();
    b.mark("telegram", &outcomes).unwrap();
    let listed = b.list(None).unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed
        .iter()
        .all(|r| r.channels[0].state == Delivery::Sent { at: 2 }));
    assert!(b.pending("telegram", 10).unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_restarted_on_its_slot_takes_back_its_claims_at_once() {
    let moto = Moto::start_serialised().await;
    let lease = Duration::from_secs(20);
    let cfg_a = config(&moto, "restart", "a", lease);
    let a = Store::open(&cfg_a).unwrap();
    let b = Store::open(&config(&moto, "restart", "b", lease)).unwrap();
    let mut batch = vec![finding("resumed.example")];
    a.record_at(
        &mut batch,
        Some("enrich"),
        &["webhook"],
        Some(41),
        store::unix_now(),
    )
    .unwrap();
    assert_eq!(a.pending("enrich", 10).unwrap().len(), 1);
    drop(a); // killed: no clean close, the slot lock stays until its lease runs out
    let started = Instant::now();
    let a2 = tokio::task::spawn_blocking(move || Store::open(&cfg_a))
        .await
        .unwrap()
        .expect("the slot comes free within its lease");
    println!("slot taken back after {:?}", started.elapsed());
    let again = a2.pending("enrich", 10).unwrap();
    assert_eq!(again.len(), 1, "its own claim, long before the lease ends");
    assert!(b.pending("enrich", 10).unwrap().is_empty());
    assert_eq!(a2.cursor().unwrap(), Some(41), "slot a's position");
    assert_eq!(b.cursor().unwrap(), None, "slot b has none");
    let (n, f) = &again[0];
    a2.advance("enrich", *n, f, None, &["webhook"], None)
        .unwrap();
    assert_eq!(
        b.pending("webhook", 10).unwrap().len(),
        1,
        "moved on to the channel"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_a_slot_in_use_refuses_to_start() {
    let moto = Moto::start_serialised().await;
    let cfg = config(&moto, "twice", "a", Duration::from_secs(4));
    let _running = Store::open(&cfg).unwrap();
    let second = tokio::task::spawn_blocking(move || Store::open(&cfg).map(|_| ()))
        .await
        .unwrap();
    let e = second
        .expect_err("the slot is held and renewed")
        .to_string();
    assert!(e.contains("slot `a` is in use"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_positions_and_lookups_round_trip() {
    let moto = Moto::start_serialised().await;
    let cfg = config(&moto, "state", "a", Duration::from_secs(60));
    let s = Store::open(&cfg).unwrap();
    assert_eq!(s.server_state().unwrap(), (vec![], 0));
    s.save_server_state(&[("https://log.example/".into(), 10)], 500, false)
        .unwrap();
    s.save_server_state(&[("https://log.example/".into(), 7)], 400, false)
        .unwrap();
    assert_eq!(
        s.server_state().unwrap(),
        (vec![("https://log.example/".to_string(), 10)], 500),
        "positions only move forward; the reserve only up unless clean"
    );
    s.put_lookup("example.com", &("registered", 3u32)).unwrap();
    let got: Option<(String, u32)> = s.get_lookup("example.com").unwrap();
    assert_eq!(got, Some(("registered".into(), 3)));
}

/// One item of `table` in moto, read with a plain `GetItem` (the store's API does not show an
/// item's `ttl`): its attributes in DynamoDB's JSON, or None.
async fn raw_item(moto: &Moto, table: &str, pk: &str, sk: &str) -> Option<serde_json::Value> {
    let request = serde_json::json!({
        "TableName": table,
        "Key": {"pk": {"S": pk}, "sk": {"S": sk}},
        "ConsistentRead": true,
    });
    let r = reqwest::Client::new()
        .post(moto.endpoint())
        // moto routes by the signature's credential scope and does not check the signature.
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("X-Amz-Target", "DynamoDB_20120810.GetItem")
        .header("Content-Type", "application/x-amz-json-1.0")
        .body(request.to_string())
        .send()
        .await
        .expect("GetItem");
    assert!(r.status().is_success(), "GetItem: {}", r.status());
    let body: serde_json::Value = r.json().await.expect("GetItem answer");
    body.get("Item").cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_are_kept_beside_stored_findings_only() {
    let moto = Moto::start_serialised().await;
    let cfg = config(&moto, "verdicts", "a", Duration::from_secs(60));
    let s = Store::open(&cfg).unwrap();
    let mut batch = vec![finding("verdict-a.example"), finding("verdict-b.example")];
    s.record_at(&mut batch, None, &["webhook"], None, store::unix_now())
        .unwrap();
    let (a, b) = (batch[0].id.clone(), batch[1].id.clone());
    let got = s.get(&a).unwrap().expect("stored");
    assert_eq!(got.finding.registrable_domain, "verdict-a.example");
    assert_eq!(got.channels.len(), 1);
    assert_eq!(got.verdict, None);

    let phishing = Verdict {
        kind: VerdictKind::Phishing,
        at: 1_795_867_200,
        by: "page".into(),
    };
    assert!(s.set_verdict(&a, &phishing).unwrap());
    let got = s.get(&a).unwrap().expect("stored");
    assert_eq!(got.verdict.as_ref(), Some(&phishing));
    assert_eq!(got.channels[0].state, Delivery::Pending, "states kept");

    // Replaced; `by` cut to 64 chars.
    let alarm = Verdict {
        kind: VerdictKind::FalseAlarm,
        at: 1_795_867_201,
        by: "x".repeat(100),
    };
    let before = store::unix_now();
    assert!(s.set_verdict(&a, &alarm).unwrap());
    let replaced = s.get(&a).unwrap().unwrap().verdict.unwrap();
    assert_eq!(replaced.kind, VerdictKind::FalseAlarm);
    assert_eq!(replaced.by, "x".repeat(64));

    // The item: next to the finding, expiring after store.retention.
    let n = a.rsplit_once(':').unwrap().1;
    let item = raw_item(&moto, "verdicts", &format!("F#{n}"), "V")
        .await
        .expect("the verdict item");
    assert_eq!(item["verdict"]["S"], "false_alarm", "{item}");
    let ttl: u64 = item["ttl"]["N"].as_str().unwrap().parse().unwrap();
    let retention = cfg.store.retention.as_secs();
    assert!(
        (before + retention..=store::unix_now() + retention).contains(&ttl),
        "ttl {ttl} is not now + retention ({retention} s) {item}"
    );

    // Listed with its finding (also by the reader `certhound findings` opens); b has none.
    let listed = s.list(None).unwrap();
    assert_eq!(listed.len(), 2, "a verdict is no finding: {listed:?}");
    assert_eq!(
        listed[0].verdict.as_ref().map(|v| v.kind),
        Some(VerdictKind::FalseAlarm)
    );
    assert_eq!(listed[1].verdict, None);
    let reader = store::open_reader(&cfg).unwrap();
    let read = reader.list(None).unwrap();
    assert_eq!(read[0].verdict.as_ref(), Some(&replaced));
    assert!(s
        .set_verdict(
            &b,
            &Verdict {
                kind: VerdictKind::Unsure,
                ..phishing.clone()
            }
        )
        .unwrap());
    assert_eq!(
        reader.list(None).unwrap()[1]
            .verdict
            .as_ref()
            .map(|v| v.kind),
        Some(VerdictKind::Unsure)
    );

    // A finding that is not stored: refused, and no item written for it.
    let store_id = a.rsplit_once(':').unwrap().0;
    for unknown in [
        format!("{store_id}:999"),
        format!("0{store_id}:1"),
        "999".to_string(),
    ] {
        assert!(!s.set_verdict(&unknown, &phishing).unwrap(), "{unknown}");
        assert_eq!(s.get(&unknown).unwrap(), None, "{unknown}");
    }
    assert_eq!(raw_item(&moto, "verdicts", "F#999", "V").await, None);
    assert_eq!(s.list(None).unwrap().len(), 2);
}
