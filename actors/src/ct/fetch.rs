//! HTTP to one CT log: its own request rate, a bounded body, and retries with backoff.
//!
//! Every tailer owns one [`LogHttp`], so limits and backoff are per log: a log that answers
//! 429 or 5xx, or hangs, only delays its own entries. Transient failures (429, 5xx, timeouts,
//! connection errors) are retried forever with a doubling wait (`ct.initial_backoff` up to
//! `ct.max_backoff`, a 429's `Retry-After` honoured up to the same cap); until shutdown,
//! which ends the wait at once.
//!
//! The request rates live in [`CtRates`], one bucket per log URL, made once per process: a
//! restarted tailer keeps its log's bucket, and a config reload retunes every bucket in place
//! (`ct.per_log_per_second`, `ct.per_log_overrides`).

use crate::metrics::Metrics;
use crate::tuning::{self, Bucket, Retune};
use certhound_config::{Config, CtConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Why one request failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// 429: the log wants us to slow down, for `retry_after` when it said so.
    #[error("HTTP 429 (rate limited)")]
    RateLimited { retry_after: Option<Duration> },
    /// Another status. 5xx are transient; other 4xx are answers (e.g. 404: tile not there yet).
    #[error("HTTP {0}")]
    Status(u16),
    #[error("{0}")]
    Transport(String),
    #[error("response over {0} bytes")]
    TooLarge(usize),
}

impl FetchError {
    /// Worth retrying after a wait.
    pub fn is_transient(&self) -> bool {
        match self {
            FetchError::RateLimited { .. } | FetchError::Transport(_) => true,
            FetchError::Status(s) => *s >= 500 || *s == 408,
            FetchError::TooLarge(_) => false,
        }
    }
}

/// The request rate of every log tailed, by URL.
#[derive(Clone, Default)]
pub struct CtRates {
    logs: Arc<Mutex<HashMap<String, Arc<Bucket>>>>,
}

impl CtRates {
    /// `url`'s bucket, made at the rate `cfg` gives it the first time.
    pub fn bucket(&self, cfg: &CtConfig, url: &str) -> Arc<Bucket> {
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        logs.entry(url.to_string())
            .or_insert_with(|| Arc::new(Bucket::new(tuning::per_second(cfg.rate_for(url)))))
            .clone()
    }
}

impl Retune for CtRates {
    fn retune(&self, cfg: &Config) {
        for (url, bucket) in self.logs.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            bucket.set(tuning::per_second(cfg.ct.rate_for(url)));
        }
    }
}

/// The HTTP side of one log.
pub struct LogHttp {
    client: reqwest::Client,
    rate: Arc<Bucket>,
    max_body: usize,
    initial_backoff: Duration,
    max_backoff: Duration,
    metrics: Arc<Metrics>,
}

impl LogHttp {
    pub fn new(
        client: reqwest::Client,
        cfg: &CtConfig,
        rate: Arc<Bucket>,
        metrics: Arc<Metrics>,
    ) -> LogHttp {
        LogHttp {
            client,
            rate,
            max_body: cfg.max_response_bytes,
            initial_backoff: cfg.initial_backoff,
            max_backoff: cfg.max_backoff,
            metrics,
        }
    }

