//! The resolver: one lookup of a registrable domain, RDAP first, WHOIS as the fallback, within
//! the limits of `[enrich.limits]`.
//!
//! Limits: each RDAP base URL and WHOIS server has its own token bucket (`governor`), so a burst
//! for one TLD waits at its own server's pace and never delays other TLDs; a global semaphore caps
//! the lookups in flight. Every request has connect and read timeouts, so a server that accepts
//! and never answers costs one timeout, not a stalled queue. A 429 is honoured (`Retry-After`,
//! capped by `max_retry_after`).
//!
//! The rates, the places in flight, `retries` and `max_retry_after` follow a config reload
//! ([`Retune`]): the resolver is built once per process and outlives restarts of the enrich
//! actor, so its buckets are the ones every lookup waits on. The timeouts are the HTTP client's
//! and change with a restart only.

use super::rdap::{self, Bootstrap, Registration};
use super::whois_parse;
use crate::tuning::{self, Bucket, Place, Places, Retune};
use certhound_config::{Config, EnrichConfig, LimitsConfig};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use whois_rust::{WhoIs, WhoIsLookupOptions};

/// Why a lookup gave no registration data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("{0}")]
    Failed(String),
}

pub struct Resolver {
    cfg: EnrichConfig,
    bootstrap: RwLock<Bootstrap>,
    http: reqwest::Client,
    whois: Option<WhoIs>,
    /// The live part of `cfg.limits`: what [`Retune`] changes.
    limits: RwLock<LimitsConfig>,
    gates: Mutex<HashMap<String, Arc<ServerGate>>>,
    in_flight: Places,
}

/// One server's limits: its token bucket, and how many requests it may have in flight, so that
/// a slow or dead server holds at most that many of the global places.
struct ServerGate {
    rate: Bucket,
    in_flight: Places,
}

impl ServerGate {
    fn tune(&self, server: &str, limits: &LimitsConfig) {
        self.rate
            .set(tuning::per_second(server_rate(server, limits) as f64));
        self.in_flight.resize(limits.per_server_concurrent);
    }
}

/// Requests per second allowed to `server` (host or host:port).
fn server_rate(server: &str, limits: &LimitsConfig) -> u32 {
    limits
        .per_server
        .get(server)
        .copied()
        .unwrap_or(limits.per_server_per_second)
        .max(1)
}

impl Resolver {
    pub fn new(cfg: EnrichConfig) -> Result<Resolver, String> {
        let http = crate::http::client(
            cfg.limits.connect_timeout + cfg.limits.read_timeout,
            Some(cfg.limits.connect_timeout),
        )?;
        // whois-rust's server list: `{"_": {"ip": default}, "tld": "host:port"}`.
        let servers: serde_json::Map<String, serde_json::Value> = cfg
            .whois
            .servers
            .iter()
            .map(|(k, v)| {
                let v = serde_json::Value::String(v.clone());
                let v = if k == "_" {
                    serde_json::json!({ "ip": v })
                } else {
                    v
                };
                (k.clone(), v)
            })
            .collect();
        let whois = WhoIs::from_string(serde_json::Value::Object(servers).to_string())
            .map_err(|e| format!("enrich.whois.servers: {e}"))?;
        Ok(Resolver {
            limits: RwLock::new(cfg.limits.clone()),
            in_flight: Places::new(cfg.limits.max_concurrent),
            cfg,
            bootstrap: RwLock::new(Bootstrap::shipped()),
            http,
            whois: Some(whois),
            gates: Mutex::new(HashMap::new()),
        })
    }

    /// `enrich.limits.max_concurrent` in force (at least 1).
    pub fn max_concurrent(&self) -> usize {
        self.in_flight.size()
    }

