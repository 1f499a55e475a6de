//! Tests of loading, overriding and validating the configuration.

use super::*;

fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_toml_with_env(
        text,
        "test.toml",
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

#[test]
fn reference_file_is_exactly_the_defaults() {
    let parsed = load(REFERENCE_TOML, &[]).expect("reference config parses");
    assert_eq!(parsed, Config::default());
}

/// Every key of the defaults is written in the reference file under its own table path (serde
/// would fill a key left out, or written under another table, with its default, so the
/// equality above cannot see it).
#[test]
fn every_key_is_in_the_reference_file_under_its_own_table() {
    let defaults = toml::Value::try_from(Config::default()).unwrap();
    let reference: toml::Value = toml::from_str(REFERENCE_TOML).expect("reference parses");
    fn walk(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        if let toml::Value::Table(t) = v {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&path, v, out);
                out.push(path);
            }
        }
    }
    let mut keys = Vec::new();
    walk("", &defaults, &mut keys);
    assert!(keys.len() > 100, "walked {keys:?}");
    for key in &keys {
        let mut at = &reference;
        for part in key.split('.') {
            at = at.get(part).unwrap_or_else(|| {
                panic!("key `{key}` is not in config/certhound.toml at [{key}]")
            });
        }
    }
    // And nothing in the reference file that the defaults do not have (a key under the wrong
    // table would be refused anyway by deny_unknown_fields; this names it).
    let mut written = Vec::new();
    walk("", &reference, &mut written);
    for key in &written {
        assert!(
            keys.contains(key),
            "config/certhound.toml has `{key}`, which no section reads"
        );
    }
}

#[test]
fn empty_file_gives_defaults() {
    assert_eq!(load("", &[]).unwrap(), Config::default());
}

