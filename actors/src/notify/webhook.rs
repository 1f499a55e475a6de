//! The webhook notifier: POSTs each finding as JSON. The finding's id goes in an
//! `Idempotency-Key` header, so that a receiver can drop the rare repeat (a crash after the POST
//! and before it was marked sent).

use super::{DeliveryError, Notifier};
use crate::finding::Finding;
use certhound_config::{redact_url, WebhookConfig};

pub struct WebhookNotifier {
    client: reqwest::Client,
    url: String,
    authorization: Option<certhound_config::Secret>,
}

impl WebhookNotifier {
    pub fn new(cfg: &WebhookConfig) -> Result<Self, String> {
        let client = crate::http::client(cfg.timeout, Some(cfg.timeout))?;
        Ok(WebhookNotifier {
            client,
            url: cfg.url.clone(),
            authorization: cfg.authorization.clone(),
        })
    }
}

impl Notifier for WebhookNotifier {
    const CHANNEL: &'static str = "webhook";

    async fn deliver(&mut self, finding: &Finding) -> Result<(), DeliveryError> {
        let mut req = self
            .client
            .post(&self.url)
            .header("Idempotency-Key", &finding.id)
            .json(finding);
        if let Some(a) = &self.authorization {
            req = req.header(reqwest::header::AUTHORIZATION, a.expose());
        }
        let resp = req.send().await.map_err(|e| {
            // reqwest errors can name the URL; say what happened without it.
            DeliveryError::Transient(format!(
                "POST {} failed: {}",
                redact_url(&self.url),
                kind(&e)
            ))
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = crate::http::retry_after(&resp);
        let body = resp.text().await.unwrap_or_default();
        let excerpt: String = body.chars().take(200).collect();
        let reason = format!("HTTP {status}: {}", excerpt.trim());
        match status.as_u16() {
            429 => Err(match retry_after {
                Some(d) => DeliveryError::RetryAfter(d, reason),
                None => DeliveryError::Transient(reason),
            }),
            408 | 500..=599 => Err(DeliveryError::Transient(reason)),
            _ => Err(DeliveryError::Permanent(reason)),
        }
    }
}

fn kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else if e.is_request() {
        "request error"
    } else if e.is_body() || e.is_decode() {
        "bad response"
    } else {
        "error"
    }
}
