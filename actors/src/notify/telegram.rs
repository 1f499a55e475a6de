//! The Telegram notifier: `sendMessage` with the finding's message in HTML (every value escaped),
//! link previews off, and `sendPhoto` with the urlscan screenshot once the scan finished.
//!
//! The chat's rate (about 1 message a second, 20 a minute in groups) is kept locally, in
//! [`TelegramLimits`] that a config reload retunes; a 429 still waits `parameters.retry_after`. The token is part of the URL path, so neither URLs nor
//! reqwest's errors (which carry them) reach a log: errors are rewritten without them.

use super::format;
use super::{DeliveryError, Notifier};
use crate::finding::Finding;
use crate::tuning::{self, nonzero, Bucket, Retune};
use certhound_config::{Config, TelegramConfig};
use governor::Quota;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Telegram's limits on a message's text and a photo's caption.
const MAX_TEXT: usize = 4096;
const MAX_CAPTION: usize = 1024;

pub struct TelegramNotifier {
    client: reqwest::Client,
    cfg: TelegramConfig,
    token: certhound_config::SharedSecret,
    chat_id: String,
    limits: Arc<TelegramLimits>,
    enrich_on: bool,
    scan_on: bool,
}

/// `notify.telegram.per_second` (burst 1) and `per_minute`, live: made once per process and
/// shared by every incarnation of the notifier.
pub struct TelegramLimits {
    per_second: Bucket,
    per_minute: Bucket,
}

impl TelegramLimits {
    pub fn new(cfg: &TelegramConfig) -> Arc<TelegramLimits> {
        Arc::new(TelegramLimits {
            per_second: Bucket::new(tuning::per_second(cfg.per_second as f64)),
            per_minute: Bucket::new(Quota::per_minute(nonzero(cfg.per_minute))),
        })
    }
}

impl Retune for TelegramLimits {
    fn retune(&self, cfg: &Config) {
        if let Some(t) = &cfg.notify.telegram {
            self.per_second.set(tuning::per_second(t.per_second as f64));
            self.per_minute
                .set(Quota::per_minute(nonzero(t.per_minute)));
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    ok: bool,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Parameters>,
}

#[derive(Deserialize)]
struct Parameters {
    #[serde(default)]
    retry_after: Option<u64>,
}

impl TelegramNotifier {
    /// `enrich_on`/`scan_on` say whether those stages run, so messages say why data is missing.
    pub fn new(cfg: &TelegramConfig, enrich_on: bool, scan_on: bool) -> Result<Self, String> {
        let token = cfg
            .token
            .clone()
            .ok_or("notify.telegram.token is not set")?;
        Self::with_token(
            cfg,
            certhound_config::SharedSecret::new(token),
            TelegramLimits::new(cfg),
            enrich_on,
            scan_on,
        )
    }

    /// With a token that a secrets refresh can replace.
    pub fn with_token(
        cfg: &TelegramConfig,
        token: certhound_config::SharedSecret,
        limits: Arc<TelegramLimits>,
        enrich_on: bool,
        scan_on: bool,
    ) -> Result<Self, String> {
        let client = crate::http::client(cfg.timeout, None)?;
        let chat_id = cfg
            .chat_id
            .clone()
            .ok_or("notify.telegram.chat_id is not set")?;
        Ok(TelegramNotifier {
            client,
            cfg: cfg.clone(),
            token,
            chat_id,
            limits,
            enrich_on,
            scan_on,
        })
    }

    async fn call(&self, method: &str, body: serde_json::Value) -> Result<(), DeliveryError> {
        self.limits.per_minute.until_ready().await;
        self.limits.per_second.until_ready().await;
        let url = format!(
            "{}/bot{}/{method}",
            self.cfg.api_base.trim_end_matches('/'),
            self.token.get().expose()
        );
        let resp = self
            .client
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| {
                DeliveryError::Transient(format!(
                    "Telegram {method}: {}",
                    if e.is_timeout() {
                        "timed out"
                    } else if e.is_connect() {
                        "connection failed"
                    } else {
                        "request failed"
                    }
                ))
            })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let answer: Option<Answer> = serde_json::from_str(&text).ok();
        if status == 200 && answer.as_ref().is_some_and(|a| a.ok) {
            return Ok(());
        }
        let description = answer
            .as_ref()
            .and_then(|a| a.description.clone())
            .unwrap_or_else(|| format!("HTTP {status}"));
        match status {
            429 => {
                let after = answer
                    .and_then(|a| a.parameters)
                    .and_then(|p| p.retry_after)
                    .unwrap_or(5);
                Err(DeliveryError::RetryAfter(
                    Duration::from_secs(after),
                    description,
                ))
            }
            500..=599 => Err(DeliveryError::Transient(description)),
            _ => Err(DeliveryError::Permanent(description)),
        }
    }
}

impl Notifier for TelegramNotifier {
    const CHANNEL: &'static str = "telegram";

    async fn deliver(&mut self, finding: &Finding) -> Result<(), DeliveryError> {
        let message = format::message(finding, self.enrich_on, self.scan_on);
        self.call(
            "sendMessage",
            serde_json::json!({
                "chat_id": self.chat_id,
                "text": message.to_html(MAX_TEXT),
                "parse_mode": "HTML",
                "link_preview_options": { "is_disabled": true },
            }),
        )
        .await?;
        let shot = finding
            .scan
            .as_ref()
            .filter(|s| s.finished)
            .and_then(|s| s.screenshot_url.clone());
        if let (true, Some(photo)) = (self.cfg.send_photo, shot) {
            let caption = format!(
                "urlscan screenshot of {}",
                format::escape_html(&finding.domain)
            );
            // The message is delivered; a failing photo is logged, not a failed delivery
            // (which would send the message again).
            if let Err(e) = self
                .call(
                    "sendPhoto",
                    serde_json::json!({
                        "chat_id": self.chat_id,
                        "photo": photo,
                        "caption": caption.chars().take(MAX_CAPTION).collect::<String>(),
                        "parse_mode": "HTML",
                    }),
                )
                .await
            {
                tracing::warn!(id = %finding.id, error = %e, "Telegram screenshot not sent");
            }
        }
        Ok(())
    }
}
