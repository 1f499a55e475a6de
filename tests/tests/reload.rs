//! Hot reload (`supervisor/src/roles/reload.rs`) of the matcher rules, the rate limits and the log
//! filter, end to end: `certhound watch` on a loopback certstream feed whose script stops at a
//! `Gate` while the test changes the config file, then lets the next certificates through once
//! certhound said what it did with the change. The limits are measured where they act: at the
//! loopback RDAP and urlscan servers. Every wait is on a log event, a finding or a request seen
//! by a fake, never on time.
//!
//! The rules are `keywords = ["paypal"]` with the single suspicious word `login`: a name with
//! one suspicious word and no brand (`zzqbrand-login.example` before the reload) is no finding
//! under any sane scoring, one with a brand and that word (`paypal-login.example`) is one. The
//! engine is being replaced concurrently: nothing here depends on scores.

use certhound_tests::observed::Observed;
use std::path::{Path, PathBuf};
use std::time::Duration;

use certhound_tests::messages::lite;
use certhound_tests::output::{event_field, event_str, event_u64, registrable_domain};
use certhound_tests::{timeouts, Certhound, CerthoundCommand, FakeCertstream, Step, TestConfig};
use serde_json::Value;

const BRAND: &str = "zzqbrand-login.example";
const PAYPAL: &str = "paypal-login.example";

const READY: &str = "config reloads on SIGHUP and on file changes";
const RELOADED: &str = "rules reloaded";
const REFUSED: &str = "config not reloaded";
const NEEDS_RESTART: &str = "changed keys need a restart to take effect";
const LIMITS: &str = "limits reloaded";

