//! `certhound check-config`: a config error (unknown key, wrong type, missing value, bad
//! environment override) exits with code 2 and one stderr line naming the key, never a panic; a
//! valid file prints the effective config as TOML and exits 0.

use certhound_tests::{timeouts, CerthoundCommand, Finished, TestConfig};

async fn check(toml: &str, env: &[(&str, &str)]) -> Finished {
    let mut cmd = CerthoundCommand::new().config(toml).arg("check-config");
    for (k, v) in env {
        cmd = cmd.env(*k, *v);
    }
    cmd.run(timeouts::EXIT).await
}

fn assert_config_error(out: &Finished, key: &str) {
    let d = out.describe();
    assert_eq!(out.code(), Some(2), "{d}");
    let stderr = out.stderr_text();
    assert!(stderr.contains(key), "stderr names `{key}`: {d}");
    let lower = stderr.to_lowercase();
    assert!(
        !lower.contains("panicked") && !lower.contains("backtrace"),
        "{d}"
    );
    let lines: Vec<&String> = out.stderr.iter().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {d}");
    assert!(
        out.stdout.iter().all(|l| l.trim().is_empty()),
        "nothing on stdout: {d}"
    );
}

#[tokio::test]
async fn unknown_key_is_named() {
    let out = check("[watch]\nfeed_urll = \"ws://127.0.0.1:4000/\"\n", &[]).await;
    assert_config_error(&out, "watch.feed_urll");
}

#[tokio::test]
async fn wrong_type_is_named() {
    let out = check("[watch]\nping_interval = 5\n", &[]).await;
    assert_config_error(&out, "watch.ping_interval");
}

#[tokio::test]
async fn missing_required_value_is_named() {
    let out = check("[notify.jsonl]\n", &[]).await;
    assert_config_error(&out, "notify.jsonl");
}

#[tokio::test]
async fn bad_env_override_is_named() {
    let out = check(
        &TestConfig::new().render(),
        &[("CERTHOUND_DEDUPE__CAPACITY", "lots")],
    )
    .await;
    assert_config_error(&out, "dedupe.capacity");
}

fn assert_effective_config(out: &Finished, feed: &str) {
    let d = out.describe();
    assert_eq!(out.code(), Some(0), "{d}");
    let effective: toml::Table =
        toml::from_str(&out.stdout_text()).unwrap_or_else(|e| panic!("stdout is TOML ({e}): {d}"));
    assert_eq!(effective["watch"]["feed_url"].as_str(), Some(feed), "{d}");
    assert_eq!(effective["log"]["format"].as_str(), Some("json"), "{d}");
    // Defaults filled in: the shipped keyword list, the default dedupe capacity.
    let keywords = effective["matcher"]["keywords"]
        .as_array()
        .expect("matcher.keywords");
    assert!(keywords.iter().any(|k| k.as_str() == Some("paypal")), "{d}");
    assert_eq!(
        effective["dedupe"]["capacity"].as_integer(),
        Some(1_000_000),
        "{d}"
    );
}

#[tokio::test]
async fn valid_file_prints_effective_toml() {
    let feed = "ws://127.0.0.1:4000/full-stream";
    let config = TestConfig::with_feed(feed);
    let out = check(&config.render(), &[]).await;
    assert_effective_config(&out, feed);
    // Every test config has its store in its own temporary directory, never `./data/`.
    let effective: toml::Table = toml::from_str(&out.stdout_text()).unwrap();
    assert_eq!(
        effective["store"]["path"].as_str(),
        config.store_path().to_str(),
        "{}",
        out.describe()
    );
}

#[tokio::test]
async fn valid_file_as_argument() {
    let feed = "ws://127.0.0.1:4001/";
    let config = TestConfig::with_feed(feed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, config.render()).unwrap();
    let out = CerthoundCommand::new()
        .args(["check-config", path.to_str().unwrap()])
        .run(timeouts::EXIT)
        .await;
    assert_effective_config(&out, feed);
}

#[tokio::test]
async fn env_override_applies() {
    let out = check(
        &TestConfig::new().render(),
        &[(
            "CERTHOUND_WATCH__FEED_URL",
            "ws://127.0.0.1:4002/domains-only",
        )],
    )
    .await;
    assert_effective_config(&out, "ws://127.0.0.1:4002/domains-only");
}
