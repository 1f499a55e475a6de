//! `certhound findings`: the stored findings with their delivery state per channel and the
//! analyst's verdict (given on the admin page), for the analyst and for debugging; `--verdict`
//! keeps those with one verdict, or none yet. Reads the store file next to a running certhound.

use crate::exit::Exit;
use certhound_actors::store::{self, unix_now, Record, Verdict, VerdictKind};
use certhound_config::Config;
use std::time::{Duration, UNIX_EPOCH};

/// Which findings `--verdict` keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictFilter {
    /// Those with this verdict.
    Is(VerdictKind),
    /// Those without a verdict yet (`none`).
    Missing,
}

impl VerdictFilter {
    fn keeps(self, r: &Record) -> bool {
        match self {
            VerdictFilter::Is(kind) => r.verdict.as_ref().is_some_and(|v| v.kind == kind),
            VerdictFilter::Missing => r.verdict.is_none(),
        }
    }
}

/// Parses `--verdict`: a verdict (`phishing`, `false_alarm`, `unsure`) or `none`.
pub fn parse_verdict(s: &str) -> Result<VerdictFilter, String> {
    if s == "none" {
        return Ok(VerdictFilter::Missing);
    }
    s.parse().map(VerdictFilter::Is).map_err(|_| {
        let known: Vec<&str> = VerdictKind::ALL.iter().map(|k| k.as_str()).collect();
        format!(
            "`{s}` is not a verdict: one of {}, or none",
            known.join(", ")
        )
    })
}

/// A verdict in `--json`: its name, when (RFC 3339) and by whom.
fn verdict_json(v: &Verdict) -> serde_json::Value {
    serde_json::json!({
        "verdict": v.kind.as_str(),
        "at": humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(v.at)).to_string(),
        "by": v.by,
    })
}

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

pub fn run(cfg: &Config, since: Option<u64>, verdict: Option<VerdictFilter>, json: bool) -> Exit {
    if cfg.store.backend == certhound_config::StoreBackend::Redb && cfg.store.in_memory() {
        eprintln!("certhound: store.path is \":memory:\": nothing is stored to list");
        return Exit::Failure;
    }
    let mut records = match store::open_reader(cfg).and_then(|s| s.list(since)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("certhound: {e}");
            return Exit::Store;
        }
    };
    if let Some(filter) = verdict {
        records.retain(|r| filter.keeps(r));
    }
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
                "verdict": r.verdict.as_ref().map(verdict_json),
            });
            println!("{line}");
        }
        return Exit::Ok;
    }
    println!(
        "{:<24}  {:<40}  {:>5}  {:<28}  {:<11}  delivery",
        "detected", "domain", "score", "rules", "verdict"
    );
    for r in &records {
        let f = &r.finding;
        let states: Vec<String> = r
            .channels
            .iter()
            .map(|c| format!("{}={}", c.channel, c.state))
            .collect();
        // One word per column: `false_alarm`, and `-` for none yet.
        let verdict = r.verdict.as_ref().map_or("-", |v| v.kind.as_str());
        println!(
            "{:<24}  {:<40}  {:>5.2}  {:<28}  {:<11}  {}",
            f.detected_at,
            f.domain,
            f.score,
            f.rules.join(","),
            verdict,
            states.join(" ")
        );
    }
    eprintln!("{} findings", records.len());
    Exit::Ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_filter_parses_the_verdicts_and_none() {
        assert_eq!(
            parse_verdict("phishing"),
            Ok(VerdictFilter::Is(VerdictKind::Phishing))
        );
        assert_eq!(
            parse_verdict("false_alarm"),
            Ok(VerdictFilter::Is(VerdictKind::FalseAlarm))
        );
        assert_eq!(
            parse_verdict("unsure"),
            Ok(VerdictFilter::Is(VerdictKind::Unsure))
        );
        assert_eq!(parse_verdict("none"), Ok(VerdictFilter::Missing));
        let e = parse_verdict("spam").unwrap_err();
        assert_eq!(
            e,
            "`spam` is not a verdict: one of phishing, false_alarm, unsure, or none"
        );
    }

    #[test]
    fn verdict_json_has_an_rfc3339_time() {
        let v = Verdict {
            kind: VerdictKind::FalseAlarm,
            at: 1_795_867_200,
            by: "page".into(),
        };
        assert_eq!(
            verdict_json(&v),
            serde_json::json!({"verdict": "false_alarm", "at": "2026-11-28T12:00:00Z", "by": "page"})
        );
    }
}
