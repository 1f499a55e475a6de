//! WHOIS/RDAP enrichment, in process: the resolver (`certhound_actors::enrich::resolver`) and the
//! lookup cache (`enrich::lookups`) against the loopback RDAP server (`rdap_server`) and WHOIS
//! server (`whois_server`) of this crate. Everything is measured at the fake servers: which
//! requests arrived, how many, and when (for the rate limit and `Retry-After`).
//!
//! Every test sets its own bootstrap and WHOIS server map, so nothing ever leaves 127.0.0.1
//! (`follow_registrar` and WHOIS referrals are off as well).

use certhound_tests::observed::Observed;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use certhound_actors::dates::parse_rfc3339;
use certhound_actors::enrich::lookups::Lookups;
use certhound_actors::enrich::rdap::{Bootstrap, Registration};
use certhound_actors::enrich::resolver::{LookupError, Resolver};
use certhound_config::{CacheConfig, EnrichConfig, StoreConfig};
use certhound_tests::rdap_server::{bootstrap_json, Answer, FakeRdap};
use certhound_tests::timeouts;
use certhound_tests::whois_server::{FakeWhois, WhoisAnswer};
use tokio::time::Instant;

/// Short enough to keep the tests quick, long enough for a loaded machine.
const T: Duration = timeouts::EVENT;

fn ts(rfc3339: &str) -> Option<i64> {
    let t = parse_rfc3339(rfc3339);
    assert!(t.is_some(), "bad date in the test: {rfc3339}");
    t
}

/// `[enrich]` for the tests: WHOIS `_` = the fake server, no referrals followed, no registrar
/// RDAP followed, no bootstrap URL (the tests set the bootstrap), modest timeouts.
fn config(whois: &FakeWhois) -> EnrichConfig {
    let mut c = EnrichConfig::default();
    c.rdap.bootstrap_url = String::new();
    c.rdap.follow_registrar = false;
    c.whois.servers = BTreeMap::from([("_".to_string(), whois.server())]);
    c.whois.follow = 0;
    c.limits.connect_timeout = Duration::from_secs(2);
    c.limits.read_timeout = Duration::from_secs(5);
    c.limits.retries = 1;
    c.limits.max_retry_after = Duration::from_secs(5);
    c
}

/// A resolver with `cfg` and this bootstrap (IANA dns.json text).
fn resolver(cfg: EnrichConfig, bootstrap: &str) -> Arc<Resolver> {
    let r = Resolver::new(cfg.clone())
        .unwrap_or_else(|e| panic!("Resolver::new refused a valid config: {e}\nconfig: {cfg:#?}"));
    r.set_bootstrap(Bootstrap::parse(bootstrap).expect("bootstrap"));
    Arc::new(r)
}

/// The servers most tests ask: a fake RDAP server for `.com` (404 for a domain it has no answer
/// for) and a fake WHOIS server ("No match" for a domain it has no fixture for).
async fn com_servers() -> (FakeRdap, FakeWhois) {
    (FakeRdap::start(&["com"]).await, FakeWhois::start().await)
}

/// A resolver on `rdap` (its bootstrap) and `whois`, with [`config`] changed by `adjust`.
fn resolver_on(
    rdap: &FakeRdap,
    whois: &FakeWhois,
    adjust: impl FnOnce(&mut EnrichConfig),
) -> Arc<Resolver> {
    let mut cfg = config(whois);
    adjust(&mut cfg);
    resolver(cfg, &rdap.bootstrap_json())
}

