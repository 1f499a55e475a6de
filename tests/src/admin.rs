//! Talking to certhound's admin listener: its address from the log, plain GETs, and the
//! Prometheus text format parsed by an independent parser (`prometheus-parse`).

use crate::output::event_str;
use crate::{timeouts, Certhound};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The admin listener's address, from its `admin listener` log event.
pub async fn address(p: &mut Certhound) -> SocketAddr {
    let ev = p
        .wait_for_events("admin listener", 1, timeouts::EVENT, |_| true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    event_str(&ev[0], "addr")
        .and_then(|a| a.parse().ok())
        .expect("admin listener address")
}

/// `GET http://addr/path`: status, content type and body.
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let resp = reqwest::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    let ctype = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ctype, resp.text().await.unwrap_or_default())
}

/// One scrape of `/metrics`, parsed.
pub struct Scrape {
    pub text: String,
    pub parsed: prometheus_parse::Scrape,
}

impl Scrape {
    /// The value of the sample `name` whose labels include every pair of `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.parsed
            .samples
            .iter()
            .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(b) => b.last().map_or(0.0, |b| b.count),
                prometheus_parse::Value::Summary(_) => f64::NAN,
            })
    }

    /// The `# TYPE` the scrape declares for `name`.
    pub fn declared_type(&self, name: &str) -> Option<&str> {
        self.text.lines().find_map(|l| {
            let rest = l.strip_prefix("# TYPE ")?;
            let (n, t) = rest.split_once(' ')?;
            (n == name).then_some(t.trim())
        })
    }
}

/// Scrapes `/metrics` (status 200 and the Prometheus text content type asserted).
pub async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, ctype, text) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("not Prometheus text: {e}\n{text}"));
    Scrape { text, parsed }
}

/// Scrapes until `ok` holds for a scrape, or panics with the last one after `timeout`.
pub async fn scrape_until(
    addr: SocketAddr,
    timeout: Duration,
    what: &str,
    mut ok: impl FnMut(&Scrape) -> bool,
) -> Scrape {
    let deadline = Instant::now() + timeout;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let s = scrape(addr).await;
        if ok(&s) {
            return s;
        }
        if Instant::now() > deadline {
            panic!("{what}: not within {timeout:?}; last scrape:\n{}", s.text);
        }
    }
}

/// Polls `GET path` until its status is `want`, or panics after `timeout`; returns the body.
pub async fn wait_status(addr: SocketAddr, path: &str, want: u16, timeout: Duration) -> String {
    let deadline = Instant::now() + timeout;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        let (status, _, body) = get(addr, path).await;
        if status == want {
            return body;
        }
        if Instant::now() > deadline {
            panic!("{path}: status {status}, not {want}, after {timeout:?}: {body}");
        }
    }
}

/// The id of `registrable_domain`'s finding in an answer of the analyst page's `/api/findings`.
pub fn finding_id(findings: &serde_json::Value, registrable_domain: &str) -> String {
    findings["findings"]
        .as_array()
        .expect("an /api/findings answer")
        .iter()
        .find(|f| f["registrable_domain"] == registrable_domain)
        .unwrap_or_else(|| panic!("{registrable_domain} not listed: {findings}"))["id"]
        .as_str()
        .expect("a finding id")
        .to_string()
}