    /// The shared client of all tailers (connection pools per host, timeouts from config).
    pub fn client(cfg: &CtConfig) -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .user_agent(cfg.user_agent.clone())
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .build()
            .map_err(|e| format!("cannot build the CT HTTP client: {e}"))
    }

    /// One GET, after waiting for this log's rate.
    pub async fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        self.rate.until_ready().await;
        Metrics::add(&self.metrics.ct_requests, 1);
        let resp = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| FetchError::Transport(describe(e)))?;
        let status = resp.status().as_u16();
        if status == 429 {
            let retry_after = crate::http::retry_after(&resp);
            return Err(FetchError::RateLimited { retry_after });
        }
        if status != 200 {
            return Err(FetchError::Status(status));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > self.max_body as u64)
        {
            return Err(FetchError::TooLarge(self.max_body));
        }
        let mut body = Vec::new();
        let mut resp = resp;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError::Transport(describe(e)))?
        {
            if body.len() + chunk.len() > self.max_body {
                return Err(FetchError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        self.metrics.labelled.ct_last_success_ms.store(
            crate::metrics::now_ms(),
            std::sync::atomic::Ordering::Relaxed,
        );
        Ok(body)
    }

    /// GET until it succeeds or fails for good. `Ok(None)` means shutdown came first.
    pub async fn get_retrying(
        &self,
        url: &str,
        stop: &CancellationToken,
    ) -> Result<Option<Vec<u8>>, FetchError> {
        let mut failures = 0u32;
        loop {
            let r = tokio::select! {
                r = self.get(url) => r,
                _ = stop.cancelled() => return Ok(None),
            };
            match r {
                Ok(b) => return Ok(Some(b)),
                Err(e) if e.is_transient() => {
                    Metrics::add(&self.metrics.ct_request_errors, 1);
                    let wait = self.backoff(failures, &e);
                    failures = failures.saturating_add(1);
                    tracing::debug!(url = %url, error = %e, wait_ms = wait.as_millis() as u64, "CT request failed; retrying");
                    if failures == 5 {
                        tracing::warn!(url = %url, error = %e, "CT log keeps failing; still retrying");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = stop.cancelled() => return Ok(None),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The wait after `failures` consecutive failures, the last being `e`.
    fn backoff(&self, failures: u32, e: &FetchError) -> Duration {
        let doubled = self
            .initial_backoff
            .saturating_mul(1u32 << failures.min(20))
            .min(self.max_backoff);
        match e {
            FetchError::RateLimited {
                retry_after: Some(r),
            } => (*r).min(self.max_backoff).max(doubled.min(*r)),
            _ => doubled,
        }
    }
}

/// A reqwest error in one line, without the URL's query (nothing secret there, but it is long).
fn describe(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else {
        e.without_url().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(initial: u64, max: u64) -> LogHttp {
        let cfg = CtConfig {
            initial_backoff: Duration::from_millis(initial),
            max_backoff: Duration::from_millis(max),
            ..CtConfig::default()
        };
        LogHttp::new(
            reqwest::Client::new(),
            &cfg,
            CtRates::default().bucket(&cfg, "http://x/"),
            Arc::new(Metrics::default()),
        )
    }

    #[test]
    fn backoff_doubles_to_the_cap_and_honours_retry_after() {
        let h = http(100, 1000);
        let e = FetchError::Status(503);
        let waits: Vec<u64> = (0..6)
            .map(|f| h.backoff(f, &e).as_millis() as u64)
            .collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1000, 1000]);
        let ra = FetchError::RateLimited {
            retry_after: Some(Duration::from_millis(700)),
        };
        assert_eq!(h.backoff(0, &ra), Duration::from_millis(700));
        let huge = FetchError::RateLimited {
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(h.backoff(0, &huge), Duration::from_millis(1000));
    }

    #[test]
    fn a_reload_retunes_every_log_and_its_overrides() {
        let mut cfg = Config::default();
        cfg.ct.per_log_per_second = 2.0;
        let rates = CtRates::default();
        let a = rates.bucket(&cfg.ct, "https://a.example/log/");
        let b = rates.bucket(&cfg.ct, "https://b.example/");
        assert!(Arc::ptr_eq(
            &a,
            &rates.bucket(&cfg.ct, "https://a.example/log/")
        ));
        assert_eq!(a.quota().replenish_interval(), Duration::from_millis(500));
        cfg.ct.per_log_per_second = 0.5;
        cfg.ct
            .per_log_overrides
            .insert("https://b.example/".into(), 10.0);
        rates.retune(&cfg);
        assert_eq!(a.quota().replenish_interval(), Duration::from_secs(2));
        assert_eq!(b.quota().replenish_interval(), Duration::from_millis(100));
    }

    #[test]
    fn transient_or_final() {
        assert!(FetchError::Status(503).is_transient());
        assert!(FetchError::RateLimited { retry_after: None }.is_transient());
        assert!(!FetchError::Status(404).is_transient());
        assert!(!FetchError::Status(400).is_transient());
    }
}
