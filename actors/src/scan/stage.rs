//! The scan stage: between enrichment (or the store) and the channels. Submits each finding's
//! domain to urlscan.io, polls for the result, writes it into the finding and hands it on.
//!
//! Quotas are backpressure, not loss: submissions keep to a local per-minute rate and to what
//! urlscan's `X-Rate-Limit-*` headers announce; after a 429 nothing is submitted until the
//! window resets. Meanwhile findings wait in the store's `scan` queue, in the order they were
//! found. One that has waited longer than `urlscan.max_wait` is handed on without a scan, saying
//! "urlscan quota exhausted". A 400 (unresolvable, blocked) is final and said; 5xx and timeouts
//! are retried with backoff.
//!
//! A submitted scan's uuid is stored in the finding at once, so after a restart polling resumes
//! where it was instead of spending quota again. A crash between urlscan's answer and that
//! write submits the scan once more after the restart: one scan of quota, never a lost finding.
//!
//! The local quotas and `max_wait` are [`ScanLimits`], made once per process and shared by every
//! incarnation of the stage, so a config reload retunes them in place ([`Retune`]) and a
//! restart keeps the cells already spent.

use super::client::{Client, Quota, ScanError, ScanResult};
use crate::backoff::Backoff;
use crate::dates::parse_rfc3339;
use crate::finding::{Finding, ScanInfo};
use crate::metrics::Metrics;
use crate::store::{unix_now, Store};
use crate::tuning::{nonzero, Bucket, Retune};
use crate::watch::stage::{Route, Stage, Work};
use certhound_config::{BackoffConfig, Config, UrlscanConfig};
use futures_util::stream::{FuturesUnordered, StreamExt};
use governor::Quota as RateQuota;
use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;
use tracing::Instrument;

/// The queue name of this stage in the store.
pub const STAGE: &str = "scan";

/// The local limits of submissions (`urlscan.per_minute`, `per_hour`, `per_day`) and
/// `urlscan.max_wait`, live.
pub struct ScanLimits {
    /// Per minute, per hour, per day: checked in that order, so that when a longer window is
    /// the one used up, the cell spent before finding out is the most plentiful one (governor
    /// cannot look without taking).
    buckets: [Bucket; 3],
    max_wait: Mutex<Duration>,
}

impl ScanLimits {
    pub fn new(cfg: &UrlscanConfig) -> Arc<ScanLimits> {
        Arc::new(ScanLimits {
            buckets: quotas(cfg).map(Bucket::new),
            max_wait: Mutex::new(cfg.max_wait),
        })
    }

    /// Takes one submission's cell of every window; `false` when one is used up.
    fn take(&self) -> bool {
        self.buckets.iter().all(Bucket::check)
    }

