//! certhound's typed configuration.
//!
//! One TOML file (`config/certhound.toml` is the commented reference with every key), overridden by
//! environment variables, validated into [`Config`]. Every section lives in its own module with its
//! own struct; the doc comments on the fields are the config reference.
//!
//! Loading never panics: every problem becomes a [`ConfigError`] that names the key (`watch.ping_interval`)
//! and says what is wrong, so the binary can print one line and exit with code 2.
//!
//! # Environment overrides
//! A variable `CERTHOUND_<SECTION>__<KEY>` (double underscore between levels) overrides
//! `<section>.<key>`: `CERTHOUND_WATCH__FEED_URL=wss://example/` sets `watch.feed_url`, and
//! `CERTHOUND_WATCH__RECONNECT__MAX_BACKOFF=30s` sets `watch.reconnect.max_backoff`. The value is read
//! as a TOML value when it is one (`true`, `42`, `["a", "b"]`) and as a string otherwise. Variables
//! without a double underscore (such as `CERTHOUND_CONFIG`) are not overrides.

mod admin;
mod checks;
mod ct;
mod dedupe;
mod delivery;
mod enrich;
mod log;
mod matcher;
mod notify;
mod pipeline;
mod secret;
mod secrets;
mod server;
mod store;
mod supervisor;
mod telemetry;
mod urlscan;
mod watch;

pub use admin::{AdminConfig, PageConfig, MAX_PAGE_SIZE};
pub use ct::{CtConfig, ExtraLog, LogKind, StartAt};
pub use dedupe::DedupeConfig;
pub use delivery::DeliveryConfig;
pub use enrich::{CacheConfig, EnrichConfig, LimitsConfig, OnUnknown, RdapConfig, WhoisConfig};
pub use log::{LogConfig, LogFormat};
pub use matcher::{
    check_allow_entry, MatcherConfig, Weights, DEFAULT_ALLOWLIST, DEFAULT_COMMON_KEYWORDS,
    DEFAULT_FREE_CA_ISSUERS, DEFAULT_KEYWORDS, DEFAULT_RISKY_TLDS, DEFAULT_SUSPICIOUS_WORDS,
    DEFAULT_WEAK_SUSPICIOUS_WORDS,
};
pub use notify::{JsonlConfig, NotifyConfig, SnsConfig, TelegramConfig, WebhookConfig};
pub use pipeline::PipelineConfig;
pub use secret::{redact_url, Secret, SharedSecret};
pub use secrets::{AwsConfig, SecretKind, SecretRef, SecretsConfig};
pub use server::ServerConfig;
pub use store::{DynamoDbConfig, StoreBackend, StoreConfig, IN_MEMORY};
pub use supervisor::SupervisorConfig;
pub use telemetry::{OtlpProtocol, TelemetryConfig};
pub use urlscan::{UrlscanConfig, Visibility};
pub use watch::{BackoffConfig, WatchConfig};

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The reference configuration shipped with certhound; every key with its default and a comment.
pub const REFERENCE_TOML: &str = include_str!("../certhound.toml");

/// The keys a running certhound applies without a restart (SIGHUP or a change of the config
/// file; see the binary's `reload.rs`), as dotted keys, `section.*` for a whole section; a
/// table key (`enrich.limits.per_server`) covers its entries. Every other key needs a restart;
/// a change to one is named in a warning.
pub const RELOADABLE: &[&str] = &[
    "matcher.*",
    "matcher.allowlist_file (the file's content too)",
    "log.filter",
    "enrich.limits.per_server_per_second",
    "enrich.limits.per_server",
    "enrich.limits.per_server_concurrent",
    "enrich.limits.max_concurrent",
    "enrich.limits.retries",
    "enrich.limits.max_retry_after",
    "urlscan.per_minute",
    "urlscan.per_hour",
    "urlscan.per_day",
    "urlscan.max_wait",
    "notify.telegram.per_second",
    "notify.telegram.per_minute",
    "ct.per_log_per_second",
    "ct.per_log_overrides",
];

/// Whether a change of the dotted `key` is applied live (see [`RELOADABLE`]).
pub fn is_reloadable(key: &str) -> bool {
    let under = |base: &str| {
        key.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    };
    RELOADABLE.iter().any(|entry| {
        let pattern = entry.split_whitespace().next().unwrap_or_default();
        match pattern.strip_suffix(".*") {
            Some(section) => under(section) && key != section,
            None => under(pattern),
        }
    })
}

/// Prefix of the environment variables that override config keys.
pub const ENV_PREFIX: &str = "CERTHOUND_";

