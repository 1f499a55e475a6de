//! A loopback HTTP proxy in front of moto's DynamoDB, for the throttling tests: the SDK's
//! endpoint (`aws.endpoint_url`) is the proxy, which forwards every request (method, path,
//! query, headers, body) to moto and moto's answer back, unless a scripted [`Fault`] answers
//! first. moto never throttles, so the proxy plays the real service's
//! `ProvisionedThroughputExceededException` for the next k requests of an operation
//! ([`DynamoProxy::throttle`]), before they reach moto: a throttled request changes nothing in
//! the table, as on the real service.
//!
//! It counts per operation (the `X-Amz-Target: DynamoDB_20120810.<Op>` header) the requests
//! forwarded and the ones answered as throttled, and keeps one [`Exchange`] per request with the
//! SDK's invocation id and attempt number (`amz-sdk-invocation-id`, `amz-sdk-request`), so that
//! a test sees which call was retried and how often. Tests wait on it with `wait_for` (woken on
//! each answer, never polled).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub use crate::fault::Fault;
use crate::fault::{FaultScript, Hangup};
use crate::http_fake::{Fake, FakeListener};
use crate::observed::{Observed, Waited};
use crate::recorded::Recorded;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use std::time::Duration;
use tokio::sync::watch;

/// The `__type` of DynamoDB's throttling answer.
pub const THROTTLED: &str = "ProvisionedThroughputExceededException";

/// The real service's answer to a throttled request (HTTP 400, `application/x-amz-json-1.0`).
pub const THROTTLED_BODY: &str = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException\",\"message\":\"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.\"}";

/// The real service's answer to a request that failed inside it (HTTP 500).
const INTERNAL_BODY: &str = "{\"__type\":\"com.amazonaws.dynamodb.v20120810#InternalServerError\",\"message\":\"Internal server error\"}";

/// The prefix of `X-Amz-Target` before the operation's name.
const TARGET_PREFIX: &str = "DynamoDB_20120810.";

/// Headers of one hop only: not forwarded either way (the client and hyper set their own).
const HOP_BY_HOP: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "content-length",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
];

/// Which requests a scripted fault applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    /// Every request.
    Any,
    /// The requests of one operation (`TransactWriteItems`, `UpdateItem`...).
    Op(String),
    /// The requests of one operation whose body holds this text (a key: the transaction of one
    /// finding holds `"D#<its registrable domain>"`).
    OpWith(String, String),
}

/// One request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Order of the answers, from 0.
    pub n: usize,
    /// The operation (`X-Amz-Target` without its prefix; empty without the header).
    pub op: String,
    /// The SDK's id of the call this request is an attempt of (`amz-sdk-invocation-id`): the
    /// same on every retry of one call.
    pub invocation: Option<String>,
    /// The SDK's attempt number and its most (`amz-sdk-request: attempt=2; max=10`).
    pub attempt: Option<(u32, u32)>,
    /// The status answered (0 for a connection closed without an answer).
    pub status: u16,
    /// Whether moto answered it (false: the proxy's scripted fault did).
    pub forwarded: bool,
    /// Whether it was answered `ProvisionedThroughputExceededException` by the proxy.
    pub throttled: bool,
}

/// Everything the proxy answered so far.
#[derive(Debug, Clone, Default)]
pub struct ProxyState {
    /// In the order answered.
    pub exchanges: Vec<Exchange>,
    /// Requests forwarded to moto (and answered by it), per operation.
    pub forwarded: BTreeMap<String, u64>,
    /// Requests answered `ProvisionedThroughputExceededException` by the proxy, per operation.
    pub throttled: BTreeMap<String, u64>,
}

impl ProxyState {
    /// Requests of `op` forwarded to moto.
    pub fn forwarded(&self, op: &str) -> u64 {
        self.forwarded.get(op).copied().unwrap_or(0)
    }

    /// Requests of `op` answered as throttled.
    pub fn throttled(&self, op: &str) -> u64 {
        self.throttled.get(op).copied().unwrap_or(0)
    }

    /// Requests of `op` answered, whoever answered them.
    pub fn answered(&self, op: &str) -> u64 {
        self.exchanges.iter().filter(|e| e.op == op).count() as u64
    }

