//! `certhound lookup`: the registration data certhound would use for one domain, as JSON. A live
//! lookup (RDAP, then WHOIS), or the parse of a saved answer (`--rdap-file`, `--whois-file`) for
//! ops debugging and tests.

use crate::exit::Exit;
use certhound_actors::enrich::rdap::{self, Registration};
use certhound_actors::enrich::resolver::{registration_from_whois, Resolver};
use certhound_actors::enrich::verdict;
use certhound_actors::normalise;
use certhound_actors::rules::registrable_domain;
use certhound_actors::store::unix_now;
use certhound_config::Config;
use std::path::Path;

pub struct Args<'a> {
    pub domain: Option<&'a str>,
    pub rdap_file: Option<&'a Path>,
    pub whois_file: Option<&'a Path>,
}

pub fn run(cfg: &Config, args: Args<'_>) -> Exit {
    let read = |p: &Path| {
        std::fs::read(p)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let (domain, result): (Option<String>, Result<Registration, String>) =
        if let Some(p) = args.rdap_file {
            let text = match read(p) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("certhound: {e}");
                    return Exit::Failure;
                }
            };
            (
                args.domain.map(str::to_string),
                rdap::parse(&text, &format!("rdap file {}", p.display())).map(|p| p.registration),
            )
        } else if let Some(p) = args.whois_file {
            let text = match read(p) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("certhound: {e}");
                    return Exit::Failure;
                }
            };
            let r = registration_from_whois(&text, &format!("whois file {}", p.display()));
            let r = if r.has_dates() {
                Ok(r)
            } else {
                Err("no dates in the answer".to_string())
            };
            (args.domain.map(str::to_string), r)
        } else {
            let Some(d) = args.domain else {
                eprintln!("certhound: lookup needs a DOMAIN, --rdap-file or --whois-file");
                return Exit::Config;
            };
            let name = normalise::normalise(d);
            let target = registrable_domain(&name.ascii)
                .unwrap_or(&name.ascii)
                .to_string();
            let resolver = match Resolver::new(cfg.enrich.clone()) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("certhound: {e}");
                    return Exit::Config;
                }
            };
            let rt = match super::runtime() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("certhound: {e}");
                    return Exit::Failure;
                }
            };
            let result = rt.block_on(async {
                if let Err(e) = resolver.refresh_bootstrap().await {
                    eprintln!("certhound: {e}; using the shipped RDAP bootstrap");
                }
                resolver.lookup(&target).await.map_err(|e| e.to_string())
            });
            (Some(d.to_string()), result)
        };
    let now = unix_now() as i64;
    let v = verdict::decide(result.as_ref().ok(), &cfg.enrich, now);
    let reg = result.as_ref().ok();
    let date = |t: Option<i64>| t.map(rfc3339);
    let registrable = domain
        .as_deref()
        .map(|d| normalise::normalise(d).ascii.into_owned())
        .and_then(|a| registrable_domain(&a).map(str::to_string));
    let out = serde_json::json!({
        "domain": domain,
        "registrable_domain": registrable,
        "created": date(reg.and_then(|r| r.created)),
        "updated": date(reg.and_then(|r| r.updated)),
        "expires": date(reg.and_then(|r| r.expires)),
        "registrar": reg.and_then(|r| r.registrar.clone()),
        "source": reg.map(|r| r.source.clone()),
        "recent": v.recent,
        "recent_days": cfg.enrich.recent_days,
        "cdu": date(v.cdu),
        "delta_days": v.delta_days,
        "error": result.as_ref().err(),
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Exit::Ok
}

/// RFC 3339 (UTC, seconds) of Unix seconds; dates before 1970 are clamped to it.
pub fn rfc3339(t: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}
