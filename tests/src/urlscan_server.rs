//! A loopback urlscan.io: a real HTTP/1.1 server (hyper, keep-alive) on 127.0.0.1 that behaves
//! like urlscan.io API v1 for the urlscan notifier's tests. It serves
//!
//! - `POST /api/v1/scan/` (needs the `API-Key` header; 401 without it or with a wrong one):
//!   answers 200 with a `uuid`, `result`, `api` and the effective `visibility` (which the test can
//!   force, e.g. to `unlisted`); 400 for names the test marks unresolvable (`DNS Error - Could not
//!   resolve domain`) or blocked (`Scan prevented ...`); 500 for the next k submissions when
//!   scripted; 429 past the rate limit;
//! - `GET /api/v1/result/{uuid}/`: 404 `Scan is not finished yet` until the scan is ready (a
//!   configurable delay after its submission, or [`FakeUrlscan::finish`]), then 200 with a result
//!   in the real shape (`task`, `page`, `verdicts`, `stats`, `lists`...);
//! - `GET /api/v1/search/?q=page.domain:example.com&size=100`: the finished scans of that page
//!   domain, newest first;
//! - `GET /screenshots/{uuid}.png` (a 320×200 PNG once the scan is finished), `GET /result/{uuid}/`
//!   (a small HTML report) and `GET /api/v1/quotas`.
//!
//! Rate limits work like the real ones: fixed windows per action (`public`, `unlisted`,
//! `private`, `result`, `search`, each with its own counter), only 200 answers count, and every
//! answer of the scan, result and search endpoints carries the `X-Rate-Limit-*` headers (scope,
//! action, window, limit, remaining, reset as an ISO 8601 time, reset-after in whole seconds,
//! rounded up). The windows are fixed windows of a configurable length (60 s by default; tests use
//! 1 s or 2 s) counted from the server's start or from the last [`FakeUrlscan::set_window`]; the
//! optional "hour" limit uses windows 60 times as long.
//!
//! Every request is recorded with its arrival time (tokio `Instant`, so paused time works), its
//! body and the status answered; tests wait on what it saw with `wait_for*` (woken on each
//! change, never polled).

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::fault::{reason, Fault, FaultScript};
use crate::http_fake::{Fake, FakeListener};
use crate::observed::{Observed, Waited};
use crate::recorded::Recorded;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio::time::Instant;

/// The API key [`FakeUrlscan::start`] accepts.
pub const API_KEY: &str = "test-urlscan-key";

/// The scan actions (one per visibility); `result` and `search` are the other two.
pub const SCAN_ACTIONS: [&str; 3] = ["public", "unlisted", "private"];

/// Default limits per window: scans (each visibility), result polls, searches.
pub const DEFAULT_SCAN_LIMIT: u32 = 60;
pub const DEFAULT_RESULT_LIMIT: u32 = 120;
pub const DEFAULT_SEARCH_LIMIT: u32 = 120;

/// Size of the screenshots the fake serves (as a page's top, scaled down).
pub const SCREENSHOT_SIZE: (u32, u32) = (320, 200);

/// The screenshot of scan `uuid`: a PNG of [`SCREENSHOT_SIZE`] that looks like a web page (a
/// coloured header bar, a white form in the middle), its colour drawn from the uuid so that the
/// thumbnails of different scans can be told apart in the page tests' saved screenshots.
pub fn screenshot_png(uuid: &str) -> Vec<u8> {
    let (w, h) = SCREENSHOT_SIZE;
    let hash = uuid.bytes().fold(0xcbf2_9ce4_8422_2325u64, |a, b| {
        (a ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let accent = [
        (hash >> 8) as u8 | 0x40,
        (hash >> 24) as u8 & 0x9f,
        (hash >> 40) as u8 | 0x30,
    ];
    let mut raw = Vec::with_capacity(((w * 3 + 1) * h) as usize);
    for y in 0..h {
        raw.push(0); // filter: none
        for x in 0..w {
            let px = if y < 28 {
                accent
            } else if (90..230).contains(&x) && (60..170).contains(&y) {
                if (105..215).contains(&x) && ((80..92).contains(&y) || (102..114).contains(&y)) {
                    [0xdd, 0xdd, 0xdd] // the form's two fields
                } else if (105..160).contains(&x) && (130..148).contains(&y) {
                    accent // its button
                } else {
                    [0xff, 0xff, 0xff]
                }
            } else {
                [0xf2, 0xf3, 0xf5]
            };
            raw.extend_from_slice(&px);
        }
    }
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &raw).expect("compress in memory");
    let idat = z.finish().expect("compress in memory");
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter set, no interlace
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(b"IHDR", &ihdr), (b"IDAT", &idat), (b"IEND", &Vec::new())] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let start = png.len();
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        let crc = crc32(&png[start..]);
        png.extend_from_slice(&crc.to_be_bytes());
    }
    png
}

/// CRC-32 (ISO 3309, as PNG chunks use it).
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for b in bytes {
        c ^= *b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// What a finished scan of a domain says (`verdicts.overall` and `verdicts.urlscan`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub score: i64,
    pub malicious: bool,
    pub categories: Vec<String>,
    pub brands: Vec<String>,
}

impl Verdict {
    /// Score 0, not malicious (the default).
    pub fn clean() -> Verdict {
        Verdict {
            score: 0,
            malicious: false,
            categories: Vec::new(),
            brands: Vec::new(),
        }
    }

    /// Score 100, malicious, category `phishing`, targeting `brand`.
    pub fn phishing(brand: &str) -> Verdict {
        Verdict {
            score: 100,
            malicious: true,
            categories: vec!["phishing".into()],
            brands: vec![brand.to_string()],
        }
    }
}

impl Default for Verdict {
    fn default() -> Verdict {
        Verdict::clean()
    }
}

/// One accepted submission.
#[derive(Debug, Clone)]
pub struct Scan {
    pub uuid: String,
    /// The URL as submitted.
    pub url: String,
    /// Lowercased host of the submitted URL.
    pub domain: String,
    /// Where the page ended up (the submitted URL unless [`FakeUrlscan::redirect`]).
    pub final_url: String,
    /// Lowercased host of `final_url` (what `page.domain` and the search match).
    pub page_domain: String,
    /// `visibility` of the request (`public` when absent).
    pub requested_visibility: String,
    /// The visibility it was given (forced or requested).
    pub visibility: String,
    pub tags: Vec<String>,
    pub customagent: Option<String>,
    pub referer: Option<String>,
    /// The requested scan country, lowercased (`us` when absent).
    pub country: String,
    pub submitted_at: Instant,
    /// Submission time, ISO 8601 (`task.time`).
    pub time: String,
    /// When it becomes ready by itself (`None`: only by [`FakeUrlscan::finish`]).
    pub ready_at: Option<Instant>,
    /// Set by `finish`, or once a request saw it ready.
    pub finished: bool,
    pub verdict: Verdict,
}

impl Scan {
    /// Finished, or past its ready time at `now`.
    pub fn is_ready(&self, now: Instant) -> bool {
        self.finished || self.ready_at.is_some_and(|t| now >= t)
    }
}

/// The kind of request, by its method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /api/v1/scan/`
    Submit,
    /// `GET /api/v1/result/{uuid}/`
    Result,
    /// `GET /api/v1/search/`
    Search,
    /// `GET /api/v1/quotas`
    Quotas,
    /// `GET /screenshots/{uuid}.png`
    Screenshot,
    /// `GET /result/{uuid}/`
    Report,
    Other,
}

