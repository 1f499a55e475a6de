//! The urlscan.io API v1 client: submit (`POST /api/v1/scan/`), result (`GET
//! /api/v1/result/{uuid}/`, 404 until the scan is done), search (`GET /api/v1/search/`), and the
//! quota each answer announces in its `X-Rate-Limit-*` headers.
//!
//! The API key goes in the `API-Key` header only; errors never carry it or the URL's query.

use certhound_config::{SharedSecret, UrlscanConfig};
use serde::Deserialize;
use std::time::Duration;

/// A scan accepted by urlscan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub uuid: String,
    /// The human result page.
    pub result_url: String,
    /// The visibility urlscan applied, which can differ from the one asked for.
    pub visibility: String,
}

/// What urlscan said about its limits in an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub action: Option<String>,
    pub limit: Option<u64>,
    pub remaining: Option<u64>,
    /// Time until the window resets.
    pub reset_after: Option<Duration>,
}

/// A finished scan: what the notification links and shows.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ScanResult {
    pub uuid: String,
    pub result_url: String,
    pub screenshot_url: Option<String>,
    pub final_url: Option<String>,
    pub title: Option<String>,
    pub ip: Option<String>,
    pub country: Option<String>,
    pub malicious: Option<bool>,
    pub score: Option<i64>,
}

/// Why a request did not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// 429: no more of this action until the window resets.
    #[error("urlscan quota exhausted (resets in {reset_after:?})")]
    RateLimited { reset_after: Duration },
    /// 400: urlscan will not scan it (unresolvable, blocked); final.
    #[error("urlscan refused the scan: {0}")]
    Refused(String),
    /// 401/403: the key is wrong or lacks rights; final until the config changes.
    #[error("urlscan rejected the API key: {0}")]
    Unauthorized(String),
    /// Network, timeouts, 5xx: retry later.
    #[error("urlscan: {0}")]
    Transient(String),
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    key: SharedSecret,
    cfg: UrlscanConfig,
}

#[derive(Deserialize)]
struct SubmitAnswer {
    uuid: String,
    #[serde(default)]
    result: Option<String>,
    #[serde(default)]
    visibility: Option<String>,
}

#[derive(Deserialize)]
struct ErrorAnswer {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

impl Client {
    pub fn new(cfg: &UrlscanConfig) -> Result<Client, String> {
        let key = cfg.api_key.clone().ok_or("urlscan.api_key is not set")?;
        Self::with_key(cfg, SharedSecret::new(key))
    }

    /// With a key that a secrets refresh can replace.
    pub fn with_key(cfg: &UrlscanConfig, key: SharedSecret) -> Result<Client, String> {
        let http = crate::http::client(cfg.timeout, None)?;
        Ok(Client {
            http,
            base: cfg.base_url.trim_end_matches('/').to_string(),
            key,
            cfg: cfg.clone(),
        })
    }

    /// The screenshot of a scan, by urlscan's convention.
    pub fn screenshot_url(&self, uuid: &str) -> String {
        format!("{}/screenshots/{uuid}.png", self.base)
    }

    /// Submits `url` for a scan.
    pub async fn submit(&self, url: &str) -> (Result<Submitted, ScanError>, Option<Quota>) {
        let mut body = serde_json::json!({
            "url": url,
            "visibility": self.cfg.visibility.as_str(),
            "tags": self.cfg.tags,
        });
        for (k, v) in [
            ("customagent", &self.cfg.customagent),
            ("referer", &self.cfg.referer),
            ("country", &self.cfg.country),
        ] {
            if let Some(v) = v {
                body[k] = serde_json::Value::String(v.clone());
            }
        }
        let req = self
            .http
            .post(format!("{}/api/v1/scan/", self.base))
            .json(&body);
        let Answer {
            status,
            text,
            quota,
        } = match self.send(req).await {
            Ok(a) => a,
            Err(e) => return (Err(e), None),
        };
        let result = match status {
            200 => serde_json::from_str::<SubmitAnswer>(&text)
                .map(|a| Submitted {
                    result_url: a
                        .result
                        .unwrap_or_else(|| format!("{}/result/{}/", self.base, a.uuid)),
                    visibility: a
                        .visibility
                        .unwrap_or_else(|| self.cfg.visibility.as_str().to_string()),
                    uuid: a.uuid,
                })
                .map_err(|e| ScanError::Transient(format!("unreadable answer: {e}"))),
            _ => Err(self.error(status, &text, &quota)),
        };
        (result, quota)
    }

