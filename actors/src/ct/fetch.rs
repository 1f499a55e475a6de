//! HTTP to one CT log: its own request rate, a bounded body, and retries with backoff.
//!
//! Every tailer owns one [`LogHttp`], so limits and backoff are per log: a log that answers
//! 429 or 5xx, or hangs, only delays its own entries. Transient failures (429, 5xx, timeouts,
//! connection errors) are retried forever with a doubling wait (`ct.initial_backoff` up to
//! `ct.max_backoff`, a 429's `Retry-After` honoured up to the same cap); until shutdown,
//! which ends the wait at once.

use crate::metrics::Metrics;
use certhound_config::CtConfig;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::num::NonZeroU32;
use std::sync::Arc;
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

/// The HTTP side of one log.
pub struct LogHttp {
    client: reqwest::Client,
    rate: DefaultDirectRateLimiter,
    max_body: usize,
    initial_backoff: Duration,
    max_backoff: Duration,
    metrics: Arc<Metrics>,
}

impl LogHttp {
    pub fn new(
        client: reqwest::Client,
        cfg: &CtConfig,
        url: &str,
        metrics: Arc<Metrics>,
    ) -> LogHttp {
        let per_second = cfg.rate_for(url);
        // governor counts whole cells: a rate under 1/s is one request per 1/rate seconds.
        let quota = if per_second >= 1.0 {
            Quota::per_second(NonZeroU32::new(per_second as u32).unwrap_or(NonZeroU32::MIN))
        } else {
            Quota::with_period(Duration::from_secs_f64(1.0 / per_second))
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
        }
        .allow_burst(NonZeroU32::MIN);
        LogHttp {
            client,
            rate: RateLimiter::direct(quota),
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
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
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
            "http://x/",
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
    fn transient_or_final() {
        assert!(FetchError::Status(503).is_transient());
        assert!(FetchError::RateLimited { retry_after: None }.is_transient());
        assert!(!FetchError::Status(404).is_transient());
        assert!(!FetchError::Status(400).is_transient());
    }
}