/// What the server made of a request.
#[derive(Debug, Clone)]
pub struct Made {
    pub endpoint: Endpoint,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
    /// The status answered.
    pub status: u16,
    /// The rate-limit action it counted against (scan, result and search requests).
    pub action: Option<String>,
    /// The start of the fixed window of `action` it arrived in.
    pub window_start: Option<Instant>,
    /// The scan concerned: the one created (submissions) or asked about (result, screenshot).
    pub uuid: Option<String>,
}

/// One request as received.
pub type Received = Recorded<Made>;

impl Received {
    /// Answered 200.
    pub fn ok(&self) -> bool {
        self.status == 200
    }

    /// `url` of the body (submissions).
    pub fn url(&self) -> Option<&str> {
        self.json["url"].as_str()
    }
}

/// Everything the server received so far, and the scans it holds.
#[derive(Debug, Clone, Default)]
pub struct UrlscanState {
    pub requests: Vec<Received>,
    /// Accepted submissions, in order.
    pub scans: Vec<Scan>,
    /// TCP connections accepted.
    pub connections: usize,
}

impl UrlscanState {
    /// Requests to one endpoint, in order.
    pub fn of(&self, endpoint: Endpoint) -> Vec<&Received> {
        self.requests
            .iter()
            .filter(|r| r.endpoint == endpoint)
            .collect()
    }

    /// Every `POST /api/v1/scan/`, whatever the answer.
    pub fn submission_attempts(&self) -> Vec<&Received> {
        self.of(Endpoint::Submit)
    }

    /// Submissions answered 200.
    pub fn submissions(&self) -> Vec<&Received> {
        self.requests
            .iter()
            .filter(|r| r.endpoint == Endpoint::Submit && r.ok())
            .collect()
    }

    /// Statuses of the submissions, in order.
    pub fn submission_statuses(&self) -> Vec<u16> {
        self.of(Endpoint::Submit).iter().map(|r| r.status).collect()
    }

    /// Arrival times of the submissions answered 200.
    pub fn submission_times(&self) -> Vec<Instant> {
        self.submissions().iter().map(|r| r.at).collect()
    }

    /// Successful submissions per fixed window: (window start, count), in order of the windows
    /// (only windows with at least one).
    pub fn submissions_per_window(&self) -> Vec<(Instant, usize)> {
        let mut out: Vec<(Instant, usize)> = Vec::new();
        for r in self.submissions() {
            let Some(w) = r.window_start else { continue };
            match out.iter_mut().find(|(s, _)| *s == w) {
                Some((_, c)) => *c += 1,
                None => out.push((w, 1)),
            }
        }
        out.sort_by_key(|(s, _)| *s);
        out
    }

    /// `GET /api/v1/result/...` requests, in order.
    pub fn result_polls(&self) -> Vec<&Received> {
        self.of(Endpoint::Result)
    }

    /// Result polls for one scan.
    pub fn result_polls_for(&self, uuid: &str) -> Vec<&Received> {
        self.requests
            .iter()
            .filter(|r| r.endpoint == Endpoint::Result && r.uuid.as_deref() == Some(uuid))
            .collect()
    }

    /// `GET /api/v1/search/` requests, in order.
    pub fn searches(&self) -> Vec<&Received> {
        self.of(Endpoint::Search)
    }

    /// UUIDs of the accepted submissions, in order.
    pub fn uuids(&self) -> Vec<String> {
        self.scans.iter().map(|s| s.uuid.clone()).collect()
    }

    pub fn scan(&self, uuid: &str) -> Option<&Scan> {
        self.scans.iter().find(|s| s.uuid == uuid)
    }

    /// Scans whose submitted URL's host is `domain` or under it.
    pub fn scans_for(&self, domain: &str) -> Vec<&Scan> {
        let domain = domain.to_ascii_lowercase();
        self.scans
            .iter()
            .filter(|s| host_matches(&s.domain, &domain))
            .collect()
    }

    /// Answers with this status (any endpoint).
    pub fn count_status(&self, status: u16) -> usize {
        self.requests.iter().filter(|r| r.status == status).count()
    }
}

/// `host` is `domain` or a subdomain of it.
fn host_matches(host: &str, domain: &str) -> bool {
    host == domain
        || host
            .strip_suffix(domain)
            .is_some_and(|rest| rest.ends_with('.'))
}

/// The lowercased host of a URL (`http://` assumed without a scheme); `None` when empty.
pub fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host_port.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host_port.split(':').next().unwrap_or("")
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

#[derive(Debug, Clone, Copy)]
struct Limit {
    per_window: u32,
    per_hour: Option<u32>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counter {
    window: u64,
    count: u32,
    hour: u64,
    hour_count: u32,
}

/// Where an action stands in its windows at one instant.
#[derive(Debug, Clone)]
struct RateView {
    action: String,
    window_name: &'static str,
    limit: u32,
    used: u32,
    window_start: Instant,
    reset: Instant,
    exhausted: bool,
}

struct Config {
    api_key: String,
    window: Duration,
    /// Windows are counted from here.
    epoch: Instant,
    limits: HashMap<String, Limit>,
    counters: HashMap<String, Counter>,
    force_visibility: Option<String>,
    unresolvable: HashSet<String>,
    blocked: HashSet<String>,
    /// Scripted failures of submissions and result polls.
    faults: FaultScript<Endpoint>,
    /// `None`: scans are ready only when finished by the test.
    ready_after: Option<Duration>,
    verdicts: Vec<(String, Verdict)>,
    redirects: Vec<(String, String)>,
}

impl Config {
    fn limit(&self, action: &str) -> Limit {
        self.limits.get(action).copied().unwrap_or(Limit {
            per_window: DEFAULT_SCAN_LIMIT,
            per_hour: None,
        })
    }

    fn indices(&self, now: Instant) -> (u64, u64) {
        let since = now.saturating_duration_since(self.epoch).as_nanos();
        let w = self.window.as_nanos().max(1);
        ((since / w) as u64, (since / (w * 60)) as u64)
    }

    fn start_of(&self, index: u64, len: Duration) -> Instant {
        self.epoch + Duration::from_nanos((len.as_nanos() * index as u128) as u64)
    }

    /// The action's counter, rolled over to the windows of `now`.
    fn counter(&mut self, action: &str, now: Instant) -> &mut Counter {
        let (w, h) = self.indices(now);
        let c = self.counters.entry(action.to_string()).or_default();
        if c.window != w {
            c.window = w;
            c.count = 0;
        }
        if c.hour != h {
            c.hour = h;
            c.hour_count = 0;
        }
        c
    }

    fn view(&mut self, action: &str, now: Instant) -> RateView {
        let limit = self.limit(action);
        let c = *self.counter(action, now);
        let window = self.window;
        let hour = window * 60;
        let window_start = self.start_of(c.window, window);
        let minute = RateView {
            action: action.to_string(),
            window_name: "minute",
            limit: limit.per_window,
            used: c.count,
            window_start,
            reset: window_start + window,
            exhausted: c.count >= limit.per_window,
        };
        match limit.per_hour {
            Some(ph)
                if ph.saturating_sub(c.hour_count) < limit.per_window.saturating_sub(c.count) =>
            {
                let hour_start = self.start_of(c.hour, hour);
                RateView {
                    action: action.to_string(),
                    window_name: "hour",
                    limit: ph,
                    used: c.hour_count,
                    window_start,
                    reset: hour_start + hour,
                    exhausted: c.hour_count >= ph || minute.exhausted,
                }
            }
            _ => minute,
        }
    }