    /// The limits in force.
    fn limits(&self) -> LimitsConfig {
        self.limits
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the RDAP bootstrap (after fetching IANA's).
    pub fn set_bootstrap(&self, b: Bootstrap) {
        if let Ok(mut cur) = self.bootstrap.write() {
            *cur = b;
        }
    }

    /// Fetches the bootstrap from `enrich.rdap.bootstrap_url`; keeps the current one on failure.
    pub async fn refresh_bootstrap(&self) -> Result<usize, String> {
        let url = &self.cfg.rdap.bootstrap_url;
        if url.is_empty() {
            return Ok(0);
        }
        let text = self
            .http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("cannot fetch the RDAP bootstrap: {}", short(&e)))?
            .text()
            .await
            .map_err(|e| format!("cannot read the RDAP bootstrap: {}", short(&e)))?;
        let b = Bootstrap::parse(&text)?;
        let n = b.len();
        self.set_bootstrap(b);
        Ok(n)
    }

    /// Waits for `server`'s turn: a place among its own requests in flight, a token of its rate,
    /// then a global place. Hold the guards for the request.
    async fn turn(&self, server: &str) -> Option<(Place, Place)> {
        let gate = self.gate(server);
        let own = gate.in_flight.acquire().await?;
        gate.rate.until_ready().await;
        let global = self.in_flight.acquire().await?;
        Some((own, global))
    }

    fn gate(&self, server: &str) -> Arc<ServerGate> {
        let mut map = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(server.to_string())
            .or_insert_with(|| {
                let limits = self.limits.read().unwrap_or_else(|p| p.into_inner());
                Arc::new(ServerGate {
                    rate: Bucket::new(tuning::per_second(server_rate(server, &limits) as f64)),
                    in_flight: Places::new(limits.per_server_concurrent),
                })
            })
            .clone()
    }

    /// Registration data of `domain` (a lowercase ASCII registrable domain).
    pub async fn lookup(&self, domain: &str) -> Result<Registration, LookupError> {
        let base = self
            .bootstrap
            .read()
            .ok()
            .and_then(|b| b.base_for(domain).map(str::to_string));
        let mut errors = Vec::new();
        if let Some(base) = base {
            match self.rdap(&base, domain).await {
                Ok(r) if r.has_dates() => return Ok(r),
                Ok(_) => errors.push(format!("rdap {base}: no dates")),
                Err(e) => errors.push(format!("rdap {base}: {e}")),
            }
        }
        match self.whois(domain).await {
            Ok(r) if r.has_dates() => Ok(r),
            Ok(r) => Err(LookupError::Failed(
                errors
                    .into_iter()
                    .chain([format!("{}: no dates", r.source)])
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
            Err(e) => {
                errors.push(e);
                Err(LookupError::Failed(errors.join("; ")))
            }
        }
    }

    async fn rdap(&self, base: &str, domain: &str) -> Result<Registration, String> {
        let url = format!("{base}domain/{domain}");
        let parsed = self.rdap_get(base, &url).await?;
        let mut r = parsed.registration;
        if !r.has_dates() && self.cfg.rdap.follow_registrar {
            if let Some(link) = parsed.registrar_link {
                let host = host_of(&link);
                if let Ok(p) = self.rdap_get(&host, &link).await {
                    let mut theirs = p.registration;
                    theirs.registrar = theirs.registrar.or(r.registrar.take());
                    return Ok(theirs);
                }
            }
        }
        Ok(r)
    }

    /// One RDAP GET with the server's limiter, retries and `Retry-After`.
    async fn rdap_get(&self, server: &str, url: &str) -> Result<rdap::Parsed, String> {
        let host = host_of(server);
        let mut last = String::new();
        let limits = self.limits();
        for attempt in 0..=limits.retries {
            let turn = self.turn(&host).await;
            let resp = self
                .http
                .get(url)
                .header(
                    reqwest::header::ACCEPT,
                    "application/rdap+json, application/json",
                )
                .send()
                .await;
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    last = short(&e);
                    drop(turn);
                    backoff(attempt).await;
                    continue;
                }
            };
            let status = resp.status();
            if status.as_u16() == 429 {
                let wait = crate::http::retry_after(&resp)
                    .unwrap_or(Duration::from_secs(2))
                    .min(limits.max_retry_after);
                last = format!("HTTP 429, retry after {wait:?}");
                drop(turn);
                tokio::time::sleep(wait).await;
                continue;
            }
            if status.as_u16() == 404 {
                return Err("HTTP 404: not found at the registry".into());
            }
            if !status.is_success() {
                last = format!("HTTP {status}");
                if status.is_server_error() {
                    drop(turn);
                    backoff(attempt).await;
                    continue;
                }
                return Err(last);
            }
            let text = resp.text().await.map_err(|e| short(&e))?;
            return rdap::parse(&text, &format!("rdap {}", host_of(server)));
        }
        Err(last)
    }

    async fn whois(&self, domain: &str) -> Result<Registration, String> {
        let Some(whois) = &self.whois else {
            return Err("whois: not configured".into());
        };
        let tld = domain.rsplit('.').next().unwrap_or(domain);
        let server = self
            .cfg
            .whois
            .servers
            .get(tld)
            .or_else(|| self.cfg.whois.servers.get("_"))
            .cloned()
            .unwrap_or_default();
        let mut last = String::new();
        for attempt in 0..=self.limits().retries {
            let turn = self.turn(&server).await;
            let mut opts =
                WhoIsLookupOptions::from_string(domain).map_err(|e| format!("whois: {e}"))?;
            // The server is chosen here (TLD entry, else `_`), not by whois-rust's own map,
            // whose `_` entry serves IP queries only.
            opts.server = Some(
                whois_rust::WhoIsServerValue::from_string(&server)
                    .map_err(|e| format!("whois server `{server}`: {e}"))?,
            );
            opts.follow = self.cfg.whois.follow;
            opts.timeout = Some(self.cfg.limits.read_timeout);
            let answer = tokio::time::timeout(
                self.cfg.limits.connect_timeout + self.cfg.limits.read_timeout,
                whois.lookup_async(opts),
            )
            .await;
            match answer {
                Ok(Ok(text)) => {
                    if whois_parse::looks_rate_limited(&text) {
                        last = format!("whois {server}: rate limited");
                        drop(turn);
                        backoff(attempt + 2).await;
                        continue;
                    }
                    if whois_parse::looks_like_no_match(&text) {
                        return Err(format!("whois {server}: no match"));
                    }
                    let d = whois_parse::parse(&text);
                    return Ok(Registration {
                        created: d.created,
                        updated: d.updated,
                        expires: d.expires,
                        registrar: d.registrar,
                        source: format!("whois {server}"),
                    });
                }
                Ok(Err(e)) => last = format!("whois {server}: {e}"),
                Err(_) => last = format!("whois {server}: timed out"),
            }
            drop(turn);
            backoff(attempt).await;
        }
        Err(last)
    }
}

impl Retune for Resolver {
    /// New rates and places for every server met so far (and, through `limits`, for those met
    /// later); lookups waiting for a token or a place wait on the new ones at once.
    fn retune(&self, cfg: &Config) {
        let limits = &cfg.enrich.limits;
        // First the limits, then the gates: a gate made in between already has the new ones.
        *self.limits.write().unwrap_or_else(|p| p.into_inner()) = limits.clone();
        self.in_flight.resize(limits.max_concurrent);
        for (server, gate) in self.gates.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            gate.tune(server, limits);
        }
    }
}

/// Parses a saved WHOIS answer, as a lookup would.
pub fn registration_from_whois(text: &str, source: &str) -> Registration {
    let d = whois_parse::parse(text);
    Registration {
        created: d.created,
        updated: d.updated,
        expires: d.expires,
        registrar: d.registrar,
        source: source.to_string(),
    }
}

async fn backoff(attempt: u32) {
    tokio::time::sleep(Duration::from_millis(200) * 2u32.pow(attempt.min(6))).await;
}

/// `https://host:port/path` → `host:port`.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|x| x.1).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// A reqwest error without its URL (which could carry credentials).
fn short(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if let Some(s) = e.status() {
        format!("HTTP {s}")
    } else {
        "request failed".into()
    }
}
