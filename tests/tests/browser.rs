//! The browser harness itself (`certhound_tests::browser`) against a small site served on
//! loopback by an HTTP fake: a page with a link, a form and a list; the page after the link; the
//! page a form POST answers; a page behind basic auth. Headless Chromium clicks, types, submits,
//! checks the DOM through scripts, saves a screenshot as test artefact (a PNG of the window's
//! size), sends `Authorization` both ways (userinfo in the URL, DevTools' extra headers), reports
//! a failed command with the driver's error, and leaves no process behind when dropped.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/test` installs them).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use certhound_tests::browser::{artifacts_dir, process_alive, Browser, WINDOW};
use certhound_tests::http_fake::{Fake, FakeListener};
use certhound_tests::observed::Observed;
use certhound_tests::recorded::Recorded;
use certhound_tests::timeouts;
use futures_util::FutureExt;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use tokio::sync::watch;

/// The user and password the basic-auth page accepts.
const USER: &str = "analyst";
const PASSWORD: &str = "pässword:1";

/// The site: every request it received, in order.
type Site = Fake<watch::Sender<Vec<Recorded>>, Vec<Recorded>>;

async fn site() -> Site {
    Fake::serve_http(FakeListener::bind().await, |state| state, |_| {}, answer)
}

async fn answer(
    req: Request<Incoming>,
    state: Arc<watch::Sender<Vec<Recorded>>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let req = Recorded::read(req).await;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let reply = match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => page(
            "Harness home",
            r#"<h1>Home</h1>
<p id="greeting" data-kind="hello">Hello, <b>world</b></p>
<a id="next" href="/next">to the next page</a>
<ul><li class="item">one</li><li class="item">two</li><li class="item">three</li></ul>
<form id="form" method="post" action="/submit">
  <input id="q" name="q" value="preset">
  <button id="go" type="submit">Go</button>
</form>
<button id="later" type="button"
  onclick="setTimeout(() => { const p = document.createElement('p'); p.id = 'late'; p.textContent = 'arrived'; document.body.append(p); }, 300)">later</button>"#,
        ),
        ("GET", "/next") => page("Harness next", r#"<h1 id="where">the next page</h1>"#),
        ("POST", "/submit") => {
            let q = form_value(&req.body, "q").unwrap_or_default();
            page(
                "Harness submitted",
                &format!(r#"<p id="got">{}</p>"#, escape(&q)),
            )
        }
        ("GET", path) if path.starts_with("/auth") => {
            if req.header("authorization") == Some(expected.as_str()) {
                page(
                    "Harness inside",
                    r#"<p id="inside">welcome</p><a id="deeper" href="/auth/deeper">deeper</a>"#,
                )
            } else {
                Response::builder()
                    .status(StatusCode::UNAUTHORIZED)
                    .header("www-authenticate", r#"Basic realm="harness""#)
                    .header("content-type", "text/html")
                    .body(Full::new(Bytes::from("<title>Harness 401</title>no")))
                    .unwrap()
            }
        }
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Full::new(Bytes::new()))
            .unwrap(),
    };
    state.send_modify(|seen| {
        let n = seen.len();
        seen.push(req.with(n, ()));
    });
    Ok(reply)
}

fn page(title: &str, body: &str) -> Response<Full<Bytes>> {
    let html = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body>{body}</body></html>"
    );
    Response::builder()
        .header("content-type", "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(html)))
        .unwrap()
}

/// A field of an `application/x-www-form-urlencoded` body.
fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| percent_decode(&v.replace('+', " ")))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The requests the site received for `path`.
fn requests_for(seen: &[Recorded], path: &str) -> Vec<Recorded> {
    seen.iter().filter(|r| r.path == path).cloned().collect()
}

