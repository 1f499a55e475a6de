//! A store that cannot be opened stops certhound with exit code 74 and one stderr line
//! `certhound: cannot open store ...` naming the path and the reason, never a panic: a path under
//! a regular file, a file of garbage bytes (left as it was), and a store already held by a running
//! `certhound watch` (which keeps running and working). `certhound findings` reads the store of a
//! running instance, and shows and filters by the verdicts set in the store (in process: the CLI
//! sets none).

use certhound_tests::durable::{assert_cannot_open_store, findings_cli, stored_findings};
use certhound_tests::output::registrable_domain;
use certhound_tests::{timeouts, Certhound, CerthoundCommand, FakeCertstream, Step, TestConfig};
use serde_json::Value;

/// `certhound watch` with this store path, run to its end.
async fn watch_with_store(path: &std::path::Path) -> (TestConfig, certhound_tests::Finished) {
    let server = FakeCertstream::start(vec![]).await;
    let mut config = TestConfig::with_feed(&server.url());
    config.set_str("store", "path", path.to_str().unwrap());
    let out = CerthoundCommand::new()
        .test_config(&config)
        .arg("watch")
        .run(timeouts::EVENT)
        .await;
    (config, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_path_under_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"not a directory\n").unwrap();
    let store = file.join("x.redb");
    let (_config, out) = watch_with_store(&store).await;
    assert_cannot_open_store(&out, &store, &[]);
    assert_eq!(std::fs::read(&file).unwrap(), b"not a directory\n");
}