/// The whole configuration. Every section has defaults, so an empty file is a valid config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Logging: format and filter.
    pub log: LogConfig,
    /// The certstream feed the watch role connects to.
    pub watch: WatchConfig,
    /// Queues between the actors of the watch pipeline.
    pub pipeline: PipelineConfig,
    /// Which domains are findings.
    pub matcher: MatcherConfig,
    /// How long a reported registrable domain stays quiet.
    pub dedupe: DedupeConfig,
    /// Registration data (RDAP, WHOIS) and the "registered recently" decision.
    pub enrich: EnrichConfig,
    /// Scans of each finding on urlscan.io (off without an API key).
    pub urlscan: UrlscanConfig,
    /// The embedded database of findings, delivery state, dedupe and feed position.
    pub store: StoreConfig,
    /// How each channel works through its queue of stored findings.
    pub delivery: DeliveryConfig,
    /// Where findings go. Without a `[notify]` section findings are written as JSON lines to
    /// stdout; with one, exactly the channels it lists are on.
    pub notify: NotifyConfig,
    /// Server role: the CT logs it tails.
    pub ct: CtConfig,
    /// Server role: the certstream websocket feed it serves.
    pub server: ServerConfig,
    /// Restart policy of the actor supervisor.
    pub supervisor: SupervisorConfig,
    /// Where secrets come from besides this file and the environment (AWS Secrets Manager).
    pub secrets: SecretsConfig,
    /// AWS region and endpoint for SNS and Secrets Manager.
    pub aws: AwsConfig,
    /// The admin listener: Prometheus metrics and health checks.
    pub admin: AdminConfig,
    /// Traces over OTLP (off by default).
    pub telemetry: TelemetryConfig,
}

/// A configuration problem, with the key it is about when there is one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {origin} is not valid TOML: {message}")]
    Syntax { origin: String, message: String },
    #[error("config key `{key}` ({origin}): {message}")]
    Key {
        key: String,
        origin: String,
        message: String,
    },
}

impl ConfigError {
    /// The dotted key the error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Key { key, .. } => Some(key),
            _ => None,
        }
    }

    pub(crate) fn key_error(key: &str, message: impl Into<String>) -> Self {
        ConfigError::Key {
            key: key.to_string(),
            origin: "validation".to_string(),
            message: message.into(),
        }
    }
}

impl Config {
    /// Loads `path` (or only the defaults when `None`), applies `CERTHOUND_*__*` overrides from the
    /// process environment and validates the result.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let (text, origin) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                })?,
                p.display().to_string(),
            ),
            None => (String::new(), "defaults".to_string()),
        };
        Self::from_toml_with_env(&text, &origin, std::env::vars())
    }

    /// Parses `text` as a config file, applies the overrides found in `env` and validates.
    pub fn from_toml_with_env(
        text: &str,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut table: toml::Table =
            text.parse()
                .map_err(|e: toml::de::Error| ConfigError::Syntax {
                    origin: origin.to_string(),
                    message: e.to_string().trim().replace('\n', " "),
                })?;
        let mut overridden = Vec::new();
        for (name, value) in env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if !rest.contains("__") {
                continue;
            }
            let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
            if path.iter().any(|p| p.is_empty()) {
                return Err(ConfigError::Key {
                    key: path.join("."),
                    origin: format!("environment variable {name}"),
                    message: "empty key segment".into(),
                });
            }
            set_path(&mut table, &path, parse_env_value(&value)).map_err(|message| {
                ConfigError::Key {
                    key: path.join("."),
                    origin: format!("environment variable {name}"),
                    message,
                }
            })?;
            overridden.push((path, name, value));
        }
        let config = loop {
            match deserialize(&table) {
                Ok(c) => break c,
                Err((key, message)) => {
                    // An override read as a number or bool where the key wants a string: take
                    // the variable's text literally and try again.
                    if let Some((path, _, raw)) = overridden
                        .iter()
                        .find(|(p, _, raw)| p.join(".") == key && !is_string_at(&table, p, raw))
                    {
                        let path = path.clone();
                        let raw = raw.clone();
                        set_path(&mut table, &path, toml::Value::String(raw)).ok();
                        continue;
                    }
                    let origin = overridden
                        .iter()
                        .find(|(p, _, _)| key.starts_with(&p.join(".")))
                        .map(|(_, n, _)| format!("environment variable {n}"))
                        .unwrap_or_else(|| origin.to_string());
                    return Err(ConfigError::Key {
                        key,
                        origin,
                        message,
                    });
                }
            }
        };
        config.validate()?;
        Ok(config)
    }

    /// Checks relations between values that the types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.watch.validate()?;
        self.pipeline.validate()?;
        self.matcher.validate()?;
        self.dedupe.validate()?;
        self.enrich.validate()?;
        self.urlscan.validate()?;
        self.store.validate()?;
        self.delivery.validate()?;
        self.notify.validate()?;
        self.ct.validate()?;
        self.server.validate()?;
        self.supervisor.validate()?;
        self.secrets.validate()?;
        self.admin.validate()?;
        self.telemetry.validate()?;
        Ok(())
    }

    /// The effective config as TOML, secrets redacted: what `certhound check-config` prints.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

fn deserialize(table: &toml::Table) -> Result<Config, (String, String)> {
    let value = toml::Value::Table(table.clone());
    serde_path_to_error::deserialize::<_, Config>(value).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        let message = inner.message().trim().to_string();
        (key, message)
    })
}

fn is_string_at(table: &toml::Table, path: &[String], _raw: &str) -> bool {
    let mut cur = table;
    for (i, seg) in path.iter().enumerate() {
        match cur.get(seg) {
            Some(toml::Value::Table(t)) if i + 1 < path.len() => cur = t,
            Some(toml::Value::String(_)) if i + 1 == path.len() => return true,
            _ => return false,
        }
    }
    false
}

fn parse_env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().ok_or("empty key")?;
    let mut cur = table;
    for seg in parents {
        let entry = cur
            .entry(seg.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match entry {
            toml::Value::Table(t) => t,
            _ => return Err(format!("`{seg}` is not a section")),
        };
    }
    cur.insert(last.clone(), value);
    Ok(())
}

#[cfg(test)]
mod tests;
