//! A loopback RDAP server: a real HTTP/1.1 server (hyper) on 127.0.0.1 that fakes a registry's
//! RDAP service for the enrichment tests. It serves
//!
//! - `GET /dns.json`: an IANA-format bootstrap that maps the TLDs it was started for to itself;
//! - `GET /domain/<name>`: a scripted [`Answer`] per domain (the real Verisign fixture, a
//!   generated answer with given dates in the same JSON shape, 404, 429 with `Retry-After`, 500,
//!   a garbage body, a delayed answer, or no answer at all: the request is read and the
//!   connection held open).
//!
//! Every request is recorded with its arrival time (tokio `Instant`, so paused time works) and
//! the status answered; tests wait on what it saw with `wait_for*` (woken on each request, never
//! polled) and check rates with [`RdapState::max_in_window`].

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::answers::{DomainScripts, ScriptedShared};
use crate::fixtures::read_fixture;
use crate::http_fake::{Fake, FakeListener};
use crate::observed::{Observed, Waited};
use crate::recorded::Recorded;

/// The real Verisign answer for `1989shack.com` (`tests/fixtures/rdap/`).
pub const VERISIGN_FIXTURE: &str = "rdap/verisign_1989shack.com.json";

/// Registration data a generated answer carries (RFC 3339 strings, as RDAP writes them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dates {
    pub registration: Option<String>,
    pub last_changed: Option<String>,
    pub expiration: Option<String>,
    pub registrar: Option<String>,
}

impl Dates {
    /// Registered `created`, last changed `updated` (RFC 3339 or `YYYY-MM-DD`), expiring a year
    /// after the registration, registrar "Fake Registrar Inc.".
    pub fn new(created: &str, updated: &str) -> Dates {
        let expiration = created
            .get(0..4)
            .and_then(|y| y.parse::<i32>().ok())
            .map(|y| format!("{}{}", y + 1, &created[4..]));
        Dates {
            registration: Some(rfc3339(created)),
            last_changed: Some(rfc3339(updated)),
            expiration: expiration.map(|e| rfc3339(&e)),
            registrar: Some("Fake Registrar Inc.".into()),
        }
    }
}

/// `2024-01-02` → `2024-01-02T00:00:00Z`; full RFC 3339 times unchanged.
fn rfc3339(s: &str) -> String {
    if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_string()
    }
}

/// An RDAP domain answer in the shape of the Verisign fixture (`objectClassName`, `ldhName`,
/// `links` with `self` and `related`, a registrar entity with a jCard, `events` including a
/// `last update of RDAP database` that must not count as a change of the domain).
pub fn domain_json(name: &str, dates: &Dates) -> String {
    let upper = name.to_ascii_uppercase();
    let mut events = Vec::new();
    if let Some(d) = &dates.registration {
        events.push(json!({"eventAction": "registration", "eventDate": d}));
    }
    if let Some(d) = &dates.expiration {
        events.push(json!({"eventAction": "expiration", "eventDate": d}));
    }
    if let Some(d) = &dates.last_changed {
        events.push(json!({"eventAction": "last changed", "eventDate": d}));
    }
    events.push(json!({
        "eventAction": "last update of RDAP database",
        "eventDate": "2099-01-01T00:00:00Z"
    }));
    let mut entities = Vec::new();
    if let Some(r) = &dates.registrar {
        entities.push(json!({
            "objectClassName": "entity",
            "handle": "9999",
            "roles": ["registrar"],
            "publicIds": [{"type": "IANA Registrar ID", "identifier": "9999"}],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", r]]]
        }));
    }
    json!({
        "objectClassName": "domain",
        "handle": format!("{}_DOMAIN-FAKE", upper.replace('.', "_")),
        "ldhName": upper,
        "links": [
            {"value": format!("https://rdap.example/domain/{upper}"), "rel": "self",
             "href": format!("https://rdap.example/domain/{upper}"), "type": "application/rdap+json"}
        ],
        "status": ["active"],
        "entities": entities,
        "events": events,
        "secureDNS": {"delegationSigned": false},
        "nameservers": [{"objectClassName": "nameserver", "ldhName": "NS1.EXAMPLE.NET"}],
        "rdapConformance": ["rdap_level_0"],
        "notices": [{"title": "Terms of Use", "description": ["A fake registry."]}]
    })
    .to_string()
}