    fn count(&mut self, action: &str, now: Instant) {
        let c = self.counter(action, now);
        c.count += 1;
        c.hour_count += 1;
    }

    fn verdict_for(&self, host: &str) -> Verdict {
        self.verdicts
            .iter()
            .rev()
            .find(|(d, _)| host_matches(host, d))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    fn redirect_for(&self, host: &str) -> Option<String> {
        self.redirects
            .iter()
            .rev()
            .find(|(d, _)| host_matches(host, d))
            .map(|(_, u)| u.clone())
    }
}

/// What the handler shares with the server's methods.
pub struct Shared {
    base: String,
    /// Wall clock and tokio clock at the start: tokio instants shown as ISO times.
    wall0: SystemTime,
    instant0: Instant,
    hasher: std::collections::hash_map::RandomState,
    config: Mutex<Config>,
    state: watch::Sender<UrlscanState>,
}

impl Shared {
    fn wall(&self, t: Instant) -> SystemTime {
        self.wall0 + t.saturating_duration_since(self.instant0)
    }

    fn iso(&self, t: Instant) -> String {
        iso8601(self.wall(t))
    }

    /// A v4-shaped UUID, unique per server.
    fn uuid(&self, n: usize) -> String {
        let mut words = [0u64; 2];
        for (i, w) in words.iter_mut().enumerate() {
            let mut h = self.hasher.build_hasher();
            h.write_usize(n);
            h.write_usize(i);
            h.write(self.base.as_bytes());
            *w = h.finish();
        }
        let hi = (words[0] & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
        let lo = (words[1] & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            hi >> 32,
            (hi >> 16) & 0xffff,
            hi & 0xffff,
            lo >> 48,
            lo & 0xffff_ffff_ffff
        )
    }
}

/// The running server; stops (and closes every connection) when dropped.
pub type FakeUrlscan = Fake<Shared, UrlscanState>;

impl FakeUrlscan {
    /// A server that accepts [`API_KEY`]; default limits, 60 s windows, scans ready at once.
    pub async fn start() -> FakeUrlscan {
        Self::with_key(API_KEY).await
    }

    /// A server that accepts this API key.
    pub async fn with_key(api_key: &str) -> FakeUrlscan {
        let listener = FakeListener::bind().await;
        let addr = listener.addr();
        let now = Instant::now();
        let mut limits = HashMap::new();
        for a in SCAN_ACTIONS {
            limits.insert(
                a.to_string(),
                Limit {
                    per_window: DEFAULT_SCAN_LIMIT,
                    per_hour: None,
                },
            );
        }
        for (a, n) in [
            ("result", DEFAULT_RESULT_LIMIT),
            ("search", DEFAULT_SEARCH_LIMIT),
        ] {
            limits.insert(
                a.to_string(),
                Limit {
                    per_window: n,
                    per_hour: None,
                },
            );
        }
        Fake::serve_http(
            listener,
            |state| Shared {
                base: format!("http://{addr}/"),
                wall0: SystemTime::now(),
                instant0: now,
                hasher: std::collections::hash_map::RandomState::new(),
                config: Mutex::new(Config {
                    api_key: api_key.to_string(),
                    window: Duration::from_secs(60),
                    epoch: now,
                    limits,
                    counters: HashMap::new(),
                    force_visibility: None,
                    unresolvable: HashSet::new(),
                    blocked: HashSet::new(),
                    faults: FaultScript::default(),
                    ready_after: Some(Duration::ZERO),
                    verdicts: Vec::new(),
                    redirects: Vec::new(),
                }),
                state,
            },
            |shared| shared.state.send_modify(|s| s.connections += 1),
            handle,
        )
    }

    /// `http://127.0.0.1:PORT/api/v1/`.
    pub fn api_url(&self) -> String {
        format!("{}api/v1/", self.shared.base)
    }

    /// The API key it accepts.
    pub fn api_key(&self) -> String {
        self.config().api_key.clone()
    }

    fn config(&self) -> std::sync::MutexGuard<'_, Config> {
        self.shared.config.lock().unwrap()
    }

    /// Successful scans allowed per window, for each scan action (`public`, `unlisted`,
    /// `private`: each has its own counter).
    pub fn set_limit_per_window(&self, n: u32) -> &Self {
        let mut c = self.config();
        for a in SCAN_ACTIONS {
            c.limits.get_mut(a).unwrap().per_window = n;
        }
        self
    }

    /// Successful scans allowed per "hour" (60 windows), for each scan action; `None`: no limit.
    pub fn set_limit_per_hour(&self, n: Option<u32>) -> &Self {
        let mut c = self.config();
        for a in SCAN_ACTIONS {
            c.limits.get_mut(a).unwrap().per_hour = n;
        }
        self
    }

    /// The limit per window of one action (`public`, `unlisted`, `private`, `result`, `search`).
    pub fn set_action_limit(&self, action: &str, per_window: u32) -> &Self {
        let mut c = self.config();
        let l = c.limits.entry(action.to_string()).or_insert(Limit {
            per_window,
            per_hour: None,
        });
        l.per_window = per_window;
        self
    }

    /// The window length (60 s by default). Restarts the windows now, with every counter at 0.
    pub fn set_window(&self, window: Duration) -> &Self {
        assert!(!window.is_zero(), "a window must be longer than zero");
        let mut c = self.config();
        c.window = window;
        c.epoch = Instant::now();
        c.counters.clear();
        self
    }

    pub fn window(&self) -> Duration {
        self.config().window
    }

    /// Gives every later scan this visibility whatever was asked (`None`: as asked).
    pub fn force_visibility(&self, visibility: Option<&str>) -> &Self {
        self.config().force_visibility = visibility.map(str::to_string);
        self
    }

    /// The next `k` submissions (that pass the key and rate checks) get 500.
    pub fn fail_next_submissions(&self, k: usize) -> &Self {
        self.config()
            .faults
            .replace(Endpoint::Submit, k, Fault::Status(500));
        self
    }

    /// The next `k` result polls (that pass the rate check) get 500.
    pub fn fail_next_result_polls(&self, k: usize) -> &Self {
        self.config()
            .faults
            .replace(Endpoint::Result, k, Fault::Status(500));
        self
    }

    /// Submissions of URLs whose host is `domain` or under it get 400 `DNS Error`.
    pub fn unresolvable(&self, domain: &str) -> &Self {
        self.config()
            .unresolvable
            .insert(domain.trim_end_matches('.').to_ascii_lowercase());
        self
    }

    /// Submissions of URLs whose host is `domain` or under it get 400 `Scan prevented ...`.
    pub fn block(&self, domain: &str) -> &Self {
        self.config()
            .blocked
            .insert(domain.trim_end_matches('.').to_ascii_lowercase());
        self
    }

    /// Later scans are ready this long after their submission (zero by default).
    pub fn ready_after(&self, delay: Duration) -> &Self {
        self.config().ready_after = Some(delay);
        self
    }

    /// Later scans are ready only when the test finishes them.
    pub fn ready_only_when_finished(&self) -> &Self {
        self.config().ready_after = None;
        self
    }

    /// Makes this scan ready now; `false` if there is no such scan.
    pub fn finish(&self, uuid: &str) -> bool {
        let mut found = false;
        self.shared.state.send_modify(|s| {
            if let Some(scan) = s.scans.iter_mut().find(|x| x.uuid == uuid) {
                scan.finished = true;
                found = true;
            }
        });
        found
    }

