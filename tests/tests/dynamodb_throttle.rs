//! The DynamoDB store backend under throttling, in process, through the real SDK and the real
//! backend, against moto's DynamoDB behind a proxy (`certhound_tests::dynamo_proxy`) that
//! answers scripted `ProvisionedThroughputExceededException`s as the real service does (moto
//! never throttles): throttled requests are retried by the SDK and nothing is lost or stored
//! twice; a stretch of throttling longer than the SDK's attempts fails the call with an error
//! that names the exception, and the same findings offered again once it is over are each stored
//! exactly once, also when the failed call had stored part of its batch (throttling scripted on
//! one finding's transactions only).

use certhound_actors::finding::{test_finding, Finding};
use certhound_actors::store::{self, Delivery, Store};
use certhound_config::{Config, StoreBackend};
use certhound_tests::dynamo_proxy::{DynamoProxy, ProxyState, THROTTLED};
use certhound_tests::moto::Moto;
use certhound_tests::observed::Observed;
use certhound_tests::timeouts;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const TRANSACT: &str = "TransactWriteItems";
const UPDATE: &str = "UpdateItem";
const CHANNELS: [&str; 2] = ["telegram", "webhook"];

/// Distinctive credentials, to check that no error names them (moto takes any).
const KEY_ID: &str = "AKIACERTHOUNDTHROTTLE";
const SECRET: &str = "throttle/Secret+Key/4f8d2c1e9b7a";

/// A task on slot `a` of `table`, reaching moto through `proxy`. Leases are long, so that the
/// background renewals (one at start) do not run again during a test.
fn config(proxy: &DynamoProxy, table: &str, max_attempts: u32) -> Config {
    std::env::set_var("AWS_ACCESS_KEY_ID", KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    let mut cfg = Config::default();
    cfg.aws.endpoint_url = Some(proxy.endpoint());
    cfg.aws.region = Some("us-east-1".into());
    cfg.store.backend = StoreBackend::DynamoDb;
    cfg.store.dynamodb.table = table.into();
    cfg.store.dynamodb.slot = "a".into();
    cfg.store.dynamodb.create_table = true;
    cfg.store.dynamodb.lease = Duration::from_secs(600);
    cfg.store.dynamodb.slot_lease = Duration::from_secs(300);
    cfg.store.dynamodb.max_attempts = max_attempts;
    cfg
}

/// moto, the proxy in front of it, and a store opened through the proxy.
async fn start(table: &str, max_attempts: u32) -> (Moto, Arc<DynamoProxy>, Store) {
    let moto = Moto::start_serialised().await;
    let proxy = Arc::new(DynamoProxy::start(&moto.endpoint()).await);
    let cfg = config(&proxy, table, max_attempts);
    // The store's calls block their thread: never a runtime worker the proxy needs.
    let store = tokio::task::spawn_blocking(move || Store::open(&cfg))
        .await
        .unwrap()
        .expect("open through the proxy");
    (moto, proxy, store)
}

fn request_counts(store: &Store) -> BTreeMap<&'static str, u64> {
    match store {
        Store::DynamoDb(s) => s.request_counts(),
        Store::Redb(_) => panic!("a DynamoDB store"),
    }
}

/// At most this many throttles outstanding on an operation at once: a call meets at most this
/// many, well within the SDK's attempts, so every call gets through.
const BURST: u64 = 3;

/// `budget` throttles on `op`, scripted a burst at a time between the steps of a test.
struct Throttles {
    op: &'static str,
    budget: u64,
    scripted: u64,
}

impl Throttles {
    fn new(op: &'static str, budget: u64) -> Throttles {
        Throttles {
            op,
            budget,
            scripted: 0,
        }
    }

    /// Scripts more, up to `BURST` not answered yet and the budget.
    fn top_up(&mut self, proxy: &DynamoProxy) {
        let outstanding = self.scripted - proxy.state().throttled(self.op);
        let k = BURST
            .saturating_sub(outstanding)
            .min(self.budget - self.scripted);
        if k > 0 {
            proxy.throttle(self.op, k as usize);
            self.scripted += k;
        }
    }
}