    /// How long a finding may wait for quota.
    pub fn max_wait(&self) -> Duration {
        *self.max_wait.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Retune for ScanLimits {
    fn retune(&self, cfg: &Config) {
        for (bucket, quota) in self.buckets.iter().zip(quotas(&cfg.urlscan)) {
            bucket.set(quota);
        }
        *self.max_wait.lock().unwrap_or_else(|p| p.into_inner()) = cfg.urlscan.max_wait;
    }
}

/// The three windows: a burst of the whole window's count, refilled evenly across it.
fn quotas(cfg: &UrlscanConfig) -> [RateQuota; 3] {
    [
        RateQuota::per_minute(nonzero(cfg.per_minute)),
        RateQuota::per_hour(nonzero(cfg.per_hour)),
        RateQuota::with_period(Duration::from_secs(86400) / cfg.per_day.max(1))
            .unwrap_or_else(|| RateQuota::per_hour(nonzero(cfg.per_day)))
            .allow_burst(nonzero(cfg.per_day)),
    ]
}

/// The urlscan stage: the [`Stage`] shell around its loop.
pub type ScanStage = Stage<ScanLoop>;

/// What every incarnation of the stage shares: the API client (its key can be replaced by a
/// secrets refresh) and the live limits.
#[derive(Clone)]
pub struct Urlscan {
    pub client: Arc<Client>,
    pub limits: Arc<ScanLimits>,
}

impl ScanStage {
    /// `route` names the channels that get each finding once it is scanned (or given up on).
    pub fn new(
        urlscan: Urlscan,
        store: Store,
        cfg: UrlscanConfig,
        route: Route,
        wake: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Stage::with(wake, |wake, idle| ScanLoop {
            client: urlscan.client,
            store,
            limits: urlscan.limits,
            cfg,
            route,
            wake,
            metrics,
            idle,
            last_quota: std::sync::Mutex::new(None),
        })
    }
}

impl Work for ScanLoop {
    fn run(self) -> impl Future<Output = ()> + 'static {
        self.work()
    }
}

pub struct ScanLoop {
    client: Arc<Client>,
    store: Store,
    /// Local per-minute, per-hour and per-day limits of submissions, and `max_wait`.
    limits: Arc<ScanLimits>,
    cfg: UrlscanConfig,
    route: Route,
    wake: Arc<Notify>,
    metrics: Arc<Metrics>,
    idle: watch::Sender<bool>,
    /// What the last submission's headers said.
    last_quota: std::sync::Mutex<Option<Quota>>,
}

impl ScanLoop {
    /// Ends only on a store error (the supervisor then starts a new actor).
    async fn work(self) {
        let mut polling = FuturesUnordered::new();
        let mut busy: HashSet<u64> = HashSet::new();
        // Submitting waits until then (quota exhausted or a transient failure).
        let mut blocked_until: Option<Instant> = None;
        let mut retry = Backoff::new(BackoffConfig {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
        });
        loop {
            let queue = match self.store.pending(STAGE, 512) {
                Ok(q) => q,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the scan queue");
                    return;
                }
            };
            let now = Instant::now();
            let mut waiting = 0usize;
            for (n, mut f) in queue {
                if busy.contains(&n) {
                    continue;
                }
                // A scan submitted before (this run or the last): poll it.
                if f.scan
                    .as_ref()
                    .is_some_and(|s| s.uuid.is_some() && !s.finished)
                {
                    busy.insert(n);
                    polling.push(self.poll(n, f));
                    continue;
                }
                let blocked = blocked_until.is_some_and(|t| t > now);
                if blocked || !self.limits.take() {
                    // Out of quota: wait in order; only the too-old go on without a scan.
                    if self.waited_too_long(&f) {
                        f.scan = Some(ScanInfo {
                            note: Some(format!(
                                "urlscan quota exhausted: not scanned within {}",
                                humantime::format_duration(self.limits.max_wait())
                            )),
                            ..ScanInfo::default()
                        });
                        Metrics::add(&self.metrics.scan_skipped, 1);
                        let span = tracing::info_span!(
                            target: "certhound::trace",
                            parent: None,
                            "urlscan skipped",
                            reason = "quota exhausted past urlscan.max_wait",
                        );
                        crate::trace::attach(&span, &f);
                        drop(span);
                        self.hand_on(n, &f);
                    } else {
                        waiting += 1;
                    }
                    continue;
                }
                match self.start(&mut f).await {
                    Ok(Started::Done) => self.hand_on(n, &f),
                    Ok(Started::Submitted) => {
                        retry.reset();
                        // The window is used up: wait for its end rather than meet a 429.
                        let q = self.last_quota.lock().ok().and_then(|q| q.clone());
                        if let Some(q) = q.filter(|q| q.remaining == Some(0)) {
                            let after = q.reset_after.unwrap_or(Duration::from_secs(60));
                            blocked_until = Some(Instant::now() + after);
                        }
                        if let Err(e) = self.store.update(n, &f) {
                            tracing::error!(error = %e, "cannot record a submitted scan");
                        }
                        busy.insert(n);
                        polling.push(self.poll(n, f));
                    }
                    Err(Blocked::Quota(after)) => {
                        tracing::warn!(
                            reset_in_s = after.as_secs_f64(),
                            "urlscan quota exhausted; findings wait"
                        );
                        blocked_until = Some(Instant::now() + after);
                        waiting += 1;
                    }
                    Err(Blocked::Transient(e)) => {
                        let after = retry.next_delay();
                        tracing::warn!(error = %e, retry_in_ms = after.as_millis() as u64, "urlscan unavailable; findings wait");
                        blocked_until = Some(Instant::now() + after);
                        waiting += 1;
                    }
                }
            }
            Metrics::set(&self.metrics.scan_waiting, waiting as u64);
            if polling.is_empty() && waiting == 0 {
                self.idle.send_replace(true);
            } else {
                self.idle.send_replace(false);
            }
            // Wake on: a poll done, new findings, the quota window's end, or a second passing
            // (the local limiter refills continuously).
            let until = blocked_until
                .filter(|t| *t > Instant::now())
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
            // While findings wait, look again every second: max_wait is judged per finding.
            let tick = if waiting > 0 {
                until.min(Instant::now() + Duration::from_secs(1))
            } else {
                Instant::now() + Duration::from_secs(30)
            };
            tokio::select! {
                Some(n) = polling.next(), if !polling.is_empty() => { busy.remove(&n); }
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep_until(tick) => {}
            }
        }
    }