    /// Makes every scan so far ready now.
    pub fn finish_all(&self) {
        self.shared.state.send_modify(|s| {
            for scan in &mut s.scans {
                scan.finished = true;
            }
        });
    }

    /// Later scans of `domain` (or under it) end with this verdict (clean by default).
    pub fn set_verdict(&self, domain: &str, verdict: Verdict) -> &Self {
        self.config()
            .verdicts
            .push((domain.to_ascii_lowercase(), verdict));
        self
    }

    /// Later scans of `domain` (or under it) end on this page (`page.url`, `page.domain`).
    pub fn redirect(&self, domain: &str, final_url: &str) -> &Self {
        self.config()
            .redirects
            .push((domain.to_ascii_lowercase(), final_url.to_string()));
        self
    }

    /// UUIDs of the accepted submissions, in order.
    pub fn uuids(&self) -> Vec<String> {
        self.observed().borrow().uuids()
    }

    /// Successful submissions per window: (window start, count).
    pub fn submissions_per_window(&self) -> Vec<(Instant, usize)> {
        self.observed().borrow().submissions_per_window()
    }

    /// Waits until at least `n` requests (any) arrived.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Waited<UrlscanState> {
        self.wait_for(timeout, |s| s.requests.len() >= n).await
    }

    /// Waits until at least `n` submissions were answered 200.
    pub async fn wait_for_submissions(&self, n: usize, timeout: Duration) -> Waited<UrlscanState> {
        self.wait_for(timeout, |s| s.submissions().len() >= n).await
    }

