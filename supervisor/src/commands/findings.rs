//! `certhound findings`: the stored findings with their delivery state per channel, for the
//! analyst and for debugging. Reads the store file next to a running certhound.

use crate::exit::Exit;
use certhound_actors::store::{self, unix_now};
use certhound_config::Config;
use std::time::{Duration, UNIX_EPOCH};

/// Parses `--since`: a duration back from now (`1h`, `2days`) or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<u64, String> {
    if let Ok(d) = humantime::parse_duration(s) {
        return Ok(unix_now().saturating_sub(d.as_secs()));
    }
    humantime::parse_rfc3339_weak(s)
        .map(|t| {
            t.duration_since(UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs()
        })
        .map_err(|_| {
            format!("`{s}` is neither a duration like 1h nor a time like 2026-11-28T10:00:00Z")
        })
}

pub fn run(cfg: &Config, since: Option<u64>, json: bool) -> Exit {
    if cfg.store.backend == certhound_config::StoreBackend::Redb && cfg.store.in_memory() {
        eprintln!("certhound: store.path is \":memory:\": nothing is stored to list");
        return Exit::Failure;
    }
    let records = match store::open_reader(cfg).and_then(|s| s.list(since)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("certhound: {e}");
            return Exit::Store;
        }
    };
    if json {
        for r in &records {
            let channels: serde_json::Map<String, serde_json::Value> = r
                .channels
                .iter()
                .map(|c| (c.channel.clone(), c.state.to_string().into()))
                .collect();
            let line = serde_json::json!({
                "id": r.finding.id,
                "detected_at": r.finding.detected_at,
                "domain": r.finding.domain,
                "registrable_domain": r.finding.registrable_domain,
                "rules": r.finding.rules,
                "score": r.finding.score,
                "terms": r.finding.terms,
                "channels": channels,
            });
            println!("{line}");
        }
        return Exit::Ok;
    }
    println!(
        "{:<24}  {:<40}  {:>5}  {:<28}  delivery",
        "detected", "domain", "score", "rules"
    );
    for r in &records {
        let f = &r.finding;
        let states: Vec<String> = r
            .channels
            .iter()
            .map(|c| format!("{}={}", c.channel, c.state))
            .collect();
        println!(
            "{:<24}  {:<40}  {:>5.2}  {:<28}  {}",
            f.detected_at,
            f.domain,
            f.score,
            f.rules.join(","),
            states.join(" ")
        );
    }
    eprintln!("{} findings", records.len());
    Exit::Ok
}