/// Every call of `op` the proxy saw (by the SDK's invocation id): its attempts numbered 1, 2..
/// in order, every one but the last answered as throttled, the last forwarded to moto. Returns
/// the retries (attempts beyond the first) over all calls.
fn retried_calls(state: &ProxyState, op: &str) -> u64 {
    let mut retries = 0;
    for (id, attempts) in state.calls(op) {
        assert!(!id.is_empty(), "{op}: a request without an invocation id");
        let numbers: Vec<u32> = attempts
            .iter()
            .map(|e| e.attempt.expect("amz-sdk-request").0)
            .collect();
        let expected: Vec<u32> = (1..=attempts.len() as u32).collect();
        assert_eq!(numbers, expected, "{op} call {id}: attempts in order");
        let (last, before) = attempts.split_last().unwrap();
        assert!(
            before.iter().all(|e| e.throttled && !e.forwarded),
            "{op} call {id}: retried only after a throttle: {attempts:?}"
        );
        assert!(
            last.forwarded && !last.throttled,
            "{op} call {id}: got through: {attempts:?}"
        );
        retries += before.len() as u64;
    }
    retries
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_requests_are_retried_and_nothing_is_lost_or_stored_twice() {
    let (_moto, proxy, store) = start("throttled", 10).await;
    let domains: Vec<String> = (0..100)
        .map(|i| format!("throttled-{i:03}.example"))
        .collect();
    let (p, s, planted) = (proxy.clone(), store.clone(), domains.clone());
    let (ids, delivered) = tokio::task::spawn_blocking(move || {
        let mut transact = Throttles::new(TRANSACT, 30);
        let mut update = Throttles::new(UPDATE, 30);
        let now = store::unix_now();
        // Five batches of twenty: a transaction per finding, the numbers reserved with an
        // UpdateItem per batch.
        let mut ids = Vec::new();
        for (b, chunk) in planted.chunks(20).enumerate() {
            transact.top_up(&p);
            update.top_up(&p);
            let mut batch: Vec<Finding> = chunk.iter().map(|d| test_finding(d)).collect();
            let stored = s
                .record_at(&mut batch, None, &CHANNELS, Some(b as u64 + 1), now)
                .expect("recorded despite throttling");
            assert_eq!(stored, batch.len(), "batch {b}: every finding stored");
            ids.extend(batch.into_iter().map(|f| f.id));
        }
        // Each channel's deliveries claimed (an UpdateItem each) and marked (a transaction and
        // an UpdateItem each), twenty at a time, until none is left.
        let mut delivered: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
        for channel in CHANNELS {
            loop {
                transact.top_up(&p);
                update.top_up(&p);
                let claimed = s.pending(channel, 20).expect("claimed despite throttling");
                if claimed.is_empty() {
                    break;
                }
                let outcomes: Vec<(u64, Delivery)> = claimed
                    .iter()
                    .map(|(n, _)| (*n, Delivery::Sent { at: 7 }))
                    .collect();
                s.mark(channel, &outcomes)
                    .expect("marked despite throttling");
                delivered
                    .entry(channel)
                    .or_default()
                    .extend(claimed.iter().map(|(n, _)| *n));
            }
        }
        assert_eq!(
            (transact.scripted, update.scripted),
            (30, 30),
            "the whole budget scripted along the way"
        );
        (ids, delivered)
    })
    .await
    .unwrap();

    // Every throttle was answered, and the calls they hit were retried until they got through.
    let state = proxy
        .wait_for(timeouts::EVENT, |s| {
            s.throttled(TRANSACT) == 30 && s.throttled(UPDATE) == 30
        })
        .await
        .expect("all 60 throttles answered");
    assert_eq!(retried_calls(&state, TRANSACT), 30);
    assert_eq!(retried_calls(&state, UPDATE), 30);
    // What reached moto is exactly what the backend asked for: one request per call, none lost
    // to throttling and none repeated. (DescribeTable is left out: the SDK's waiter for the new
    // table asks it too, beyond the backend's own call.)
    let counts = request_counts(&store);
    let same = |s: &ProxyState| {
        counts
            .iter()
            .filter(|(op, _)| **op != "DescribeTable")
            .all(|(op, n)| s.forwarded(op) == *n)
    };
    let state = proxy
        .wait_for(timeouts::EVENT, same)
        .await
        .unwrap_or_else(|s| {
            panic!(
                "forwarded {:?} != the backend's calls {counts:?}",
                s.forwarded
            )
        });
    for op in state.forwarded.keys() {
        assert!(
            counts.contains_key(op.as_str()),
            "{op} forwarded, never asked for"
        );
    }
    for op in [TRANSACT, UPDATE] {
        assert_eq!(
            state.answered(op),
            state.forwarded(op) + state.throttled(op),
            "{op}: every request answered by moto or throttled"
        );
    }
    println!("backend calls {counts:?}; throttled {:?}", state.throttled);

    // Each finding stored once, with the id its batch gave it, and delivered once per channel.
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 100, "100 distinct ids");
    assert!(ids.iter().all(|id| !id.is_empty()));
    for channel in CHANNELS {
        let mut ns = delivered[channel].clone();
        assert_eq!(ns.len(), 100, "{channel}: 100 deliveries claimed");
        ns.sort_unstable();
        ns.dedup();
        assert_eq!(ns.len(), 100, "{channel}: none claimed twice");
    }
    let s = store.clone();
    let listed = tokio::task::spawn_blocking(move || s.list(None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed.len(), 100, "100 findings in the table");
    let listed_domains: Vec<&str> = listed.iter().map(|r| r.finding.domain.as_str()).collect();
    let listed_set: BTreeSet<&str> = listed_domains.iter().copied().collect();
    assert_eq!(listed_set.len(), 100, "no domain stored twice");
    assert_eq!(
        listed_set,
        domains.iter().map(String::as_str).collect::<BTreeSet<_>>()
    );
    assert_eq!(
        listed
            .iter()
            .map(|r| r.finding.id.clone())
            .collect::<BTreeSet<_>>(),
        ids.iter().cloned().collect::<BTreeSet<_>>()
    );
    for r in &listed {
        let states: Vec<(&str, &Delivery)> = r
            .channels
            .iter()
            .map(|c| (c.channel.as_str(), &c.state))
            .collect();
        assert_eq!(
            states,
            [
                ("telegram", &Delivery::Sent { at: 7 }),
                ("webhook", &Delivery::Sent { at: 7 })
            ],
            "{}",
            r.finding.domain
        );
    }
    let s = store.clone();
    let (left, cursor) = tokio::task::spawn_blocking(move || {
        (
            CHANNELS.map(|c| s.pending(c, 10).unwrap().len()),
            s.cursor().unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(left, [0, 0], "nothing left to deliver");
    assert_eq!(cursor, Some(5), "the last batch's position");
}

/// Offers the findings of `domains` to the store until a call succeeds, as the recorder does
/// (the same findings again after each failure): the failed calls' errors, how many the last call
/// stored and the findings with the ids it gave.
async fn offer_until_stored(
    store: &Store,
    domains: &[&'static str],
) -> (Vec<String>, usize, Vec<Finding>) {
    let s = store.clone();
    let mut batch: Vec<Finding> = domains.iter().map(|d| test_finding(d)).collect();
    tokio::task::spawn_blocking(move || {
        let offered = batch.clone();
        let mut failures = Vec::new();
        let now = store::unix_now();
        loop {
            match s.record_at(&mut batch, None, &CHANNELS, Some(9), now) {
                Ok(n) => break (failures, n, batch),
                Err(e) => {
                    assert_eq!(
                        batch, offered,
                        "a failed call leaves the findings as they were"
                    );
                    failures.push(e.to_string());
                    assert!(failures.len() < 10, "still failing: {failures:?}");
                }
            }
        }
    })
    .await
    .unwrap()
}

/// Each failed call's error names the throttling and the operation, and no credentials.
fn assert_named(failures: &[String]) {
    for e in failures {
        assert!(e.contains(THROTTLED), "names the exception: {e}");
        assert!(e.contains(TRANSACT), "names the operation: {e}");
        assert!(
            !e.contains(KEY_ID) && !e.contains(SECRET),
            "no credentials: {e}"
        );
    }
}

/// Each of `domains` stored exactly once, none lost, queued once on each channel; the slot's
/// position moved to the batch's.
async fn assert_stored_once(store: &Store, domains: &[&'static str]) {
    let s = store.clone();
    let (listed, pending, cursor) = tokio::task::spawn_blocking(move || {
        (
            s.list(None).unwrap(),
            CHANNELS.map(|c| s.pending(c, 10).unwrap()),
            s.cursor().unwrap(),
        )
    })
    .await
    .unwrap();
    let mut listed_domains: Vec<&str> = listed.iter().map(|r| r.finding.domain.as_str()).collect();
    listed_domains.sort_unstable();
    assert_eq!(listed_domains, domains, "each stored once, none lost");
    for r in &listed {
        assert!(
            r.channels.iter().map(|c| c.channel.as_str()).eq(CHANNELS),
            "{:?}",
            r.channels
        );
        assert!(r.channels.iter().all(|c| c.state == Delivery::Pending));
    }
    for (channel, claimed) in CHANNELS.iter().zip(&pending) {
        let mut got: Vec<&str> = claimed.iter().map(|(_, f)| f.domain.as_str()).collect();
        got.sort_unstable();
        assert_eq!(got, domains, "{channel}: each queued once");
    }
    assert_eq!(
        cursor,
        Some(9),
        "the position moved once the batch was stored"
    );
}

/// Transactions moto accepted (stored): one per finding stored.
fn accepted_transactions(state: &ProxyState) -> usize {
    state
        .exchanges
        .iter()
        .filter(|e| e.op == TRANSACT && e.status == 200)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_longer_than_the_attempts_fails_the_call_and_a_retry_stores_each_once() {
    let (_moto, proxy, store) = start("stretch", 3).await;
    let domains = [
        "stretch-a.example",
        "stretch-b.example",
        "stretch-c.example",
    ];
    // Ten in a row: three findings' transactions (in flight together) get through at most two
    // throttles each before the ten are used up, so at least one meets three, all its attempts.
    proxy.throttle(TRANSACT, 10);
    let (failures, stored_last, batch) = offer_until_stored(&store, &domains).await;
    println!("failed calls: {failures:#?}; the last stored {stored_last}");
    assert!(!failures.is_empty(), "the first call fails");
    assert_named(&failures);
    let state = proxy
        .wait_for_throttled(TRANSACT, 10, timeouts::EVENT)
        .await
        .expect("the stretch is over: all ten answered");
    assert_eq!(state.throttled(TRANSACT), 10);
    // The calls that failed made all their attempts.
    let calls = state.calls(TRANSACT);
    let exhausted = calls
        .values()
        .filter(|a| a.len() == 3 && a.iter().all(|e| e.throttled))
        .count();
    assert!(
        exhausted >= 1,
        "a call throttled on all 3 attempts: {calls:#?}"
    );
    for (id, attempts) in &calls {
        assert!(
            attempts.iter().all(|e| e.attempt.map(|a| a.1) == Some(3)),
            "{id}: at most 3 attempts"
        );
    }
    // Three transactions stored over all the calls (any other found its finding's dedupe
    // entry, from an earlier call, and stored nothing).
    assert_eq!(
        accepted_transactions(&state),
        3,
        "one stored transaction per finding"
    );
    assert_stored_once(&store, &domains).await;
    // The last call gives ids to what it stored itself; what an earlier, failed call stored
    // keeps an empty id (the recorder counts those as stored elsewhere).
    let with_id = batch.iter().filter(|f| !f.id.is_empty()).count();
    assert_eq!(with_id, stored_last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_partly_stored_when_the_call_failed_is_not_stored_twice_when_offered_again() {
    let (_moto, proxy, store) = start("partial", 3).await;
    let domains = [
        "partial-a.example",
        "partial-b.example",
        "partial-c.example",
    ];
    // Only b's transactions, ten in a row: a and c are stored by the first call; b meets three
    // throttles in each of three calls, and one in the fourth, which stores it.
    proxy.throttle_with(TRANSACT, "D#partial-b.example", 10);
    let (failures, stored_last, batch) = offer_until_stored(&store, &domains).await;
    println!("failed calls: {failures:#?}; the last stored {stored_last}");
    assert_eq!(failures.len(), 3, "three calls fail on b");
    assert_named(&failures);
    let state = proxy.state();
    assert_eq!(state.throttled(TRANSACT), 10);
    // a and c stored by the first call, offered again by the next three (each cancelled on its
    // own dedupe entry), b stored by the last: three stored, none twice.
    assert_eq!(
        accepted_transactions(&state),
        3,
        "one stored transaction per finding"
    );
    assert_eq!(state.forwarded(TRANSACT), 2 + 3 * 2 + 1);
    assert_stored_once(&store, &domains).await;
    assert_eq!(stored_last, 1, "the last call stored b only");
    let ids: Vec<bool> = batch.iter().map(|f| !f.id.is_empty()).collect();
    assert_eq!(
        ids,
        [false, true, false],
        "a and c stored by the first call keep no id"
    );
}