    /// Waits until at least `n` submissions arrived, whatever they were answered.
    pub async fn wait_for_submission_attempts(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Waited<UrlscanState> {
        self.wait_for(timeout, |s| s.submission_attempts().len() >= n)
            .await
    }

    /// Waits until at least `n` result polls arrived.
    pub async fn wait_for_result_polls(&self, n: usize, timeout: Duration) -> Waited<UrlscanState> {
        self.wait_for(timeout, |s| s.result_polls().len() >= n)
            .await
    }

    /// Waits until a result poll for `uuid` was answered 200.
    pub async fn wait_for_result_fetched(
        &self,
        uuid: &str,
        timeout: Duration,
    ) -> Waited<UrlscanState> {
        self.wait_for(timeout, |s| s.result_polls_for(uuid).iter().any(|r| r.ok()))
            .await
    }

    /// Waits until at least `n` searches arrived.
    pub async fn wait_for_searches(&self, n: usize, timeout: Duration) -> Waited<UrlscanState> {
        self.wait_for(timeout, |s| s.searches().len() >= n).await
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC), as urlscan writes its times.
pub fn iso8601(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// Decodes one `application/x-www-form-urlencoded` component (`+` is a space).
fn url_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The decoded query parameters, in order.
fn query_params(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (url_decode(k), url_decode(v))
        })
        .collect()
}

/// What a search query asks for: `(field, domain)` terms of `page.domain:`, `domain:`,
/// `task.domain:`; other terms (`date:>now-7d`, `AND`...) are ignored.
fn domain_terms(q: &str) -> Vec<(String, String)> {
    let mut terms = Vec::new();
    for token in q.split_whitespace() {
        let token = token.trim_start_matches('(').trim_end_matches(')');
        let Some((field, value)) = token.split_once(':') else {
            continue;
        };
        let field = field.to_ascii_lowercase();
        if !matches!(field.as_str(), "page.domain" | "domain" | "task.domain") {
            continue;
        }
        let value = value
            .trim_matches('"')
            .replace('\\', "")
            .to_ascii_lowercase();
        if !value.is_empty() {
            terms.push((field, value));
        }
    }
    terms
}

/// A deterministic documentation-range IP for a host.
fn fake_ip(host: &str) -> String {
    let sum: u32 = host.bytes().map(u32::from).sum();
    format!("198.51.100.{}", sum % 254 + 1)
}

type Resp = Response<Full<Bytes>>;

fn response(status: u16, content_type: &str, body: Bytes) -> Resp {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", content_type)
        .body(Full::new(body))
        .unwrap()
}

fn json_response(status: u16, body: &Value) -> Resp {
    response(status, "application/json", Bytes::from(body.to_string()))
}

/// The answer to a scripted fault: only statuses are scripted here
/// ([`FakeUrlscan::fail_next_submissions`], [`FakeUrlscan::fail_next_result_polls`]).
fn scripted(fault: Fault) -> (u16, Value) {
    match fault {
        Fault::Status(s) => (s, error(s, reason(s))),
        other => unreachable!("urlscan scripts statuses only, not {other:?}"),
    }
}

fn error(status: u16, message: &str) -> Value {
    json!({"message": message, "status": status})
}

fn error_with(status: u16, message: &str, description: &str) -> Value {
    json!({
        "message": message,
        "description": description,
        "status": status,
        "errors": [{"title": message, "detail": description, "status": status}]
    })
}

fn rate_headers(resp: &mut Resp, view: &RateView, now: Instant, shared: &Shared) {
    let left = view.reset.saturating_duration_since(now);
    let after = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    let remaining = view.limit.saturating_sub(view.used);
    let h = resp.headers_mut();
    let mut put = |k: &'static str, v: String| {
        h.insert(k, v.parse().unwrap());
    };
    put("x-rate-limit-scope", "ip".into());
    put("x-rate-limit-action", view.action.clone());
    put("x-rate-limit-window", view.window_name.into());
    put("x-rate-limit-limit", view.limit.to_string());
    put("x-rate-limit-remaining", remaining.to_string());
    put("x-rate-limit-reset", shared.iso(view.reset));
    put("x-rate-limit-reset-after", after.to_string());
}

fn too_many(view: &RateView) -> Value {
    error(
        429,
        &format!(
            "Rate limit for this action reached. Action: {}, window: {}, limit: {}.",
            view.action, view.window_name, view.limit
        ),
    )
}

/// What one request did, for the record.
struct Outcome {
    resp: Resp,
    action: Option<String>,
    window_start: Option<Instant>,
    uuid: Option<String>,
}

impl Outcome {
    fn plain(resp: Resp) -> Outcome {
        Outcome {
            resp,
            action: None,
            window_start: None,
            uuid: None,
        }
    }
}

fn task_json(scan: &Scan, shared: &Shared) -> Value {
    json!({
        "uuid": scan.uuid,
        "time": scan.time,
        "url": scan.url,
        "visibility": scan.visibility,
        "method": "api",
        "source": "certhound-tests",
        "tags": scan.tags,
        "domain": scan.domain,
        "reportURL": format!("{}result/{}/", shared.base, scan.uuid),
        "screenshotURL": format!("{}screenshots/{}.png", shared.base, scan.uuid),
        "domURL": format!("{}dom/{}/", shared.base, scan.uuid),
    })
}

fn page_json(scan: &Scan) -> Value {
    json!({
        "url": scan.final_url,
        "domain": scan.page_domain,
        "ip": fake_ip(&scan.page_domain),
        "country": "US",
        "city": "",
        "server": "nginx",
        "asn": "AS64496",
        "asnname": "EXAMPLE-AS, US",
        "title": "Sign in",
        "mimeType": "text/html",
        "status": "200",
        "tlsIssuer": "R11",
        "tlsValidDays": 89,
    })
}

fn result_json(scan: &Scan, shared: &Shared) -> Value {
    let ip = fake_ip(&scan.page_domain);
    let v = &scan.verdict;
    let mut urls = vec![scan.url.clone()];
    if scan.final_url != scan.url {
        urls.push(scan.final_url.clone());
    }
    let mut domains = vec![scan.domain.clone()];
    if scan.page_domain != scan.domain {
        domains.push(scan.page_domain.clone());
    }
    json!({
        "data": {"requests": [], "cookies": [], "console": [], "links": [], "timing": {}, "globals": []},
        "lists": {
            "ips": [ip],
            "countries": ["US"],
            "asns": ["64496"],
            "domains": domains,
            "servers": ["nginx"],
            "urls": urls,
            "linkDomains": [],
            "certificates": [],
            "hashes": []
        },
        "meta": {"processors": {}},
        "page": page_json(scan),
        "scanner": {"country": scan.country},
        "stats": {
            "uniqIPs": 1,
            "uniqCountries": 1,
            "dataLength": 4096,
            "encodedDataLength": 1024,
            "requests": 1,
            "malicious": u32::from(v.malicious),
            "adBlocked": 0
        },
        "submitter": {"country": "US"},
        "task": task_json(scan, shared),
        "verdicts": {
            "overall": {
                "score": v.score,
                "categories": v.categories,
                "brands": v.brands,
                "tags": [],
                "malicious": v.malicious,
                "hasVerdicts": v.malicious || v.score != 0
            },
            "urlscan": {
                "score": v.score,
                "categories": v.categories,
                "brands": v.brands,
                "tags": [],
                "malicious": v.malicious
            },
            "engines": {"score": 0, "categories": [], "enginesTotal": 0, "maliciousTotal": 0,
                        "benignTotal": 0, "malicious": false},
            "community": {"score": 0, "categories": [], "brands": [], "votesTotal": 0,
                          "votesMalicious": 0, "votesBenign": 0, "malicious": false}
        }
    })
}

fn search_item(scan: &Scan, shared: &Shared) -> Value {
    let ms = shared
        .wall(scan.submitted_at)
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    json!({
        "task": {
            "uuid": scan.uuid,
            "time": scan.time,
            "visibility": scan.visibility,
            "url": scan.url,
            "domain": scan.domain,
            "method": "api",
            "source": "certhound-tests",
            "tags": scan.tags
        },
        "page": page_json(scan),
        "stats": {"uniqIPs": 1, "uniqCountries": 1, "dataLength": 4096,
                  "encodedDataLength": 1024, "requests": 1},
        "_id": scan.uuid,
        "_score": null,
        "sort": [ms, scan.uuid],
        "result": format!("{}api/v1/result/{}/", shared.base, scan.uuid),
        "screenshot": format!("{}screenshots/{}.png", shared.base, scan.uuid),
    })
}

/// The scan with this UUID, as of now, marked finished if it is ready.
fn ready_scan(shared: &Shared, uuid: &str, now: Instant) -> Option<(Scan, bool)> {
    let scan = shared.state.borrow().scan(uuid).cloned()?;
    let ready = scan.is_ready(now);
    if ready && !scan.finished {
        shared.state.send_modify(|s| {
            if let Some(x) = s.scans.iter_mut().find(|x| x.uuid == uuid) {
                x.finished = true;
            }
        });
    }
    Some((scan, ready))
}

fn submit(shared: &Shared, headers: &[(String, String)], json: &Value, now: Instant) -> Outcome {
    let requested = json["visibility"]
        .as_str()
        .unwrap_or("public")
        .to_ascii_lowercase();
    let mut cfg = shared.config.lock().unwrap();
    let visibility = cfg
        .force_visibility
        .clone()
        .unwrap_or_else(|| requested.clone());
    let action = if SCAN_ACTIONS.contains(&visibility.as_str()) {
        visibility.clone()
    } else {
        "public".to_string()
    };
    let key = headers
        .iter()
        .find(|(k, _)| k == "api-key")
        .map(|(_, v)| v.as_str());
    let rejected = match key {
        None | Some("") => Some(error(
            401,
            "Missing API key. Please supply a valid API key in the API-Key header.",
        )),
        Some(k) if k != cfg.api_key => {
            Some(error(401, "API key supplied but not found in database!"))
        }
        Some(_) => None,
    };
    let host = json["url"].as_str().and_then(url_host);
    let rejected = rejected.map(|b| (401, b)).or_else(|| {
        if !json.is_object() {
            Some((400, error(400, "Invalid JSON body")))
        } else if host.is_none() {
            Some((400, error(400, "Missing URL properties")))
        } else if !SCAN_ACTIONS.contains(&requested.as_str()) {
            Some((
                400,
                error(400, "Visibility must be one of public, unlisted, private"),
            ))
        } else {
            None
        }
    });
    let mut view = cfg.view(&action, now);
    let mut uuid = None;
    let (status, body) = if let Some((status, body)) = rejected {
        (status, body)
    } else if view.exhausted {
        (429, too_many(&view))
    } else if let Some(fault) = cfg.faults.next(now, |e| *e == Endpoint::Submit) {
        scripted(fault)
    } else {
        let host = host.unwrap();
        let url = json["url"].as_str().unwrap().to_string();
        if cfg.unresolvable.iter().any(|d| host_matches(&host, d)) {
            (
                400,
                error_with(
                    400,
                    "DNS Error - Could not resolve domain",
                    &format!(
                        "The domain {host} could not be resolved to a valid IPv4/IPv6 address. \
                         We won't try to load it in the browser."
                    ),
                ),
            )
        } else if cfg.blocked.iter().any(|d| host_matches(&host, d)) {
            (
                400,
                error_with(
                    400,
                    "Scan prevented ... the domain is on our blocklist",
                    &format!(
                        "The domain {host} is on the blocklist of domains that may not be \
                         scanned."
                    ),
                ),
            )
        } else {
            cfg.count(&action, now);
            view = cfg.view(&action, now);
            let final_url = cfg.redirect_for(&host).unwrap_or_else(|| url.clone());
            let page_domain = url_host(&final_url).unwrap_or_else(|| host.clone());
            let strings = |v: &Value| -> Vec<String> {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let country = json["country"]
                .as_str()
                .unwrap_or("us")
                .to_ascii_lowercase();
            let mut scan = Scan {
                uuid: String::new(),
                url: url.clone(),
                domain: host.clone(),
                final_url,
                page_domain,
                requested_visibility: requested.clone(),
                visibility: visibility.clone(),
                tags: strings(&json["tags"]),
                customagent: json["customagent"].as_str().map(str::to_string),
                referer: json["referer"].as_str().map(str::to_string),
                country: country.clone(),
                submitted_at: now,
                time: shared.iso(now),
                ready_at: cfg.ready_after.map(|d| now + d),
                finished: false,
                verdict: cfg.verdict_for(&host),
            };
            shared.state.send_modify(|s| {
                scan.uuid = shared.uuid(s.scans.len());
                s.scans.push(scan.clone());
            });
            let id = scan.uuid.clone();
            let mut options = json!({});
            if let Some(a) = &scan.customagent {
                options["useragent"] = json!(a);
            }
            uuid = Some(id.clone());
            (
                200,
                json!({
                    "message": "Submission successful",
                    "uuid": id,
                    "result": format!("{}result/{}/", shared.base, id),
                    "api": format!("{}api/v1/result/{}/", shared.base, id),
                    "visibility": visibility,
                    "options": options,
                    "url": url,
                    "country": country
                }),
            )
        }
    };
    drop(cfg);
    let mut resp = json_response(status, &body);
    rate_headers(&mut resp, &view, now, shared);
    Outcome {
        resp,
        action: Some(action),
        window_start: Some(view.window_start),
        uuid,
    }
}

fn result(shared: &Shared, uuid: &str, now: Instant) -> Outcome {
    let found = ready_scan(shared, uuid, now);
    let mut cfg = shared.config.lock().unwrap();
    let mut view = cfg.view("result", now);
    let (status, body) = if view.exhausted {
        (429, too_many(&view))
    } else if let Some(fault) = cfg.faults.next(now, |e| *e == Endpoint::Result) {
        scripted(fault)
    } else {
        match found {
            None => (404, error(404, "Not Found")),
            Some((_, false)) => (404, error(404, "Scan is not finished yet")),
            Some((scan, true)) => {
                cfg.count("result", now);
                view = cfg.view("result", now);
                (200, result_json(&scan, shared))
            }
        }
    };
    drop(cfg);
    let mut resp = json_response(status, &body);
    rate_headers(&mut resp, &view, now, shared);
    Outcome {
        resp,
        action: Some("result".into()),
        window_start: Some(view.window_start),
        uuid: Some(uuid.to_string()),
    }
}

fn search(shared: &Shared, query: &str, now: Instant) -> Outcome {
    let params = query_params(query);
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let q = param("q").unwrap_or_default();
    let size = param("size")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(100)
        .min(10_000);
    let terms = domain_terms(&q);
    let mut scans: Vec<Scan> = shared
        .state
        .borrow()
        .scans
        .iter()
        .filter(|s| s.is_ready(now))
        .filter(|s| {
            terms.is_empty()
                || terms.iter().any(|(field, d)| match field.as_str() {
                    "page.domain" => s.page_domain == *d,
                    "task.domain" => s.domain == *d,
                    _ => s.page_domain == *d || s.domain == *d,
                })
        })
        .cloned()
        .collect();
    scans.sort_by_key(|s| std::cmp::Reverse(s.submitted_at));
    let mut cfg = shared.config.lock().unwrap();
    let mut view = cfg.view("search", now);
    let (status, body) = if view.exhausted {
        (429, too_many(&view))
    } else {
        cfg.count("search", now);
        view = cfg.view("search", now);
        let total = scans.len();
        let results: Vec<Value> = scans
            .iter()
            .take(size)
            .map(|s| search_item(s, shared))
            .collect();
        (
            200,
            json!({"results": results, "total": total, "took": 1, "has_more": total > size}),
        )
    };
    drop(cfg);
    let mut resp = json_response(status, &body);
    rate_headers(&mut resp, &view, now, shared);
    Outcome {
        resp,
        action: Some("search".into()),
        window_start: Some(view.window_start),
        uuid: None,
    }
}

fn quotas(shared: &Shared, now: Instant) -> Value {
    let mut cfg = shared.config.lock().unwrap();
    let mut actions: Vec<String> = cfg.limits.keys().cloned().collect();
    actions.sort();
    let mut limits = serde_json::Map::new();
    for a in actions {
        let l = cfg.limit(&a);
        let c = *cfg.counter(&a, now);
        let window = |limit: u32, used: u32| {
            json!({"limit": limit, "used": used, "remaining": limit.saturating_sub(used),
                   "percent": if limit == 0 { 100.0 } else { f64::from(used) * 100.0 / f64::from(limit) }})
        };
        let mut entry = json!({"minute": window(l.per_window, c.count)});
        if let Some(h) = l.per_hour {
            entry["hour"] = window(h, c.hour_count);
        }
        limits.insert(a, entry);
    }
    json!({"scope": "ip", "limits": limits})
}

async fn handle(req: Request<Incoming>, shared: Arc<Shared>) -> Result<Resp, Infallible> {
    let request = Recorded::read(req).await;
    let at = request.at;
    let query = request.query.as_deref().unwrap_or("");
    let json: Value = serde_json::from_str(&request.body).unwrap_or(Value::Null);
    let trimmed = request.path.trim_end_matches('/');
    let (endpoint, outcome) = match (request.method.as_str(), trimmed) {
        ("POST", "/api/v1/scan") => (
            Endpoint::Submit,
            submit(&shared, &request.headers, &json, at),
        ),
        ("GET", "/api/v1/search") => (Endpoint::Search, search(&shared, query, at)),
        ("GET", "/api/v1/quotas") => (
            Endpoint::Quotas,
            Outcome::plain(json_response(200, &quotas(&shared, at))),
        ),
        ("GET", p) if p.starts_with("/api/v1/result/") => {
            let uuid = &p["/api/v1/result/".len()..];
            (Endpoint::Result, result(&shared, uuid, at))
        }
        ("GET", p) if p.starts_with("/screenshots/") && p.ends_with(".png") => {
            let uuid = &p["/screenshots/".len()..p.len() - ".png".len()];
            let resp = match ready_scan(&shared, uuid, at) {
                Some((_, true)) => response(200, "image/png", Bytes::from(screenshot_png(uuid))),
                _ => json_response(404, &error(404, "Not Found")),
            };
            let mut o = Outcome::plain(resp);
            o.uuid = Some(uuid.to_string());
            (Endpoint::Screenshot, o)
        }
        ("GET", p) if p.starts_with("/result/") => {
            let uuid = &p["/result/".len()..];
            let resp = match ready_scan(&shared, uuid, at) {
                Some((scan, true)) => response(
                    200,
                    "text/html; charset=utf-8",
                    Bytes::from(format!(
                        "<!doctype html><title>urlscan.io - {}</title><h1>{}</h1>",
                        scan.page_domain, scan.url
                    )),
                ),
                _ => response(
                    404,
                    "text/html; charset=utf-8",
                    Bytes::from_static(b"<!doctype html><title>Not Found</title>"),
                ),
            };
            let mut o = Outcome::plain(resp);
            o.uuid = Some(uuid.to_string());
            (Endpoint::Report, o)
        }
        _ => (
            Endpoint::Other,
            Outcome::plain(json_response(404, &error(404, "Not Found"))),
        ),
    };
    let status = outcome.resp.status().as_u16();
    shared.state.send_modify(|s| {
        let n = s.requests.len();
        s.requests.push(request.with(
            n,
            Made {
                endpoint,
                json,
                status,
                action: outcome.action.clone(),
                window_start: outcome.window_start,
                uuid: outcome.uuid.clone(),
            },
        ));
    });
    Ok(outcome.resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::assert_times_out;

    const T: Duration = Duration::from_secs(10);

    const RATE_HEADERS: [&str; 7] = [
        "x-rate-limit-scope",
        "x-rate-limit-action",
        "x-rate-limit-window",
        "x-rate-limit-limit",
        "x-rate-limit-remaining",
        "x-rate-limit-reset",
        "x-rate-limit-reset-after",
    ];

    struct Answer {
        status: u16,
        headers: reqwest::header::HeaderMap,
        json: Value,
    }

    impl Answer {
        fn header(&self, name: &str) -> &str {
            self.headers
                .get(name)
                .unwrap_or_else(|| panic!("no {name} in {:?}", self.headers))
                .to_str()
                .unwrap()
        }

        fn assert_rate_headers(&self, action: &str) {
            for h in RATE_HEADERS {
                assert!(
                    self.headers.contains_key(h),
                    "{h} missing: {:?}",
                    self.headers
                );
            }
            assert_eq!(self.header("x-rate-limit-scope"), "ip");
            assert_eq!(self.header("x-rate-limit-action"), action);
            assert_eq!(self.header("x-rate-limit-window"), "minute");
            let reset = self.header("x-rate-limit-reset");
            assert!(
                reset.len() == 24 && reset.ends_with('Z') && &reset[10..11] == "T",
                "{reset}"
            );
            let _: u64 = self.header("x-rate-limit-reset-after").parse().unwrap();
        }
    }

    async fn answer(resp: reqwest::Response) -> Answer {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Answer {
            status,
            headers,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
        }
    }

    async fn submit_with(
        client: &reqwest::Client,
        us: &FakeUrlscan,
        key: Option<&str>,
        body: Value,
    ) -> Answer {
        let mut req = client.post(format!("{}scan/", us.api_url())).json(&body);
        if let Some(k) = key {
            req = req.header("API-Key", k);
        }
        answer(req.send().await.unwrap()).await
    }

    async fn submit(client: &reqwest::Client, us: &FakeUrlscan, url: &str) -> Answer {
        submit_with(
            client,
            us,
            Some(API_KEY),
            json!({"url": url, "visibility": "public", "tags": ["certhound"]}),
        )
        .await
    }

    async fn get(client: &reqwest::Client, url: &str) -> Answer {
        answer(client.get(url).send().await.unwrap()).await
    }

    async fn search(client: &reqwest::Client, us: &FakeUrlscan, q: &str) -> Answer {
        let q: String = q
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => {
                    (b as char).to_string()
                }
                b' ' => "+".into(),
                _ => format!("%{b:02X}"),
            })
            .collect();
        get(client, &format!("{}search/?q={q}&size=10", us.api_url())).await
    }

    #[tokio::test]
    async fn submit_then_404_until_ready_then_result_and_screenshot() {
        let us = FakeUrlscan::start().await;
        us.ready_after(Duration::from_millis(400));
        us.set_verdict("paypa1-login.com", Verdict::phishing("paypal"));
        let client = reqwest::Client::new();

        let a = submit(&client, &us, "https://secure.paypa1-login.com/signin").await;
        assert_eq!(a.status, 200, "{}", a.json);
        a.assert_rate_headers("public");
        assert_eq!(a.header("x-rate-limit-limit"), "60");
        assert_eq!(a.header("x-rate-limit-remaining"), "59");
        assert_eq!(a.json["message"], "Submission successful");
        assert_eq!(a.json["visibility"], "public");
        assert_eq!(a.json["url"], "https://secure.paypa1-login.com/signin");
        assert_eq!(a.json["country"], "us");
        let uuid = a.json["uuid"].as_str().unwrap().to_string();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4", "{uuid}");
        assert!("89ab".contains(&uuid[19..20]), "{uuid}");
        assert_eq!(
            a.json["api"],
            format!("{}api/v1/result/{uuid}/", us.base_url())
        );
        assert_eq!(a.json["result"], format!("{}result/{uuid}/", us.base_url()));
        assert_eq!(us.uuids(), vec![uuid.clone()]);

        let api = a.json["api"].as_str().unwrap().to_string();
        let r = get(&client, &api).await;
        assert_eq!(r.status, 404);
        assert_eq!(
            r.json,
            json!({"message": "Scan is not finished yet", "status": 404})
        );
        r.assert_rate_headers("result");
        let shot = format!("{}screenshots/{uuid}.png", us.base_url());
        assert_eq!(get(&client, &shot).await.status, 404);

        tokio::time::sleep(Duration::from_millis(450)).await;
        let r = get(&client, &api).await;
        assert_eq!(r.status, 200, "{}", r.json);
        r.assert_rate_headers("result");
        assert_eq!(r.json["task"]["uuid"], uuid.as_str());
        assert_eq!(r.json["task"]["visibility"], "public");
        assert_eq!(r.json["task"]["screenshotURL"], shot.as_str());
        assert_eq!(
            r.json["task"]["reportURL"],
            format!("{}result/{uuid}/", us.base_url())
        );
        assert_eq!(r.json["page"]["domain"], "secure.paypa1-login.com");
        assert_eq!(r.json["page"]["status"], "200");
        assert_eq!(r.json["verdicts"]["overall"]["malicious"], true);
        assert_eq!(r.json["verdicts"]["overall"]["score"], 100);
        assert_eq!(r.json["verdicts"]["overall"]["brands"], json!(["paypal"]));
        assert_eq!(r.json["verdicts"]["urlscan"]["malicious"], true);
        assert_eq!(
            r.json["lists"]["urls"],
            json!(["https://secure.paypa1-login.com/signin"])
        );
        let png = client.get(&shot).send().await.unwrap();
        assert_eq!(png.status(), 200);
        assert_eq!(png.headers()["content-type"], "image/png");
        assert_eq!(&png.bytes().await.unwrap()[..], &screenshot_png(&uuid)[..]);

        // Ready only when finished: finish() releases it.
        us.ready_only_when_finished();
        let b = submit(&client, &us, "http://other.example/").await;
        let id = b.json["uuid"].as_str().unwrap().to_string();
        assert_eq!(
            get(&client, b.json["api"].as_str().unwrap()).await.status,
            404
        );
        assert!(us.finish(&id));
        assert!(!us.finish("no-such-uuid"));
        assert_eq!(
            get(&client, b.json["api"].as_str().unwrap()).await.status,
            200
        );

        let s = us.wait_for_result_fetched(&uuid, T).await.unwrap();
        let polls: Vec<u16> = s.result_polls_for(&uuid).iter().map(|r| r.status).collect();
        assert_eq!(polls, [404, 200]);
        let sub = &s.submissions()[0];
        assert_eq!(sub.header("api-key"), Some(API_KEY));
        assert_eq!(sub.json["tags"], json!(["certhound"]));
        assert_eq!(sub.uuid.as_deref(), Some(uuid.as_str()));
        assert_eq!(s.scan(&uuid).unwrap().tags, ["certhound"]);
        assert!(s.scan(&uuid).unwrap().finished);
        assert_eq!(s.scans_for("paypa1-login.com").len(), 1);
    }

    #[tokio::test]
    async fn rate_limit_429_with_reset_after_then_next_window() {
        let us = FakeUrlscan::start().await;
        us.set_window(Duration::from_secs(2))
            .set_limit_per_window(2);
        let client = reqwest::Client::new();
        for i in 0..2 {
            let a = submit(&client, &us, &format!("http://a{i}.example/")).await;
            assert_eq!(a.status, 200);
            assert_eq!(a.header("x-rate-limit-limit"), "2");
            assert_eq!(a.header("x-rate-limit-remaining"), (1 - i).to_string());
        }
        let a = submit(&client, &us, "http://a2.example/").await;
        assert_eq!(a.status, 429, "{}", a.json);
        a.assert_rate_headers("public");
        assert_eq!(a.header("x-rate-limit-remaining"), "0");
        assert!(a.json["message"]
            .as_str()
            .unwrap()
            .starts_with("Rate limit for this action reached"));
        assert_eq!(a.json["status"], 429);
        let after: u64 = a.header("x-rate-limit-reset-after").parse().unwrap();
        assert!((1..=2).contains(&after), "{after}");
        // Another action has its own counter.
        let u = submit_with(
            &client,
            &us,
            Some(API_KEY),
            json!({"url": "http://u.example/", "visibility": "unlisted"}),
        )
        .await;
        assert_eq!(u.status, 200);
        assert_eq!(u.header("x-rate-limit-action"), "unlisted");

        tokio::time::sleep(Duration::from_secs(after)).await;
        let a = submit(&client, &us, "http://a3.example/").await;
        assert_eq!(a.status, 200, "{}", a.json);
        assert_eq!(a.header("x-rate-limit-remaining"), "1");

        let s = us.wait_for_submissions(4, T).await.unwrap();
        assert_eq!(s.submission_statuses(), [200, 200, 429, 200, 200]);
        let per: Vec<usize> = us
            .submissions_per_window()
            .iter()
            .map(|(_, n)| *n)
            .collect();
        assert_eq!(per, [3, 1]);
        let w = us.submissions_per_window();
        assert!(w[1].0 - w[0].0 >= Duration::from_secs(2));
    }

    #[tokio::test]
    async fn errors_400_401_500_carry_headers_and_do_not_count() {
        let us = FakeUrlscan::start().await;
        us.set_limit_per_window(5)
            .unresolvable("nx-domain.example")
            .block("blocked.example");
        let client = reqwest::Client::new();

        let a = submit(&client, &us, "https://login.nx-domain.example/x").await;
        assert_eq!(a.status, 400);
        assert_eq!(a.json["message"], "DNS Error - Could not resolve domain");
        assert_eq!(a.json["status"], 400);
        assert!(a.json["description"]
            .as_str()
            .unwrap()
            .contains("could not be resolved to a valid IPv4/IPv6 address"));
        a.assert_rate_headers("public");
        assert_eq!(a.header("x-rate-limit-remaining"), "5");

        let a = submit(&client, &us, "http://blocked.example/").await;
        assert_eq!(a.status, 400);
        assert!(a.json["message"]
            .as_str()
            .unwrap()
            .starts_with("Scan prevented"));
        a.assert_rate_headers("public");

        let body = json!({"url": "http://ok.example/", "visibility": "public"});
        let a = submit_with(&client, &us, None, body.clone()).await;
        assert_eq!(a.status, 401);
        assert_eq!(a.json["status"], 401);
        assert!(a.json["message"].is_string());
        a.assert_rate_headers("public");
        let a = submit_with(&client, &us, Some("wrong"), body.clone()).await;
        assert_eq!(a.status, 401);

        us.fail_next_submissions(2).fail_next_result_polls(1);
        for _ in 0..2 {
            let a = submit_with(&client, &us, Some(API_KEY), body.clone()).await;
            assert_eq!(a.status, 500);
            a.assert_rate_headers("public");
        }
        let a = submit_with(&client, &us, Some(API_KEY), body.clone()).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("x-rate-limit-remaining"), "4");
        let api = a.json["api"].as_str().unwrap();
        let r = get(&client, api).await;
        assert_eq!(r.status, 500);
        r.assert_rate_headers("result");
        assert_eq!(get(&client, api).await.status, 200);

        // Forced visibility: answered and counted as `unlisted`.
        us.force_visibility(Some("unlisted"));
        let a = submit_with(&client, &us, Some(API_KEY), body).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.json["visibility"], "unlisted");
        assert_eq!(a.header("x-rate-limit-action"), "unlisted");

