//! The ECS stack (`deploy/ecs/certhound.yaml`) in moto, and what it promises on a redeploy.
//!
//! - `tests/deploy/check_stack.py` (boto3 and cfn-lint's template decoder, in the tests' venv)
//!   creates the stack in a moto server for both store backends and both layouts, reads the
//!   resources back and checks statically what moto does not model; it writes the task
//!   definitions moto rendered.
//! - A replaced task: certhound is started the way the `run` container would be (its
//!   environment and command from the rendered task definition, the store path on a directory
//!   standing in for the EFS volume), killed with SIGKILL while its findings wait for their
//!   scans, and a second "task" started on the same directory. The outbox (the waiting
//!   findings are delivered, each once per channel, their scans polled rather than submitted
//!   again), the dedupe window (a later certificate of a reported domain is no new finding)
//!   and the CT positions (the second task reads only the new entries) survive.
//! - High availability on DynamoDB: the tasks of slots a and b, started the way their `run`
//!   containers would be, share the table the stack made; each finding is alerted once per
//!   channel, whichever task stored it; slot a's task is replaced (a deploy) while slot b's
//!   goes on alone, and the new slot-a task comes back on its slot.
//!
//! What the container would reach on the internet is replaced by loopback fakes in a config
//! file under the environment: the CT log, urlscan, Telegram, and moto for SNS and Secrets
//! Manager. The admin and feed ports are made ephemeral so tests run side by side.

use certhound_tests::ct_log::{generated_entry, FakeCtLog, PathKind};
use certhound_tests::ct_server::{rfc6962_log, server_config};
use certhound_tests::moto::Moto;
use certhound_tests::observed::Observed;
use certhound_tests::telegram_server::{FakeTelegram, CHAT_ID, TOKEN};
use certhound_tests::urlscan_server::{FakeUrlscan, API_KEY};
use certhound_tests::{timeouts, Certhound, CerthoundCommand, TestConfig};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// The tests' venv python (moto brings boto3; `.ci/test` installs cfn-lint).
fn python() -> String {
    std::env::var("CERTSTREAM_PYTHON")
        .or_else(|_| std::env::var("DNSTWIST_PYTHON"))
        .unwrap_or_else(|_| {
            root()
                .join("target/ci-venv/bin/python")
                .display()
                .to_string()
        })
}

