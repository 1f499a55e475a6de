//! The Telegram channel against a loopback Bot API (`FakeTelegram`, which refuses what the real
//! API refuses: wrong token, unknown chat, too long texts, HTML it cannot parse). Each finding is
//! one `sendMessage` in HTML with link previews off, in order, once; hostile values (an issuer
//! carrying markup) arrive escaped; a Unicode homoglyph is shown as such. A 429 waits
//! `parameters.retry_after`; a 400 is a permanent failure recorded with Telegram's description;
//! the chat's rate (1 message a second) is kept; the token is never logged.

use certhound_tests::observed::Observed;
use std::time::Duration;

use certhound_tests::durable::{channel_state, stored_findings};
use certhound_tests::messages::{certificate_update_value, lite};
use certhound_tests::output::{event_str, event_u64, registrable_domain};
use certhound_tests::telegram_server::{
    FakeTelegram, Fault, Message, TelegramState, CHAT_ID, MAX_TEXT_CHARS, TOKEN,
};
use certhound_tests::{timeouts, Certhound, CerthoundCommand, FakeCertstream, Step, TestConfig};
use serde_json::{json, Value};

/// An issuer no CA would have: markup, an ampersand and a quote.
const HOSTILE: &str = "paypal-<a href=x>&\"login.example";

fn config(server: &FakeCertstream, tg: &FakeTelegram) -> TestConfig {
    let mut c = TestConfig::with_feed(&server.url());
    c.set_str("notify.telegram", "api_base", &tg.api_base());
    c.set_str("notify.telegram", "token", &tg.token());
    c.set_str("notify.telegram", "chat_id", CHAT_ID);
    c.set("notify.telegram", "send_photo", "true");
    c.set("notify.telegram", "per_second", "1");
    c.set("notify.telegram", "per_minute", "20");
    c.set_str("notify.telegram", "timeout", "10s");
    c.fast_retries();
    c
}

/// One lite certificate per domain (and its `www.`), in this order.
fn feed_of(domains: &[&str]) -> Vec<Step> {
    domains
        .iter()
        .enumerate()
        .map(|(i, d)| Step::Text(lite(&[d, &format!("www.{d}")], 100 + i as u64)))
        .collect()
}

/// `certhound watch` on a feed of `steps`, alerting on `tg` with [`config`] (changed by
/// `adjust`).
async fn watch_into(
    tg: &FakeTelegram,
    steps: Vec<Step>,
    adjust: impl FnOnce(&mut TestConfig),
) -> (FakeCertstream, TestConfig, Certhound) {
    let server = FakeCertstream::start(steps).await;
    let mut config = config(&server, tg);
    adjust(&mut config);
    let certhound = Certhound::watch(&config);
    (server, config, certhound)
}

/// SIGTERM, exit 0; asserts the token is nowhere on stderr; returns the last `metrics` event.
async fn stop(certhound: &mut Certhound, token: &str) -> Value {
    let describe = certhound.stop_cleanly("after SIGTERM").await;
    assert_token_not_logged(certhound, token);
    certhound
        .last_event("metrics")
        .unwrap_or_else(|| panic!("no metrics event\n{describe}"))
}

fn assert_token_not_logged(certhound: &mut Certhound, token: &str) {
    certhound.pump();
    let secret = token.split_once(':').map_or(token, |(_, s)| s);
    let leaks: Vec<&String> = certhound
        .stderr
        .iter()
        .chain(certhound.stdout.iter())
        .filter(|l| l.contains(token) || l.contains(secret))
        .collect();
    assert!(leaks.is_empty(), "the bot token was logged: {leaks:#?}");
}

/// Waits for `n` accepted messages; panics with certhound's output and the fake's state.
async fn wait_messages(tg: &FakeTelegram, certhound: &mut Certhound, n: usize) -> TelegramState {
    match tg.wait_for_messages(n, timeouts::EVENT).await {
        Ok(s) => s,
        Err(s) => panic!(
            "{}\ntelegram: {:#?}",
            certhound.describe(&format!("waiting for {n} Telegram messages")),
            s.requests
                .iter()
                .map(|r| (r.n, r.status, r.description().map(str::to_string), r.text()))
                .collect::<Vec<_>>()
        ),
    }
}