/// The dead-server scenario: a `.com` RDAP server that accepts and never answers, a live `.net`
/// one (every domain registered 2024-03-01), and a resolver on them and `whois` that gives up
/// connecting after 500 ms and does not retry, with [`config`] changed further by `adjust`.
async fn dead_com_live_net(
    whois: &FakeWhois,
    adjust: impl FnOnce(&mut EnrichConfig),
) -> (FakeRdap, FakeRdap, Arc<Resolver>) {
    let dead = FakeRdap::start(&["com"]).await;
    dead.set_default(Answer::Hang);
    let live = FakeRdap::start(&["net"]).await;
    live.set_default(Answer::dates("2024-03-01", "2024-04-01"));
    let mut cfg = config(whois);
    cfg.limits.connect_timeout = Duration::from_millis(500);
    cfg.limits.retries = 0;
    adjust(&mut cfg);
    let boot = bootstrap_json(&[(&["com"], &dead.base_url()), (&["net"], &live.base_url())]);
    let r = resolver(cfg, &boot);
    (dead, live, r)
}

/// A burst: `lookup` of each of `domains` at once, each in a task of its own.
fn burst<R, F>(
    domains: impl IntoIterator<Item = String>,
    lookup: impl Fn(String) -> F,
) -> Vec<tokio::task::JoinHandle<R>>
where
    F: std::future::Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    domains
        .into_iter()
        .map(|d| tokio::spawn(lookup(d)))
        .collect()
}

/// The results of a [`burst`], in order, each waited for at most [`T`] (`what` says what did
/// not finish).
async fn finished<R>(tasks: Vec<tokio::task::JoinHandle<R>>, what: &str) -> Vec<R> {
    let mut results = Vec::new();
    for t in tasks {
        results.push(tokio::time::timeout(T, t).await.expect(what).unwrap());
    }
    results
}

fn cache() -> CacheConfig {
    CacheConfig {
        capacity: 1000,
        ttl: Duration::from_secs(3600),
        negative_ttl: Duration::from_secs(3600),
    }
}

/// Waits until `cond` holds, checking every few milliseconds (for counters that have no event
/// to wait on); panics with `what` after `timeout`.
async fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The day (days since 1970-01-01 UTC) of a Unix time.
fn day(t: Option<i64>) -> Option<i64> {
    t.map(|t| t.div_euclid(86400))
}

fn dates_of(r: &Registration) -> (Option<i64>, Option<i64>, Option<i64>) {
    (r.created, r.updated, r.expires)
}

/// Asserts the registration's created, updated and expiry dates (RFC 3339).
fn assert_dates(reg: &Registration, created: &str, updated: &str, expires: &str) {
    assert_eq!(
        dates_of(reg),
        (ts(created), ts(updated), ts(expires)),
        "{reg:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Answers

#[tokio::test]
async fn rdap_fixture_gives_registration_dates() {
    let (rdap, whois) = com_servers().await;
    rdap.answer("1989shack.com", Answer::verisign());
    let r = resolver_on(&rdap, &whois, |_| {});

    let reg = r.lookup("1989shack.com").await.expect("lookup");
    assert_dates(
        &reg,
        "2024-11-22T18:01:08Z",
        "2025-11-26T06:34:24Z",
        "2026-11-22T18:01:08Z",
    );
    assert!(
        reg.registrar
            .as_deref()
            .is_some_and(|n| n.contains("Tucows")),
        "{reg:?}"
    );
    assert!(reg.source.contains("rdap"), "{reg:?}");
    assert!(
        reg.source.contains(&rdap.addr().to_string()),
        "source names the server: {reg:?}"
    );

    let s = rdap.state();
    let reqs = s.for_domain("1989shack.com");
    assert_eq!(reqs.len(), 1, "{s:?}");
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].path, "/domain/1989shack.com");
    assert!(
        reqs[0]
            .header("accept")
            .is_some_and(|a| a.contains("application/rdap+json")),
        "{:?}",
        reqs[0].headers
    );
    assert!(
        whois.state().queries.is_empty(),
        "no WHOIS when RDAP answers"
    );
}

