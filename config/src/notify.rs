//! `[notify]`: the channels findings are delivered to. A channel whose section is absent is off.

use crate::{checks, ConfigError, Secret};
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
    /// Each finding as a Telegram message to a chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram: Option<TelegramConfig>,
    /// Each finding published to an AWS SNS topic (email subscriptions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sns: Option<SnsConfig>,
}

impl NotifyConfig {
    /// What applies when the file has no `[notify]` section: JSON lines on stdout.
    pub fn default_channels() -> Self {
        NotifyConfig {
            jsonl: Some(JsonlConfig { path: "-".into() }),
            webhook: None,
            telegram: None,
            sns: None,
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
        if self.telegram.is_some() {
            v.push("telegram");
        }
        if self.sns.is_some() {
            v.push("sns");
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
            checks::http_url("notify.webhook.url", &w.url)?;
            checks::above_zero(&[("notify.webhook.timeout", w.timeout)])?;
        }
        if let Some(t) = &self.telegram {
            if url::Url::parse(&t.api_base).is_err() {
                return Err(ConfigError::key_error(
                    "notify.telegram.api_base",
                    "not a URL",
                ));
            }
            if t.per_second == 0 || t.per_minute == 0 {
                return Err(ConfigError::key_error(
                    "notify.telegram.per_second",
                    "per_second and per_minute must be at least 1",
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

/// `[notify.telegram]`: each finding as a message (HTML, every value escaped) to one chat, and
/// the urlscan screenshot as a photo once the scan finished. 429 waits `retry_after`; 5xx are
/// retried; other 4xx fail for good with Telegram's description.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    /// The Bot API's address.
    #[serde(default = "default_telegram_api")]
    pub api_base: String,
    /// The bot token: here, as `CERTHOUND_NOTIFY__TELEGRAM__TOKEN`, or from
    /// `secrets.telegram_token`. Required by start. Never logged.
    #[serde(default)]
    pub token: Option<Secret>,
    /// The chat (or group, or channel) id; a number or `@channelname`. Here or from
    /// `secrets.telegram_chat_id`. Required by start.
    #[serde(default, deserialize_with = "string_or_number")]
    pub chat_id: Option<String>,
    /// Also send the screenshot (`sendPhoto`) when the scan finished.
    #[serde(default = "yes")]
    pub send_photo: bool,
    /// Messages per second to the chat (Telegram allows about 1).
    #[serde(default = "one")]
    pub per_second: u32,
    /// Messages per minute to the chat (about 20 in groups).
    #[serde(default = "twenty")]
    pub per_minute: u32,
    /// Time allowed for one request.
    #[serde(default = "default_webhook_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_telegram_api() -> String {
    "https://api.telegram.org".into()
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

fn twenty() -> u32 {
    20
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Id {
        S(String),
        N(i64),
    }
    Ok(Some(match Id::deserialize(d)? {
        Id::S(s) => s,
        Id::N(n) => n.to_string(),
    }))
}

/// `[notify.sns]`: each finding published to an SNS topic (subscribe email addresses to it):
/// a subject under 100 characters on one line, the message as plain text, and `domain` and
/// `rule` message attributes. Credentials: the standard AWS chain (the ECS task role).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsConfig {
    /// The topic's ARN. Required.
    pub topic_arn: String,
}