    /// The attempts of each call of `op`, by the SDK's invocation id, in the order answered.
    pub fn calls(&self, op: &str) -> BTreeMap<String, Vec<&Exchange>> {
        let mut calls: BTreeMap<String, Vec<&Exchange>> = BTreeMap::new();
        for e in self.exchanges.iter().filter(|e| e.op == op) {
            calls
                .entry(e.invocation.clone().unwrap_or_default())
                .or_default()
                .push(e);
        }
        calls
    }
}

/// What the handler shares with the proxy's methods.
pub struct Shared {
    /// moto's endpoint, `http://127.0.0.1:PORT` (no trailing slash).
    upstream: String,
    http: reqwest::Client,
    script: Mutex<FaultScript<When>>,
    state: watch::Sender<ProxyState>,
}

/// The running proxy; stops (and closes every connection) when dropped.
pub type DynamoProxy = Fake<Shared, ProxyState>;

impl DynamoProxy {
    /// A proxy forwarding to `upstream` (moto's endpoint, `http://127.0.0.1:PORT`).
    pub async fn start(upstream: &str) -> DynamoProxy {
        let http = reqwest::Client::builder()
            // Loopback only, whatever the environment says about proxies.
            .no_proxy()
            .build()
            .expect("an HTTP client");
        let upstream = upstream.trim_end_matches('/').to_string();
        Fake::serve_http(
            FakeListener::bind().await,
            |state| Shared {
                upstream,
                http,
                script: Mutex::new(FaultScript::default()),
                state,
            },
            |_| {},
            handle,
        )
    }

    /// `http://127.0.0.1:PORT`: the SDK's endpoint (`aws.endpoint_url`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Answers the next `k` requests of `op` with `ProvisionedThroughputExceededException`
    /// (after the faults already scripted for them).
    pub fn throttle(&self, op: &str, k: usize) {
        self.script(When::Op(op.to_string()), Some(k), Fault::status(400));
    }

    /// Answers the next `k` requests of `op` whose body holds `text` with
    /// `ProvisionedThroughputExceededException`: one item's requests throttled, the others not.
    pub fn throttle_with(&self, op: &str, text: &str, k: usize) {
        self.script(
            When::OpWith(op.to_string(), text.to_string()),
            Some(k),
            Fault::status(400),
        );
    }

    /// Scripts `fault` for the next `times` requests `when` picks (for ever with `None`):
    /// [`Fault::Status`] 400..499 and [`Fault::TooMany`] are answered as throttled (DynamoDB says
    /// "too many" with a 400, never a 429), 5xx as `InternalServerError`, [`Fault::Delay`] waits
    /// and then forwards, [`Fault::Hangup`] closes the connection.
    pub fn script(&self, when: When, times: Option<usize>, fault: Fault) {
        self.shared.script.lock().unwrap().push(when, times, fault);
    }

    /// Drops the faults not used yet: everything is forwarded from now on.
    pub fn clear(&self) {
        self.shared.script.lock().unwrap().clear();
    }

    /// Waits until at least `k` requests of `op` were answered as throttled.
    pub async fn wait_for_throttled(
        &self,
        op: &str,
        k: u64,
        timeout: Duration,
    ) -> Waited<ProxyState> {
        self.wait_for(timeout, |s| s.throttled(op) >= k).await
    }
}

/// `attempt=2; max=10` → (2, 10).
fn parse_attempt(v: &str) -> Option<(u32, u32)> {
    let mut attempt = None;
    let mut max = None;
    for part in v.split(';') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "attempt" => attempt = v.parse().ok(),
            "max" => max = v.parse().ok(),
            _ => {}
        }
    }
    Some((attempt?, max?))
}

/// An answer of the proxy's own, in DynamoDB's JSON protocol.
fn own_answer(status: u16, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).expect("a valid status"))
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "x-amzn-requestid",
            "CERTHOUNDDYNAMOPROXY00000000000000000000000000000000",
        )
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a valid response")
}

/// Sends the request on to moto; its answer, or `None` when moto could not be reached.
async fn forward(shared: &Shared, request: &Recorded) -> Option<Response<Full<Bytes>>> {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).ok()?;
    let query = request
        .query
        .as_ref()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let url = format!("{}{}{query}", shared.upstream, request.path);
    let mut upstream = shared.http.request(method, url);
    for (k, v) in &request.headers {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            upstream = upstream.header(k.as_str(), v.as_str());
        }
    }
    let answer = upstream.body(request.body.clone()).send().await.ok()?;
    let mut back = Response::builder().status(answer.status().as_u16());
    for (k, v) in answer.headers() {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            back = back.header(k.as_str(), v.as_bytes());
        }
    }
    let body = answer.bytes().await.ok()?;
    back.body(Full::new(body)).ok()
}

