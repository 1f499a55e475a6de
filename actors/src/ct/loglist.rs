//! Which CT logs the server role tails: Google's v3 log list, filtered, plus the config's own.
//!
//! The list (`operators[].logs` for RFC 6962 logs, `operators[].tiled_logs` for static-ct-api
//! logs) is fetched from `ct.log_list_url`; until a fetch succeeds, the copy shipped inside
//! certhound (`log_list.json`, Google's list of 2026-05-29) is used, so a first run works before
//! the network does and a broken list URL never leaves the server with nothing to tail.
//!
//! A log is taken when its state is one of `ct.states` and its temporal interval (the expiry
//! range of the certificates it accepts) has not ended: a shard whose interval is over can get
//! no new entries, so tailing it is wasted requests.

use certhound_config::{CtConfig, LogKind};
use serde::Deserialize;

/// Google's v3 list as shipped with this build.
pub const SHIPPED: &str = include_str!("log_list.json");

/// One log to tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogInfo {
    /// `source.name` of its messages: the list's description.
    pub name: String,
    /// RFC 6962: the log URL. static-ct: the monitoring prefix. Always ends with `/`. This is
    /// the log's identity: its position is stored under it.
    pub url: String,
    pub kind: LogKind,
    /// Base64 DER SubjectPublicKeyInfo.
    pub key: Option<String>,
    /// static-ct: the checkpoint origin (the submission prefix without scheme and trailing `/`).
    pub origin: Option<String>,
}

/// Why a log list could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LogListError {
    #[error("log list is not valid v3 JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("log list has no logs")]
    Empty,
}

#[derive(Deserialize)]
struct List {
    operators: Vec<Operator>,
}

#[derive(Deserialize)]
struct Operator {
    #[serde(default)]
    logs: Vec<Rfc6962Log>,
    #[serde(default)]
    tiled_logs: Vec<TiledLog>,
}

#[derive(Deserialize)]
struct Rfc6962Log {
    #[serde(default)]
    description: String,
    key: Option<String>,
    url: String,
    #[serde(default)]
    state: Option<serde_json::Map<String, serde_json::Value>>,
    temporal_interval: Option<Interval>,
}

#[derive(Deserialize)]
struct TiledLog {
    #[serde(default)]
    description: String,
    key: Option<String>,
    submission_url: String,
    monitoring_url: String,
    #[serde(default)]
    state: Option<serde_json::Map<String, serde_json::Value>>,
    temporal_interval: Option<Interval>,
}

#[derive(Deserialize)]
struct Interval {
    end_exclusive: Option<String>,
}

/// A log of the list with what selection needs.
#[derive(Debug, Clone)]
pub struct Listed {
    pub log: LogInfo,
    /// The state's name (`usable`, `readonly`, ...); empty when the list gives none.
    pub state: String,
    /// End of the temporal interval, Unix seconds.
    pub interval_end: Option<i64>,
}

fn with_slash(u: &str) -> String {
    if u.ends_with('/') {
        u.to_string()
    } else {
        format!("{u}/")
    }
}

/// The origin line of a static-ct log's checkpoints.
pub use crate::ct::checkpoint::origin_from_url as origin_of;

fn state_name(s: &Option<serde_json::Map<String, serde_json::Value>>) -> String {
    s.as_ref()
        .and_then(|m| m.keys().next().cloned())
        .unwrap_or_default()
}

fn interval_end(i: &Option<Interval>) -> Option<i64> {
    let t = i.as_ref()?.end_exclusive.as_deref()?;
    humantime::parse_rfc3339_weak(t.trim_end_matches('Z'))
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs() as i64)
}

/// Parses a v3 log list.
pub fn parse(json: &[u8]) -> Result<Vec<Listed>, LogListError> {
    let list: List = serde_json::from_slice(json)?;
    let mut out = Vec::new();
    for op in list.operators {
        for l in op.logs {
            out.push(Listed {
                log: LogInfo {
                    name: l.description,
                    url: with_slash(&l.url),
                    kind: LogKind::Rfc6962,
                    key: l.key,
                    origin: None,
                },
                state: state_name(&l.state),
                interval_end: interval_end(&l.temporal_interval),
            });
        }
        for l in op.tiled_logs {
            out.push(Listed {
                log: LogInfo {
                    name: l.description,
                    url: with_slash(&l.monitoring_url),
                    kind: LogKind::StaticCt,
                    key: l.key,
                    origin: Some(origin_of(&l.submission_url)),
                },
                state: state_name(&l.state),
                interval_end: interval_end(&l.temporal_interval),
            });
        }
    }
    if out.is_empty() {
        return Err(LogListError::Empty);
    }
    Ok(out)
}

