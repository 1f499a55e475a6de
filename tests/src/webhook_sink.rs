//! A loopback webhook receiver: a real HTTP/1.1 server (hyper, keep-alive) on 127.0.0.1 that
//! records every request (method, path, headers, body parsed as JSON, the answer it gave) and
//! counts the requests per `Idempotency-Key`, as a receiver that deduplicates by that key would.
//!
//! It answers 200 unless a scripted [`Rule`] says otherwise, with a [`Fault`]: 500, 429 with
//! `Retry-After`, 400, a dropped connection... for the first k requests, or for the bodies of one
//! registrable domain. An optional delay before
//! every answer makes it a slow receiver. Tests wait on what it saw with `wait_for*` (woken on
//! each request, never polled).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use crate::fault::Fault;
use crate::fault::{FaultScript, Hangup};
use crate::http_fake::{Fake, FakeListener};
use crate::observed::{Observed, Waited};
use crate::recorded::Recorded;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::Value;
use tokio::sync::watch;

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// Every request.
    Any,
    /// Requests whose body's `registrable_domain` is this.
    Domain(String),
}

/// What a rule answers: [`Fault::Status`] (`{"ok":true}` for a 2xx, `{"ok":false}` otherwise),
/// [`Fault::TooMany`] (429 with `Retry-After: <secs>`), [`Fault::Delay`] (then 200) or
/// [`Fault::Hangup`].
pub type Reply = Fault;

/// A scripted answer: for requests matching `when`, answer `reply`, `times` times (for ever with
/// `None`). Rules are tried in order; the first that matches and is not used up answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub when: When,
    pub times: Option<usize>,
    pub reply: Reply,
}

impl Rule {
    /// The first `k` requests (of any kind) get `reply`.
    pub fn first(k: usize, reply: Reply) -> Rule {
        Rule {
            when: When::Any,
            times: Some(k),
            reply,
        }
    }

    /// Every request for this registrable domain gets `reply`.
    pub fn domain(registrable_domain: &str, reply: Reply) -> Rule {
        Rule {
            when: When::Domain(registrable_domain.to_string()),
            times: None,
            reply,
        }
    }
}

/// What the sink made of a request.
#[derive(Debug, Clone)]
pub struct Made {
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
    /// The status answered (0 for a dropped connection).
    pub status: u16,
}

/// One request as received.
pub type Received = Recorded<Made>;

impl Received {
    pub fn idempotency_key(&self) -> Option<&str> {
        self.header("idempotency-key")
    }

    /// `registrable_domain` of the body.
    pub fn registrable_domain(&self) -> Option<&str> {
        self.json["registrable_domain"].as_str()
    }

    /// `id` of the body.
    pub fn id(&self) -> Option<&str> {
        self.json["id"].as_str()
    }

