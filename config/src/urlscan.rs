//! `[urlscan]`: each finding is submitted to urlscan.io, its result and screenshot polled for
//! and linked in the notification. Off while no API key is set.

use crate::{checks, ConfigError, Secret};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Who may see a scan on urlscan.io.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    Public,
    Unlisted,
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Unlisted => "unlisted",
            Visibility::Private => "private",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UrlscanConfig {
    /// The API's address (tests point it at loopback).
    pub base_url: String,
    /// The API key; prefer `CERTHOUND_URLSCAN__API_KEY` or the secrets source. Never logged.
    /// Without one, scanning is off.
    pub api_key: Option<Secret>,
    /// `public` (as the original setup), `unlisted` or `private`. urlscan may answer with
    /// another; the one it answers is recorded.
    pub visibility: Visibility,
    /// Tags attached to each scan.
    pub tags: Vec<String>,
    /// Optional `customagent`, `referer` and `country` of the scan.
    pub customagent: Option<String>,
    pub referer: Option<String>,
    pub country: Option<String>,
    /// Look for a scan of the domain from the last `search_window` before spending quota.
    pub search_first: bool,
    #[serde(with = "humantime_serde")]
    pub search_window: Duration,
    /// Wait this long after submitting before the first poll...
    #[serde(with = "humantime_serde")]
    pub initial_delay: Duration,
    /// ...then poll this often...
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// ...for at most this long; then the finding is notified without the scan result.
    #[serde(with = "humantime_serde")]
    pub poll_timeout: Duration,
    /// A finding that waited this long for quota is notified without a scan, saying why.
    #[serde(with = "humantime_serde")]
    pub max_wait: Duration,
    /// Local limits of submissions, before urlscan's own headers correct them.
    pub per_minute: u32,
    pub per_hour: u32,
    pub per_day: u32,
    /// Time allowed for one request.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

impl Default for UrlscanConfig {
    fn default() -> Self {
        UrlscanConfig {
            base_url: "https://urlscan.io".into(),
            api_key: None,
            visibility: Visibility::Public,
            tags: vec!["certhound".into()],
            customagent: None,
            referer: None,
            country: None,
            search_first: true,
            search_window: Duration::from_secs(7 * 24 * 3600),
            initial_delay: Duration::from_secs(10),
            poll_interval: Duration::from_secs(2),
            poll_timeout: Duration::from_secs(90),
            max_wait: Duration::from_secs(3600),
            per_minute: 60,
            per_hour: 500,
            per_day: 5000,
            timeout: Duration::from_secs(30),
        }
    }
}

impl UrlscanConfig {
    /// Scanning is on when an API key is set.
    pub fn enabled(&self) -> bool {
        self.api_key
            .as_ref()
            .is_some_and(|k| !k.expose().is_empty())
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        checks::http_url("urlscan.base_url", &self.base_url)?;
        checks::at_least_one(&[
            ("urlscan.per_minute", u64::from(self.per_minute)),
            ("urlscan.per_hour", u64::from(self.per_hour)),
            ("urlscan.per_day", u64::from(self.per_day)),
        ])?;
        checks::above_zero(&[("urlscan.poll_interval", self.poll_interval)])
    }
}