/// The config of every test: the feed, `paypal` as the only brand, `login` as the only
/// suspicious word.
fn config(server: &FakeCertstream) -> TestConfig {
    let mut c = TestConfig::with_feed(&server.url());
    c.set("matcher", "keywords", r#"["paypal"]"#);
    c.set("matcher", "suspicious_words", r#"["login"]"#);
    c
}

/// The config file's text, padded with a comment so that a rewrite of the same length fits.
fn padded(c: &TestConfig) -> String {
    format!("{}# {}\n", c.render(), "-".repeat(300))
}

/// Starts `certhound watch` with `text` as its config file (and `env`), and waits until it
/// handles SIGHUP (before that, SIGHUP would end the process).
async fn start(c: &TestConfig, text: String, env: &[(&str, &str)]) -> Certhound {
    let mut cmd = CerthoundCommand::new().test_config(c).config(text);
    for (k, v) in env {
        cmd = cmd.env(*k, *v);
    }
    let mut certhound = cmd.arg("watch").spawn();
    certhound.expect_event(READY, timeouts::EVENT).await;
    certhound
}

fn config_file(certhound: &Certhound) -> PathBuf {
    certhound.dir().join("certhound.toml")
}

/// Replaces the file as deployments do (write elsewhere, rename over): a new inode, size and
/// modification time, which the reload poll notices.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// Rewrites the file in place with `text` padded to the same length, then restores its
/// modification time: same inode, size and mtime, so the poll cannot see the change and only
/// SIGHUP can have reloaded it.
fn rewrite_unseen(path: &Path, text: &str) {
    use std::io::{Seek, Write};
    let meta = std::fs::metadata(path).unwrap();
    let len = meta.len() as usize;
    let mut new = text.to_string();
    assert!(new.len() + 2 <= len, "the original file is padded for this");
    new.push('#');
    new.push_str(&"-".repeat(len - new.len() - 1));
    new.push('\n');
    assert_eq!(new.len(), len);
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(std::io::SeekFrom::Start(0)).unwrap();
    f.write_all(new.as_bytes()).unwrap();
    f.set_modified(meta.modified().unwrap()).unwrap();
    f.sync_all().unwrap();
    drop(f);
    let after = std::fs::metadata(path).unwrap();
    assert_eq!(after.len(), meta.len());
    assert_eq!(after.modified().unwrap(), meta.modified().unwrap());
}

/// Writes `config` over the running certhound's file unseen by the poll, sends SIGHUP and
/// returns the first `event` it logs after that.
async fn sighup_with(certhound: &mut Certhound, config: &TestConfig, event: &str) -> Value {
    rewrite_unseen(&config_file(certhound), &config.render());
    certhound.send_signal(libc::SIGHUP);
    certhound.expect_event(event, timeouts::EVENT).await
}

/// Findings for `domain` on stdout so far.
fn findings_for(certhound: &mut Certhound, domain: &str) -> Vec<Value> {
    certhound
        .findings()
        .into_iter()
        .filter(|f| registrable_domain(f) == domain)
        .collect()
}

/// SIGTERM, exit 0, and the `metrics` event logged at exit.
async fn stop(certhound: &mut Certhound) -> Value {
    let describe = certhound.stop_cleanly("after SIGTERM").await;
    certhound
        .events("metrics")
        .into_iter()
        .find(|e| event_field(e, "last").and_then(Value::as_bool) == Some(true))
        .unwrap_or_else(|| panic!("no last metrics event\n{describe}"))
}

fn field(e: &Value, name: &str) -> String {
    event_str(e, name).unwrap_or_default()
}

/// The part shared by the SIGHUP and the file-change test: a certificate for the new brand is
/// no finding, the config gains the brand, `change` makes certhound reload it, and a fresh
/// certificate for the same name is exactly one finding, in the same process, with nothing lost.
async fn new_keyword_matches(via_sighup: bool) {
    let server = FakeCertstream::start(vec![
        Step::text(lite(&[BRAND], 1)),
        Step::text(lite(&[PAYPAL], 2)),
        Step::Gate,
        Step::text(lite(&[BRAND], 3)),
    ])
    .await;
    let c = config(&server);
    // An override of a key outside [matcher]: a reload that forgot the environment would see
    // it as a change needing a restart.
    let env = [("CERTHOUND_DEDUPE__WINDOW", "7h")];
    let mut certhound = start(&c, padded(&c), &env).await;
    let pid = certhound.pid();

    // In order: once the paypal finding is out, the brand's certificate before it was matched.
    certhound.expect_findings(&[PAYPAL], timeouts::EVENT).await;
    assert!(
        findings_for(&mut certhound, BRAND).is_empty(),
        "{}",
        certhound.describe("no finding before the reload")
    );

    let mut changed = c.clone();
    changed.set("matcher", "keywords", r#"["paypal", "zzqbrand"]"#);
    let path = config_file(&certhound);
    let trigger = if via_sighup {
        rewrite_unseen(&path, &changed.render());
        certhound.send_signal(libc::SIGHUP);
        "SIGHUP"
    } else {
        replace(&path, &changed.render());
        "config file changed"
    };
    let r = &certhound.expect_event(RELOADED, timeouts::EVENT).await;
    assert_eq!(field(r, "trigger"), trigger, "{r}");
    assert_eq!(field(r, "changed"), "matcher.keywords", "{r}");
    assert_eq!(event_u64(r, "keywords"), Some(2), "{r}");
    assert!(event_field(r, "threshold").is_some(), "{r}");

    server.release();
    certhound.expect_findings(&[BRAND], timeouts::EVENT).await;
    assert_eq!(certhound.pid(), pid, "never restarted");
    let last = stop(&mut certhound).await;
    let describe = certhound.describe("after the reload");

    let brand = findings_for(&mut certhound, BRAND);
    assert_eq!(
        brand.len(),
        1,
        "exactly one finding: {brand:#?}\n{describe}"
    );
    assert_eq!(brand[0]["cert"]["cert_index"], 3, "the fresh certificate");
    assert_eq!(certhound.findings().len(), 2, "{describe}");
    assert_eq!(
        event_u64(&last, "certificates"),
        Some(3),
        "nothing lost: {last}"
    );
    for (key, want) in [
        ("shed_messages", 0),
        ("rules_reloads", 1),
        ("rules_reload_errors", 0),
        ("restarts", 0),
    ] {
        assert_eq!(event_u64(&last, key), Some(want), "{last}");
    }
    assert_eq!(certhound.events("store opened").len(), 1, "{describe}");
    assert!(certhound.events(NEEDS_RESTART).is_empty(), "{describe}");
    assert_eq!(certhound.events(RELOADED).len(), 1, "{describe}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_keyword_matches_after_sighup_without_a_restart() {
    new_keyword_matches(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_keyword_matches_after_the_config_file_changes() {
    new_keyword_matches(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_reload_keeps_the_rules_in_use() {
    let server = FakeCertstream::start(vec![
        Step::Gate,
        Step::text(lite(&[BRAND], 1)),
        Step::text(lite(&[PAYPAL], 2)),
    ])
    .await;
    let c = config(&server);
    let mut certhound = start(&c, padded(&c), &[]).await;

    // A new brand instead of paypal, and a threshold that is not valid: none of it applies.
    let mut bad = c.clone();
    bad.set("matcher", "keywords", r#"["zzqbrand"]"#);
    bad.set("matcher", "threshold", "-1.0");
    let refused = sighup_with(&mut certhound, &bad, REFUSED).await;
    let r = &refused;
    assert_eq!(field(r, "key"), "matcher.threshold", "{r}");
    assert!(field(r, "error").contains("matcher.threshold"), "{r}");
    assert_eq!(r["level"], "ERROR", "{r}");

    server.release();
    certhound.expect_findings(&[PAYPAL], timeouts::EVENT).await;
    let last = stop(&mut certhound).await;
    let describe = certhound.describe("after the refused reload");
    assert!(findings_for(&mut certhound, BRAND).is_empty(), "{describe}");
    assert_eq!(certhound.findings().len(), 1, "{describe}");
    assert_eq!(event_u64(&last, "rules_reload_errors"), Some(1), "{last}");
    assert_eq!(event_u64(&last, "rules_reloads"), Some(0), "{last}");
    assert_eq!(event_u64(&last, "certificates"), Some(2), "{last}");
    assert!(certhound.events(RELOADED).is_empty(), "{describe}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_file_is_refused_and_its_fix_picked_up() {
    let server = FakeCertstream::start(vec![Step::Gate, Step::text(lite(&[BRAND], 1))]).await;
    let c = config(&server);
    let mut certhound = start(&c, c.render(), &[]).await;
    let path = config_file(&certhound);

    // Half an edit: not TOML.
    replace(&path, &format!("{}[matcher\nkeywords = [", c.render()));
    let r = &certhound.expect_event(REFUSED, timeouts::EVENT).await;
    assert_eq!(field(r, "trigger"), "config file changed", "{r}");
    assert!(field(r, "error").contains("not valid TOML"), "{r}");

    let mut fixed = c.clone();
    fixed.set("matcher", "keywords", r#"["paypal", "zzqbrand"]"#);
    replace(&path, &fixed.render());
    certhound.expect_event(RELOADED, timeouts::EVENT).await;
    server.release();
    certhound.expect_findings(&[BRAND], timeouts::EVENT).await;
    let last = stop(&mut certhound).await;
    assert_eq!(event_u64(&last, "rules_reload_errors"), Some(1), "{last}");
    assert_eq!(event_u64(&last, "rules_reloads"), Some(1), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_key_outside_matcher_needs_a_restart() {
    let server = FakeCertstream::start(vec![]).await;
    let c = config(&server);
    let mut certhound = start(&c, c.render(), &[]).await;

    let mut changed = c.clone();
    changed.set_str("dedupe", "window", "3h");
    changed.set_str("watch", "ping_interval", "7s");
    replace(&config_file(&certhound), &changed.render());
    let w = &certhound.expect_event(NEEDS_RESTART, timeouts::EVENT).await;
    assert_eq!(w["level"], "WARN", "{w}");
    assert_eq!(
        field(w, "keys"),
        "dedupe.window, watch.ping_interval",
        "{w}"
    );
    // The rules are rebuilt all the same (nothing of them changed).
    let reloaded = certhound.expect_event(RELOADED, timeouts::EVENT).await;
    assert_eq!(field(&reloaded, "changed"), "none", "{}", reloaded);
    stop(&mut certhound).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_allowlist_file_triggers_a_reload() {
    let server = FakeCertstream::start(vec![]).await;
    let mut c = config(&server);
    let allow = c.path("allowlist.txt");
    std::fs::write(&allow, "# extra allowlisted registrable domains\n").unwrap();
    c.set_str("matcher", "allowlist_file", allow.to_str().unwrap());
    let mut certhound = start(&c, c.render(), &[]).await;

    replace(
        &allow,
        "# extra allowlisted registrable domains\nzzqbrand-login.example\n",
    );
    let r = &certhound.expect_event(RELOADED, timeouts::EVENT).await;
    assert_eq!(field(r, "trigger"), "allowlist file changed", "{r}");
    assert_eq!(field(r, "changed"), "none", "{r}");
    stop(&mut certhound).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_without_a_config_file_rebuilds_from_defaults_and_environment() {
    let server = FakeCertstream::start(vec![]).await;
    let store = tempfile::tempdir().unwrap();
    let store_path = store.path().join("certhound.redb");
    let url = server.url();
    let mut certhound = CerthoundCommand::new()
        .env("CERTHOUND_WATCH__FEED_URL", url.as_str())
        .env("CERTHOUND_STORE__PATH", store_path.to_str().unwrap())
        .env("CERTHOUND_NOTIFY__JSONL__PATH", "-")
        .env("CERTHOUND_ENRICH__ENABLED", "false")
        .env("CERTHOUND_LOG__FORMAT", "json")
        .env("CERTHOUND_MATCHER__KEYWORDS", r#"["paypal", "zzqbrand"]"#)
        .arg("watch")
        .spawn();
    let ready = certhound.expect_event(READY, timeouts::EVENT).await;
    assert_eq!(field(&ready, "config"), "embedded defaults", "{}", ready);
    certhound.send_signal(libc::SIGHUP);
    let r = &certhound.expect_event(RELOADED, timeouts::EVENT).await;
    assert_eq!(field(r, "trigger"), "SIGHUP", "{r}");
    assert_eq!(field(r, "changed"), "none", "{r}");
    assert_eq!(
        event_u64(r, "keywords"),
        Some(2),
        "the override applies: {r}"
    );
    let last = stop(&mut certhound).await;
    assert_eq!(event_u64(&last, "rules_reloads"), Some(1), "{last}");
}

/// `log.filter` changes live too: from `info` to `debug` on SIGHUP (a debug event then shows),
/// an invalid filter is refused with its key and changes nothing; both counted in
/// `certhound_config_reloads_total{result}`. `check-config` names the reloadable keys.
#[tokio::test]
async fn log_filter_changes_live_and_a_bad_one_is_refused() {
    let server = FakeCertstream::start(vec![Step::text(lite(&[PAYPAL], 1))]).await;
    let mut c = config(&server);
    c.admin();
    let mut certhound = start(&c, padded(&c), &[]).await;
    let admin = certhound_tests::admin::address(&mut certhound).await;
    certhound.expect_findings(&[PAYPAL], timeouts::EVENT).await;
    let path = config_file(&certhound);

    let mut debug = c.clone();
    debug.set_str("log", "filter", "info,certhound=debug");
    let changed = sighup_with(&mut certhound, &debug, "log filter changed").await;
    assert_eq!(field(&changed, "filter"), "info,certhound=debug");
    assert!(
        certhound.events(NEEDS_RESTART).is_empty(),
        "log.filter is no restart key: {:?}",
        certhound.events(NEEDS_RESTART)
    );

    let mut bad = c.clone();
    bad.set_str("log", "filter", "certhound=loud");
    replace(&path, &bad.render());
    let refused = certhound.expect_event(REFUSED, timeouts::EVENT).await;
    assert_eq!(field(&refused, "key"), "log.filter", "{}", refused);
    let s = certhound_tests::admin::scrape(admin).await;
    assert_eq!(
        s.value("certhound_config_reloads_total", &[("result", "applied")]),
        Some(1.0),
        "{}",
        s.text
    );
    assert_eq!(
        s.value("certhound_config_reloads_total", &[("result", "refused")]),
        Some(1.0)
    );
    stop(&mut certhound).await;
    // The debug filter stayed in force after the refused reload: the reload loop's debug line
    // at shutdown is logged.
    assert_eq!(
        certhound.events("config reload stopped").len(),
        1,
        "{}",
        certhound.describe("debug filter")
    );

    let out = CerthoundCommand::new()
        .arg("check-config")
        .run(timeouts::EXIT)
        .await;
    assert_eq!(out.code(), Some(0));
    let text = out.stdout_text();
    assert!(
        text.contains(
            "# Reloadable without a restart (SIGHUP, or a change of the config file): matcher.*"
        ),
        "{text}"
    );
    assert!(text.contains("log.filter"), "{text}");
    assert!(text.contains("urlscan.max_wait"), "{text}");
    assert!(
        text.contains("enrich.limits.per_server_per_second"),
        "{text}"
    );
    toml::from_str::<toml::Table>(&text).expect("still a TOML file");
}

/// An RDAP rate raised on SIGHUP is felt at the registry within a second: at 1 request a
/// second (burst 1) lookups queue behind the rate; after the reload to 1,000 a second, the
/// loopback RDAP server sees at least five requests within the second after the signal, which
/// the old rate cannot produce. Every finding is delivered once, nothing restarts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raised_rdap_rate_applies_within_a_second_of_sighup() {
    use certhound_tests::rdap_server::{days_ago, max_in_window, Answer, FakeRdap};
    let rdap = FakeRdap::start(&["com"]).await;
    rdap.set_default(Answer::dates(&days_ago(2), &days_ago(2)));
    let domains: Vec<String> = (0..24)
        .map(|i| format!("paypal-login-rate{i}.com"))
        .collect();
    let server = FakeCertstream::start(
        domains
            .iter()
            .enumerate()
            .map(|(i, d)| Step::text(lite(&[d.as_str()], i as u64 + 1)))
            .collect(),
    )
    .await;
    let mut c = config(&server);
    c.enrich_with_rdap(&rdap.bootstrap_url());
    c.set("enrich.limits", "per_server_per_second", "1");
    let mut certhound = start(&c, padded(&c), &[]).await;
    let pid = certhound.pid();
    let seen = rdap
        .wait_for_domain_requests(3, timeouts::EVENT)
        .await
        .unwrap_or_else(|s| panic!("{} lookups", s.domain_requests().len()));
    assert_eq!(
        seen.max_in_window(Duration::from_millis(900)),
        1,
        "1 a second"
    );

    let mut raised = c.clone();
    raised.set("enrich.limits", "per_server_per_second", "1000");
    raised.set("enrich.limits", "per_server_concurrent", "16");
    rewrite_unseen(&config_file(&certhound), &raised.render());
    let before = rdap.state().domain_requests().len();
    let signalled = tokio::time::Instant::now();
    certhound.send_signal(libc::SIGHUP);
    let after = rdap
        .wait_for_domain_requests(before + 5, timeouts::EVENT)
        .await
        .unwrap_or_else(|s| panic!("{} lookups", s.domain_requests().len()));
    let within: Vec<_> = after
        .domain_times()
        .into_iter()
        .filter(|t| *t >= signalled && *t < signalled + Duration::from_secs(1))
        .collect();
    assert!(
        within.len() >= 5,
        "{} lookups in the second after SIGHUP: {:?}",
        within.len(),
        max_in_window(&after.domain_times(), Duration::from_secs(1))
    );
    let live = certhound.expect_event(LIMITS, timeouts::EVENT).await;
    assert_eq!(
        field(&live, "keys"),
        "enrich.limits.per_server_concurrent, enrich.limits.per_server_per_second",
        "{}",
        live
    );

    let wanted: Vec<&str> = domains.iter().map(String::as_str).collect();
    certhound.expect_findings(&wanted, timeouts::BULK).await;
    assert_eq!(certhound.pid(), pid, "never restarted");
    let last = stop(&mut certhound).await;
    let describe = certhound.describe("after the raised rate");
    assert_eq!(
        certhound.findings().len(),
        domains.len(),
        "each once: {describe}"
    );
    assert_eq!(event_u64(&last, "restarts"), Some(0), "{last}");
    assert_eq!(event_u64(&last, "rules_reloads"), Some(1), "{last}");
    assert!(certhound.events(NEEDS_RESTART).is_empty(), "{describe}");
}

/// A urlscan quota lowered on SIGHUP stops submissions at once and `max_wait` shortened with it
/// sends the waiting findings on without a scan, saying so; an invalid file before that changes
/// nothing (the old quota keeps scanning). Every finding reaches the webhook exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowered_urlscan_quota_applies_at_once_and_an_invalid_one_changes_nothing() {
    use certhound_tests::urlscan_server::{FakeUrlscan, API_KEY};
    use certhound_tests::FakeWebhook;
    /// Waits until `urlscan` has taken `n` submissions.
    async fn wait_for_submissions(urlscan: &FakeUrlscan, n: usize) {
        urlscan
            .wait_for_submissions(n, timeouts::EVENT)
            .await
            .unwrap_or_else(|s| panic!("{:?}", s.submission_statuses()));
    }
    let urlscan = FakeUrlscan::start().await;
    urlscan.set_limit_per_window(1000);
    let webhook = FakeWebhook::start().await;
    let name = |i: usize| format!("paypal-login-quota{i}.com");
    let mut steps = vec![
        Step::text(lite(&[name(0).as_str()], 1)),
        Step::text(lite(&[name(1).as_str()], 2)),
        Step::Gate,
        Step::text(lite(&[name(2).as_str()], 3)),
        Step::Gate,
    ];
    for i in 3..8 {
        steps.push(Step::text(lite(&[name(i).as_str()], i as u64 + 1)));
    }
    let server = FakeCertstream::start(steps).await;
    let mut c = config(&server);
    c.urlscan_at(&urlscan.base_url());
    c.set_str("urlscan", "api_key", API_KEY);
    c.set_str("notify.webhook", "url", &webhook.url());
    let mut certhound = start(&c, padded(&c), &[]).await;
    wait_for_submissions(&urlscan, 2).await;

    // Invalid: refused with its key, and the quota in force keeps scanning.
    let mut bad = c.clone();
    bad.set("urlscan", "per_minute", "0");
    let refused = sighup_with(&mut certhound, &bad, REFUSED).await;
    assert_eq!(field(&refused, "key"), "urlscan.per_minute", "{refused}");
    server.release();
    wait_for_submissions(&urlscan, 3).await;

    // One a minute with three spent this minute: none left; and a wait of 2 s at most.
    let mut lowered = c.clone();
    lowered.set("urlscan", "per_minute", "1");
    lowered.set_str("urlscan", "max_wait", "2s");
    let live = sighup_with(&mut certhound, &lowered, LIMITS).await;
    assert_eq!(
        field(&live, "keys"),
        "urlscan.max_wait, urlscan.per_minute",
        "{live}"
    );
    server.release();
    let sunk = webhook
        .wait_for_unique_keys(8, timeouts::BULK)
        .await
        .unwrap_or_else(|s| panic!("{} delivered", s.accepted_keys().len()));
    assert_eq!(
        urlscan.state().submissions().len(),
        3,
        "no submission after the lowering"
    );
    assert_eq!(sunk.repeated_accepted(), 0, "none delivered twice");
    for i in 0..8 {
        let got = sunk.for_domain(&name(i));
        let accepted: Vec<_> = got.iter().filter(|r| r.accepted()).collect();
        assert_eq!(accepted.len(), 1, "{}: {got:?}", name(i));
        let note = accepted[0].json["scan"]["note"]
            .as_str()
            .unwrap_or_default();
        if i < 3 {
            assert!(
                !note.starts_with("urlscan quota exhausted"),
                "{}",
                accepted[0].body
            );
        } else {
            assert!(
                note.starts_with("urlscan quota exhausted: not scanned within 2s"),
                "{}",
                accepted[0].body
            );
        }
    }
    let last = stop(&mut certhound).await;
    assert_eq!(event_u64(&last, "rules_reloads"), Some(1), "{last}");
    assert_eq!(event_u64(&last, "rules_reload_errors"), Some(1), "{last}");
    assert_eq!(event_u64(&last, "restarts"), Some(0), "{last}");
}