    fn waited_too_long(&self, f: &Finding) -> bool {
        parse_rfc3339(&f.detected_at)
            .is_some_and(|t| unix_now() as i64 - t > self.limits.max_wait().as_secs() as i64)
    }

    /// Searches for a recent scan or submits a new one, in a span of the finding's trace.
    async fn start(&self, f: &mut Finding) -> Result<Started, Blocked> {
        let span = tracing::info_span!(
            target: "certhound::trace",
            parent: None,
            "urlscan submit",
            domain = %f.domain,
            outcome = tracing::field::Empty,
            quota_remaining = tracing::field::Empty,
        );
        crate::trace::attach(&span, f);
        let r = self.start_untraced(f).instrument(span.clone()).await;
        let outcome = match &r {
            Ok(Started::Done) if f.scan.as_ref().is_some_and(|s| s.reused) => "recent scan reused",
            Ok(Started::Done) => "refused",
            Ok(Started::Submitted) => "submitted",
            Err(Blocked::Quota(_)) => "rate limited: waits for quota",
            Err(Blocked::Transient(_)) => "unavailable: waits",
        };
        span.record("outcome", outcome);
        let remaining = self
            .last_quota
            .lock()
            .ok()
            .and_then(|q| q.as_ref().and_then(|q| q.remaining));
        if let Some(r) = remaining {
            span.record("quota_remaining", r);
        }
        r
    }

    async fn start_untraced(&self, f: &mut Finding) -> Result<Started, Blocked> {
        let domain = f.registrable_domain.clone();
        if self.cfg.search_first {
            match self.client.search(&f.domain).await {
                Ok(Some(r)) => {
                    f.scan = Some(info_of(&r, true));
                    Metrics::add(&self.metrics.scans_reused, 1);
                    return Ok(Started::Done);
                }
                Ok(None) => {}
                // Searching is an optimisation: its own quota running out does not stop scans.
                Err(e) => tracing::debug!(domain = %domain, error = %e, "urlscan search failed"),
            }
        }
        let (result, quota) = self.client.submit(&format!("https://{}/", f.domain)).await;
        log_quota(&quota);
        if let Some(r) = quota.as_ref().and_then(|q| q.remaining) {
            Metrics::set(&self.metrics.scan_quota_remaining, r);
        }
        if let Ok(mut q) = self.last_quota.lock() {
            *q = quota;
        }
        match result {
            Ok(s) => {
                Metrics::add(&self.metrics.scans_submitted, 1);
                f.scan = Some(ScanInfo {
                    uuid: Some(s.uuid),
                    result_url: Some(s.result_url),
                    visibility: Some(s.visibility),
                    submitted_at: Some(unix_now()),
                    ..ScanInfo::default()
                });
                Ok(Started::Submitted)
            }
            Err(ScanError::RateLimited { reset_after }) => Err(Blocked::Quota(reset_after)),
            Err(ScanError::Refused(reason)) => {
                f.scan = Some(ScanInfo {
                    note: Some(format!("urlscan refused the scan: {reason}")),
                    ..ScanInfo::default()
                });
                Ok(Started::Done)
            }
            Err(ScanError::Unauthorized(reason)) => {
                Err(Blocked::Transient(format!("API key rejected: {reason}")))
            }
            Err(ScanError::Transient(reason)) => Err(Blocked::Transient(reason)),
        }
    }