    /// The result of scan `uuid`: `None` while it is not finished (404).
    pub async fn result(&self, uuid: &str) -> Result<Option<ScanResult>, ScanError> {
        let Answer {
            status,
            text,
            quota,
        } = self
            .send(
                self.http
                    .get(format!("{}/api/v1/result/{uuid}/", self.base)),
            )
            .await?;
        match status {
            200 => {
                let v: serde_json::Value = serde_json::from_str(&text)
                    .map_err(|e| ScanError::Transient(format!("unreadable result: {e}")))?;
                Ok(Some(self.read_result(uuid, &v)))
            }
            404 => Ok(None),
            _ => Err(self.error(status, &text, &quota)),
        }
    }

    /// A scan of `domain` within `urlscan.search_window`, if there is one.
    pub async fn search(&self, domain: &str) -> Result<Option<ScanResult>, ScanError> {
        let days = (self.cfg.search_window.as_secs() / 86400).max(1);
        let q = format!("page.domain:{domain} AND date:>now-{days}d");
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/search/", self.base),
            &[("q", q.as_str()), ("size", "1")],
        )
        .map_err(|e| ScanError::Transient(format!("bad search URL: {e}")))?;
        let Answer {
            status,
            text,
            quota,
        } = self.send(self.http.get(url)).await?;
        if status != 200 {
            return Err(self.error(status, &text, &quota));
        }
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| ScanError::Transient(format!("unreadable search: {e}")))?;
        let Some(hit) = v["results"].as_array().and_then(|r| r.first()) else {
            return Ok(None);
        };
        let Some(uuid) = hit["task"]["uuid"].as_str().or(hit["_id"].as_str()) else {
            return Ok(None);
        };
        let mut r = self.read_result(uuid, hit);
        if let Some(s) = hit["screenshot"].as_str() {
            r.screenshot_url = Some(s.to_string());
        }
        Ok(Some(r))
    }

    /// Sends `req` with the API key and reads the whole answer; a request that got no answer
    /// is transient.
    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Answer, ScanError> {
        let resp = req
            .header("API-Key", self.key.get().expose())
            .send()
            .await
            .map_err(|e| ScanError::Transient(short(&e)))?;
        let quota = quota_of(&resp);
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        Ok(Answer {
            status,
            text,
            quota,
        })
    }

    fn read_result(&self, uuid: &str, v: &serde_json::Value) -> ScanResult {
        let s = |p: &serde_json::Value| p.as_str().map(str::to_string);
        ScanResult {
            uuid: uuid.to_string(),
            result_url: s(&v["task"]["reportURL"])
                .unwrap_or_else(|| format!("{}/result/{uuid}/", self.base)),
            screenshot_url: s(&v["task"]["screenshotURL"]).or(Some(self.screenshot_url(uuid))),
            final_url: s(&v["page"]["url"]),
            title: s(&v["page"]["title"]),
            ip: s(&v["page"]["ip"]),
            country: s(&v["page"]["country"]),
            malicious: v["verdicts"]["overall"]["malicious"].as_bool(),
            score: v["verdicts"]["overall"]["score"].as_i64(),
        }
    }

    fn error(&self, status: u16, body: &str, quota: &Option<Quota>) -> ScanError {
        let e: Option<ErrorAnswer> = serde_json::from_str(body).ok();
        let message = e
            .as_ref()
            .and_then(|e| e.message.clone())
            .unwrap_or_else(|| format!("HTTP {status}"));
        let detail = e.and_then(|e| e.description).unwrap_or_default();
        let text = if detail.is_empty() {
            message
        } else {
            format!("{message} ({detail})")
        };
        match status {
            429 => ScanError::RateLimited {
                reset_after: quota
                    .as_ref()
                    .and_then(|q| q.reset_after)
                    .unwrap_or(Duration::from_secs(60)),
            },
            400 => ScanError::Refused(text),
            401 | 403 => ScanError::Unauthorized(text),
            _ => ScanError::Transient(format!("HTTP {status}: {text}")),
        }
    }
}

/// An answer of urlscan: its status, its body (empty when unreadable) and the quota it announced.
struct Answer {
    status: u16,
    text: String,
    quota: Option<Quota>,
}

/// The `X-Rate-Limit-*` headers of an answer, if it has them.
fn quota_of(resp: &reqwest::Response) -> Option<Quota> {
    let h = resp.headers();
    let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    let num = |n: &str| get(n).and_then(|v| v.parse::<u64>().ok());
    let reset_after = get("x-rate-limit-reset-after")
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64);
    let q = Quota {
        action: get("x-rate-limit-action").map(str::to_string),
        limit: num("x-rate-limit-limit"),
        remaining: num("x-rate-limit-remaining"),
        reset_after,
    };
    (q.limit.is_some() || q.remaining.is_some() || q.reset_after.is_some()).then_some(q)
}

fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}