/// The logs to tail at `now` (Unix seconds): the list's logs that pass the config's filters,
/// then `[[ct.logs]]` (which replace a list entry of the same URL).
pub fn select(listed: &[Listed], cfg: &CtConfig, now: i64) -> Vec<LogInfo> {
    let mut out: Vec<LogInfo> = Vec::new();
    if cfg.use_log_list {
        for l in listed {
            if !cfg.states.contains(&l.state) {
                continue;
            }
            if l.interval_end.is_some_and(|end| end <= now) {
                continue;
            }
            if cfg
                .exclude
                .iter()
                .any(|x| l.log.url.contains(x.as_str()) || l.log.name.contains(x.as_str()))
            {
                continue;
            }
            if l.log.kind == LogKind::StaticCt && l.log.key.is_none() {
                continue;
            }
            out.push(l.log.clone());
        }
    }
    for extra in &cfg.logs {
        let url = with_slash(&extra.url);
        out.retain(|l| l.url != url);
        let origin = match extra.kind {
            LogKind::StaticCt => Some(extra.origin.clone().unwrap_or_else(|| origin_of(&url))),
            LogKind::Rfc6962 => None,
        };
        out.push(LogInfo {
            name: extra.name.clone(),
            url,
            kind: extra.kind,
            key: extra.key.clone(),
            origin,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use certhound_config::ExtraLog;

    fn at(date: &str) -> i64 {
        humantime::parse_rfc3339(date)
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn the_shipped_list_parses_with_both_kinds() {
        let all = parse(SHIPPED.as_bytes()).unwrap();
        let rfc = all
            .iter()
            .filter(|l| l.log.kind == LogKind::Rfc6962)
            .count();
        let tiled = all
            .iter()
            .filter(|l| l.log.kind == LogKind::StaticCt)
            .count();
        assert_eq!((rfc, tiled), (35, 21));
        let syc = all
            .iter()
            .find(|l| l.log.name == "Let's Encrypt 'Sycamore2026h1'")
            .unwrap();
        assert_eq!(
            syc.log.url,
            "https://mon.sycamore.ct.letsencrypt.org/2026h1/"
        );
        assert_eq!(
            syc.log.origin.as_deref(),
            Some("log.sycamore.ct.letsencrypt.org/2026h1")
        );
        assert_eq!(syc.state, "usable");
        assert_eq!(syc.interval_end, Some(at("2026-06-18T00:00:00Z")));
    }

    #[test]
    fn selection_takes_wanted_states_and_live_intervals() {
        let all = parse(SHIPPED.as_bytes()).unwrap();
        let cfg = CtConfig::default();
        // In the list's own month every usable or qualified log whose shard is still open.
        let may = select(&all, &cfg, at("2026-05-29T00:00:00Z"));
        assert!(may.iter().any(|l| l.name == "Google 'Argon2026h1' log"));
        assert!(may.iter().all(|l| all
            .iter()
            .any(|a| a.log == *l && (a.state == "usable" || a.state == "qualified"))));
        // Half a year later the 2026h1 shards are over and left out.
        let dec = select(&all, &cfg, at("2026-12-02T00:00:00Z"));
        assert!(!dec.iter().any(|l| l.name.contains("2026h1")));
        assert!(dec.iter().any(|l| l.name.contains("2026h2")));
        assert!(dec.len() < may.len());
        // Readonly logs only when asked for.
        let ro = CtConfig {
            states: vec!["readonly".into()],
            ..CtConfig::default()
        };
        let r = select(&all, &ro, 0);
        assert_eq!(
            r.len(),
            all.iter().filter(|l| l.state == "readonly").count()
        );
    }

    #[test]
    fn exclude_and_extra_logs() {
        let all = parse(SHIPPED.as_bytes()).unwrap();
        let cfg = CtConfig {
            exclude: vec!["googleapis".into()],
            logs: vec![ExtraLog {
                name: "Test".into(),
                url: "http://127.0.0.1:9/log".into(),
                kind: LogKind::StaticCt,
                key: Some("AAAA".into()),
                origin: None,
            }],
            ..CtConfig::default()
        };
        let s = select(&all, &cfg, 0);
        assert!(!s.iter().any(|l| l.url.contains("googleapis")));
        let t = s.last().unwrap();
        assert_eq!(t.url, "http://127.0.0.1:9/log/");
        assert_eq!(t.origin.as_deref(), Some("127.0.0.1:9/log"));
        let only = CtConfig {
            use_log_list: false,
            ..cfg
        };
        assert_eq!(select(&all, &only, 0).len(), 1);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(parse(b"{").is_err());
        assert!(parse(br#"{"operators":[]}"#).is_err());
        assert!(parse(br#"{"operators":[{"logs":[{"url":5}]}]}"#).is_err());
    }
}