    pub fn accepted(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Everything the sink received so far.
#[derive(Debug, Clone, Default)]
pub struct SinkState {
    pub requests: Vec<Received>,
}

impl SinkState {
    /// Idempotency-Keys that got a 2xx answer at least once: what a deduplicating receiver saw.
    pub fn accepted_keys(&self) -> BTreeSet<String> {
        self.requests
            .iter()
            .filter(|r| r.accepted())
            .filter_map(|r| r.idempotency_key().map(str::to_string))
            .collect()
    }

    /// Requests per Idempotency-Key (all answers); requests without the header under `""`.
    pub fn requests_per_key(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for r in &self.requests {
            *m.entry(r.idempotency_key().unwrap_or("").to_string())
                .or_insert(0) += 1;
        }
        m
    }

    /// Accepted (2xx) requests beyond the first per Idempotency-Key: repeats at the wire.
    pub fn repeated_accepted(&self) -> usize {
        let accepted = self.requests.iter().filter(|r| r.accepted()).count();
        accepted - self.accepted_keys().len()
    }

    /// The requests carrying this Idempotency-Key, in order.
    pub fn for_key(&self, key: &str) -> Vec<&Received> {
        self.requests
            .iter()
            .filter(|r| r.idempotency_key() == Some(key))
            .collect()
    }

    /// The requests whose body is for this registrable domain, in order.
    pub fn for_domain(&self, registrable_domain: &str) -> Vec<&Received> {
        self.requests
            .iter()
            .filter(|r| r.registrable_domain() == Some(registrable_domain))
            .collect()
    }

    /// Accepted requests: registrable domain of the body → the distinct keys it came under.
    pub fn accepted_keys_per_domain(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in self.requests.iter().filter(|r| r.accepted()) {
            m.entry(r.registrable_domain().unwrap_or("<none>").to_string())
                .or_default()
                .insert(r.idempotency_key().unwrap_or("<none>").to_string());
        }
        m
    }
}

/// What the handler shares with the sink's methods.
pub struct Shared {
    rules: Mutex<FaultScript<When>>,
    delay: Mutex<Duration>,
    state: watch::Sender<SinkState>,
}

/// The running sink; stops (and closes every connection) when dropped.
pub type FakeWebhook = Fake<Shared, SinkState>;

/// The rules as a fault script, in order.
fn script(rules: Vec<Rule>) -> FaultScript<When> {
    let mut script = FaultScript::default();
    for r in rules {
        script.push(r.when, r.times, r.reply);
    }
    script
}

impl FakeWebhook {
    /// A sink that answers 200 to everything.
    pub async fn start() -> FakeWebhook {
        Self::with_rules(Vec::new()).await
    }

    /// A sink that answers by `rules` (200 when none applies).
    pub async fn with_rules(rules: Vec<Rule>) -> FakeWebhook {
        Fake::serve_http(
            FakeListener::bind().await,
            |state| Shared {
                rules: Mutex::new(script(rules)),
                delay: Mutex::new(Duration::ZERO),
                state,
            },
            |_| {},
            handle,
        )
    }

    /// `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr())
    }

    /// Replaces the rules.
    pub fn set_rules(&self, rules: Vec<Rule>) {
        *self.shared.rules.lock().unwrap() = script(rules);
    }

    /// Waits this long before answering each request (a slow receiver); zero by default.
    pub fn set_delay(&self, delay: Duration) {
        *self.shared.delay.lock().unwrap() = delay;
    }

    /// Idempotency-Keys answered 2xx so far.
    pub fn accepted_keys(&self) -> BTreeSet<String> {
        self.observed().borrow().accepted_keys()
    }

    /// Waits until at least `n` distinct Idempotency-Keys were answered 2xx.
    pub async fn wait_for_unique_keys(&self, n: usize, timeout: Duration) -> Waited<SinkState> {
        self.wait_for(timeout, |s| s.accepted_keys().len() >= n)
            .await
    }

    /// Waits until at least `n` requests arrived.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Waited<SinkState> {
        self.wait_for(timeout, |s| s.requests.len() >= n).await
    }
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Hangup> {
    let request = Recorded::read(req).await;
    let json: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    let domain = json["registrable_domain"].as_str();
    let fault = shared
        .rules
        .lock()
        .unwrap()
        .next(request.at, |when| match when {
            When::Any => true,
            When::Domain(d) => domain == Some(d.as_str()),
        });
    let (status, retry_after) = match &fault {
        Some(Fault::Status(s)) => (*s, None),
        Some(Fault::TooMany(secs)) => (429, Some(*secs)),
        Some(Fault::Hangup) => (0, None),
        Some(Fault::Delay(_)) | None => (200, None),
    };
    let delay = *shared.delay.lock().unwrap();
    shared.state.send_modify(|s| {
        let n = s.requests.len();
        s.requests.push(request.with(n, Made { json, status }));
    });
    if fault == Some(Fault::Hangup) {
        return Err(Hangup);
    }
    if let Some(Fault::Delay(d)) = fault {
        tokio::time::sleep(d).await;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut resp = Response::builder().status(StatusCode::from_u16(status).unwrap());
    if let Some(secs) = retry_after {
        resp = resp.header("retry-after", secs.to_string());
    }
    let text = if (200..300).contains(&status) {
        "{\"ok\":true}"
    } else {
        "{\"ok\":false}"
    };
    Ok(resp
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(text.as_bytes())))
        .unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::{assert_times_out, still_pending};
    use std::net::SocketAddr;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    const T: Duration = Duration::from_secs(10);

    /// A minimal keep-alive HTTP/1.1 client: POSTs on one connection, returns (status, headers).
    struct Client {
        reader: BufReader<TcpStream>,
    }

    impl Client {
        async fn connect(addr: SocketAddr) -> Client {
            Client {
                reader: BufReader::new(TcpStream::connect(addr).await.unwrap()),
            }
        }

        async fn post(&mut self, key: &str, body: &str) -> (u16, Vec<String>) {
            let req = format!(
                "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Idempotency-Key: {key}\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            self.reader
                .get_mut()
                .write_all(req.as_bytes())
                .await
                .unwrap();
            let mut status_line = String::new();
            self.reader.read_line(&mut status_line).await.unwrap();
            let status: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
            let mut headers = Vec::new();
            let mut len = 0;
            loop {
                let mut l = String::new();
                self.reader.read_line(&mut l).await.unwrap();
                let l = l.trim_end().to_string();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                headers.push(l.to_ascii_lowercase());
            }
            let mut body = vec![0; len];
            self.reader.read_exact(&mut body).await.unwrap();
            (status, headers)
        }
    }

    fn finding(id: &str, domain: &str) -> String {
        serde_json::json!({"id": id, "registrable_domain": domain, "domain": domain}).to_string()
    }

    #[tokio::test]
    async fn records_requests_and_counts_keys_on_a_kept_alive_connection() {
        let sink = FakeWebhook::start().await;
        assert!(sink.url().ends_with("/hook"));
        let mut c = Client::connect(sink.addr()).await;
        assert_eq!(c.post("s:1", &finding("s:1", "a.com")).await.0, 200);
        assert_eq!(c.post("s:2", &finding("s:2", "b.com")).await.0, 200);
        assert_eq!(c.post("s:1", &finding("s:1", "a.com")).await.0, 200);
        let s = sink.wait_for_unique_keys(2, T).await.unwrap();
        assert_eq!(s.requests.len(), 3);
        assert_eq!(s.requests[0].method, "POST");
        assert_eq!(s.requests[0].path, "/hook");
        assert_eq!(
            s.requests[0].header("Content-Type"),
            Some("application/json")
        );
        assert_eq!(s.requests[1].registrable_domain(), Some("b.com"));
        assert_eq!(s.requests[1].id(), Some("s:2"));
        assert_eq!(s.requests_per_key()["s:1"], 2);
        assert_eq!(s.repeated_accepted(), 1);
        assert_eq!(s.accepted_keys_per_domain()["a.com"].len(), 1);
        assert_eq!(s.for_key("s:1").len(), 2);
        assert_times_out(sink.wait_for_unique_keys(3, Duration::from_millis(50))).await;
    }

    #[tokio::test]
    async fn scripted_answers() {
        let sink = FakeWebhook::with_rules(vec![
            Rule::domain("bad.com", Reply::status(400)),
            Rule::first(2, Reply::status(500)),
            Rule::first(1, Reply::too_many(1)),
        ])
        .await;
        let mut c = Client::connect(sink.addr()).await;
        assert_eq!(c.post("k:1", &finding("k:1", "bad.com")).await.0, 400);
        assert_eq!(c.post("k:2", &finding("k:2", "ok.com")).await.0, 500);
        assert_eq!(c.post("k:2", &finding("k:2", "ok.com")).await.0, 500);
        let (status, headers) = c.post("k:2", &finding("k:2", "ok.com")).await;
        assert_eq!(status, 429);
        assert!(
            headers.contains(&"retry-after: 1".to_string()),
            "{headers:?}"
        );
        assert_eq!(c.post("k:2", &finding("k:2", "ok.com")).await.0, 200);
        assert_eq!(c.post("k:1", &finding("k:1", "bad.com")).await.0, 400);
        let s = sink.state();
        assert_eq!(s.accepted_keys(), ["k:2".to_string()].into());
        let statuses: Vec<u16> = s.for_key("k:2").iter().map(|r| r.status).collect();
        assert_eq!(statuses, [500, 500, 429, 200]);
        assert_eq!(s.for_domain("bad.com").len(), 2);
    }

    #[tokio::test]
    async fn delay_slows_the_answers_down() {
        let sink = FakeWebhook::start().await;
        sink.set_delay(Duration::from_millis(300));
        let mut c = Client::connect(sink.addr()).await;
        let mut post = tokio::spawn(async move { c.post("d:1", &finding("d:1", "d.com")).await });
        // Recorded on arrival, answered later.
        sink.wait_for_requests(1, T).await.unwrap();
        assert!(
            still_pending(&mut post, Duration::from_millis(50)).await,
            "answered before the delay"
        );
        assert_eq!(post.await.unwrap().0, 200);
    }
}
