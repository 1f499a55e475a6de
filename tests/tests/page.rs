//! The analyst page over HTTP (its browser tests are in `page_browser.rs`): a real `certhound
//! watch` with findings from a loopback feed; the list, the JSON API and its filters; verdicts
//! through the page's form with and without its CSRF token, from another origin, on a read-only
//! page; the figures on `/metrics`; `certhound findings --verdict`; the screenshot proxy and its
//! cache; the token beyond loopback.

use certhound_tests::admin;
use certhound_tests::messages::lite;
use certhound_tests::observed::Observed;
use certhound_tests::urlscan_server::{screenshot_png, Endpoint, FakeUrlscan, API_KEY};
use certhound_tests::{timeouts, Certhound, CerthoundCommand, FakeCertstream, Step, TestConfig};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;

const DOMAINS: [&str; 3] = [
    "paypal-secure-login.xyz",
    "amazom-verify.top",
    "wellsfargo-account-update.com",
];

fn feed() -> Vec<Step> {
    DOMAINS
        .iter()
        .enumerate()
        .map(|(i, d)| Step::Text(lite(&[d], i as u64 + 1)))
        .collect()
}

/// A watch with the page on loopback, once every domain of [`DOMAINS`] is a finding.
async fn watch_with_page(
    adjust: impl FnOnce(&mut TestConfig),
) -> (FakeCertstream, TestConfig, Certhound, SocketAddr) {
    let feed = FakeCertstream::start(feed()).await;
    let mut cfg = TestConfig::with_feed(&feed.url());
    cfg.admin();
    adjust(&mut cfg);
    let mut certhound = Certhound::watch(&cfg);
    certhound.expect_findings(&DOMAINS, timeouts::EVENT).await;
    let addr = admin::address(&mut certhound).await;
    (feed, cfg, certhound, addr)
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, ctype, body) = admin::get(addr, path).await;
    assert_eq!(ctype, "application/json", "{path}: {body}");
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}")),
    )
}

/// The CSRF token of the page's forms.
fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a CSRF field in the page")
        + 19;
    html[at..].split('"').next().unwrap().to_string()
}