#[tokio::test]
async fn clicks_a_link_and_submits_a_form() {
    let site = site().await;
    let b = Browser::start().await;
    b.goto(&site.base_url()).await;
    assert_eq!(b.title().await, "Harness home");
    assert_eq!(b.current_url().await, site.base_url());

    let greeting = b.find("#greeting").await;
    assert_eq!(greeting.text().await, "Hello, world");
    assert_eq!(greeting.attr("data-kind").await.as_deref(), Some("hello"));
    assert_eq!(greeting.attr("title").await, None);
    assert_eq!(greeting.find("b").await.text().await, "world");
    let mut items = Vec::new();
    for item in b.find_all("ul .item").await {
        items.push(item.text().await);
    }
    assert_eq!(items, ["one", "two", "three"]);
    assert!(b.find_all(".absent").await.is_empty());
    assert!(b.try_find(".absent").await.is_none());

    b.find("#next").await.click().await;
    let next = format!("{}next", site.base_url());
    b.wait_until(timeouts::EVENT, "the next page", async |b| {
        (b.current_url().await == next).then_some(())
    })
    .await;
    assert_eq!(b.title().await, "Harness next");
    assert_eq!(b.find("#where").await.text().await, "the next page");

    b.goto(&site.base_url()).await;
    let q = b.find("#q").await;
    assert_eq!(q.attr("value").await.as_deref(), Some("preset"));
    q.clear().await;
    assert_eq!(q.property("value").await, json!(""));
    let typed = "héllo wörld <b>&";
    q.send_keys(typed).await;
    assert_eq!(q.property("value").await, json!(typed));
    b.find("#go").await.click().await;
    let got = b.wait_for("#got", timeouts::EVENT).await;
    assert_eq!(got.text().await, typed);
    assert_eq!(b.title().await, "Harness submitted");

    let seen = site.state();
    let posts = requests_for(&seen, "/submit");
    assert_eq!(posts.len(), 1, "one POST /submit: {seen:#?}");
    assert_eq!(posts[0].method, "POST");
    assert_eq!(form_value(&posts[0].body, "q").as_deref(), Some(typed));
    assert_eq!(requests_for(&seen, "/next").len(), 1);
}

#[tokio::test]
async fn checks_the_dom_through_scripts_and_waits_for_what_comes_later() {
    let site = site().await;
    let b = Browser::start().await;
    b.goto(&site.base_url()).await;

    assert_eq!(
        b.execute("return document.querySelectorAll('.item').length", &[])
            .await,
        json!(3)
    );
    let greeting = b.find("#greeting").await;
    assert_eq!(
        b.execute(
            "return [arguments[0].tagName, arguments[0].dataset.kind, arguments[1]]",
            &[greeting.arg(), json!({"n": 7})],
        )
        .await,
        json!(["P", "hello", {"n": 7}])
    );
    // Text set through the DOM stays text: a tag in it creates no element.
    b.execute(
        "document.getElementById('greeting').textContent = arguments[0]",
        &[json!("<img id=injected src=x>")],
    )
    .await;
    assert!(b.try_find("#injected").await.is_none());
    assert_eq!(greeting.text().await, "<img id=injected src=x>");
    assert_eq!(
        b.execute("return [window.innerWidth, window.innerHeight]", &[])
            .await,
        json!([WINDOW.0, WINDOW.1])
    );

    // Appears 300 ms after the click, from the page's own timer.
    assert!(b.try_find("#late").await.is_none());
    b.find("#later").await.click().await;
    assert_eq!(
        b.wait_for("#late", timeouts::EVENT).await.text().await,
        "arrived"
    );
    let count = b
        .wait_until(timeouts::EVENT, "a paragraph count", async |b| {
            b.execute("return document.querySelectorAll('p').length", &[])
                .await
                .as_u64()
        })
        .await;
    assert_eq!(count, 2);
}

/// `(width, height)` from a PNG's IHDR chunk; fails when the bytes are not a PNG.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png[..8] == *b"\x89PNG\r\n\x1a\n",
        "not a PNG ({} bytes)",
        png.len()
    );
    assert_eq!(&png[12..16], b"IHDR", "the first chunk is not IHDR");
    let be = |b: &[u8]| u32::from_be_bytes(b.try_into().unwrap());
    (be(&png[16..20]), be(&png[20..24]))
}

#[tokio::test]
async fn saves_a_screenshot_of_the_window_as_artefact() {
    let site = site().await;
    let b = Browser::start().await;
    b.goto(&site.base_url()).await;
    let path = b.save_artifact("browser-harness-home").await;
    assert_eq!(path, artifacts_dir().join("browser-harness-home.png"));
    let png = std::fs::read(&path).unwrap();
    assert_eq!(png_size(&png), WINDOW);

    let elsewhere = tempfile::tempdir().unwrap();
    let nested = elsewhere.path().join("a/b/shot.png");
    b.screenshot(&nested).await;
    assert_eq!(png_size(&std::fs::read(&nested).unwrap()), WINDOW);
}

