//! `[enrich]`: registration data for each finding, from RDAP first and WHOIS as the fallback,
//! and the "registered or updated recently" decision of the original setup (30 days).

use crate::{checks, ConfigError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// What happens to a finding whose registration date could not be learnt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnUnknown {
    /// Notify it, marked "registration date unknown".
    Notify,
    /// Do not notify it (it stays stored, marked).
    Drop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnrichConfig {
    /// Look up registration data. When off, every finding is notified without it.
    pub enabled: bool,
    /// A domain is recent when one of `recent_events` happened within this many days.
    pub recent_days: u32,
    /// Which dates count: `registration` (created) and/or `last changed` (updated).
    pub recent_events: Vec<String>,
    /// `notify` (marked "registration date unknown") or `drop`.
    pub on_unknown: OnUnknown,
    pub rdap: RdapConfig,
    pub whois: WhoisConfig,
    pub limits: LimitsConfig,
    pub cache: CacheConfig,
}

impl Default for EnrichConfig {
    fn default() -> Self {
        EnrichConfig {
            enabled: true,
            recent_days: 30,
            recent_events: vec!["registration".into(), "last changed".into()],
            on_unknown: OnUnknown::Notify,
            rdap: RdapConfig::default(),
            whois: WhoisConfig::default(),
            limits: LimitsConfig::default(),
            cache: CacheConfig::default(),
        }
    }
}

/// `[enrich.rdap]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RdapConfig {
    /// IANA's RDAP bootstrap file (dns.json format), fetched at start and every
    /// `bootstrap_refresh`; the copy shipped with certhound is used until then or when it fails.
    /// Empty: only the shipped copy.
    pub bootstrap_url: String,
    #[serde(with = "humantime_serde")]
    pub bootstrap_refresh: Duration,
    /// When the registry's answer has no dates, ask the registrar's RDAP server it links to.
    pub follow_registrar: bool,
}

impl Default for RdapConfig {
    fn default() -> Self {
        RdapConfig {
            bootstrap_url: "https://data.iana.org/rdap/dns.json".into(),
            bootstrap_refresh: Duration::from_secs(24 * 3600),
            follow_registrar: true,
        }
    }
}

/// `[enrich.whois]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhoisConfig {
    /// WHOIS server per TLD (`host` or `host:port`); `_` is the default for the rest. IANA's
    /// server answers with a referral to the TLD's own server, which is followed.
    pub servers: BTreeMap<String, String>,
    /// Referrals followed at most.
    pub follow: u16,
}

impl Default for WhoisConfig {
    fn default() -> Self {
        WhoisConfig {
            servers: BTreeMap::from([("_".to_string(), "whois.iana.org".to_string())]),
            follow: 2,
        }
    }
}

/// `[enrich.limits]`: how hard certhound may ask. A slow or dead server only delays the lookups
/// for its own TLDs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests per second to one RDAP base URL or WHOIS server.
    pub per_server_per_second: u32,
    /// Overrides of that quota for given hosts (`rdap.verisign.com = 10`).
    pub per_server: BTreeMap<String, u32>,
    /// Requests in flight at once to one server: a slow or dead server holds no more than this
    /// many of the `max_concurrent` places.
    pub per_server_concurrent: usize,
    /// Requests in flight at once, over all servers.
    pub max_concurrent: usize,
    /// Time allowed to connect.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time allowed for a whole answer.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Retries of a failed lookup (after which WHOIS is tried, or the domain is unknown).
    pub retries: u32,
    /// Longest wait honoured from a `Retry-After`.
    #[serde(with = "humantime_serde")]
    pub max_retry_after: Duration,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            per_server_per_second: 5,
            per_server: BTreeMap::new(),
            per_server_concurrent: 4,
            max_concurrent: 16,
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(15),
            retries: 2,
            max_retry_after: Duration::from_secs(120),
        }
    }
}

/// `[enrich.cache]`: answers per registrable domain, kept in memory and in the store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Domains kept in memory at most (least recently used go first).
    pub capacity: usize,
    /// How long an answer is reused.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    /// How long a failed lookup is remembered before it is tried again.
    #[serde(with = "humantime_serde")]
    pub negative_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            capacity: 100_000,
            ttl: Duration::from_secs(24 * 3600),
            negative_ttl: Duration::from_secs(3600),
        }
    }
}

impl EnrichConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        for (i, e) in self.recent_events.iter().enumerate() {
            if e != "registration" && e != "last changed" {
                return Err(ConfigError::key_error(
                    &format!("enrich.recent_events[{i}]"),
                    format!("`{e}` is not `registration` or `last changed`"),
                ));
            }
        }
        checks::at_least_one(&[
            ("enrich.recent_days", u64::from(self.recent_days)),
            (
                "enrich.limits.per_server_per_second",
                u64::from(self.limits.per_server_per_second),
            ),
        ])?;
        for (host, q) in &self.limits.per_server {
            checks::at_least_one(&[(&format!("enrich.limits.per_server.{host}"), u64::from(*q))])?;
        }
        checks::at_least_one(&[
            (
                "enrich.limits.max_concurrent",
                self.limits.max_concurrent as u64,
            ),
            ("enrich.cache.capacity", self.cache.capacity as u64),
        ])?;
        if !self.whois.servers.contains_key("_") {
            return Err(ConfigError::key_error(
                "enrich.whois.servers",
                "needs a `_` entry: the server for TLDs not listed",
            ));
        }
        checks::optional_url("enrich.rdap.bootstrap_url", &self.rdap.bootstrap_url)
    }
}