/// 64 KiB of deterministic garbage (splitmix64).
fn garbage() -> Vec<u8> {
    let mut state = 0x0BAD_5EED_u64;
    let mut out = Vec::with_capacity(65_536);
    while out.len() < 65_536 {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_file_of_garbage_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("garbage.redb");
    let bytes = garbage();
    std::fs::write(&store, &bytes).unwrap();
    let (config, out) = watch_with_store(&store).await;
    assert_cannot_open_store(&out, &store, &[]);
    assert!(
        std::fs::read(&store).unwrap() == bytes,
        "the corrupted file was changed"
    );

    // `certhound findings` cannot open it either.
    let out = findings_cli(&config, &[]).await;
    assert_cannot_open_store(&out, &store, &[]);
    assert!(std::fs::read(&store).unwrap() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_watch_on_a_store_in_use_exits_74_and_the_first_keeps_working() {
    let server = FakeCertstream::start(vec![
        Step::text(certhound_tests::messages::lite(
            &["paypal-store-first.com"],
            1,
        )),
        Step::Gate,
        Step::text(certhound_tests::messages::lite(
            &["netflix-store-after.net"],
            2,
        )),
    ])
    .await;
    let config = TestConfig::with_feed(&server.url());
    let mut first = Certhound::watch(&config);
    first
        .expect_findings(&["paypal-store-first.com"], timeouts::EVENT)
        .await;

    let second = CerthoundCommand::new()
        .test_config(&config)
        .arg("watch")
        .run(timeouts::EVENT)
        .await;
    let line = assert_cannot_open_store(
        &second,
        &config.store_path(),
        &["in use by another process"],
    );
    println!("{line}");

    // The first one still runs and still works.
    assert!(first.is_running(), "{}", first.describe("first watch"));
    server.release();
    first
        .expect_findings(&["netflix-store-after.net"], timeouts::EVENT)
        .await;
    assert_eq!(server.connections(), 1, "{:?}", server.stats());

    first.stop_cleanly("first watch").await;
}

/// Each finding's `(registrable_domain, id)`, sorted.
fn domains_and_ids(findings: &[Value]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = findings
        .iter()
        .map(|f| {
            (
                registrable_domain(f).to_string(),
                f["id"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_reads_the_store_of_a_running_watch() {
    let domains = ["paypal-running-store.com", "banco-running-seguro.net"];
    let server = FakeCertstream::start(vec![
        Step::text(certhound_tests::messages::lite(&[domains[0]], 1)),
        Step::text(certhound_tests::messages::full(&[domains[1]], 2)),
    ])
    .await;
    let config = TestConfig::with_feed(&server.url());
    let mut watch = Certhound::watch(&config);
    watch.expect_findings(&domains, timeouts::EVENT).await;
    let ids: Vec<String> = watch
        .findings()
        .iter()
        .map(|f| f["id"].as_str().unwrap_or_default().to_string())
        .collect();

    // JSON lines: both findings, with the ids they were delivered under.
    let stored = stored_findings(&config).await;
    let got = domains_and_ids(&stored);
    let want = domains_and_ids(&watch.findings());
    assert_eq!(got, want, "stored: {stored:#?}");
    assert!(ids.iter().all(|i| !i.is_empty()), "{ids:?}");
    for f in &stored {
        for key in [
            "id",
            "detected_at",
            "domain",
            "registrable_domain",
            "rules",
            "channels",
        ] {
            assert!(!f[key].is_null(), "{key} missing: {f}");
        }
        assert!(f["channels"]["jsonl"].is_string(), "{f}");
    }

    // `--since`: a recent window lists them, a future instant lists none.
    let recent = findings_cli(&config, &["--since", "1h"]).await;
    assert_eq!(recent.code(), Some(0), "{}", recent.describe());
    assert_eq!(
        recent
            .stdout
            .iter()
            .filter(|l| !l.trim().is_empty())
            .count(),
        2,
        "{}",
        recent.describe()
    );
    let future = findings_cli(&config, &["--since", "2099-01-01T00:00:00Z"]).await;
    assert_eq!(future.code(), Some(0), "{}", future.describe());
    assert!(
        future.stdout.iter().all(|l| l.trim().is_empty()),
        "{}",
        future.describe()
    );

    // The human table names both domains.
    let table = CerthoundCommand::new()
        .test_config(&config)
        .arg("findings")
        .run(timeouts::EXIT)
        .await;
    assert_eq!(table.code(), Some(0), "{}", table.describe());
    for d in domains {
        assert!(table.stdout_text().contains(d), "{}", table.describe());
    }

    assert!(watch.is_running(), "{}", watch.describe("watch"));
    watch.stop_cleanly("watch").await;
}

/// Verdicts set in the store after certhound stopped are shown by `certhound findings` (a
/// column; `"verdict"` in `--json`, null when none) and filtered by `--verdict`; an unknown
/// verdict is refused with exit 2, naming the ones there are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn findings_shows_and_filters_verdicts() {
    use certhound_actors::store::{Store, Verdict, VerdictKind};
    let domains = [
        "paypal-verdict-phish.com",
        "paypal-verdict-alarm.net",
        "netflix-verdict-open.org",
    ];
    let server = FakeCertstream::start(
        domains
            .iter()
            .zip(1..)
            .map(|(d, i)| Step::text(certhound_tests::messages::lite(&[d], i)))
            .collect(),
    )
    .await;
    let config = TestConfig::with_feed(&server.url());
    let mut watch = Certhound::watch(&config);
    watch.expect_findings(&domains, timeouts::EVENT).await;
    let delivered = watch.findings();
    let id_of = |domain: &str| -> String {
        let f = delivered
            .iter()
            .find(|f| registrable_domain(f) == domain)
            .unwrap_or_else(|| panic!("{domain} not delivered"));
        f["id"].as_str().unwrap_or_default().to_string()
    };
    let (phish, alarm, open) = (id_of(domains[0]), id_of(domains[1]), id_of(domains[2]));
    watch.stop_cleanly("watch").await;

    // certhound stopped: the store file is free to open as a writer, as the admin page does.
    let at = 1_795_867_200; // 2026-11-28T12:00:00Z
    {
        let store = Store::redb(&certhound_config::StoreConfig {
            path: config.store_path().display().to_string(),
            ..Default::default()
        })
        .expect("open the store certhound left");
        for (id, kind, by) in [
            (&phish, VerdictKind::Phishing, "alice"),
            (&alarm, VerdictKind::FalseAlarm, "page"),
        ] {
            let v = Verdict {
                kind,
                at,
                by: by.into(),
            };
            assert!(store.set_verdict(id, &v).unwrap(), "{id} is stored");
        }
    }

    // `--json`: the verdict of each, null for the one without.
    let all = stored_findings(&config).await;
    assert_eq!(all.len(), 3, "{all:#?}");
    let by_id = |id: &str| all.iter().find(|f| f["id"] == id).expect(id).clone();
    assert_eq!(
        by_id(&phish)["verdict"],
        serde_json::json!({"verdict": "phishing", "at": "2026-11-28T12:00:00Z", "by": "alice"})
    );
    assert_eq!(by_id(&alarm)["verdict"]["verdict"], "false_alarm");
    assert!(by_id(&open)["verdict"].is_null(), "{}", by_id(&open));
    assert!(by_id(&open).as_object().unwrap().contains_key("verdict"));

    // `--verdict phishing`, as a table: that one finding, with its verdict in its row.
    let table = CerthoundCommand::new()
        .test_config(&config)
        .args(["findings", "--verdict", "phishing"])
        .run(timeouts::EXIT)
        .await;
    assert_eq!(table.code(), Some(0), "{}", table.describe());
    let rows: Vec<&String> = table
        .stdout
        .iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(rows.len(), 2, "header and one row: {}", table.describe());
    let header: Vec<&str> = rows[0].split_whitespace().collect();
    let row: Vec<&str> = rows[1].split_whitespace().collect();
    let column = header
        .iter()
        .position(|h| *h == "verdict")
        .expect("a verdict column");
    assert!(row.contains(&domains[0]), "{}", table.describe());
    assert_eq!(row.get(column), Some(&"phishing"), "{}", table.describe());

    // `--verdict` with `--json`: false_alarm (and its spelling with a hyphen), none.
    for (filter, want) in [
        ("false_alarm", &alarm),
        ("false-alarm", &alarm),
        ("none", &open),
    ] {
        let out = findings_cli(&config, &["--verdict", filter]).await;
        assert_eq!(out.code(), Some(0), "{}", out.describe());
        let got: Vec<Value> = certhound_tests::durable::parse_jsonl(&out.stdout, "findings");
        let ids: Vec<&str> = got.iter().filter_map(|f| f["id"].as_str()).collect();
        assert_eq!(
            ids,
            vec![want.as_str()],
            "--verdict {filter}: {}",
            out.describe()
        );
    }
    let unsure = findings_cli(&config, &["--verdict", "unsure"]).await;
    assert_eq!(unsure.code(), Some(0), "{}", unsure.describe());
    assert!(
        unsure.stdout.iter().all(|l| l.trim().is_empty()),
        "{}",
        unsure.describe()
    );

    // Another value: a usage error naming the choices.
    let bad = findings_cli(&config, &["--verdict", "spam"]).await;
    assert_eq!(bad.code(), Some(2), "{}", bad.describe());
    assert!(bad.stdout.iter().all(|l| l.trim().is_empty()));
    let err = bad.stderr.join("\n");
    assert!(
        err.contains(
            "--verdict: `spam` is not a verdict: one of phishing, false_alarm, unsure, or none"
        ),
        "{}",
        bad.describe()
    );
}