/// The IANA `dns.json` format: each entry maps TLDs to base URLs.
pub fn bootstrap_json(entries: &[(&[&str], &str)]) -> String {
    let services: Vec<_> = entries
        .iter()
        .map(|(tlds, base)| json!([tlds, [base]]))
        .collect();
    json!({
        "version": "1.0",
        "publication": "2025-01-01T00:00:00Z",
        "description": "certhound tests",
        "services": services
    })
    .to_string()
}

/// What the server answers to one `GET /domain/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// 200 with this body (`application/rdap+json`).
    Json(String),
    /// 200 with a generated answer for the requested name.
    Dates(Dates),
    /// 404 (the registry does not know the domain).
    NotFound,
    /// 429 with `Retry-After: <secs>`.
    TooMany(u64),
    /// This status with a small JSON error body (500, 503...).
    Status(u16),
    /// 200 with a body that is not JSON.
    Garbage,
    /// Wait, then answer.
    Delayed(Duration, Box<Answer>),
    /// Hold the answer until the test calls [`FakeRdap::open_gate`] (at once when it is open).
    /// Lets a test make sure every concurrent client is waiting before the first answer.
    Gated(Box<Answer>),
    /// Read the request, never answer; the connection stays open until the server is dropped.
    Hang,
}

impl Answer {
    /// The real Verisign answer for `1989shack.com`.
    pub fn verisign() -> Answer {
        Answer::Json(read_fixture(VERISIGN_FIXTURE))
    }

    /// A generated answer: registered `created`, last changed `updated`.
    pub fn dates(created: &str, updated: &str) -> Answer {
        Answer::Dates(Dates::new(created, updated))
    }

    pub fn delayed(delay: Duration, then: Answer) -> Answer {
        Answer::Delayed(delay, Box::new(then))
    }

    pub fn gated(then: Answer) -> Answer {
        Answer::Gated(Box::new(then))
    }

    /// The status this answer ends in (`None` for [`Answer::Hang`]).
    fn status(&self) -> Option<u16> {
        match self {
            Answer::Json(_) | Answer::Dates(_) | Answer::Garbage => Some(200),
            Answer::NotFound => Some(404),
            Answer::TooMany(_) => Some(429),
            Answer::Status(s) => Some(*s),
            Answer::Delayed(_, a) | Answer::Gated(a) => a.status(),
            Answer::Hang => None,
        }
    }
}

/// What the server made of a request.
#[derive(Debug, Clone)]
pub struct Made {
    /// The lowercased `<name>` of `/domain/<name>`; `None` for other paths.
    pub domain: Option<String>,
    /// The status it gets (`None`: never answered).
    pub status: Option<u16>,
}

/// One request as received.
pub type Received = Recorded<Made>;

/// Everything the server received so far.
#[derive(Debug, Clone, Default)]
pub struct RdapState {
    pub requests: Vec<Received>,
    /// TCP connections accepted.
    pub connections: usize,
}

impl RdapState {
    /// The `/domain/...` requests.
    pub fn domain_requests(&self) -> Vec<&Received> {
        self.requests
            .iter()
            .filter(|r| r.domain.is_some())
            .collect()
    }

    /// The requests for this domain, in order.
    pub fn for_domain(&self, domain: &str) -> Vec<&Received> {
        let domain = domain.to_ascii_lowercase();
        self.requests
            .iter()
            .filter(|r| r.domain.as_deref() == Some(domain.as_str()))
            .collect()
    }

    /// How many `/domain/...` requests arrived for this domain.
    pub fn count_for(&self, domain: &str) -> usize {
        self.for_domain(domain).len()
    }

    /// Requests for `/dns.json`.
    pub fn bootstrap_requests(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| r.path == "/dns.json")
            .count()
    }

    /// Arrival times of the `/domain/...` requests, in order.
    pub fn domain_times(&self) -> Vec<Instant> {
        self.domain_requests().iter().map(|r| r.at).collect()
    }

    /// The largest number of `/domain/...` requests that arrived within any window of length
    /// `window` (closed at the start, open at the end).
    pub fn max_in_window(&self, window: Duration) -> usize {
        max_in_window(&self.domain_times(), window)
    }
}

