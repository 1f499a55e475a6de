//! `[notify]`: the channels findings are delivered to. A channel whose section is absent is off.

use crate::{ConfigError, Secret};
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// One JSON object per finding, one per line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonl: Option<JsonlConfig>,
    /// Each finding POSTed as JSON to a URL (Slack-style integrations, SOAR, a queue gateway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookConfig>,
}

impl NotifyConfig {
    /// What applies when the file has no `[notify]` section: JSON lines on stdout.
    pub fn default_channels() -> Self {
        NotifyConfig {
            jsonl: Some(JsonlConfig { path: "-".into() }),
            webhook: None,
        }
    }

    /// Names of the channels that are on.
    pub fn channels(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.jsonl.is_some() {
            v.push("jsonl");
        }
        if self.webhook.is_some() {
            v.push("webhook");
        }
        v
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if self.channels().is_empty() {
            return Err(ConfigError::key_error(
                "notify",
                "no channel is configured; add e.g. [notify.jsonl] with path = \"-\"",
            ));
        }
        if let Some(j) = &self.jsonl {
            if j.path.trim().is_empty() {
                return Err(ConfigError::key_error(
                    "notify.jsonl.path",
                    "must be a file path or \"-\" for stdout",
                ));
            }
        }
        if let Some(w) = &self.webhook {
            match url::Url::parse(&w.url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                _ => {
                    return Err(ConfigError::key_error(
                        "notify.webhook.url",
                        "must be an http:// or https:// URL",
                    ))
                }
            }
            if w.timeout.is_zero() {
                return Err(ConfigError::key_error(
                    "notify.webhook.timeout",
                    "must be above zero",
                ));
            }
        }
        Ok(())
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self::default_channels()
    }
}

/// `[notify.jsonl]`: findings as JSON lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonlConfig {
    /// File to append to, created if missing; `-` is stdout. Required.
    pub path: String,
}

/// `[notify.webhook]`: each finding POSTed as JSON, with an `Idempotency-Key` header (the
/// finding's id) so that a receiver can drop the rare repeat after a crash. 2xx is delivered;
/// 408, 429 (honouring `Retry-After`), 5xx and timeouts are retried; other 4xx fail for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST. Required.
    pub url: String,
    /// Time allowed for one request, connect included.
    #[serde(default = "default_webhook_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Sent as the `Authorization` header when set; never logged or printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Secret>,
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(10)
}