    /// Polls a submitted scan until it finishes or `poll_timeout` passes, then hands the finding
    /// on. Returns its number.
    async fn poll(&self, n: u64, mut f: Finding) -> u64 {
        let mut info = f.scan.clone().unwrap_or_default();
        let uuid = info.uuid.clone().unwrap_or_default();
        let span = tracing::info_span!(
            target: "certhound::trace",
            parent: None,
            "urlscan poll",
            uuid = %uuid,
            polls = tracing::field::Empty,
            finished = tracing::field::Empty,
        );
        crate::trace::attach(&span, &f);
        let (info, polls) = self
            .poll_untraced(&mut info, &uuid)
            .instrument(span.clone())
            .await;
        span.record("polls", polls);
        span.record("finished", info.finished);
        drop(span);
        f.scan = Some(info);
        self.hand_on(n, &f);
        n
    }

    /// Polls until the scan finishes or `poll_timeout` passes; returns its info and the number
    /// of polls.
    async fn poll_untraced(&self, info: &mut ScanInfo, uuid: &str) -> (ScanInfo, u64) {
        let mut info = std::mem::take(info);
        let mut polls = 0u64;
        let submitted = info.submitted_at.unwrap_or_else(unix_now);
        let elapsed = Duration::from_secs(unix_now().saturating_sub(submitted));
        if elapsed < self.cfg.initial_delay {
            tokio::time::sleep(self.cfg.initial_delay - elapsed).await;
        }
        loop {
            polls += 1;
            let answer = self.client.result(uuid).await;
            tracing::info!(
                target: "certhound::trace",
                poll = polls,
                status = match &answer {
                    Ok(Some(_)) => "finished",
                    Ok(None) => "not finished",
                    Err(_) => "failed",
                },
                "urlscan result polled"
            );
            match answer {
                Ok(Some(r)) => {
                    let done = info_of(&r, false);
                    info = ScanInfo {
                        visibility: info.visibility.clone(),
                        submitted_at: info.submitted_at,
                        ..done
                    };
                    break;
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(uuid = %uuid, error = %e, "urlscan result poll failed"),
            }
            let waited = Duration::from_secs(unix_now().saturating_sub(submitted));
            if waited >= self.cfg.poll_timeout {
                info.note = Some(format!(
                    "scan not finished within {}",
                    humantime::format_duration(self.cfg.poll_timeout)
                ));
                break;
            }
            tokio::time::sleep(self.cfg.poll_interval).await;
        }
        (info, polls)
    }

    fn hand_on(&self, n: u64, f: &Finding) {
        match self.store.advance(
            STAGE,
            n,
            f,
            self.route.next_stage,
            &self.route.channels,
            None,
        ) {
            Ok(()) => self.route.wake(),
            Err(e) => tracing::error!(id = %f.id, error = %e, "cannot record a scan"),
        }
    }
}

enum Started {
    /// The finding has its scan (reused) or its final note.
    Done,
    /// Submitted: poll it.
    Submitted,
}

enum Blocked {
    Quota(Duration),
    Transient(String),
}

fn info_of(r: &ScanResult, reused: bool) -> ScanInfo {
    ScanInfo {
        uuid: Some(r.uuid.clone()),
        result_url: Some(r.result_url.clone()),
        screenshot_url: r.screenshot_url.clone(),
        finished: true,
        reused,
        final_url: r.final_url.clone(),
        title: r.title.clone(),
        ip: r.ip.clone(),
        country: r.country.clone(),
        malicious: r.malicious,
        score: r.score,
        ..ScanInfo::default()
    }
}

fn log_quota(q: &Option<Quota>) {
    if let Some(q) = q {
        tracing::debug!(
            action = q.action.as_deref().unwrap_or(""),
            limit = q.limit.unwrap_or(0),
            remaining = q.remaining.unwrap_or(0),
            reset_after_s = q.reset_after.map(|d| d.as_secs_f64()).unwrap_or(0.0),
            "urlscan quota"
        );
    }
}