async fn post_verdict(
    addr: SocketAddr,
    id: &str,
    form: &[(&str, &str)],
    origin: Option<&str>,
) -> reqwest::Response {
    let mut req = client()
        .post(format!("http://{addr}/findings/{id}/verdict"))
        .form(form);
    if let Some(o) = origin {
        req = req.header("Origin", o);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verdicts_need_the_pages_csrf_token_and_feed_the_figures() {
    let (_feed, cfg, mut certhound, addr) = watch_with_page(|c| {
        c.set("admin.page", "writable", "true");
    })
    .await;

    // The list: every finding, newest first, in the page and in the API.
    let (status, _, html) = admin::get(addr, "/findings").await;
    assert_eq!(status, 200, "{html}");
    for d in DOMAINS {
        assert!(html.contains(d), "{d} not on the page");
    }
    let (status, all) = get_json(addr, "/api/findings").await;
    assert_eq!(status, 200);
    assert_eq!(all["total"], 3, "{all}");
    let listed: Vec<&str> = all["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["registrable_domain"].as_str().unwrap())
        .collect();
    assert_eq!(
        listed,
        [
            "wellsfargo-account-update.com",
            "amazom-verify.top",
            "paypal-secure-login.xyz"
        ]
    );
    let (_, lookalikes) = get_json(addr, "/api/findings?rule=lookalike").await;
    assert_eq!(lookalikes["total"], 1, "{lookalikes}");
    assert_eq!(
        lookalikes["findings"][0]["registrable_domain"],
        "amazom-verify.top"
    );
    let (status, bad) = get_json(addr, "/api/findings?verdict=maybe").await;
    assert_eq!(status, 400);
    assert!(
        bad["error"].as_str().unwrap().starts_with("verdict:"),
        "{bad}"
    );

    let paypal = admin::finding_id(&all, "paypal-secure-login.xyz");
    let amazon = admin::finding_id(&all, "amazom-verify.top");
    let csrf = csrf_of(&html);

    // No token, a forged one, another origin: refused, nothing recorded.
    for (form, origin) in [
        (vec![("verdict", "phishing")], None),
        (
            vec![("verdict", "phishing"), ("csrf", "1700000000.deadbeef")],
            None,
        ),
        (
            vec![("verdict", "phishing"), ("csrf", csrf.as_str())],
            Some("https://attacker.example"),
        ),
    ] {
        let r = post_verdict(addr, &paypal, &form, origin).await;
        assert_eq!(r.status(), 403, "{form:?} {origin:?}");
    }
    let (_, one) = get_json(addr, &format!("/api/findings/{paypal}")).await;
    assert_eq!(one["verdict"], Value::Null, "{one}");

    // With the page's token: recorded, and the answer sends the browser back.
    let r = post_verdict(
        addr,
        &paypal,
        &[
            ("verdict", "phishing"),
            ("csrf", &csrf),
            ("return", "/findings?rule=keyword"),
        ],
        Some(&format!("http://{addr}")),
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/findings?rule=keyword");
    let r = post_verdict(
        addr,
        &amazon,
        &[
            ("verdict", "false_alarm"),
            ("csrf", &csrf),
            ("return", "//evil.example/"),
        ],
        None,
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()["location"],
        format!("/findings/{amazon}?done=verdict")
    );
    let r = post_verdict(
        addr,
        &amazon,
        &[("verdict", "great"), ("csrf", &csrf)],
        None,
    )
    .await;
    assert_eq!(r.status(), 400);
    let r = post_verdict(
        addr,
        "00000000:999",
        &[("verdict", "unsure"), ("csrf", &csrf)],
        None,
    )
    .await;
    assert_eq!(r.status(), 404);

    let (_, one) = get_json(addr, &format!("/api/findings/{paypal}")).await;
    assert_eq!(one["verdict"]["verdict"], "phishing", "{one}");
    assert_eq!(one["verdict"]["by"], "page");
    let (_, judged) = get_json(addr, "/api/findings?verdict=none").await;
    assert_eq!(judged["total"], 1, "{judged}");

    // The figures, at once (a verdict recomputes them).
    let (_, p) = get_json(addr, "/api/precision").await;
    let w7 = &p["windows"][0];
    assert_eq!(w7["days"], 7);
    assert_eq!(w7["by_rule"]["keyword"]["phishing"], 1, "{p}");
    assert_eq!(w7["by_brand"]["amazon"]["false_alarm"], 1, "{p}");
    assert_eq!(p["days"][0]["findings"], 3, "{p}");
    let scrape = admin::scrape(addr).await;
    fn labels<'a>(k: &'a str, v: &'a str) -> [(&'a str, &'a str); 2] {
        [(k, v), ("window", "7d")]
    }
    assert_eq!(
        scrape.value("certhound_brand_precision", &labels("brand", "paypal")),
        Some(1.0),
        "{}",
        scrape.text
    );
    assert_eq!(
        scrape.value("certhound_brand_precision", &labels("brand", "amazon")),
        Some(0.0)
    );
    assert_eq!(
        scrape.value(
            "certhound_rule_verdicts",
            &[("rule", "keyword"), ("window", "30d"), ("verdict", "none")]
        ),
        Some(1.0),
        "wellsfargo is not judged"
    );
    assert_eq!(
        scrape.value("certhound_findings_per_day", &[("window", "1d")]),
        Some(3.0)
    );
    let (_, _, precision) = admin::get(addr, "/precision").await;
    assert!(precision.contains("id=\"by-brand\""), "{precision}");

    // The verdicts are in the store: `certhound findings` shows them once certhound stopped.
    certhound.stop_cleanly("after the verdicts").await;
    let out = CerthoundCommand::new()
        .test_config(&cfg)
        .args(["findings", "--verdict", "phishing", "--json"])
        .run(timeouts::EVENT)
        .await;
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
    let lines: Vec<Value> = out
        .stdout_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout_text());
    assert_eq!(lines[0]["domain"], "paypal-secure-login.xyz");
    assert_eq!(lines[0]["verdict"]["verdict"], "phishing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_page_has_no_forms_and_refuses_posts_and_pages() {
    let (_feed, _cfg, _certhound, addr) = watch_with_page(|c| {
        c.set("admin.page", "page_size", "2");
    })
    .await;
    let (status, _, html) = admin::get(addr, "/findings").await;
    assert_eq!(status, 200);
    assert!(
        !html.contains("method=\"post\""),
        "forms on a read-only page"
    );
    assert!(html.contains("read-only"));
    // Pages of two: the older one behind the "older" link.
    assert!(html.contains("href=\"/findings?page=2\""), "{html}");
    assert_eq!(html.matches("class=\"finding\"").count(), 2);
    let (_, _, second) = admin::get(addr, "/findings?page=2").await;
    assert_eq!(second.matches("class=\"finding\"").count(), 1);
    assert!(second.contains("paypal-secure-login.xyz") && second.contains("rel=\"prev\""));
    let (_, all) = get_json(addr, "/api/findings?page=2").await;
    assert_eq!(
        (
            all["total"].as_u64(),
            all["findings"].as_array().unwrap().len()
        ),
        (Some(3), 1)
    );
    let id = admin::finding_id(&all, "paypal-secure-login.xyz");
    let r = post_verdict(
        addr,
        &id,
        &[("verdict", "phishing"), ("csrf", "1.00")],
        None,
    )
    .await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("admin.page.writable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_come_through_certhound_once_per_scan() {
    let urlscan = FakeUrlscan::start().await;
    let (_feed, _cfg, _certhound, addr) = watch_with_page(|c| {
        c.urlscan_at(&urlscan.base_url());
        c.set_str("urlscan", "api_key", API_KEY);
        c.set_str("urlscan", "poll_timeout", "30s");
    })
    .await;
    let (_, all) = get_json(addr, "/api/findings").await;
    let (_, _, html) = admin::get(addr, "/findings").await;
    for f in all["findings"].as_array().unwrap() {
        let id = f["id"].as_str().unwrap();
        assert_eq!(f["scan"]["finished"], true, "{f}");
        assert!(
            html.contains(&format!("src=\"/screenshots/{id}\"")),
            "no thumbnail for {id}"
        );
        for _ in 0..3 {
            let r = client()
                .get(format!("http://{addr}/screenshots/{id}"))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.headers()["content-type"], "image/png");
            let uuid = f["scan"]["uuid"].as_str().unwrap();
            assert_eq!(&r.bytes().await.unwrap()[..], &screenshot_png(uuid)[..]);
        }
    }
    // Three views of each, one fetch of each from urlscan.
    assert_eq!(urlscan.state().of(Endpoint::Screenshot).len(), 3);
    let (status, _, _) = admin::get(addr, "/screenshots/00000000:999").await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_loopback_the_page_asks_for_the_token() {
    const TOKEN: &str = "page-token-0123456789-abcdef";
    for token in [None, Some(TOKEN)] {
        let feed = FakeCertstream::start(feed()).await;
        let mut cfg = TestConfig::with_feed(&feed.url());
        cfg.set_str("admin", "listen", "0.0.0.0:0");
        let mut cmd = CerthoundCommand::new().test_config(&cfg).arg("watch");
        if let Some(t) = token {
            cmd = cmd.env("CERTHOUND_ADMIN__TOKEN", t);
        }
        let mut certhound = cmd.spawn();
        certhound.expect_findings(&DOMAINS, timeouts::EVENT).await;
        let port = admin::address(&mut certhound).await.port();
        let base = format!("http://127.0.0.1:{port}");
        let get = |path: &str, auth: Option<String>| {
            let mut r = client().get(format!("{base}{path}"));
            if let Some(a) = auth {
                r = r.header("Authorization", a);
            }
            async move { r.send().await.unwrap() }
        };
        // The scraper and the health check never need it.
        assert_eq!(get("/metrics", None).await.status(), 200);
        assert_eq!(get("/healthz", None).await.status(), 200);
        for path in [
            "/findings",
            "/api/findings",
            "/precision",
            "/static/page.css",
        ] {
            let r = get(path, None).await;
            assert_eq!(r.status(), 401, "{path} without a token ({token:?})");
            assert!(r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Basic"));
            let r = get(path, Some("Bearer wrong-token-0123456789".into())).await;
            assert_eq!(r.status(), 401, "{path} with a wrong token");
        }
        if let Some(t) = token {
            let r = get("/api/findings", Some(format!("Bearer {t}"))).await;
            assert_eq!(r.status(), 200);
            use base64::Engine;
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{t}"));
            let r = get("/findings", Some(format!("Basic {basic}"))).await;
            assert_eq!(r.status(), 200);
        } else {
            certhound
                .wait_for_events(
                    "admin.listen is beyond loopback and admin.token is not set",
                    1,
                    timeouts::EVENT,
                    |_| true,
                )
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
        certhound.stop_cleanly("after the auth checks").await;
        certhound.pump();
        assert!(
            !certhound.stderr.join("\n").contains(TOKEN),
            "the token reached the logs"
        );
    }
}

/// On the DynamoDB store the page reads the shared table and its verdicts are items of it:
/// another task's page and `certhound findings` see them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_dynamodb_verdicts_are_kept_in_the_table() {
    let moto = certhound_tests::moto::Moto::start_serialised().await;
    let feed = FakeCertstream::start(feed()).await;
    let mut cfg = TestConfig::with_feed(&feed.url());
    cfg.admin();
    cfg.set("admin.page", "writable", "true");
    cfg.set_str("aws", "endpoint_url", &moto.endpoint());
    cfg.set_str("aws", "region", "us-east-1");
    cfg.set_str("store", "backend", "dynamodb");
    cfg.set_str("store.dynamodb", "table", "certhound-page");
    cfg.set("store.dynamodb", "create_table", "true");
    let command = || {
        let mut c = CerthoundCommand::new().test_config(&cfg);
        for (k, v) in moto.env() {
            c = c.env(k, v);
        }
        c
    };
    let mut certhound = command().arg("watch").spawn();
    certhound.expect_findings(&DOMAINS, timeouts::EVENT).await;
    let addr = admin::address(&mut certhound).await;
    let (_, _, html) = admin::get(addr, "/findings").await;
    let (_, all) = get_json(addr, "/api/findings").await;
    assert_eq!(all["total"], 3, "{all}");
    let id = admin::finding_id(&all, "wellsfargo-account-update.com");
    let r = post_verdict(
        addr,
        &id,
        &[("verdict", "unsure"), ("csrf", &csrf_of(&html))],
        None,
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, one) = get_json(addr, &format!("/api/findings/{id}")).await;
    assert_eq!(one["verdict"]["verdict"], "unsure", "{one}");
    certhound.stop_cleanly("after the verdict").await;
    let out = command()
        .args(["findings", "--verdict", "unsure", "--json"])
        .run(timeouts::EVENT)
        .await;
    assert_eq!(out.code(), Some(0), "{}", out.stderr_text());
    let text = out.stdout_text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let line: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(line["id"], id.as_str());
    assert_eq!(line["verdict"]["by"], "page");
}