#[tokio::test]
async fn generated_rdap_answer_counts_last_changed_not_database_update() {
    let (rdap, whois) = com_servers().await;
    // The generated answer also carries "last update of RDAP database" in 2099.
    rdap.answer(
        "fresh-login.com",
        Answer::dates("2025-06-01T10:00:00Z", "2025-06-03T11:00:00Z"),
    );
    let r = resolver_on(&rdap, &whois, |_| {});
    let reg = r.lookup("fresh-login.com").await.expect("lookup");
    assert_dates(
        &reg,
        "2025-06-01T10:00:00Z",
        "2025-06-03T11:00:00Z",
        "2026-06-01T10:00:00Z",
    );
    assert_eq!(reg.registrar.as_deref(), Some("Fake Registrar Inc."));
}

#[tokio::test]
async fn tld_without_rdap_falls_back_to_whois() {
    // The bootstrap knows .com only: .de and .fi go to WHOIS.
    let (rdap, whois) = com_servers().await;
    let r = resolver_on(&rdap, &whois, |_| {});

    let reg = r.lookup("google.de").await.expect("google.de from WHOIS");
    assert_eq!(reg.updated, ts("2018-03-12T21:44:25+01:00"), "{reg:?}");
    assert_eq!(reg.created, None, "DENIC gives no creation date: {reg:?}");
    assert!(reg.source.contains("whois"), "{reg:?}");

    // "created: 18.7.2012 04:04:23", "expires: 17.7.2022 22:16:55", "modified: 19.3.2019" (the
    // time zone of the times is not stated: only the days are checked).
    let reg = r.lookup("druid.fi").await.expect("druid.fi from WHOIS");
    assert_eq!(
        (day(reg.created), day(reg.updated), day(reg.expires)),
        (
            day(ts("2012-07-18")),
            day(ts("2019-03-19")),
            day(ts("2022-07-17"))
        ),
        "{reg:?}"
    );

    let w = whois.state();
    let lines: Vec<&str> = w.queries.iter().map(|q| q.line.as_str()).collect();
    assert_eq!(lines, ["google.de", "druid.fi"]);
    assert!(
        rdap.state().domain_requests().is_empty(),
        "no RDAP request for TLDs the bootstrap does not list: {:?}",
        rdap.state()
    );
}

/// Without a bootstrap fetched, the shipped one (IANA's file) decides: it lists no RDAP server
/// for io and de, so those go to WHOIS at once (no RDAP attempt, which here would be a
/// connection to the real registry).
#[tokio::test]
async fn the_shipped_bootstrap_sends_io_and_de_to_whois() {
    let whois = FakeWhois::start().await;
    let r = Resolver::new(config(&whois)).unwrap();
    let reg = r.lookup("google.de").await.expect("google.de from WHOIS");
    assert!(reg.source.contains("whois"), "{reg:?}");
    let io = r.lookup("certhound-test.io").await;
    let w = whois.state();
    let lines: Vec<&str> = w.queries.iter().map(|q| q.line.as_str()).collect();
    assert_eq!(lines, ["google.de", "certhound-test.io"], "{io:?}");
    if let Err(LookupError::Failed(why)) = &io {
        assert!(!why.contains("rdap"), "no RDAP attempt: {why}");
    }
}

#[tokio::test]
async fn rdap_404_is_not_retried_and_the_domain_is_unknown() {
    let (rdap, whois) = com_servers().await; // unscripted: 404; no fixture: "No match"
    let r = resolver_on(&rdap, &whois, |cfg| {
        cfg.limits.retries = 3;
    });
    let err = r
        .lookup("never-registered-xyz.com")
        .await
        .expect_err("a domain no one knows");
    assert_eq!(
        rdap.state().count_for("never-registered-xyz.com"),
        1,
        "404 is an answer, not a failure to retry: {err}"
    );
    assert!(
        whois.state().count_for("never-registered-xyz.com") <= 1,
        "{:?}",
        whois.state()
    );
}