async fn handle(
    req: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<Response<Full<Bytes>>, Hangup> {
    let request = Recorded::read(req).await;
    let op = request
        .header("x-amz-target")
        .map(|t| t.strip_prefix(TARGET_PREFIX).unwrap_or(t).to_string())
        .unwrap_or_default();
    let fault = shared
        .script
        .lock()
        .unwrap()
        .next(request.at, |when| match when {
            When::Any => true,
            When::Op(o) => *o == op,
            When::OpWith(o, text) => *o == op && request.body.contains(text.as_str()),
        });
    let (answer, forwarded, throttled) = match fault {
        Some(Fault::Status(s)) if (400..500).contains(&s) => {
            (Some(own_answer(400, THROTTLED_BODY)), false, true)
        }
        Some(Fault::TooMany(_)) => (Some(own_answer(400, THROTTLED_BODY)), false, true),
        Some(Fault::Status(s)) => (Some(own_answer(s, INTERNAL_BODY)), false, false),
        Some(Fault::Hangup) => (None, false, false),
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            (forward(&shared, &request).await, true, false)
        }
        None => (forward(&shared, &request).await, true, false),
    };
    let exchange = Exchange {
        n: 0,
        op: op.clone(),
        invocation: request.header("amz-sdk-invocation-id").map(str::to_string),
        attempt: request.header("amz-sdk-request").and_then(parse_attempt),
        status: answer.as_ref().map_or(0, |a| a.status().as_u16()),
        // A request moto did not answer was not forwarded, as far as the counts go.
        forwarded: forwarded && answer.is_some(),
        throttled,
    };
    shared.state.send_modify(|s| {
        if exchange.forwarded {
            *s.forwarded.entry(op.clone()).or_default() += 1;
        }
        if exchange.throttled {
            *s.throttled.entry(op.clone()).or_default() += 1;
        }
        let n = s.exchanges.len();
        s.exchanges.push(Exchange { n, ..exchange });
    });
    // moto out of reach, or a scripted hangup: the client sees the connection closed.
    answer.ok_or(Hangup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook_sink::FakeWebhook;

    const T: Duration = Duration::from_secs(10);

    /// One DynamoDB-like request through the proxy: (status, content type, body).
    async fn call(proxy: &DynamoProxy, op: &str, body: &str) -> (u16, String, String) {
        let r = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(format!("{}/hook?x=1", proxy.endpoint()))
            .header("X-Amz-Target", format!("{TARGET_PREFIX}{op}"))
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("amz-sdk-invocation-id", format!("call-{op}"))
            .header("amz-sdk-request", "attempt=1; max=3")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ctype = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ctype, r.text().await.unwrap())
    }

    #[tokio::test]
    async fn forwards_requests_and_answers_and_counts_them_per_operation() {
        // The webhook receiver stands in for moto: it records what arrived and answers 200.
        let upstream = FakeWebhook::start().await;
        let proxy = DynamoProxy::start(&format!("http://{}/", upstream.addr())).await;
        let (status, ctype, body) = call(&proxy, "GetItem", "{\"TableName\":\"t\"}").await;
        assert_eq!(
            (status, ctype.as_str(), body.as_str()),
            (200, "application/json", "{\"ok\":true}")
        );
        let seen = upstream.wait_for_requests(1, T).await.unwrap().requests;
        let r = &seen[0];
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/hook"));
        assert_eq!(r.query.as_deref(), Some("x=1"));
        assert_eq!(r.body, "{\"TableName\":\"t\"}");
        assert_eq!(r.header("x-amz-target"), Some("DynamoDB_20120810.GetItem"));
        assert_eq!(r.header("content-type"), Some("application/x-amz-json-1.0"));
        assert_eq!(r.header("amz-sdk-request"), Some("attempt=1; max=3"));
        assert_eq!(r.header("host"), Some(upstream.addr().to_string().as_str()));
        // moto's own errors come back as they are.
        upstream.set_rules(vec![crate::webhook_sink::Rule::first(
            1,
            Fault::status(500),
        )]);
        assert_eq!(call(&proxy, "GetItem", "{}").await.0, 500);
        let s = proxy.state();
        assert_eq!(s.forwarded("GetItem"), 2);
        assert_eq!(s.throttled("GetItem"), 0);
        assert_eq!(s.exchanges[0].attempt, Some((1, 3)));
        assert_eq!(s.exchanges[0].invocation.as_deref(), Some("call-GetItem"));
        assert_eq!(s.exchanges[1].status, 500);
        assert!(s.exchanges.iter().all(|e| e.forwarded && !e.throttled));
    }

    #[tokio::test]
    async fn scripted_throttling_answers_the_next_k_requests_of_an_operation() {
        let upstream = FakeWebhook::start().await;
        let proxy = DynamoProxy::start(&format!("http://{}", upstream.addr())).await;
        proxy.throttle("TransactWriteItems", 2);
        // Another operation is not throttled.
        assert_eq!(call(&proxy, "Query", "{}").await.0, 200);
        for _ in 0..2 {
            let (status, ctype, body) = call(&proxy, "TransactWriteItems", "{}").await;
            assert_eq!(status, 400);
            assert_eq!(ctype, "application/x-amz-json-1.0");
            assert_eq!(body, THROTTLED_BODY);
            let json: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(json["__type"].as_str().unwrap().ends_with(THROTTLED));
        }
        // Used up: forwarded again.
        assert_eq!(call(&proxy, "TransactWriteItems", "{}").await.0, 200);
        let s = proxy
            .wait_for_throttled("TransactWriteItems", 2, T)
            .await
            .unwrap();
        assert_eq!(s.throttled("TransactWriteItems"), 2);
        assert_eq!(s.forwarded("TransactWriteItems"), 1);
        assert_eq!(s.answered("TransactWriteItems"), 3);
        assert_eq!(s.forwarded("Query"), 1);
        // The throttled requests never reached moto.
        assert_eq!(upstream.state().requests.len(), 2);
        let statuses: Vec<u16> = s.calls("TransactWriteItems")["call-TransactWriteItems"]
            .iter()
            .map(|e| e.status)
            .collect();
        assert_eq!(statuses, [400, 400, 200]);
        // Only the requests holding the text, when asked: one item's, not another's.
        proxy.throttle_with("TransactWriteItems", "D#b.example", 1);
        let a = call(&proxy, "TransactWriteItems", "{\"pk\":\"D#a.example\"}").await;
        assert_eq!(a.0, 200);
        let b = call(&proxy, "TransactWriteItems", "{\"pk\":\"D#b.example\"}").await;
        assert_eq!((b.0, b.2.as_str()), (400, THROTTLED_BODY));
        assert_eq!(proxy.state().throttled("TransactWriteItems"), 3);
        // A cleared script forwards everything.
        proxy.throttle("Query", 5);
        proxy.clear();
        assert_eq!(call(&proxy, "Query", "{}").await.0, 200);
        // 5xx are the service's internal error; a hangup closes the connection.
        proxy.script(When::Any, Some(1), Fault::status(500));
        let (status, _, body) = call(&proxy, "Scan", "{}").await;
        assert_eq!(status, 500);
        assert!(body.contains("InternalServerError"), "{body}");
        proxy.script(When::Op("Scan".into()), Some(1), Fault::Hangup);
        let hung = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .post(proxy.endpoint())
            .header("X-Amz-Target", "DynamoDB_20120810.Scan")
            .send()
            .await;
        assert!(hung.is_err(), "{hung:?}");
        let s = proxy
            .wait_for(T, |s| s.answered("Scan") == 2)
            .await
            .unwrap();
        assert_eq!(s.forwarded("Scan"), 0);
        assert_eq!(s.throttled("Scan"), 0);
        assert_eq!(s.exchanges.last().unwrap().status, 0);
    }

    #[test]
    fn sdk_attempt_header() {
        assert_eq!(parse_attempt("attempt=2; max=10"), Some((2, 10)));
        assert_eq!(parse_attempt("attempt=1;max=3"), Some((1, 3)));
        assert_eq!(parse_attempt("ttl=x; attempt=1"), None);
    }
}