/// Runs the stack check against `moto`, leaving the run layout's stack of the `keep` backend;
/// returns the rendered task definitions: by layout for redb, and under `dynamodb` by slot, then
/// layout.
async fn check_stack(moto: &Moto, keep: &str) -> Value {
    let out = tempfile::tempdir().unwrap();
    let run = tokio::process::Command::new(python())
        .arg(root().join("tests/deploy/check_stack.py"))
        .arg("--template")
        .arg(root().join("deploy/ecs/certhound.yaml"))
        .arg("--endpoint")
        .arg(moto.endpoint())
        .arg("--out")
        .arg(out.path())
        .arg("--keep")
        .arg(keep)
        .output();
    let done = tokio::time::timeout(timeouts::BULK, run)
        .await
        .expect("check_stack.py finishes")
        .expect("run python");
    assert!(
        done.status.success(),
        "check_stack.py failed ({}):\n{}\n{}",
        done.status,
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    let text = std::fs::read_to_string(out.path().join("task-definitions.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_is_created_in_moto_with_both_layouts() {
    let moto = Moto::start().await;
    let rendered = check_stack(&moto, "redb").await;
    let names = |containers: &Value| -> Vec<String> {
        containers
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&rendered["run"]), ["certhound"]);
    assert_eq!(names(&rendered["server-and-watch"]), ["server", "watch"]);
    for slot in ["a", "b"] {
        let slots = &rendered["dynamodb"][slot];
        assert_eq!(names(&slots["run"]), ["certhound"]);
        assert_eq!(names(&slots["server-and-watch"]), ["server", "watch"]);
        // Each process of the stack on its own slot: the watching one on the task's, a server
        // container beside it on one of its own.
        let slot_of = |c: &Value| {
            lookup(&environment(c), "CERTHOUND_STORE__DYNAMODB__SLOT").map(str::to_string)
        };
        assert_eq!(slot_of(&slots["run"][0]).as_deref(), Some(slot));
        assert_eq!(
            slot_of(&slots["server-and-watch"][0]),
            Some(format!("{slot}-server"))
        );
        assert_eq!(
            slot_of(&slots["server-and-watch"][1]).as_deref(),
            Some(slot)
        );
    }
    // The watch container reads the server container's feed on the task's loopback.
    let watch = &rendered["server-and-watch"][1];
    let env = environment(watch);
    assert_eq!(
        lookup(&env, "CERTHOUND_WATCH__FEED_URL"),
        Some("ws://127.0.0.1:4000/")
    );
    assert_eq!(watch["command"], serde_json::json!(["watch"]));
}

fn environment(container: &Value) -> Vec<(String, String)> {
    container["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn lookup<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// The `run` container's environment as this machine runs it: the store under `volume`
/// instead of the EFS mount `/data` (when it has one), the secrets' references by name (moto's
/// CloudFormation does not create secrets, so their Refs are left as written; the test creates
/// them as the runbook says), ephemeral ports.
fn task_environment(container: &Value, volume: &Path) -> Vec<(String, String)> {
    let mount = container["mountPoints"][0]["containerPath"].as_str();
    environment(container)
        .into_iter()
        .map(|(k, v)| {
            let v = match (k.as_str(), mount) {
                ("CERTHOUND_ADMIN__LISTEN" | "CERTHOUND_SERVER__LISTEN", _) => {
                    "127.0.0.1:0".to_string()
                }
                (_, Some(mount)) => {
                    v.replace(&format!("{mount}/"), &format!("{}/", volume.display()))
                }
                (_, None) => v,
            };
            let v = v
                .replace("${TelegramSecret}", "certhound/telegram")
                .replace("${UrlscanSecret}", "certhound/urlscan")
                .replace("${AdminSecret}", "certhound/admin");
            (k, v)
        })
        .collect()
}

/// The stack's three secrets with values, as the runbook's step 3 puts them (under the names
/// [`task_environment`] gives their references).
async fn create_secrets(moto: &Moto) {
    moto.create_secret(
        "certhound/telegram",
        &serde_json::json!({"token": TOKEN, "chat_id": CHAT_ID}),
    )
    .await;
    moto.create_secret(
        "certhound/urlscan",
        &serde_json::json!({"api_key": API_KEY}),
    )
    .await;
    moto.create_secret(
        "certhound/admin",
        &serde_json::json!({"token": "analyst-page-token-0123456789"}),
    )
    .await;
}

const FIRST: [&str; 3] = [
    "paypal-login-verify.xyz",
    "paypal-secure-signin.xyz",
    "paypal-account-verify.top",
];
const LATER: &str = "paypal-billing-update.xyz";

/// What the task's environment does not say, and a test must: where the CT log, AWS, Telegram
/// and urlscan are (the loopback fakes and moto), and debug logs for certhound.
fn outside_config(
    log: &FakeCtLog,
    moto: &Moto,
    telegram: &FakeTelegram,
    urlscan: &FakeUrlscan,
) -> TestConfig {
    let mut outside = server_config(&rfc6962_log(log));
    outside.set_str("log", "filter", "info,certhound=debug");
    outside.set_str("aws", "endpoint_url", &moto.endpoint());
    outside.set_str("notify.telegram", "api_base", &telegram.api_base());
    outside.urlscan_at(&urlscan.base_url());
    outside
}

fn start_task(
    container: &Value,
    env: &[(String, String)],
    outside: &TestConfig,
    moto: &Moto,
) -> Certhound {
    let mut cmd = CerthoundCommand::new().test_config(outside);
    for (k, v) in env.iter().cloned().chain(moto.env()) {
        cmd = cmd.env(k, v);
    }
    for a in container["command"].as_array().unwrap() {
        cmd = cmd.arg(a.as_str().unwrap());
    }
    cmd.spawn()
}

/// The `start` of each get-entries request from the `skip`-th request on.
fn entry_starts(log: &FakeCtLog, skip: usize) -> Vec<u64> {
    log.state().requests[skip..]
        .iter()
        .filter(|r| r.kind == PathKind::GetEntries)
        .filter_map(|r| {
            r.path
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("start="))
                .and_then(|s| s.parse().ok())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_task_resumes_outbox_dedupe_and_positions_from_its_volume() {
    let moto = Moto::start().await;
    let rendered = check_stack(&moto, "redb").await;
    let container = &rendered["run"][0];
    assert_eq!(container["command"], serde_json::json!(["run"]));
    create_secrets(&moto).await;

    let mut entries: Vec<_> = (0..20)
        .map(|i| generated_entry(i, &[&format!("shop{i}.example.com")], false))
        .collect();
    for (i, d) in FIRST.iter().enumerate() {
        entries.push(generated_entry(20 + i as u64, &[d], i == 1));
    }
    let log = FakeCtLog::start(entries).await;
    let urlscan = FakeUrlscan::start().await;
    urlscan.ready_only_when_finished();
    let telegram = FakeTelegram::start().await;

    let mut outside = outside_config(&log, &moto, &telegram, &urlscan);
    outside.set_str("urlscan", "poll_timeout", "10m");
    let volume = tempfile::tempdir().unwrap();
    let env = task_environment(container, volume.path());
    assert_eq!(
        lookup(&env, "CERTHOUND_STORE__PATH").map(PathBuf::from),
        Some(volume.path().join("certhound.redb")),
        "the store is on the volume"
    );

    // Task 1: reads the log, matches, stores the findings and submits their scans; the scans
    // do not finish, so nothing is delivered yet. Killed once each scan is polled (so its uuid
    // is stored: a kill between a submission and that write would submit it again, which is
    // the stage's documented at-least-once edge, not what this test is about) and its CT
    // position is written.
    let mut first = start_task(container, &env, &outside, &moto);
    urlscan
        .wait_for(timeouts::BULK, |s| {
            let uuids = s.uuids();
            uuids.len() == 3 && uuids.iter().all(|u| !s.result_polls_for(u).is_empty())
        })
        .await
        .unwrap_or_else(|s| panic!("{:?}\n{}", s.submission_statuses(), first.describe("")));
    first
        .wait_for_events("CT positions written", 1, timeouts::EVENT, |e| {
            e["fields"]["entries"].as_u64() == Some(23)
        })
        .await
        .unwrap();
    first.send_signal(libc::SIGKILL);
    first.wait_exit(timeouts::EXIT).await;
    assert!(first.findings().is_empty(), "{}", first.describe("task 1"));
    assert!(telegram.state().text_messages().is_empty());
    assert!(moto.sent_notifications().await.is_empty());
    let requests_of_first = log.state().requests.len();

    // Meanwhile the log grows: a new phishing name, a later certificate of a reported
    // domain, a benign name.
    log.append(vec![
        generated_entry(23, &[LATER], false),
        generated_entry(24, &["www.paypal-login-verify.xyz"], false),
        generated_entry(25, &["shop25.example.com"], false),
    ]);
    urlscan.finish_all();

    // Task 2, the replacement, on the same volume.
    let mut second = start_task(container, &env, &outside, &moto);
    urlscan
        .wait_for_submissions(4, timeouts::BULK)
        .await
        .unwrap_or_else(|s| panic!("{:?}\n{}", s.submission_statuses(), second.describe("")));
    urlscan.finish_all();
    let mut all: Vec<&str> = FIRST.to_vec();
    all.push(LATER);
    second.expect_findings(&all, timeouts::BULK).await;
    let sent = telegram
        .wait_for(timeouts::BULK, |s| s.text_messages().len() >= 4)
        .await
        .unwrap_or_else(|s| panic!("{} telegram messages", s.text_messages().len()));
    let deadline = Instant::now() + timeouts::EVENT;
    let published = loop {
        let p = moto.sent_notifications().await;
        if p.len() >= 4 || Instant::now() > deadline {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let describe = second.stop_cleanly("task 2").await;

    // The outbox: every finding once per channel; the waiting scans were polled, not
    // submitted again (3 + the new one).
    assert_eq!(urlscan.state().submissions().len(), 4, "{describe}");
    assert_eq!(second.findings().len(), 4, "{describe}");
    assert_eq!(sent.text_messages().len(), 4, "{describe}");
    assert_eq!(published.len(), 4, "{published:?}");
    for d in &all {
        let by_telegram = sent.text_messages().iter().filter(|m| m.shows(d)).count();
        assert_eq!(by_telegram, 1, "{d} on Telegram");
        let by_email = published
            .iter()
            .filter(|(m, _, _)| m.contains(&format!("Domain: {d}")))
            .count();
        assert_eq!(by_email, 1, "{d} on SNS");
    }
    // Dedupe: the later certificate of paypal-login-verify.xyz was no finding.
    let last = second.last_event("metrics").expect("final metrics");
    assert_eq!(last["fields"]["duplicates"], 1, "{last}");
    // Positions: the second task read from where the first stopped, only the new entries.
    let starts = entry_starts(&log, requests_of_first);
    assert_eq!(starts.first(), Some(&23), "{starts:?}");
    assert_eq!(last["fields"]["certificates"], 3, "{last}");
    assert_eq!(second.events("store opened").len(), 1, "{describe}");
}

/// The messages on Telegram and the SNS publications showing `domain`.
fn alerts_of(
    telegram: &certhound_tests::telegram_server::TelegramState,
    published: &[(String, Option<String>, Value)],
    domain: &str,
) -> (usize, usize) {
    let by_telegram = telegram
        .text_messages()
        .iter()
        .filter(|m| m.shows(domain))
        .count();
    let by_email = published
        .iter()
        .filter(|(m, _, _)| m.contains(&format!("Domain: {domain}")))
        .count();
    (by_telegram, by_email)
}

/// Waits until moto has `count` SNS publications (or the timeout); returns them.
async fn published_at_least(moto: &Moto, count: usize) -> Vec<(String, Option<String>, Value)> {
    let deadline = Instant::now() + timeouts::BULK;
    loop {
        let p = moto.sent_notifications().await;
        if p.len() >= count || Instant::now() > deadline {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_a_and_b_share_the_stack_table_and_alert_once_through_a_deploy() {
    // moto serialised: its DynamoDB fails concurrent transactions (tests/moto/serial_moto.py).
    let moto = Moto::start_serialised().await;
    let rendered = check_stack(&moto, "dynamodb").await;
    let slot_a = &rendered["dynamodb"]["a"]["run"][0];
    let slot_b = &rendered["dynamodb"]["b"]["run"][0];
    create_secrets(&moto).await;

    let mut entries: Vec<_> = (0..20)
        .map(|i| generated_entry(i, &[&format!("shop{i}.example.com")], false))
        .collect();
    for (i, d) in FIRST.iter().enumerate() {
        entries.push(generated_entry(20 + i as u64, &[d], false));
    }
    let log = FakeCtLog::start(entries).await;
    let urlscan = FakeUrlscan::start().await;
    let telegram = FakeTelegram::start().await;
    let mut outside = outside_config(&log, &moto, &telegram, &urlscan);
    // Short leases: a task polls the shared queues every lease / 4.
    outside.set_str("store.dynamodb", "lease", "4s");
    outside.set_str("store.dynamodb", "slot_lease", "2s");
    let unused = tempfile::tempdir().unwrap();
    let env_a = task_environment(slot_a, unused.path());
    let env_b = task_environment(slot_b, unused.path());
    for (env, slot) in [(&env_a, "a"), (&env_b, "b")] {
        assert_eq!(lookup(env, "CERTHOUND_STORE__BACKEND"), Some("dynamodb"));
        assert_eq!(
            lookup(env, "CERTHOUND_STORE__DYNAMODB__TABLE"),
            Some("certhound")
        );
        assert_eq!(lookup(env, "CERTHOUND_STORE__DYNAMODB__SLOT"), Some(slot));
        assert_eq!(lookup(env, "CERTHOUND_STORE__PATH"), None, "no file store");
    }

    // Both slots run, each reading the CT log itself and matching the same names: each
    // finding is stored by one of them and alerted once per channel.
    let mut a = start_task(slot_a, &env_a, &outside, &moto);
    let mut b = start_task(slot_b, &env_b, &outside, &moto);
    for (task, slot) in [(&mut a, "a"), (&mut b, "b")] {
        let opened = task.expect_event("store opened", timeouts::EVENT).await;
        assert_eq!(
            opened["fields"]["path"],
            format!("dynamodb:certhound (slot {slot})"),
            "{opened}"
        );
    }
    telegram
        .wait_for(timeouts::BULK, |s| s.text_messages().len() >= 3)
        .await
        .unwrap_or_else(|s| {
            panic!(
                "{} telegram messages\n{}\n{}",
                s.text_messages().len(),
                a.describe("slot a"),
                b.describe("slot b")
            )
        });
    published_at_least(&moto, 3).await;

    // A deploy: slot a's task stops (ECS stops it before starting its replacement) while
    // slot b's watches alone, and finds what is logged meanwhile.
    let describe_a = a.stop_cleanly("slot a").await;
    log.append(vec![
        generated_entry(23, &[LATER], false),
        generated_entry(24, &["www.paypal-login-verify.xyz"], false),
        generated_entry(25, &["shop25.example.com"], false),
    ]);
    telegram
        .wait_for(timeouts::BULK, |s| s.text_messages().len() >= 4)
        .await
        .unwrap_or_else(|s| {
            panic!(
                "{} telegram messages\n{describe_a}\n{}",
                s.text_messages().len(),
                b.describe("slot b")
            )
        });
    // Slot a's replacement comes back on its slot (the old task's lock was released on its
    // clean stop) beside slot b, and alerts nothing twice.
    let mut a2 = start_task(slot_a, &env_a, &outside, &moto);
    let opened = a2.expect_event("store opened", timeouts::EVENT).await;
    assert_eq!(opened["fields"]["path"], "dynamodb:certhound (slot a)");
    assert!(
        opened["fields"]["findings"].as_u64() >= Some(4),
        "the table's findings: {opened}"
    );
    a2.wait_for_events("CT positions written", 1, timeouts::BULK, |e| {
        e["fields"]["entries"].as_u64() == Some(26)
    })
    .await
    .unwrap_or_else(|_| panic!("{}", a2.describe("slot a, replaced")));
    let published = published_at_least(&moto, 4).await;
    let describe_a2 = a2.stop_cleanly("slot a, replaced").await;
    let describe_b = b.stop_cleanly("slot b").await;
    let sent = telegram.state();
    let describe = format!("{describe_a}\n{describe_a2}\n{describe_b}");

    // Every finding once per channel across the three tasks; the later certificate of a
    // reported domain is no finding.
    let mut all: Vec<&str> = FIRST.to_vec();
    all.push(LATER);
    assert_eq!(sent.text_messages().len(), 4, "{describe}");
    assert_eq!(published.len(), 4, "{published:?}");
    for d in &all {
        assert_eq!(alerts_of(&sent, &published, d), (1, 1), "{d}\n{describe}");
    }
    let mut found: Vec<String> = [&mut a, &mut a2, &mut b]
        .into_iter()
        .flat_map(|t| t.found_domains())
        .collect();
    found.sort();
    let mut expected: Vec<String> = all.iter().map(|d| d.to_string()).collect();
    expected.sort();
    assert_eq!(
        found, expected,
        "the JSON-lines channel: each finding once\n{describe}"
    );
}
