//! The analyst page in a real browser: headless Chromium (Debian's package, driven through
//! chromedriver by `certhound_tests::browser`) against a `certhound watch` whose findings come
//! from the loopback feed and were scanned by the loopback urlscan.
//!
//! One walk through what an analyst does: the list shows the findings with their thumbnails; a
//! filter narrows it; a verdict given with a click survives a restart; the allowlist click on a
//! false alarm stops the next certificate of that domain from alerting (while another domain,
//! seen again at the same time, alerts again: it is the allowlist, not the dedupe window); and a
//! certificate whose names and issuer carry markup, quotes and a right-to-left override renders
//! inert, checked in the DOM. Screenshots of each step are saved under
//! `target/test-artifacts/`.

use certhound_tests::admin;
use certhound_tests::browser::Browser;
use certhound_tests::messages::{certificate_update_value, lite};
use certhound_tests::urlscan_server::{FakeUrlscan, API_KEY};
use certhound_tests::{timeouts, Certhound, FakeCertstream, Step, TestConfig};
use serde_json::{json, Value};
use std::net::SocketAddr;

const PAYPAL: &str = "paypal-secure-login.xyz";
const AMAZON: &str = "amazom-verify.top";
const WELLS: &str = "wellsfargo-account-update.com";
const HOSTILE: &str = "paypal-hostile-check.xyz";

/// What the hostile certificate carries besides its one matching name.
const HOSTILE_CN: &str = "<script>window.__pwned=1</script>\u{202E}moc.lapyap";
const HOSTILE_ISSUER: &str = "Evil \"CA\" 'x' <img src=x onerror=window.__pwned=1> \u{202E}cba";
/// Where the hostile site's scan ends: the page's URL is the attacker's too.
const HOSTILE_URL: &str =
    "https://evil.example/\"><script>window.__pwned=1</script>\u{202E}fdp.exe";
const HOSTILE_NAMES: [&str; 3] = [
    "<script>window.__pwned=1</script>.example",
    "\"><img src=x onerror=window.__pwned=1>.example",
    "'onmouseover='window.__pwned=1'.example",
];

fn hostile_message(index: u64) -> String {
    let mut names = vec![HOSTILE];
    names.extend(HOSTILE_NAMES);
    let mut m = certificate_update_value(&names, index, false);
    let leaf = &mut m["data"]["leaf_cert"];
    leaf["subject"] = json!({"CN": HOSTILE_CN, "aggregated": format!("/CN={HOSTILE_CN}")});
    leaf["issuer"] = json!({"O": HOSTILE_ISSUER, "CN": HOSTILE_ISSUER, "aggregated": format!("/CN={HOSTILE_ISSUER}/O={HOSTILE_ISSUER}")});
    m.to_string()
}

