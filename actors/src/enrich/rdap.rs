//! RDAP: the bootstrap (which server answers for which TLD, IANA's dns.json format) and the
//! parsing of a domain answer into registration dates.
//!
//! Only `registration`, `last changed` and `expiration` events count; `last update of RDAP
//! database` says when the registry refreshed its copy, not when the domain changed.

use crate::dates::parse_rfc3339;
use serde::Deserialize;
use std::collections::HashMap;

/// The registration data of a domain, whatever the source.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Registration {
    /// Unix seconds (UTC).
    pub created: Option<i64>,
    pub updated: Option<i64>,
    pub expires: Option<i64>,
    pub registrar: Option<String>,
    /// Where it came from: `rdap <base URL>` or `whois <server>`.
    pub source: String,
}

impl Registration {
    pub fn has_dates(&self) -> bool {
        self.created.is_some() || self.updated.is_some()
    }
}

/// Which RDAP base URLs serve which TLDs.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    by_tld: HashMap<String, Vec<String>>,
}

#[derive(Deserialize)]
struct DnsJson {
    services: Vec<(Vec<String>, Vec<String>)>,
}

/// The bootstrap shipped with certhound, used until (or when) IANA's cannot be fetched: a
/// byte-exact copy of IANA's `dns.json` (data.iana.org/rdap/dns.json, publication
/// 2026-03-23T19:00:02Z, 590 services; origin and sha256 in tests/fixtures/README.md). TLDs it
/// does not list (io, de, ...) are looked up by WHOIS.
pub const SHIPPED_BOOTSTRAP: &str = include_str!("rdap_bootstrap.json");

impl Bootstrap {
    /// Parses IANA's `dns.json`: `{"services": [[["com", "net"], ["https://rdap.verisign.com/com/v1/"]], ...]}`.
    pub fn parse(json: &str) -> Result<Bootstrap, String> {
        let d: DnsJson =
            serde_json::from_str(json).map_err(|e| format!("not an RDAP bootstrap file: {e}"))?;
        let mut by_tld = HashMap::new();
        for (tlds, urls) in d.services {
            // HTTPS first, as RFC 9224 asks.
            let mut urls: Vec<String> = urls
                .into_iter()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
                .map(|u| if u.ends_with('/') { u } else { format!("{u}/") })
                .collect();
            urls.sort_by_key(|u| !u.starts_with("https://"));
            if urls.is_empty() {
                continue;
            }
            for t in tlds {
                by_tld.insert(t.to_ascii_lowercase(), urls.clone());
            }
        }
        Ok(Bootstrap { by_tld })
    }

    pub fn shipped() -> Bootstrap {
        Bootstrap::parse(SHIPPED_BOOTSTRAP).unwrap_or_default()
    }

    pub fn len(&self) -> usize {
        self.by_tld.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_tld.is_empty()
    }

    /// The base URL for `domain` (lowercase ASCII): the longest listed suffix wins.
    pub fn base_for(&self, domain: &str) -> Option<&str> {
        let mut rest = domain;
        loop {
            if let Some(urls) = self.by_tld.get(rest) {
                return urls.first().map(String::as_str);
            }
            rest = rest.split_once('.')?.1;
        }
    }
}

#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "objectClassName", default)]
    object_class: Option<String>,
    #[serde(default)]
    events: Vec<Event>,
    #[serde(default)]
    entities: Vec<Entity>,
    #[serde(default)]
    links: Vec<Link>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(rename = "eventAction")]
    action: String,
    #[serde(rename = "eventDate")]
    date: String,
}