        let s = us.state();
        assert_eq!(
            s.submission_statuses(),
            [400, 400, 401, 401, 500, 500, 200, 200]
        );
        assert_eq!(s.submissions().len(), 2);
        assert_eq!(s.scans[1].requested_visibility, "public");
        assert_eq!(s.scans[1].visibility, "unlisted");
    }

    #[tokio::test]
    async fn search_finds_finished_scans_of_a_page_domain() {
        let us = FakeUrlscan::start().await;
        us.ready_only_when_finished()
            .redirect("bit.example", "https://landing.phish.example/login");
        let client = reqwest::Client::new();
        let a = submit(&client, &us, "https://phish.example/").await;
        let first = a.json["uuid"].as_str().unwrap().to_string();
        let b = submit(&client, &us, "https://phish.example/again").await;
        let second = b.json["uuid"].as_str().unwrap().to_string();
        submit(&client, &us, "https://bit.example/x").await;
        submit(&client, &us, "https://unrelated.example/").await;

        let q = "page.domain:phish.example AND date:>now-7d";
        let r = search(&client, &us, q).await;
        assert_eq!(r.status, 200);
        r.assert_rate_headers("search");
        assert_eq!(r.json["total"], 0, "nothing finished yet: {}", r.json);

        us.finish(&first);
        let r = search(&client, &us, q).await;
        assert_eq!(r.json["total"], 1, "{}", r.json);
        assert_eq!(r.json["has_more"], false);
        let hit = &r.json["results"][0];
        assert_eq!(hit["_id"], first.as_str());
        assert_eq!(hit["task"]["uuid"], first.as_str());
        assert_eq!(hit["task"]["url"], "https://phish.example/");
        assert_eq!(hit["task"]["visibility"], "public");
        assert!(hit["task"]["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(hit["page"]["domain"], "phish.example");
        assert_eq!(
            hit["result"],
            format!("{}api/v1/result/{first}/", us.base_url())
        );
        assert_eq!(
            hit["screenshot"],
            format!("{}screenshots/{first}.png", us.base_url())
        );

        us.finish_all();
        let r = search(&client, &us, q).await;
        let ids: Vec<&str> = r.json["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
        // The redirected scan is found under its final page domain.
        let r = search(&client, &us, "page.domain:landing.phish.example").await;
        assert_eq!(r.json["total"], 1);
        assert_eq!(r.json["results"][0]["task"]["url"], "https://bit.example/x");

        us.set_action_limit("search", 4);
        let r = search(&client, &us, q).await;
        assert_eq!(r.status, 429);
        r.assert_rate_headers("search");
        let s = us.wait_for_searches(5, T).await.unwrap();
        assert_eq!(
            s.searches().iter().map(|r| r.status).collect::<Vec<_>>(),
            [200, 200, 200, 200, 429]
        );

        let quotas = get(&client, &format!("{}quotas", us.api_url())).await;
        assert_eq!(quotas.json["limits"]["search"]["minute"]["used"], 4);
        assert_eq!(quotas.json["limits"]["public"]["minute"]["used"], 4);
    }

    #[tokio::test]
    async fn waits_are_woken_by_requests() {
        let us = FakeUrlscan::start().await;
        let url = format!("{}scan/", us.api_url());
        let task = tokio::spawn(async move {
            let client = reqwest::Client::new();
            for i in 0..3 {
                client
                    .post(&url)
                    .header("API-Key", API_KEY)
                    .json(&json!({"url": format!("http://w{i}.example/"), "visibility": "public"}))
                    .send()
                    .await
                    .unwrap();
            }
        });
        let s = us.wait_for_submissions(3, T).await.unwrap();
        assert_eq!(s.uuids().len(), 3);
        task.await.unwrap();
        assert_times_out(us.wait_for_submissions(4, Duration::from_millis(50))).await;
    }

    #[test]
    fn helpers() {
        assert_eq!(iso8601(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            iso8601(UNIX_EPOCH + Duration::from_millis(1_709_251_199_123)),
            "2024-02-29T23:59:59.123Z"
        );
        assert_eq!(
            url_host("https://User@Sub.Example.COM:8443/a?b#c").as_deref(),
            Some("sub.example.com")
        );
        assert_eq!(url_host("example.org/path").as_deref(), Some("example.org"));
        assert_eq!(url_host("http:///x"), None);
        assert!(host_matches("a.b.example", "b.example"));
        assert!(!host_matches("ab.example", "b.example"));
        assert_eq!(
            url_decode("page.domain%3Aa.com+AND+x%zz"),
            "page.domain:a.com AND x%zz"
        );
        assert_eq!(
            domain_terms("(page.domain:\"A.com\" OR domain:b\\.com) AND date:>now-7d"),
            [
                ("page.domain".to_string(), "a.com".to_string()),
                ("domain".to_string(), "b.com".to_string())
            ]
        );
    }
}