/// What a reader is shown for a finding's domain: its Unicode form when it has one.
fn shown_domain(f: &Value) -> String {
    f["domain_unicode"]
        .as_str()
        .or_else(|| f["domain"].as_str())
        .unwrap_or_else(|| panic!("finding without domain: {f}"))
        .to_string()
}

/// The content of the message for finding `f` (enrichment and urlscan off).
fn assert_message_for(m: &Message, f: &Value) {
    let ctx = format!("message {:?}\nfor finding {f}", m.raw);
    assert_eq!(m.method, "sendMessage", "{ctx}");
    assert_eq!(m.chat_id, CHAT_ID, "{ctx}");
    assert_eq!(m.parse_mode.as_deref(), Some("HTML"), "{ctx}");
    assert!(m.link_preview_disabled(), "link previews on: {ctx}");
    assert!(
        m.raw.chars().count() <= MAX_TEXT_CHARS,
        "over 4096 characters: {ctx}"
    );
    let date = &f["detected_at"].as_str().expect("detected_at")[..10];
    assert!(m.shows(date), "the date of the finding ({date}): {ctx}");
    assert!(m.shows(&shown_domain(f)), "the domain: {ctx}");
    assert!(
        m.shows("registration data: not looked up"),
        "why there is no CDu/Delta: {ctx}"
    );
    assert!(m.shows("urlscan: off"), "why there are no links: {ctx}");
    for rule in f["rules"].as_array().expect("rules") {
        let rule = rule.as_str().unwrap();
        assert!(m.shows(rule), "rule {rule}: {ctx}");
    }
    let issuer = f["cert"]["issuer"].as_str().expect("an issuer");
    assert!(m.shows(issuer), "the issuer {issuer:?}: {ctx}");
    assert!(m.links.is_empty(), "links without a scan: {ctx}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_alert_arrives_once_in_order_with_hostile_values_escaped() {
    let cyr = "\u{440}\u{430}ypal-secure.com"; // Cyrillic er (U+0440) and a (U+0430)
    let domains = [
        "paypal-tg-first.com",
        "paypal-x.com",
        cyr,
        "netflix-tg-fourth.com",
        "coinbase-tg-fifth.net",
    ];
    let mut steps = feed_of(&domains);
    // The second certificate's issuer carries markup.
    let mut hostile = certificate_update_value(&[domains[1], "www.paypal-x.com"], 101, false);
    hostile["data"]["leaf_cert"]["issuer"] = json!({
        "C": "US", "CN": HOSTILE, "O": HOSTILE,
        "aggregated": format!("/C=US/CN={HOSTILE}/O={HOSTILE}")
    });
    steps[1] = Step::Text(hostile.to_string());
    let tg = FakeTelegram::start().await;
    let (_server, config, mut certhound) = watch_into(&tg, steps, |_| {}).await;

    wait_messages(&tg, &mut certhound, 5).await;
    certhound
        .expect_findings(
            &["paypal-tg-first.com", "coinbase-tg-fifth.net"],
            timeouts::EVENT,
        )
        .await;
    let findings = certhound.findings();
    assert_eq!(findings.len(), 5, "{findings:#?}");
    let shown: Vec<String> = findings.iter().map(shown_domain).collect();
    assert_eq!(shown, domains, "findings in feed order");
    let _ = stop(&mut certhound, TOKEN).await;

    let state = tg.state();
    assert!(
        state.requests.iter().all(|r| r.accepted()),
        "every request accepted (valid HTML, right token and chat): {:#?}",
        state
            .requests
            .iter()
            .map(|r| (r.status, r.description().map(str::to_string), r.text()))
            .collect::<Vec<_>>()
    );
    let messages = &state.messages;
    assert_eq!(messages.len(), 5, "one message per finding: {messages:#?}");
    assert!(state.photos().is_empty(), "a photo without a scan");
    for (m, f) in messages.iter().zip(&findings) {
        assert_message_for(m, f);
        let others = findings
            .iter()
            .filter(|o| *o != f)
            .filter(|o| m.shows(&shown_domain(o)))
            .count();
        assert_eq!(others, 0, "message of one finding only: {:?}", m.raw);
    }

    let hostile_msg = &messages[1];
    assert!(hostile_msg.shows(HOSTILE), "{:?}", hostile_msg.text);
    assert!(
        hostile_msg.raw.contains("&lt;a href=x&gt;&amp;"),
        "the issuer escaped: {:?}",
        hostile_msg.raw
    );
    assert!(
        !hostile_msg.raw.contains("<a href=x>"),
        "{:?}",
        hostile_msg.raw
    );
    assert!(messages[2].shows(cyr), "{:?}", messages[2].text);
    assert_eq!(findings[2]["homoglyph"], true, "{}", findings[2]);

    let stored = stored_findings(&config).await;
    assert_eq!(stored.len(), 5, "{stored:#?}");
    for f in &stored {
        assert_eq!(channel_state(f, "telegram"), Some("sent"), "{f}");
        assert_eq!(channel_state(f, "jsonl"), Some("sent"), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_waits_retry_after_and_every_alert_arrives_once() {
    let domains = [
        "paypal-tg-throttled.com",
        "amazon-tg-throttled.net",
        "banco-seguro-tg-throttled.com",
    ];
    let tg = FakeTelegram::start().await;
    tg.fail_next(2, Fault::too_many(1));
    let (_server, config, mut certhound) = watch_into(&tg, feed_of(&domains), |_| {}).await;
    wait_messages(&tg, &mut certhound, 3).await;
    certhound.expect_findings(&domains, timeouts::EVENT).await;
    let _ = stop(&mut certhound, TOKEN).await;

    let state = tg.state();
    assert_eq!(state.statuses(), [429, 429, 200, 200, 200], "{state:#?}");
    for d in domains {
        let n = state.messages.iter().filter(|m| m.shows(d)).count();
        assert_eq!(n, 1, "{d} arrives once: {state:#?}");
    }
    // The two rejected requests were for the first finding, then it went out first.
    assert!(state.messages[0].shows(domains[0]), "{state:#?}");
    for r in state.with_status(429) {
        // No request at all within retry_after of the 429 (measured from the moment the fake
        // answered: certhound cannot have seen it earlier).
        let next = &state.requests[r.n + 1];
        let gap = next.at - r.answered_at;
        assert!(
            gap >= Duration::from_secs(1),
            "request {} came {gap:?} after a 429 with retry_after 1",
            next.n
        );
    }
    assert!(tg.violations().is_empty(), "{:#?}", tg.violations());
    let stored = stored_findings(&config).await;
    assert_eq!(stored.len(), 3, "{stored:#?}");
    for f in &stored {
        assert_eq!(channel_state(f, "telegram"), Some("sent"), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_never_logged() {
    const SECRET_TOKEN: &str = "987654321:AAHs3cr3tTelegramT0kenXyz";
    let domain = "paypal-tg-secret.com";
    let server = FakeCertstream::start(feed_of(&[domain])).await;
    let tg = FakeTelegram::with(SECRET_TOKEN, &[CHAT_ID]).await;
    // Every kind of transient failure, each of which certhound logs with its error.
    tg.fail_next(1, Fault::Status(500))
        .fail_next(1, Fault::Hangup)
        .fail_next(1, Fault::too_many(1));
    let mut config = config(&server, &tg);
    config.set_str("log", "filter", "debug");

    // check-config prints the effective config with the secret redacted.
    let checked = CerthoundCommand::new()
        .test_config(&config)
        .arg("check-config")
        .run(timeouts::EXIT)
        .await;
    let d = checked.describe();
    assert_eq!(checked.code(), Some(0), "{d}");
    assert!(checked.stdout_text().contains("[notify.telegram]"), "{d}");
    assert!(
        !d.contains(SECRET_TOKEN) && !d.contains("AAHs3cr3tTelegramT0kenXyz"),
        "check-config printed the token: {d}"
    );

    let mut certhound = Certhound::watch(&config);
    let state = wait_messages(&tg, &mut certhound, 1).await;
    assert_eq!(state.tokens(), [SECRET_TOKEN.to_string()].into());
    let _ = stop(&mut certhound, SECRET_TOKEN).await;
    assert_eq!(tg.state().statuses(), [500, 0, 429, 200]);

    let listed = certhound_tests::durable::findings_cli(&config, &[]).await;
    assert!(
        !listed.describe().contains("AAHs3cr3tTelegramT0kenXyz"),
        "{}",
        listed.describe()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_not_found_fails_for_good_with_telegrams_description() {
    let domains = ["paypal-tg-nochat.com", "netflix-tg-nochat.org"];
    let tg = FakeTelegram::start().await;
    let (_server, config, mut certhound) = watch_into(&tg, feed_of(&domains), |config| {
        config.set_str("notify.telegram", "chat_id", "-100999");
    })
    .await;

    let failed = certhound
        .wait_for_events("delivery failed for good", 2, timeouts::EVENT, |e| {
            event_str(e, "channel").as_deref() == Some("telegram")
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\ntelegram: {:#?}", tg.state().requests));
    certhound.expect_findings(&domains, timeouts::EVENT).await;
    let ids: Vec<String> = certhound
        .findings()
        .iter()
        .map(|f| f["id"].as_str().expect("id").to_string())
        .collect();
    for event in &failed {
        assert_eq!(event["level"], "ERROR", "{event}");
        let id = event_str(event, "id").unwrap_or_default();
        assert!(ids.contains(&id), "{event} names a finding of {ids:?}");
        assert!(
            event_str(event, "error").is_some_and(|e| e.contains("chat not found")),
            "{event}"
        );
    }
    let last = stop(&mut certhound, TOKEN).await;
    assert_eq!(event_u64(&last, "delivery_failed"), Some(2), "{last}");

    let state = tg.state();
    assert_eq!(
        state.requests.len(),
        2,
        "a permanent failure is not retried: {state:#?}"
    );
    for r in &state.requests {
        assert_eq!(r.status, 400, "{r:?}");
        assert_eq!(r.description(), Some("Bad Request: chat not found"));
        assert_eq!(r.chat_id().as_deref(), Some("-100999"));
    }
    let stored = stored_findings(&config).await;
    assert_eq!(stored.len(), 2, "{stored:#?}");
    for f in &stored {
        assert!(domains.contains(&registrable_domain(f)), "{f}");
        assert_eq!(
            channel_state(f, "telegram"),
            Some("failed: Bad Request: chat not found"),
            "{f}"
        );
        assert_eq!(channel_state(f, "jsonl"), Some("sent"), "{f}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chats_rate_is_kept() {
    let domains = [
        "paypal-tg-rate1.com",
        "netflix-tg-rate2.com",
        "banco-seguro-tg-rate3.com",
        "coinbase-tg-rate4.com",
        "amazon-tg-rate5.com",
    ];
    let tg = FakeTelegram::start().await;
    // All five in one burst.
    let (_server, _config, mut certhound) = watch_into(&tg, feed_of(&domains), |_| {}).await;
    let state = wait_messages(&tg, &mut certhound, 5).await;
    let _ = stop(&mut certhound, TOKEN).await;
    assert!(
        tg.violations().is_empty(),
        "Telegram's per-chat limits broken: {:#?}\narrivals: {:?}",
        tg.violations(),
        state
            .messages
            .windows(2)
            .map(|w| w[1].at - w[0].at)
            .collect::<Vec<_>>()
    );
    assert_eq!(tg.state().messages.len(), 5);
    assert!(tg.state().requests.iter().all(|r| r.accepted()));
}