/// The calendar day `days` before today (UTC), as `YYYY-MM-DD`: a registration date that is
/// "recent" (or not) whenever the test runs.
pub fn days_ago(days: u64) -> String {
    let then = std::time::SystemTime::now() - Duration::from_secs(days * 86_400);
    crate::urlscan_server::iso8601(then)[..10].to_string()
}

/// The largest number of `times` (sorted or not) within any `[t, t + window)`.
pub fn max_in_window(times: &[Instant], window: Duration) -> usize {
    let mut t: Vec<Instant> = times.to_vec();
    t.sort();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..t.len() {
        while t[hi].duration_since(t[lo]) >= window {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

/// What the handler shares with the server's methods.
pub struct Shared {
    /// The TLDs the bootstrap maps to this server.
    tlds: Vec<String>,
    base: String,
    /// The answers per domain (404 for domains without a script unless set).
    answers: Mutex<DomainScripts<Answer>>,
    state: watch::Sender<RdapState>,
    gate: watch::Sender<bool>,
}

/// The running server; stops (and closes every connection) when dropped.
pub type FakeRdap = Fake<Shared, RdapState>;

impl FakeRdap {
    /// A server whose bootstrap maps `tlds` to itself; unscripted domains get 404.
    pub async fn start(tlds: &[&str]) -> FakeRdap {
        let listener = FakeListener::bind().await;
        let addr = listener.addr();
        Fake::serve_http(
            listener,
            |state| Shared {
                tlds: tlds.iter().map(|t| t.to_string()).collect(),
                base: format!("http://{addr}/"),
                answers: Mutex::new(DomainScripts::new(Answer::NotFound)),
                state,
                gate: watch::channel(false).0,
            },
            |shared| shared.state.send_modify(|s| s.connections += 1),
            handle,
        )
    }

    /// `http://127.0.0.1:PORT/dns.json`.
    pub fn bootstrap_url(&self) -> String {
        format!("{}dns.json", self.shared.base)
    }

    /// The bootstrap it serves: its TLDs → [`Self::base_url`].
    pub fn bootstrap_json(&self) -> String {
        let tlds: Vec<&str> = self.shared.tlds.iter().map(String::as_str).collect();
        bootstrap_json(&[(&tlds, &self.shared.base)])
    }

    /// Lets every [`Answer::Gated`] answer go, now and from now on.
    pub fn open_gate(&self) {
        self.shared.gate.send_replace(true);
    }

    /// Waits until at least `n` `/domain/...` requests arrived.
    pub async fn wait_for_domain_requests(&self, n: usize, timeout: Duration) -> Waited<RdapState> {
        self.wait_for(timeout, |s| s.domain_requests().len() >= n)
            .await
    }

    /// Waits until at least `n` requests for `domain` arrived.
    pub async fn wait_for_requests_for(
        &self,
        domain: &str,
        n: usize,
        timeout: Duration,
    ) -> Waited<RdapState> {
        self.wait_for(timeout, |s| s.count_for(domain) >= n).await
    }
}

type Resp = Response<Full<Bytes>>;

fn response(status: u16, content_type: &str, body: String) -> Resp {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

fn error_body(status: u16, title: &str) -> String {
    json!({"errorCode": status, "title": title, "rdapConformance": ["rdap_level_0"]}).to_string()
}

/// The fake's script methods (`script`, `answer`, `set_default`, from [`crate::answers`]) set
/// the answers the handler below takes.
impl ScriptedShared for Shared {
    type Answer = Answer;

    fn scripts(&self) -> &Mutex<DomainScripts<Answer>> {
        &self.answers
    }
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Resp, Infallible> {
    let request = Recorded::read(req).await;
    let path = request.path.clone();
    let domain = path
        .strip_prefix("/domain/")
        .map(|d| d.trim_end_matches('/').to_ascii_lowercase());
    let answer = domain
        .as_ref()
        .map(|d| shared.answers.lock().unwrap().next(d));
    let status = match (&answer, path.as_str()) {
        (Some(a), _) => a.status(),
        (None, "/dns.json") => Some(200),
        (None, _) => Some(404),
    };
    shared.state.send_modify(|s| {
        let n = s.requests.len();
        s.requests.push(request.with(
            n,
            Made {
                domain: domain.clone(),
                status,
            },
        ));
    });
    let Some(mut answer) = answer else {
        return Ok(if path == "/dns.json" {
            let tlds: Vec<&str> = shared.tlds.iter().map(String::as_str).collect();
            response(
                200,
                "application/json",
                bootstrap_json(&[(&tlds, &shared.base)]),
            )
        } else {
            response(404, "application/rdap+json", error_body(404, "Not Found"))
        });
    };
    let name = domain.unwrap_or_default();
    let answer = loop {
        match answer {
            Answer::Delayed(d, then) => {
                tokio::time::sleep(d).await;
                answer = *then;
            }
            Answer::Gated(then) => {
                let mut gate = shared.gate.subscribe();
                let _ = gate.wait_for(|open| *open).await;
                answer = *then;
            }
            other => break other,
        }
    };
    Ok(match answer {
        Answer::Delayed(..) | Answer::Gated(..) => unreachable!("unwrapped above"),
        Answer::Hang => std::future::pending().await,
        Answer::Json(body) => response(200, "application/rdap+json", body),
        Answer::Dates(dates) => response(200, "application/rdap+json", domain_json(&name, &dates)),
        Answer::NotFound => response(404, "application/rdap+json", error_body(404, "Not Found")),
        Answer::TooMany(secs) => {
            let mut r = response(
                429,
                "application/rdap+json",
                error_body(429, "Too Many Requests"),
            );
            r.headers_mut()
                .insert("retry-after", secs.to_string().parse().unwrap());
            r
        }
        Answer::Status(s) => response(s, "application/rdap+json", error_body(s, "Error")),
        Answer::Garbage => response(
            200,
            "application/rdap+json",
            "<html><body>502 Bad Gateway</body></html>\u{0}\u{1}{\"objectClassName\":".into(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::still_pending;
    use std::net::SocketAddr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const T: Duration = Duration::from_secs(10);

    /// One GET on a fresh connection (`Connection: close`): everything read until EOF.
    async fn get_raw(addr: SocketAddr, path: &str) -> String {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: application/rdap+json\r\nConnection: close\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        let _ = tcp.read_to_end(&mut buf).await;
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// One GET: (status, head lowercased, body).
    async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
        let text = get_raw(addr, path).await;
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    }

    #[tokio::test]
    async fn serves_bootstrap_fixture_and_generated_answers() {
        let rdap = FakeRdap::start(&["com", "net"]).await;
        rdap.answer("1989shack.com", Answer::verisign());
        rdap.answer(
            "new.net",
            Answer::dates("2025-01-02", "2025-03-04T05:06:07Z"),
        );

        let (status, _, body) = get(rdap.addr(), "/dns.json").await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["services"][0][0], json!(["com", "net"]));
        assert_eq!(v["services"][0][1][0], json!(rdap.base_url()));
        assert_eq!(body, rdap.bootstrap_json());

        let (status, head, body) = get(rdap.addr(), "/domain/1989SHACK.COM").await;
        assert_eq!(status, 200);
        assert!(
            head.contains("content-type: application/rdap+json"),
            "{head}"
        );
        assert_eq!(body, read_fixture(VERISIGN_FIXTURE));

        let (status, _, body) = get(rdap.addr(), "/domain/new.net").await;
        assert_eq!(status, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["objectClassName"], "domain");
        assert_eq!(v["ldhName"], "NEW.NET");
        let events = v["events"].as_array().unwrap();
        let date = |a: &str| {
            events
                .iter()
                .find(|e| e["eventAction"] == a)
                .map(|e| e["eventDate"].as_str().unwrap())
        };
        assert_eq!(date("registration"), Some("2025-01-02T00:00:00Z"));
        assert_eq!(date("last changed"), Some("2025-03-04T05:06:07Z"));
        assert_eq!(date("expiration"), Some("2026-01-02T00:00:00Z"));
        assert_eq!(v["entities"][0]["roles"], json!(["registrar"]));

        let (status, _, _) = get(rdap.addr(), "/domain/unknown.com").await;
        assert_eq!(status, 404);

        let s = rdap.wait_for_domain_requests(3, T).await.unwrap();
        assert_eq!(s.bootstrap_requests(), 1);
        assert_eq!(s.count_for("1989shack.com"), 1);
        assert_eq!(s.for_domain("new.net")[0].status, Some(200));
        assert_eq!(
            s.for_domain("new.net")[0].header("Accept"),
            Some("application/rdap+json")
        );
        assert_eq!(s.for_domain("unknown.com")[0].status, Some(404));
        assert_eq!(s.connections, 4);
    }

    #[tokio::test]
    async fn scripts_play_in_order_and_the_last_answer_repeats() {
        let rdap = FakeRdap::start(&["com"]).await;
        rdap.script(
            "a.com",
            vec![
                Answer::TooMany(3),
                Answer::Status(500),
                Answer::Garbage,
                Answer::NotFound,
            ],
        );
        let (s, head, _) = get(rdap.addr(), "/domain/a.com").await;
        assert_eq!(s, 429);
        assert!(head.contains("retry-after: 3"), "{head}");
        assert_eq!(get(rdap.addr(), "/domain/a.com").await.0, 500);
        let (s, _, body) = get(rdap.addr(), "/domain/a.com").await;
        assert_eq!(s, 200);
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
        assert_eq!(get(rdap.addr(), "/domain/a.com").await.0, 404);
        assert_eq!(get(rdap.addr(), "/domain/a.com").await.0, 404);
        rdap.set_default(Answer::dates("2020-01-01", "2020-01-01"));
        assert_eq!(get(rdap.addr(), "/domain/b.com").await.0, 200);
        let statuses: Vec<_> = rdap
            .state()
            .for_domain("a.com")
            .iter()
            .map(|r| r.status.unwrap())
            .collect();
        assert_eq!(statuses, [429, 500, 200, 404, 404]);
    }

    #[tokio::test]
    async fn delayed_and_hanging_answers() {
        let rdap = FakeRdap::start(&["com"]).await;
        rdap.answer(
            "slow.com",
            Answer::delayed(Duration::from_millis(300), Answer::NotFound),
        );
        rdap.answer("dead.com", Answer::Hang);
        let addr = rdap.addr();
        let mut slow = tokio::spawn(async move { get(addr, "/domain/slow.com").await });
        let mut dead = tokio::spawn(async move { get_raw(addr, "/domain/dead.com").await });
        // Both recorded on arrival.
        let s = rdap
            .wait_for(T, |s| {
                s.count_for("slow.com") == 1 && s.count_for("dead.com") == 1
            })
            .await
            .unwrap();
        assert_eq!(s.for_domain("dead.com")[0].status, None);
        assert!(
            still_pending(&mut slow, Duration::from_millis(50)).await,
            "answered before the delay"
        );
        assert_eq!(slow.await.unwrap().0, 404);
        assert!(
            still_pending(&mut dead, Duration::from_millis(200)).await,
            "a hanging answer was answered"
        );
        // A gated answer waits for the gate; once open, gated answers go at once.
        rdap.answer("gated.com", Answer::gated(Answer::NotFound));
        let mut gated = tokio::spawn(async move { get(addr, "/domain/gated.com").await });
        rdap.wait_for_requests_for("gated.com", 1, T).await.unwrap();
        assert!(
            still_pending(&mut gated, Duration::from_millis(100)).await,
            "answered before the gate opened"
        );
        rdap.open_gate();
        assert_eq!(gated.await.unwrap().0, 404);
        assert_eq!(get(addr, "/domain/gated.com").await.0, 404);
        // Dropping the server closes the held connection.
        drop(rdap);
        let text = tokio::time::timeout(T, dead).await.unwrap().unwrap();
        assert_eq!(text, "", "nothing was ever answered");
    }

    #[test]
    fn windows() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let times = [
            ms(0),
            ms(100),
            ms(999),
            ms(1000),
            ms(1500),
            ms(1999),
            ms(2100),
        ];
        assert_eq!(max_in_window(&times, Duration::from_secs(1)), 3);
        assert_eq!(max_in_window(&times, Duration::from_millis(1001)), 4);
        assert_eq!(max_in_window(&[], Duration::from_secs(1)), 0);
        assert_eq!(max_in_window(&times[..1], Duration::from_secs(1)), 1);
    }
}