#[test]
fn unknown_key_is_named() {
    let err = load("[watch]\nfeed_urll = \"ws://x/\"\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("watch.feed_urll"), "{err}");
    assert!(err.to_string().contains("unknown field"), "{err}");
}

#[test]
fn unknown_section_is_named() {
    let err = load("[wacth]\nfeed_url = \"ws://x/\"\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("wacth"), "{err}");
}

#[test]
fn wrong_type_is_named() {
    let err = load("[watch]\nping_interval = 5\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("watch.ping_interval"), "{err}");
    let err = load("[dedupe]\ncapacity = \"many\"\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("dedupe.capacity"), "{err}");
}

#[test]
fn missing_required_value_is_named() {
    let err = load("[notify.jsonl]\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("notify.jsonl"), "{err}");
    assert!(err.to_string().contains("missing field `path`"), "{err}");
}

#[test]
fn syntax_error_is_reported_with_origin() {
    let err = load("[watch\n", &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err}");
    assert!(err.to_string().contains("test.toml"));
}

#[test]
fn env_overrides_nested_keys_with_typed_values() {
    let c = load(
        "",
        &[
            (
                "CERTHOUND_WATCH__FEED_URL",
                "wss://feed.example/full-stream",
            ),
            ("CERTHOUND_WATCH__RECONNECT__MAX", "30s"),
            ("CERTHOUND_DEDUPE__CAPACITY", "5000"),
            ("CERTHOUND_MATCHER__KEYWORDS", "[\"paypal\", \"banco\"]"),
            ("CERTHOUND_CONFIG", "/not/an/override.toml"),
            ("OTHER__THING", "x"),
        ],
    )
    .unwrap();
    assert_eq!(c.watch.feed_url, "wss://feed.example/full-stream");
    assert_eq!(c.watch.reconnect.max, std::time::Duration::from_secs(30));
    assert_eq!(c.dedupe.capacity, 5000);
    assert_eq!(c.matcher.keywords, vec!["paypal", "banco"]);
}

#[test]
fn env_override_that_looks_like_a_number_can_still_be_a_string() {
    let c = load("", &[("CERTHOUND_LOG__FILTER", "42")]).unwrap();
    assert_eq!(c.log.filter, "42");
}

#[test]
fn env_override_errors_name_the_variable() {
    let err = load("", &[("CERTHOUND_DEDUPE__CAPACITY", "lots")]).unwrap_err();
    assert_eq!(err.key(), Some("dedupe.capacity"));
    assert!(
        err.to_string().contains("CERTHOUND_DEDUPE__CAPACITY"),
        "{err}"
    );
    let err = load("", &[("CERTHOUND_WATCH__NOPE", "1")]).unwrap_err();
    assert_eq!(err.key(), Some("watch.nope"), "{err}");
}

#[test]
fn validation_names_the_key() {
    let err = load("[watch]\nfeed_url = \"http://x/\"\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("watch.feed_url"));
    let err = load(
        "[watch]\nping_interval = \"1m\"\nidle_timeout = \"30s\"\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("watch.idle_timeout"));
    let err = load("[matcher]\nkeywords = [\"ab\"]\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("matcher.keywords[0]"));
    let err = load("[watch.reconnect]\njitter = 2.0\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("watch.reconnect.jitter"));
}

#[test]
fn notify_section_lists_exactly_its_channels() {
    let c = load("[notify.jsonl]\npath = \"out.jsonl\"\n", &[]).unwrap();
    assert_eq!(c.notify.jsonl.unwrap().path, "out.jsonl");
    let err = load("[notify]\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("notify"));
}

#[test]
fn secrets_and_url_credentials_never_print() {
    let s = Secret::new("hunter2");
    assert_eq!(format!("{s} {s:?}"), "<redacted> <redacted>");
    assert_eq!(serde_json::to_string(&s).unwrap(), "\"<redacted>\"");
    let u = redact_url("wss://user:hunter2@feed.example/full-stream?token=abc");
    assert!(
        !u.contains("hunter2") && !u.contains("abc") && !u.contains("user"),
        "{u}"
    );
    assert!(u.contains("feed.example/full-stream"));
}

#[test]
fn webhook_needs_a_url_and_hides_its_authorization() {
    let err = load("[notify.webhook]\ntimeout = \"5s\"\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("notify.webhook"), "{err}");
    assert!(err.to_string().contains("missing field `url`"), "{err}");
    let err = load("[notify.webhook]\nurl = \"ftp://x/\"\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("notify.webhook.url"), "{err}");
    let c = load(
        "[notify.webhook]\nurl = \"https://hooks.example/x\"\nauthorization = \"Bearer s3cr3t\"\n",
        &[],
    )
    .unwrap();
    let w = c.notify.webhook.as_ref().unwrap();
    assert_eq!(w.authorization.as_ref().unwrap().expose(), "Bearer s3cr3t");
    assert_eq!(w.timeout, std::time::Duration::from_secs(10));
    let shown = c.to_redacted_toml();
    assert!(
        !shown.contains("s3cr3t") && shown.contains("<redacted>"),
        "{shown}"
    );
}

#[test]
fn urlscan_is_off_without_a_key_and_never_shows_it() {
    assert!(!Config::default().urlscan.enabled());
    let c = load("", &[("CERTHOUND_URLSCAN__API_KEY", "k-123-secret")]).unwrap();
    assert!(c.urlscan.enabled());
    assert_eq!(c.urlscan.api_key.as_ref().unwrap().expose(), "k-123-secret");
    let shown = c.to_redacted_toml();
    assert!(
        !shown.contains("k-123-secret") && shown.contains("<redacted>"),
        "{shown}"
    );
    let err = load("[urlscan]\nvisibility = \"secret\"\n", &[]).unwrap_err();
    assert_eq!(err.key(), Some("urlscan.visibility"), "{err}");
}

#[test]
fn reloadable_keys_exist_and_cover_their_entries() {
    for entry in RELOADABLE {
        let pattern = entry.split_whitespace().next().unwrap();
        let (section, leaf) = pattern.rsplit_once('.').unwrap();
        // The section's text in the reference file: from its header (commented out for an
        // optional channel) to the next header.
        let header = format!("[{section}]");
        let at = REFERENCE_TOML.find(&header).unwrap_or_else(|| {
            panic!("RELOADABLE names `{pattern}`: no {header} in certhound.toml")
        });
        let text = &REFERENCE_TOML[at + header.len()..];
        let text = &text[..text.find("\n[").unwrap_or(text.len())];
        assert!(
            leaf == "*"
                || text.contains(&format!("{leaf} ="))
                || REFERENCE_TOML.contains(&format!("[{pattern}]")),
            "RELOADABLE names `{pattern}`, which {header} of certhound.toml lacks"
        );
    }
    assert!(is_reloadable("matcher.keywords"));
    assert!(!is_reloadable("matcher"), "the section itself is no key");
    assert!(is_reloadable("enrich.limits.per_server.rdap.verisign.com"));
    assert!(is_reloadable("urlscan.per_minute"));
    assert!(!is_reloadable("urlscan.per_minutes"));
    assert!(!is_reloadable("enrich.limits.read_timeout"));
    assert!(
        !is_reloadable("notify.telegram"),
        "a channel added or removed"
    );
    assert!(!is_reloadable("store.path"));
}

#[test]
fn dynamodb_store_needs_a_slot_and_a_slot_lease_within_half_the_lease() {
    let c = load(
        "[store]\nbackend = \"dynamodb\"\n[store.dynamodb]\nslot = \"a\"\n",
        &[],
    )
    .unwrap();
    assert_eq!(c.store.backend, StoreBackend::DynamoDb);
    assert_eq!(c.store.dynamodb.slot, "a");
    let env = [("CERTHOUND_STORE__DYNAMODB__SLOT", "b")];
    let c = load("[store]\nbackend = \"dynamodb\"\n", &env).unwrap();
    assert_eq!(
        c.store.dynamodb.slot, "b",
        "the slot comes from the task's environment"
    );
    let err = load(
        "[store]\nbackend = \"dynamodb\"\n[store.dynamodb]\nlease = \"10s\"\nslot_lease = \"6s\"\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("store.dynamodb.slot_lease"));
    let err = load(
        "[store]\nbackend = \"dynamodb\"\n[store.dynamodb]\nslot = \"a#b\"\n",
        &[],
    )
    .unwrap_err();
    assert_eq!(err.key(), Some("store.dynamodb.slot"));
    // With the embedded backend the section is not checked.
    load("[store.dynamodb]\nslot = \"\"\n", &[]).unwrap();
    let err = load("[store]\nbackend = \"postgres\"\n", &[]).unwrap_err();
    assert!(err.to_string().contains("backend"), "{err}");
}

#[test]
fn admin_page_keys_are_checked_and_the_token_stays_secret() {
    for (text, key) in [
        ("[admin.page]\npage_size = 0\n", "admin.page.page_size"),
        ("[admin.page]\npage_size = 501\n", "admin.page.page_size"),
        (
            "[admin.page]\nscreenshot_max_bytes = 0\n",
            "admin.page.screenshot_max_bytes",
        ),
        (
            "[admin.page]\nscreenshot_max_bytes = 100\nscreenshot_cache_bytes = 99\n",
            "admin.page.screenshot_cache_bytes",
        ),
        (
            "[admin.page]\nstats_interval = \"0s\"\n",
            "admin.page.stats_interval",
        ),
        ("[admin]\ntoken = \"short\"\n", "admin.token"),
    ] {
        let err = load(text, &[]).unwrap_err();
        assert_eq!(err.key(), Some(key), "{text}: {err}");
    }
    let cfg = load(
        "[admin]\nlisten = \"0.0.0.0:9464\"\n",
        &[("CERTHOUND_ADMIN__TOKEN", "0123456789abcdef-secret")],
    )
    .unwrap();
    assert!(cfg.admin.page_needs_token());
    assert_eq!(
        cfg.admin.token.as_ref().unwrap().expose(),
        "0123456789abcdef-secret"
    );
    assert!(!format!("{cfg:?}").contains("0123456789abcdef-secret"));
    assert!(!Config::default().admin.page_needs_token());
    assert!(!Config::default().admin.page.writable);
}