/// The page's rendering of attacker text: controls and direction overrides as `⟨U+XXXX⟩`.
fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control()
                || ('\u{202A}'..='\u{202E}').contains(&c)
                || ('\u{2066}'..='\u{2069}').contains(&c)
            {
                format!("⟨U+{:04X}⟩", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

async fn api(addr: SocketAddr, path: &str) -> Value {
    let (status, _, body) = admin::get(addr, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn id_of(addr: SocketAddr, domain: &str) -> String {
    admin::finding_id(&api(addr, "/api/findings").await, domain)
}

/// Rows of the list on the page, as the registrable domains they link to.
async fn listed(b: &Browser) -> Vec<String> {
    let v = b
        .execute(
            "return [...document.querySelectorAll('tr.finding .domain bdi.ascii')].map(e => e.textContent)",
            &[],
        )
        .await;
    serde_json::from_value(v).unwrap()
}

/// Nothing of the attacker's markup became markup.
async fn assert_inert(b: &Browser, page: &str) {
    let v = b
        .execute(
            "return {
                scripts: document.querySelectorAll('script').length,
                handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
                stray_images: document.querySelectorAll('img:not(.thumb):not(.screenshot)').length,
                pwned: typeof window.__pwned !== 'undefined'
            }",
            &[],
        )
        .await;
    assert_eq!(
        v,
        json!({"scripts": 0, "handlers": 0, "stray_images": 0, "pwned": false}),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_filters_judges_allowlists_and_is_not_fooled() {
    let urlscan = FakeUrlscan::start().await;
    urlscan.redirect(HOSTILE, HOSTILE_URL);
    let feed = FakeCertstream::start(vec![
        Step::Text(lite(&[PAYPAL], 1)),
        Step::Text(lite(&[AMAZON], 2)),
        Step::Text(lite(&[WELLS], 3)),
        Step::Text(hostile_message(4)),
        Step::Gate,
        // After the allowlist click: the allowlisted domain again, then one that was reported
        // as long ago as it was (the dedupe window is 1 s, so only the allowlist can stop it).
        Step::Text(lite(&[&format!("shop.{AMAZON}")], 5)),
        Step::Text(lite(&[&format!("www.{PAYPAL}")], 6)),
    ])
    .await;
    let mut cfg = TestConfig::with_feed(&feed.url());
    cfg.admin();
    cfg.set("admin.page", "writable", "true");
    let allowlist = cfg.path("allowlist.txt");
    std::fs::write(&allowlist, "# the analysts' allowlist\n").unwrap();
    cfg.set_str("matcher", "allowlist_file", allowlist.to_str().unwrap());
    cfg.set_str("dedupe", "window", "1s");
    cfg.urlscan_at(&urlscan.base_url());
    cfg.set_str("urlscan", "api_key", API_KEY);
    cfg.set_str("urlscan", "poll_timeout", "30s");

    let mut certhound = Certhound::watch(&cfg);
    // A finding reaches the JSONL channel once its scan finished: the screenshots are there.
    certhound
        .expect_findings(&[PAYPAL, AMAZON, WELLS, HOSTILE], timeouts::EVENT)
        .await;
    let addr = admin::address(&mut certhound).await;
    let browser = Browser::start().await;

    // The list, newest first, each with its thumbnail loaded.
    browser.goto(&format!("http://{addr}/findings")).await;
    assert_eq!(listed(&browser).await, [HOSTILE, WELLS, AMAZON, PAYPAL]);
    browser
        .wait_until(timeouts::EVENT, "four loaded thumbnails", async |b| {
            let v = b
                .execute(
                    "const i = [...document.querySelectorAll('img.thumb')];
                     return i.length === 4 && i.every(x => x.complete && x.naturalWidth > 0);",
                    &[],
                )
                .await;
            (v == json!(true)).then_some(())
        })
        .await;
    assert_inert(&browser, "the list").await;
    browser.save_artifact("page-1-findings").await;

    // A filter narrows it (the form is a plain GET form: no script runs on the page).
    browser
        .find("select[name=rule] option[value=lookalike]")
        .await
        .click()
        .await;
    browser.find("#apply").await.click().await;
    browser
        .wait_until(timeouts::EVENT, "the filtered list", async |b| {
            b.current_url()
                .await
                .contains("rule=lookalike")
                .then_some(())
        })
        .await;
    assert_eq!(listed(&browser).await, [AMAZON]);
    assert_eq!(browser.find("#count").await.text().await, "1");
    browser.save_artifact("page-2-filtered").await;

    // A verdict with one click, in the list.
    browser.goto(&format!("http://{addr}/findings")).await;
    let paypal_id = id_of(addr, PAYPAL).await;
    let row = browser.find(&format!("tr[data-id='{paypal_id}']")).await;
    row.find("button[value=phishing]").await.click().await;
    browser
        .wait_until(timeouts::EVENT, "the verdict on the row", async |b| {
            let v = b
                .execute(
                    "const r = document.querySelector(`tr[data-id='${arguments[0]}'] .v.phishing`);
                     return r ? r.textContent : null;",
                    &[json!(paypal_id)],
                )
                .await;
            (v == json!("phishing")).then_some(())
        })
        .await;
    browser.save_artifact("page-3-verdict").await;

    // ... which survives a restart.
    certhound.stop_cleanly("before the restart").await;
    let mut certhound = Certhound::watch(&cfg);
    let addr = admin::address(&mut certhound).await;
    certhound
        .expect_event("connected to feed", timeouts::EVENT)
        .await;
    browser
        .goto(&format!("http://{addr}/findings?verdict=phishing"))
        .await;
    assert_eq!(listed(&browser).await, [PAYPAL]);
    let badge = browser
        .find(&format!("tr[data-id='{paypal_id}'] .v.phishing"))
        .await;
    assert_eq!(badge.text().await, "phishing");
    browser.goto(&format!("http://{addr}/precision")).await;
    let keyword = browser
        .find("#by-rule tr[data-name=keyword] td")
        .await
        .text()
        .await;
    assert_eq!(keyword, "1.00", "keyword precision over 7 days");
    browser
        .save_artifact("page-4-precision-after-restart")
        .await;

    // The allowlist click on a false alarm.
    let amazon_id = id_of(addr, AMAZON).await;
    browser
        .goto(&format!("http://{addr}/findings/{amazon_id}"))
        .await;
    browser.find("#allowlist").await.click().await;
    let notice = browser.wait_for("#notice", timeouts::EVENT).await;
    assert!(
        notice.text().await.contains("was added to"),
        "{}",
        notice.text().await
    );
    assert_eq!(
        browser.find("#verdict .v").await.text().await,
        "false alarm"
    );
    browser.save_artifact("page-5-allowlisted").await;
    let text = std::fs::read_to_string(&allowlist).unwrap();
    assert!(text.lines().any(|l| l == AMAZON), "{text}");
    certhound
        .expect_event("rules reloaded", timeouts::EVENT)
        .await;
    feed.release();
    certhound.expect_findings(&[PAYPAL], timeouts::EVENT).await;
    assert_eq!(
        certhound.found_domains(),
        [PAYPAL],
        "the allowlisted domain alerted again"
    );

    // The hostile certificate: every field is text, the override is shown, nothing ran.
    let hostile_id = id_of(addr, HOSTILE).await;
    browser
        .goto(&format!("http://{addr}/findings/{hostile_id}"))
        .await;
    assert_inert(&browser, "the hostile finding").await;
    let one = api(addr, &format!("/api/findings/{hostile_id}")).await;
    let issuer = one["cert"]["issuer"].as_str().unwrap();
    assert!(
        issuer.contains("<img"),
        "the feed's issuer as stored: {issuer}"
    );
    let cert = browser
        .execute(
            "return Object.fromEntries([...document.querySelectorAll('#cert tr')].map(r => [r.querySelector('th').textContent, r.querySelector('td').textContent]))",
            &[],
        )
        .await;
    assert_eq!(cert["CN"], json!(shown(HOSTILE_CN)));
    let final_url = browser
        .execute(
            "return [...document.querySelectorAll('#scan tr')].find(r => r.querySelector('th').textContent === 'final URL').querySelector('td').textContent",
            &[],
        )
        .await;
    assert_eq!(final_url, json!(shown(HOSTILE_URL)), "the scan's final URL");
    assert_eq!(cert["issuer"], json!(shown(issuer)));
    assert!(shown(HOSTILE_CN).contains("⟨U+202E⟩"));
    let names: Vec<String> = serde_json::from_value(
        browser
            .execute(
                "return [...document.querySelectorAll('#cert-names li')].map(e => e.textContent)",
                &[],
            )
            .await,
    )
    .unwrap();
    for n in HOSTILE_NAMES {
        assert!(names.contains(&n.to_string()), "{n} in {names:?}");
    }
    assert_eq!(
        browser.title().await,
        format!("{HOSTILE} · certhound"),
        "the title is the finding's name"
    );
    browser.save_artifact("page-6-hostile").await;
    certhound.stop_cleanly("at the end").await;
}