#[tokio::test]
async fn basic_auth_from_credentials_in_the_url() {
    let site = site().await;
    let b = Browser::start().await;
    let addr = site.addr();
    // The password's `:` and `ä` percent-encoded, as a URL's userinfo needs.
    b.goto(&format!("http://{USER}:p%C3%A4ssword%3A1@{addr}/auth"))
        .await;
    assert_eq!(b.find("#inside").await.text().await, "welcome");
    // Chromium keeps the credentials for the session: it answers the next page's challenge
    // with them too, without a prompt (it does not send them unasked).
    b.find("#deeper").await.click().await;
    b.wait_until(timeouts::EVENT, "the deeper page", async |b| {
        b.current_url()
            .await
            .ends_with("/auth/deeper")
            .then_some(())
    })
    .await;
    assert_eq!(b.find("#inside").await.text().await, "welcome");

    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let seen = site.state();
    for path in ["/auth", "/auth/deeper"] {
        let requests = requests_for(&seen, path);
        let sent: Vec<Option<&str>> = requests.iter().map(|r| r.header("authorization")).collect();
        // Each: challenged (401), then answered with the credentials.
        assert_eq!(sent, [None, Some(expected.as_str())], "{path}: {seen:#?}");
    }
}

#[tokio::test]
async fn basic_auth_header_sent_from_the_first_request() {
    let site = site().await;
    let b = Browser::start().await;
    b.set_basic_auth(USER, PASSWORD).await;
    b.goto(&format!("{}auth", site.base_url())).await;
    assert_eq!(b.find("#inside").await.text().await, "welcome");

    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"))
    );
    let seen = site
        .wait_for(timeouts::EVENT, |seen| {
            !requests_for(seen, "/auth").is_empty()
        })
        .await
        .expect("the site saw /auth");
    let auth = requests_for(&seen, "/auth");
    assert_eq!(auth.len(), 1, "no challenge needed: {auth:#?}");
    assert_eq!(auth[0].header("authorization"), Some(expected.as_str()));

    // Any header, replacing the ones set before.
    b.set_extra_headers(&[("X-Harness", "yes")]).await;
    b.goto(&format!("{}next", site.base_url())).await;
    let seen = site.state();
    let next = requests_for(&seen, "/next");
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].header("x-harness"), Some("yes"));
    assert_eq!(next[0].header("authorization"), None);
}

#[tokio::test]
async fn a_failed_command_names_the_command_and_the_drivers_error() {
    let site = site().await;
    let b = Browser::start().await;
    b.goto(&site.base_url()).await;
    let message = |payload: Box<dyn std::any::Any + Send>| -> String {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    };

    let failed = std::panic::AssertUnwindSafe(b.find("#absent"))
        .catch_unwind()
        .await
        .map(|_| ())
        .expect_err("finding an absent element fails");
    let failed = message(failed);
    assert!(
        failed.contains(r##"find "#absent""##) && failed.contains("no such element"),
        "{failed}"
    );

    let failed = std::panic::AssertUnwindSafe(b.execute("throw new Error('on purpose')", &[]))
        .catch_unwind()
        .await
        .map(|_| ())
        .expect_err("a throwing script fails");
    let failed = message(failed);
    assert!(
        failed.contains("execute")
            && failed.contains("javascript error")
            && failed.contains("on purpose"),
        "{failed}"
    );

    // A wait that runs out says what it waited for and where the page was, without the
    // password of the URL.
    b.goto(&format!(
        "http://{USER}:p%C3%A4ssword%3A1@{}/auth",
        site.addr()
    ))
    .await;
    let failed = std::panic::AssertUnwindSafe(b.wait_for("#never", Duration::from_millis(200)))
        .catch_unwind()
        .await
        .map(|_| ())
        .expect_err("the wait runs out");
    let failed = message(failed);
    assert!(
        failed.contains(r##"an element matching "#never""##)
            && failed.contains("Harness inside")
            && failed.contains("screenshot "),
        "{failed}"
    );
    assert!(!failed.contains("ssword%3A1"), "{failed}");
    // The screenshot it names is there; removed, as it shows no failure of the harness.
    let shot = failed.rsplit_once("screenshot ").unwrap().1;
    assert!(shot.ends_with("-timeout.png"), "{failed}");
    assert_eq!(png_size(&std::fs::read(shot).unwrap()), WINDOW);
    std::fs::remove_file(shot).unwrap();
}

#[tokio::test]
async fn dropping_the_browser_leaves_no_process_of_it() {
    let site = site().await;
    let b = Browser::start().await;
    b.goto(&site.base_url()).await;
    let processes = b.processes();
    // chromedriver, the browser and at least one renderer.
    assert!(processes.len() >= 3, "{processes:?}");
    drop(b);
    // Killed processes are gone at once or after a moment; the wait watches /proc.
    let deadline = tokio::time::Instant::now() + timeouts::EVENT;
    loop {
        let left: Vec<u32> = processes
            .iter()
            .copied()
            .filter(|&pid| process_alive(pid))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still running after the drop: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