#[derive(Deserialize)]
struct Entity {
    #[serde(default)]
    roles: Vec<String>,
    #[serde(rename = "vcardArray", default)]
    vcard: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Link {
    #[serde(default)]
    rel: Option<String>,
    #[serde(default)]
    href: Option<String>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// What one RDAP answer says, and where the registrar's own answer is (the `related` link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub registration: Registration,
    pub registrar_link: Option<String>,
}

/// Parses an RDAP domain answer. Garbage is an error, never a panic.
pub fn parse(json: &str, source: &str) -> Result<Parsed, String> {
    let a: Answer = serde_json::from_str(json).map_err(|e| format!("not an RDAP answer: {e}"))?;
    match a.object_class.as_deref() {
        Some("domain") => {}
        Some(other) => return Err(format!("RDAP answer is a `{other}`, not a domain")),
        None => return Err("not an RDAP domain answer (no objectClassName)".into()),
    }
    let mut r = Registration {
        source: source.to_string(),
        ..Registration::default()
    };
    for e in &a.events {
        let t = parse_rfc3339(&e.date);
        match e.action.to_ascii_lowercase().as_str() {
            "registration" => r.created = r.created.or(t),
            "last changed" => r.updated = max_opt(r.updated, t),
            "expiration" => r.expires = r.expires.or(t),
            _ => {} // "last update of RDAP database" and others: not a change of the domain
        }
    }
    r.registrar = a
        .entities
        .iter()
        .find(|e| e.roles.iter().any(|r| r == "registrar"))
        .and_then(|e| e.vcard.as_ref())
        .and_then(vcard_fn);
    let registrar_link = a
        .links
        .iter()
        .find(|l| {
            l.rel.as_deref() == Some("related")
                && l.kind.as_deref().is_none_or(|k| k.contains("rdap"))
        })
        .and_then(|l| l.href.clone());
    Ok(Parsed {
        registration: r,
        registrar_link,
    })
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The `fn` (formatted name) of a jCard: `["vcard", [["fn", {}, "text", "Tucows"], ...]]`.
fn vcard_fn(v: &serde_json::Value) -> Option<String> {
    v.get(1)?
        .as_array()?
        .iter()
        .find(|p| p.get(0).and_then(|n| n.as_str()) == Some("fn"))?
        .get(3)?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_bootstrap_is_ianas() {
        let b = Bootstrap::shipped();
        assert!(b.len() > 1000, "{} TLDs", b.len());
        for (domain, server) in [
            ("example.com", "https://rdap.verisign.com/com/v1/"),
            ("example.net", "https://rdap.verisign.com/net/v1/"),
            (
                "example.org",
                "https://rdap.publicinterestregistry.org/rdap/",
            ),
            ("example.xyz", "https://rdap.centralnic.com/xyz/"),
            ("example.top", "https://rdap.zdnsgtld.com/top/"),
            ("example.online", "https://rdap.radix.host/rdap/"),
            ("example.shop", "https://rdap.gmoregistry.net/rdap/"),
            ("example.app", "https://pubapi.registry.google/rdap/"),
        ] {
            assert_eq!(b.base_for(domain), Some(server), "{domain}");
        }
        for domain in ["example.io", "example.de", "paypal-login.co.uk.de"] {
            assert_eq!(b.base_for(domain), None, "{domain}: WHOIS");
        }
    }

    const VERISIGN: &str = include_str!("../../../tests/fixtures/rdap/verisign_1989shack.com.json");

    #[test]
    fn real_verisign_answer() {
        let p = parse(VERISIGN, "rdap https://rdap.verisign.com/com/v1/").unwrap();
        let r = &p.registration;
        assert_eq!(r.created, parse_rfc3339("2024-11-22T18:01:08Z"));
        assert_eq!(r.updated, parse_rfc3339("2025-11-26T06:34:24Z"));
        assert_eq!(r.expires, parse_rfc3339("2026-11-22T18:01:08Z"));
        assert_eq!(
            p.registrar_link.as_deref(),
            Some("https://opensrs.rdap.tucows.com/domain/1989SHACK.COM")
        );
        assert!(
            r.registrar
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains("tucows")),
            "{r:?}"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-11-22T18:01:08Z"), Some(1732298468));
        assert_eq!(
            parse_rfc3339("2024-11-22T19:01:08.123+01:00"),
            Some(1732298468)
        );
        assert_eq!(parse_rfc3339("2024-11-22"), Some(1732233600));
        assert_eq!(parse_rfc3339("garbage"), None);
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
    }

    #[test]
    fn garbage_is_an_error() {
        for bad in [
            "",
            "{",
            "[]",
            "null",
            r#"{"objectClassName":"entity"}"#,
            r#"{"events":7}"#,
        ] {
            assert!(parse(bad, "x").is_err(), "{bad}");
        }
        // An empty domain object is fine: no dates.
        let p = parse(r#"{"objectClassName":"domain"}"#, "x").unwrap();
        assert!(!p.registration.has_dates());
    }

    #[test]
    fn bootstrap_longest_suffix() {
        let b = Bootstrap::parse(
            r#"{"services":[[["com","net"],["http://a.example/rdap","https://b.example/rdap/"]],[["uk"],["https://uk.example/"]],[["co.uk"],["https://couk.example/"]]]}"#,
        )
        .unwrap();
        assert_eq!(b.base_for("x.com"), Some("https://b.example/rdap/"));
        assert_eq!(b.base_for("x.co.uk"), Some("https://couk.example/"));
        assert_eq!(b.base_for("x.org.uk"), Some("https://uk.example/"));
        assert_eq!(b.base_for("x.de"), None);
        assert!(!Bootstrap::shipped().is_empty());
    }
}