#[tokio::test]
async fn server_errors_are_retried_limits_retries_times() {
    let (rdap, whois) = com_servers().await;
    rdap.script(
        "flaky.com",
        vec![
            Answer::Status(500),
            Answer::Status(503),
            Answer::dates("2025-01-01", "2025-01-02"),
        ],
    );
    rdap.answer("down.com", Answer::Status(500));
    let r = resolver_on(&rdap, &whois, |cfg| {
        cfg.limits.retries = 2;
    });

    let reg = r.lookup("flaky.com").await.expect("third attempt succeeds");
    assert_eq!(reg.created, ts("2025-01-01T00:00:00Z"));
    let statuses: Vec<_> = rdap
        .state()
        .for_domain("flaky.com")
        .iter()
        .map(|q| q.status)
        .collect();
    assert_eq!(statuses, [Some(500), Some(503), Some(200)]);

    let err = r.lookup("down.com").await.expect_err("always 500");
    assert_eq!(
        rdap.state().count_for("down.com"),
        3,
        "1 attempt + 2 retries: {err}"
    );
}

#[tokio::test]
async fn garbage_answers_are_errors_not_crashes() {
    let rdap = FakeRdap::start(&["com", "de"]).await;
    let whois = FakeWhois::start().await;
    // RDAP garbage, WHOIS garbage: unknown.
    rdap.answer("junk.com", Answer::Garbage);
    whois.answer("junk.com", WhoisAnswer::garbage());
    // RDAP JSON that is not a domain, WHOIS says nothing at all.
    rdap.answer(
        "entity.com",
        Answer::Json(r#"{"objectClassName":"entity","handle":"X"}"#.into()),
    );
    whois.answer("entity.com", WhoisAnswer::Empty);
    // Truncated RDAP JSON, WHOIS text without a single date.
    rdap.answer(
        "cut.com",
        Answer::Json(r#"{"objectClassName":"domain","events":[{"eventAction":"registr"#.into()),
    );
    whois.answer(
        "cut.com",
        WhoisAnswer::text("Domain Name: CUT.COM\r\nCreated: yesterday-ish\r\nStatus: ???\r\n"),
    );
    // No RDAP for .xyz here; WHOIS garbage.
    whois.answer("noise.xyz", WhoisAnswer::garbage());
    // RDAP garbage for .de, but WHOIS has the real answer: the fallback still finds it.
    rdap.answer("google.de", Answer::Garbage);

    let r = resolver_on(&rdap, &whois, |_| {});
    let lookups = Lookups::new(r.clone(), cache(), None);
    for d in ["junk.com", "entity.com", "cut.com", "noise.xyz"] {
        let out = lookups.get(d).await;
        match &out.result {
            Err(e) => assert!(!e.is_empty(), "{d}: an empty error"),
            Ok(reg) => assert_eq!(
                dates_of(reg),
                (None, None, None),
                "{d}: dates read from garbage: {reg:?}"
            ),
        }
        assert!(!out.cached, "{d}");
    }
    let reg = r
        .lookup("google.de")
        .await
        .expect("WHOIS after RDAP garbage");
    assert_eq!(reg.updated, ts("2018-03-12T21:44:25+01:00"), "{reg:?}");
    // Every one was asked of the servers (nothing skipped by a crash of the resolver).
    let s = rdap.state();
    for d in ["junk.com", "entity.com", "cut.com", "google.de"] {
        assert!(s.count_for(d) >= 1, "{d}: {s:?}");
    }
    let w = whois.state();
    for d in [
        "junk.com",
        "entity.com",
        "cut.com",
        "noise.xyz",
        "google.de",
    ] {
        assert!(w.count_for(d) >= 1, "{d}: {w:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limits and Retry-After

/// 30 distinct .com domains at once (standing for a burst of 1,000: the bucket's behaviour does
/// not depend on the length of the burst) with `per_server_per_second = 5`: the fake server sees
/// at most 5 requests in any 1-second window, +1 for bucket edges (arrival times are measured at
/// the server, after the network). Real time, not `tokio::time::pause()`: governor keeps its own
/// clock (quanta) and waits on `futures-timer`, neither of which paused tokio time controls (and
/// the workspace's tokio has no `test-util`), so a paused-time variant would measure nothing.
#[tokio::test]
async fn burst_reaches_the_server_at_the_per_server_rate() {
    const N: usize = 30;
    let (rdap, whois) = com_servers().await;
    rdap.set_default(Answer::dates("2024-01-01", "2024-02-01"));
    let r = resolver_on(&rdap, &whois, |cfg| {
        cfg.limits.per_server_per_second = 5;
        cfg.limits.max_concurrent = 64;
    });
    let lookups = Arc::new(Lookups::new(r, cache(), None));

    let tasks = burst((0..N).map(|i| format!("burst-{i:04}.com")), |d| {
        let lookups = lookups.clone();
        async move { lookups.get(&d).await }
    });
    for out in finished(tasks, "burst lookup finished").await {
        assert!(out.result.is_ok(), "{:?}", out.result);
    }

    let s = rdap.state();
    assert_eq!(s.domain_requests().len(), N, "each domain asked once");
    let per_1s = s.max_in_window(Duration::from_secs(1));
    let per_2s = s.max_in_window(Duration::from_secs(2));
    let times = s.domain_times();
    let first = times[0];
    let offsets: Vec<u128> = times
        .iter()
        .map(|t| t.duration_since(first).as_millis())
        .collect();
    assert!(
        per_1s <= 5 + 1,
        "{per_1s} requests within one second (quota 5/s); arrivals (ms): {offsets:?}"
    );
    assert!(
        per_2s <= 10 + 1,
        "{per_2s} requests within two seconds (quota 5/s); arrivals (ms): {offsets:?}"
    );
    assert!(whois.state().queries.is_empty());
}

/// The WHOIS server has its bucket too: 12 .de domains (no RDAP for .de here) at
/// `per_server_per_second = 5` reach the fake WHOIS server at most 5 (+1) per second.
#[tokio::test]
async fn whois_queries_are_rate_limited_per_server() {
    const N: usize = 12;
    let (rdap, whois) = com_servers().await; // no fixtures for these: "No match"
    let r = resolver_on(&rdap, &whois, |cfg| {
        cfg.limits.per_server_per_second = 5;
    });
    let tasks = burst((0..N).map(|i| format!("burst-{i:02}.de")), |d| {
        let r = r.clone();
        async move { r.lookup(&d).await }
    });
    for res in finished(tasks, "finished").await {
        assert!(res.is_err(), "{res:?}");
    }
    let s = whois.state();
    assert_eq!(s.queries.len(), N, "each domain asked once: {s:?}");
    let per_1s = s.max_in_window(Duration::from_secs(1));
    assert!(per_1s <= 5 + 1, "{per_1s} WHOIS queries within one second");
}

/// A burst for one server waits at that server's pace; a lookup for another TLD on another
/// server is not queued behind it (documented in `[enrich.limits]`: "A slow or dead server only
/// delays the lookups for its own TLDs"; resolver.rs: "a burst for one TLD ... never delays
/// other TLDs"). The other lookup must finish while the burst server has taken at most a few
/// more requests (2 at 5/s = 400 ms), where queueing behind the burst would take 30.
#[tokio::test]
async fn burst_for_one_server_does_not_delay_another_tld() {
    const N: usize = 40;
    let busy = FakeRdap::start(&["com"]).await;
    busy.set_default(Answer::dates("2024-01-01", "2024-02-01"));
    let other = FakeRdap::start(&["net"]).await;
    other.set_default(Answer::dates("2024-03-01", "2024-04-01"));
    let whois = FakeWhois::start().await;
    let mut cfg = config(&whois);
    cfg.limits.per_server_per_second = 5;
    // The default cap (16) is far below the burst.
    assert_eq!(cfg.limits.max_concurrent, 16);
    let boot = bootstrap_json(&[(&["com"], &busy.base_url()), (&["net"], &other.base_url())]);
    let r = resolver(cfg, &boot);
    let tasks = burst((0..N).map(|i| format!("burst-{i:04}.com")), |d| {
        let r = r.clone();
        async move { r.lookup(&d).await }
    });
    // The burst is under way.
    busy.wait_for_domain_requests(2, T).await.unwrap();
    let before = busy.state().domain_requests().len();
    let reg = tokio::time::timeout(T, r.lookup("elsewhere.net"))
        .await
        .expect("the .net lookup finished")
        .expect("the .net lookup succeeded");
    assert_eq!(reg.created, ts("2024-03-01T00:00:00Z"));
    let after = busy.state().domain_requests().len();
    assert!(
        after - before <= 3,
        "the .net lookup waited for {} requests of the .com burst ({before} → {after} of {N})",
        after - before
    );
    for t in tasks {
        t.abort();
    }
}

/// 429 with `Retry-After: 1`: the retry arrives at least 1 s after the 429 (measured at the
/// server) and its answer is the result.
#[tokio::test]
async fn retry_after_is_obeyed() {
    let (rdap, whois) = com_servers().await;
    rdap.script(
        "busy.com",
        vec![
            Answer::TooMany(1),
            Answer::dates("2025-05-05T05:05:05Z", "2025-05-06T06:06:06Z"),
        ],
    );
    let r = resolver_on(&rdap, &whois, |_| {});
    let reg = r.lookup("busy.com").await.expect("succeeds after the 429");
    assert_eq!(reg.updated, ts("2025-05-06T06:06:06Z"));
    let s = rdap.state();
    let reqs = s.for_domain("busy.com");
    assert_eq!(reqs.len(), 2, "{s:?}");
    assert_eq!(reqs[0].status, Some(429));
    assert_eq!(reqs[1].status, Some(200));
    let gap = reqs[1].at.duration_since(reqs[0].at);
    assert!(
        gap >= Duration::from_secs(1),
        "retried {gap:?} after a 429 with Retry-After: 1"
    );
    assert!(whois.state().queries.is_empty());
}

/// `Retry-After: 3600` is capped by `limits.max_retry_after` (1 s here): the retry comes after
/// about a second, not an hour (measured at the server).
#[tokio::test]
async fn retry_after_is_capped_by_max_retry_after() {
    let (rdap, whois) = com_servers().await;
    rdap.script(
        "slowpoke.com",
        vec![
            Answer::TooMany(3600),
            Answer::dates("2025-01-01", "2025-01-01"),
        ],
    );
    let r = resolver_on(&rdap, &whois, |cfg| {
        cfg.limits.max_retry_after = Duration::from_secs(1);
    });
    let reg = tokio::time::timeout(T, r.lookup("slowpoke.com"))
        .await
        .expect("Retry-After: 3600 was not capped")
        .expect("succeeds after the 429");
    assert_eq!(reg.created, ts("2025-01-01T00:00:00Z"));
    let s = rdap.state();
    let reqs = s.for_domain("slowpoke.com");
    assert_eq!(reqs.len(), 2);
    let gap = reqs[1].at.duration_since(reqs[0].at);
    assert!(gap >= Duration::from_secs(1), "{gap:?}");
    assert!(gap < T, "{gap:?}");
}

// ---------------------------------------------------------------------------------------------
// Dead servers

/// An RDAP server that accepts and never answers costs one timeout: the lookup ends in an error
/// (WHOIS, silent too, also times out), and lookups for another TLD on another server complete
/// while it is still pending.
#[tokio::test]
async fn dead_server_times_out_and_other_tlds_keep_working() {
    let whois = FakeWhois::start().await;
    whois.answer("stuck.com", WhoisAnswer::Silence);
    let (dead, live, r) = dead_com_live_net(&whois, |cfg| {
        cfg.limits.read_timeout = Duration::from_secs(3);
    })
    .await;

    let stuck = {
        let r = r.clone();
        tokio::spawn(async move { r.lookup("stuck.com").await })
    };
    dead.wait_for_requests_for("stuck.com", 1, T).await.unwrap();
    for i in 0..3 {
        let d = format!("alive-{i}.net");
        let reg = tokio::time::timeout(T, r.lookup(&d))
            .await
            .expect("a .net lookup finished")
            .expect("a .net lookup succeeded");
        assert_eq!(reg.created, ts("2024-03-01T00:00:00Z"), "{d}");
    }
    assert!(
        !stuck.is_finished(),
        "the dead server's lookup ended before the others (timeout too short for this machine?)"
    );
    assert_eq!(dead.state().for_domain("stuck.com")[0].status, None);

    let result = tokio::time::timeout(T, stuck)
        .await
        .expect("the lookup on a dead server timed out")
        .unwrap();
    let err = result.expect_err("no answer anywhere");
    assert!(err.to_string().contains("timed out"), "{err}");
    assert_eq!(live.state().domain_requests().len(), 3);
}

/// More lookups for a dead server than `max_concurrent` allows in flight: lookups for another TLD
/// still complete while they are pending ("A slow or dead server only delays the lookups for
/// its own TLDs", `[enrich.limits]`).
#[tokio::test]
async fn many_lookups_on_a_dead_server_do_not_block_other_tlds() {
    let whois = FakeWhois::start().await;
    whois.set_default(WhoisAnswer::Silence);
    let (dead, _live, r) = dead_com_live_net(&whois, |cfg| {
        cfg.limits.read_timeout = Duration::from_secs(5);
        cfg.limits.max_concurrent = 4;
        cfg.limits.per_server_per_second = 50;
    })
    .await;

    let stuck: Vec<_> = (0..8)
        .map(|i| {
            let r = r.clone();
            tokio::spawn(async move { r.lookup(&format!("stuck-{i}.com")).await })
        })
        .collect();
    dead.wait_for_domain_requests(4, T).await.unwrap();
    let t0 = Instant::now();
    let reg = tokio::time::timeout(T, r.lookup("alive.net"))
        .await
        .expect("the .net lookup finished")
        .expect("the .net lookup succeeded");
    assert_eq!(reg.created, ts("2024-03-01T00:00:00Z"));
    let pending = stuck.iter().filter(|t| !t.is_finished()).count();
    assert_eq!(
        pending,
        8,
        "the .net lookup waited {:?}, until dead-server lookups timed out",
        t0.elapsed()
    );
    for t in stuck {
        t.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Cache

#[tokio::test]
async fn repeat_get_is_answered_from_the_cache() {
    let (rdap, whois) = com_servers().await;
    rdap.answer("1989shack.com", Answer::verisign());
    let lookups = Lookups::new(resolver_on(&rdap, &whois, |_| {}), cache(), None);
    let first = lookups.get("1989shack.com").await;
    assert!(!first.cached);
    let reg = first.result.clone().expect("lookup");
    assert_eq!(reg.created, ts("2024-11-22T18:01:08Z"));
    let second = lookups.get("1989shack.com").await;
    assert!(second.cached, "{second:?}");
    assert_eq!(second.result, first.result);
    assert_eq!(rdap.state().count_for("1989shack.com"), 1);
    let st = lookups.stats();
    assert_eq!(st.lookups.load(Relaxed), 1);
    assert_eq!(st.cache_hits.load(Relaxed), 1);
}

#[tokio::test]
async fn failures_are_cached_for_negative_ttl() {
    let (rdap, whois) = com_servers().await; // 404; No match
    let lookups = Lookups::new(resolver_on(&rdap, &whois, |_| {}), cache(), None);
    let first = lookups.get("ghost.com").await;
    assert!(first.result.is_err(), "{first:?}");
    let rdap_asked = rdap.state().count_for("ghost.com");
    let whois_asked = whois.state().count_for("ghost.com");
    let second = lookups.get("ghost.com").await;
    assert!(second.cached, "{second:?}");
    assert_eq!(second.result, first.result);
    assert_eq!(rdap.state().count_for("ghost.com"), rdap_asked);
    assert_eq!(whois.state().count_for("ghost.com"), whois_asked);
}

#[tokio::test]
async fn zero_ttl_asks_again() {
    let (rdap, whois) = com_servers().await;
    rdap.set_default(Answer::dates("2024-01-01", "2024-02-01"));
    let lookups = Lookups::new(
        resolver_on(&rdap, &whois, |_| {}),
        CacheConfig {
            ttl: Duration::ZERO,
            ..cache()
        },
        None,
    );
    assert!(!lookups.get("again.com").await.cached);
    assert!(!lookups.get("again.com").await.cached);
    assert_eq!(rdap.state().count_for("again.com"), 2);
}

/// 50 concurrent `get`s of one domain: exactly one request at the server, and all 50 get its
/// answer. The server holds the answer until every `get` has joined (the `coalesced` counter
/// reaches 49), so the test does not depend on timing.
#[tokio::test]
async fn concurrent_gets_coalesce_into_one_request() {
    let (rdap, whois) = com_servers().await;
    rdap.answer(
        "popular.com",
        Answer::gated(Answer::dates("2025-02-02", "2025-02-03")),
    );
    let lookups = Arc::new(Lookups::new(
        resolver_on(&rdap, &whois, |_| {}),
        cache(),
        None,
    ));
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let lookups = lookups.clone();
            tokio::spawn(async move { lookups.get("popular.com").await })
        })
        .collect();
    rdap.wait_for_requests_for("popular.com", 1, T)
        .await
        .unwrap();
    {
        let lookups = lookups.clone();
        wait_until("49 coalesced gets", T, move || {
            lookups.stats().coalesced.load(Relaxed) >= 49
        })
        .await;
    }
    rdap.open_gate();
    for t in tasks {
        let out = tokio::time::timeout(T, t)
            .await
            .expect("get finished")
            .unwrap();
        let reg = out.result.expect("the shared answer");
        assert_eq!(reg.created, ts("2025-02-02T00:00:00Z"));
    }
    assert_eq!(rdap.state().count_for("popular.com"), 1);
    assert_eq!(lookups.stats().lookups.load(Relaxed), 1);
    assert_eq!(lookups.stats().coalesced.load(Relaxed), 49);
    assert!(whois.state().queries.is_empty());
}

/// A second `Lookups` on the same store answers from it without a request; so does one on the
/// store reopened from its file (a restart).
#[tokio::test]
async fn results_persist_in_the_store() {
    use certhound_actors::store::Store;

    let dir = tempfile::tempdir().unwrap();
    let store_cfg = StoreConfig {
        path: dir
            .path()
            .join("certhound.redb")
            .to_str()
            .unwrap()
            .to_string(),
        ..Default::default()
    };
    let (rdap, whois) = com_servers().await; // "ghost.com": no match
    rdap.answer("1989shack.com", Answer::verisign());
    let r = resolver_on(&rdap, &whois, |_| {});

    let store = Store::redb(&store_cfg).expect("open store");
    let first = Lookups::new(r.clone(), cache(), Some(store.clone()));
    let reg = first.get("1989shack.com").await.result.expect("lookup");
    assert!(first.get("ghost.com").await.result.is_err());
    drop(first);
    assert_eq!(rdap.state().domain_requests().len(), 2);

    let second = Lookups::new(r.clone(), cache(), Some(store.clone()));
    let out = second.get("1989shack.com").await;
    assert!(out.cached, "{out:?}");
    assert_eq!(out.result, Ok(reg.clone()));
    assert!(second.get("ghost.com").await.cached, "the failure too");
    assert_eq!(second.stats().lookups.load(Relaxed), 0);
    drop(second);
    drop(store);

    let reopened = Store::redb(&store_cfg).expect("reopen store");
    let third = Lookups::new(r, cache(), Some(reopened));
    let out = third.get("1989shack.com").await;
    assert!(out.cached, "{out:?}");
    assert_eq!(out.result, Ok(reg));
    assert_eq!(
        rdap.state().domain_requests().len(),
        2,
        "no new request after the store was reopened"
    );
    let whois_queries = whois.state().count_for("ghost.com");
    assert!(third.get("ghost.com").await.cached);
    assert_eq!(whois.state().count_for("ghost.com"), whois_queries);
}
