//! `[admin]`: the admin HTTP listener: Prometheus metrics, the health checks an ECS container
//! health check (or a load balancer) calls, and the analyst page (`[admin.page]`).

use crate::secret::Secret;
use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Address of the admin listener: `GET /metrics` (Prometheus text format), `/healthz` (the
    /// process runs), `/readyz` (it does its job) and the analyst page. Empty: no listener.
    /// Loopback by default: in a container set `0.0.0.0:9464` and keep the port off the public
    /// network.
    pub listen: String,
    /// `/readyz` answers 503 when the watch role's feed has delivered nothing (heartbeats
    /// count) for this long, or when the server role has read no CT log successfully for this
    /// long.
    #[serde(with = "humantime_serde")]
    pub ready_staleness: Duration,
    /// The token the analyst page and its API ask for when `listen` is not a loopback address:
    /// `Authorization: Bearer <token>`, or HTTP basic auth with any user name and the token as
    /// the password (what a browser asks for). Better from `[secrets] admin_token` or
    /// `CERTHOUND_ADMIN__TOKEN` than in the file. Beyond loopback without a token the page
    /// answers 401 to everyone; `/metrics` and the health checks never ask for it.
    pub token: Option<Secret>,
    pub page: PageConfig,
}

/// `[admin.page]`: the analyst page on the admin listener: the findings newest first with their
/// screenshots, filters and a detail view (`/findings`), verdicts, precision per rule and brand
/// (`/precision`), and the same as JSON (`/api/findings`, `/api/precision`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PageConfig {
    /// Serve the page and its API. Off: only `/metrics` and the health checks.
    pub enabled: bool,
    /// Let the page record verdicts (phishing, false alarm, unsure) and add a false alarm's
    /// registrable domain to `matcher.allowlist_file`. Off (the default), the page only reads.
    pub writable: bool,
    /// Findings per page of the list.
    pub page_size: usize,
    /// Largest screenshot fetched from urlscan (bytes); a larger one is not shown.
    pub screenshot_max_bytes: usize,
    /// Screenshots kept in memory (bytes, least recently shown dropped first).
    pub screenshot_cache_bytes: usize,
    /// Time allowed to fetch one screenshot from urlscan.
    #[serde(with = "humantime_serde")]
    pub screenshot_timeout: Duration,
    /// The precision and volume figures (the page's and `/metrics`') are computed from the store
    /// at most this often; a verdict given on the page recomputes them at once.
    #[serde(with = "humantime_serde")]
    pub stats_interval: Duration,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            listen: "127.0.0.1:9464".into(),
            ready_staleness: Duration::from_secs(120),
            token: None,
            page: PageConfig::default(),
        }
    }
}

impl Default for PageConfig {
    fn default() -> Self {
        PageConfig {
            enabled: true,
            writable: false,
            page_size: 50,
            screenshot_max_bytes: 2 << 20,
            screenshot_cache_bytes: 32 << 20,
            screenshot_timeout: Duration::from_secs(10),
            stats_interval: Duration::from_secs(60),
        }
    }
}

/// Most findings on one page: the list is built in memory.
pub const MAX_PAGE_SIZE: usize = 500;

impl AdminConfig {
    /// The address to listen on, if any.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen.trim().parse().ok()
    }

    /// Whether the analyst page asks for `admin.token`: it listens beyond loopback.
    pub fn page_needs_token(&self) -> bool {
        self.listen_addr().is_some_and(|a| !a.ip().is_loopback())
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.listen.trim().is_empty() && self.listen_addr().is_none() {
            return Err(ConfigError::key_error(
                "admin.listen",
                format!(
                    "`{}` is not an address and port (such as 127.0.0.1:9464), nor empty",
                    self.listen
                ),
            ));
        }
        if self.ready_staleness.is_zero() {
            return Err(ConfigError::key_error(
                "admin.ready_staleness",
                "must be longer than zero",
            ));
        }
        if self.token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            return Err(ConfigError::key_error(
                "admin.token",
                "must be at least 16 characters (it guards the analyst page beyond loopback)",
            ));
        }
        let p = &self.page;
        checks::at_least_one(&[
            ("admin.page.page_size", p.page_size as u64),
            (
                "admin.page.screenshot_max_bytes",
                p.screenshot_max_bytes as u64,
            ),
        ])?;
        checks::not_more_than(
            "admin.page.page_size",
            p.page_size,
            "500 (the list is built in memory)",
            MAX_PAGE_SIZE,
        )?;
        checks::not_below(
            "admin.page.screenshot_cache_bytes",
            p.screenshot_cache_bytes,
            "admin.page.screenshot_max_bytes",
            p.screenshot_max_bytes,
        )?;
        checks::above_zero(&[
            ("admin.page.screenshot_timeout", p.screenshot_timeout),
            ("admin.page.stats_interval", p.stats_interval),
        ])?;
        Ok(())
    }
}
