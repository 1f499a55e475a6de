//! `[ct]`: which Certificate Transparency logs the server role tails, and how hard.
//!
//! Logs come from Google's v3 log list (`log_list_url`, refreshed every `log_list_refresh`; the
//! copy shipped inside certhound is used until the first fetch succeeds), filtered by `states`,
//! plus the `[[ct.logs]]` given here. Each log is tailed on its own: its request rate,
//! concurrency and backoff are its own, so one failing log never stalls the others.

use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CtConfig {
    /// Google's v3 log list. Empty: only the shipped copy and `[[ct.logs]]`.
    pub log_list_url: String,
    /// How often the log list is fetched again (logs that appear are started, logs that leave
    /// a wanted state are stopped).
    #[serde(with = "humantime_serde")]
    pub log_list_refresh: Duration,
    /// Use the log list at all (false: only `[[ct.logs]]`).
    pub use_log_list: bool,
    /// Log states taken from the list: `usable`, `qualified`, `readonly`, `retired`, `rejected`,
    /// `pending`.
    pub states: Vec<String>,
    /// Logs of the list to leave out: a log is skipped when its URL or description contains
    /// one of these strings.
    pub exclude: Vec<String>,
    /// Where a log seen for the first time starts: `end` (only new entries, the default) or
    /// `start` (the whole log). Logs with a stored position always continue from it.
    pub new_log_start: StartAt,
    /// Entries asked for per `get-entries` request (logs may return fewer; certhound keeps going).
    pub batch_size: u64,
    /// Requests per second to one log (sth, entries, tiles, issuers together).
    pub per_log_per_second: f64,
    /// Per-log request rates that differ, by URL prefix (some operators allow ~35 requests/min).
    pub per_log_overrides: BTreeMap<String, f64>,
    /// `get-entries` requests (or tile fetches) in flight at once for one log.
    pub per_log_concurrency: usize,
    /// How often the tree head (`get-sth`) or checkpoint of a log is read when it is caught up.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Time allowed to connect to a log.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time allowed for one whole request.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest response body read from a log, in bytes.
    pub max_response_bytes: usize,
    /// First wait after a failed request (429, 5xx, timeout); doubles per consecutive failure.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Longest wait between attempts; a 429's `Retry-After` is honoured up to this.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Issuer certificates of tiled logs kept in memory (fetched once by hash).
    pub issuer_cache: usize,
    /// Batches of fetched entries waiting to be decoded, all logs together. When full, the
    /// tailers wait (backpressure on the logs, never on the clients).
    pub decode_queue: usize,
    /// How often the per-log positions are written to the store.
    #[serde(with = "humantime_serde")]
    pub position_interval: Duration,
    /// `User-Agent` of requests to logs.
    pub user_agent: String,
    /// Logs tailed in addition to the list's (or instead, with `use_log_list = false`).
    pub logs: Vec<ExtraLog>,
}

/// Where a new log starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StartAt {
    Start,
    End,
}

/// The API a log speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogKind {
    /// RFC 6962: `ct/v1/get-sth`, `ct/v1/get-entries`.
    Rfc6962,
    /// C2SP static-ct-api: `checkpoint`, `tile/data/...`, `issuer/...`.
    StaticCt,
}

/// One log given in the config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtraLog {
    /// Name in the `source.name` of messages.
    pub name: String,
    /// RFC 6962: the log URL (`https://host/path/`). static-ct-api: the monitoring prefix.
    pub url: String,
    /// `rfc6962` or `static-ct`.
    pub kind: LogKind,
    /// The log's public key, base64 DER (SubjectPublicKeyInfo) as in the log list. Required for
    /// static-ct logs: their checkpoints are verified with it.
    #[serde(default)]
    pub key: Option<String>,
    /// static-ct: the checkpoint origin line (default: the URL without scheme and trailing `/`).
    #[serde(default)]
    pub origin: Option<String>,
}

impl Default for CtConfig {
    fn default() -> Self {
        CtConfig {
            log_list_url: "https://www.gstatic.com/ct/log_list/v3/log_list.json".into(),
            log_list_refresh: Duration::from_secs(6 * 3600),
            use_log_list: true,
            states: vec!["usable".into(), "qualified".into()],
            exclude: Vec::new(),
            new_log_start: StartAt::End,
            batch_size: 256,
            per_log_per_second: 4.0,
            per_log_overrides: BTreeMap::new(),
            per_log_concurrency: 2,
            poll_interval: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 64 << 20,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            issuer_cache: 4096,
            decode_queue: 64,
            position_interval: Duration::from_secs(1),
            user_agent: concat!("certhound/", env!("CARGO_PKG_VERSION")).into(),
            logs: Vec::new(),
        }
    }
}

const STATES: &[&str] = &[
    "usable",
    "qualified",
    "readonly",
    "retired",
    "rejected",
    "pending",
];

impl CtConfig {
    /// The request rate of the log at `url`: the longest matching override, else the default.
    pub fn rate_for(&self, url: &str) -> f64 {
        self.per_log_overrides
            .iter()
            .filter(|(prefix, _)| url.starts_with(prefix.as_str()))
            .max_by_key(|(prefix, _)| prefix.len())
            .map(|(_, r)| *r)
            .unwrap_or(self.per_log_per_second)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for s in &self.states {
            if !STATES.contains(&s.as_str()) {
                return Err(ConfigError::key_error(
                    "ct.states",
                    format!("unknown state `{s}` (one of {})", STATES.join(", ")),
                ));
            }
        }
        if self.batch_size == 0 || self.batch_size > 10_000 {
            return Err(ConfigError::key_error(
                "ct.batch_size",
                "must be between 1 and 10000",
            ));
        }
        checks::positive_rate("ct.per_log_per_second", self.per_log_per_second)?;
        for (k, v) in &self.per_log_overrides {
            checks::positive_rate(&format!("ct.per_log_overrides.{k}"), *v)?;
        }
        checks::at_least_one(&[
            ("ct.per_log_concurrency", self.per_log_concurrency as u64),
            ("ct.issuer_cache", self.issuer_cache as u64),
            ("ct.decode_queue", self.decode_queue as u64),
        ])?;
        checks::not_more_than(
            "ct.initial_backoff",
            self.initial_backoff,
            "ct.max_backoff",
            self.max_backoff,
        )?;
        for (i, l) in self.logs.iter().enumerate() {
            let key = format!("ct.logs[{i}].url");
            match url::Url::parse(&l.url) {
                Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
                _ => {
                    return Err(ConfigError::key_error(
                        &key,
                        format!("`{}` is not an http(s) URL", l.url),
                    ))
                }
            }
            if l.kind == LogKind::StaticCt && l.key.is_none() {
                return Err(ConfigError::key_error(
                    &format!("ct.logs[{i}].key"),
                    "a static-ct log needs its public key to verify checkpoints",
                ));
            }
        }
        checks::optional_url("ct.log_list_url", &self.log_list_url)
    }
}
