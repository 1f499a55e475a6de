//! The list's filters, search and paging, read from the query string of `/findings` and
//! `/api/findings` (the page's filter form is a plain GET form, so a filtered view is a link an
//! analyst can share).
//!
//! `since` (`1h`, `24h`, `7d`, `30d`; none: all), `rule` (`keyword`, `lookalike`, `words`),
//! `brand`, `verdict` (`phishing`, `false_alarm`, `unsure`, `none`), `registration` (`recent`,
//! `old`, `unknown`), `q` (a case-insensitive part of any of the finding's names, its Unicode
//! form, or the certificate's CN), `page` (from 1). An unknown value is a 400 naming the
//! parameter, not an empty list that looks like "nothing found".

use super::stats::rules_and_brands;
use certhound_actors::store::{Record, VerdictKind};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// `since` as given, and the seconds it reaches back.
    pub since: Option<(String, u64)>,
    pub rule: Option<String>,
    pub brand: Option<String>,
    /// `Some(None)`: findings without a verdict.
    pub verdict: Option<Option<VerdictKind>>,
    pub registration: Option<Registration>,
    pub q: Option<String>,
    pub page: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Recent,
    Old,
    Unknown,
}

impl Registration {
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Recent => "recent",
            Registration::Old => "old",
            Registration::Unknown => "unknown",
        }
    }
}

/// The `since` choices of the form, with what they reach back.
pub const SINCE: [(&str, u64); 4] = [
    ("1h", 3600),
    ("24h", 86_400),
    ("7d", 7 * 86_400),
    ("30d", 30 * 86_400),
];

impl Filter {
    /// Reads the filter from query pairs; `Err` names the bad parameter.
    pub fn parse(query: &[(String, String)]) -> Result<Filter, String> {
        let get = |name: &str| {
            super::http::first(query, name)
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let mut f = Filter {
            page: 1,
            ..Filter::default()
        };
        if let Some(s) = get("since") {
            let secs = SINCE
                .iter()
                .find(|(name, _)| *name == s)
                .map(|(_, secs)| *secs)
                .ok_or_else(|| format!("since: `{s}` is not one of 1h, 24h, 7d, 30d"))?;
            f.since = Some((s.to_string(), secs));
        }
        f.rule = get("rule").map(str::to_lowercase);
        f.brand = get("brand").map(str::to_lowercase);
        if let Some(v) = get("verdict") {
            f.verdict = Some(if v == "none" {
                None
            } else {
                Some(v.parse::<VerdictKind>().map_err(|_| {
                    format!("verdict: `{v}` is not one of phishing, false_alarm, unsure, none")
                })?)
            });
        }
        if let Some(r) = get("registration") {
            f.registration = Some(match r {
                "recent" => Registration::Recent,
                "old" => Registration::Old,
                "unknown" => Registration::Unknown,
                _ => {
                    return Err(format!(
                        "registration: `{r}` is not one of recent, old, unknown"
                    ))
                }
            });
        }
        f.q = get("q").map(|q| q.chars().take(200).collect::<String>().to_lowercase());
        if let Some(p) = get("page") {
            f.page = p
                .parse::<usize>()
                .ok()
                .filter(|p| *p >= 1)
                .ok_or_else(|| format!("page: `{p}` is not a page number"))?;
        }
        Ok(f)
    }

    pub fn matches(&self, r: &Record, now: u64) -> bool {
        if let Some((_, secs)) = &self.since {
            if r.stored_at + secs < now {
                return false;
            }
        }
        if self.rule.is_some() || self.brand.is_some() {
            let (kinds, brands) = rules_and_brands(&r.finding.rules);
            if self.rule.as_ref().is_some_and(|x| !kinds.contains(x)) {
                return false;
            }
            if self.brand.as_ref().is_some_and(|x| !brands.contains(x)) {
                return false;
            }
        }
        if let Some(v) = &self.verdict {
            if r.verdict.as_ref().map(|v| v.kind) != *v {
                return false;
            }
        }
        if let Some(want) = self.registration {
            let recent = r.finding.registration.as_ref().and_then(|g| g.recent);
            let is = match recent {
                Some(true) => Registration::Recent,
                Some(false) => Registration::Old,
                None => Registration::Unknown,
            };
            if is != want {
                return false;
            }
        }
        if let Some(q) = &self.q {
            let f = &r.finding;
            let hit = |s: &str| s.to_lowercase().contains(q.as_str());
            let any = hit(&f.domain)
                || f.domain_unicode.as_deref().is_some_and(hit)
                || f.matched_names.iter().any(|n| hit(n))
                || f.cert.cn.as_deref().is_some_and(hit)
                || f.cert.all_domains.iter().any(|n| hit(n));
            if !any {
                return false;
            }
        }
        true
    }

    /// The query string of this filter at page `page` (for the paging links), `&`-joined and
    /// percent-encoded.
    pub fn query(&self, page: usize) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let Some((s, _)) = &self.since {
            q.append_pair("since", s);
        }
        if let Some(r) = &self.rule {
            q.append_pair("rule", r);
        }
        if let Some(b) = &self.brand {
            q.append_pair("brand", b);
        }
        if let Some(v) = &self.verdict {
            q.append_pair("verdict", v.map_or("none", |k| k.as_str()));
        }
        if let Some(g) = self.registration {
            q.append_pair("registration", g.as_str());
        }
        if let Some(s) = &self.q {
            q.append_pair("q", s);
        }
        if page > 1 {
            q.append_pair("page", &page.to_string());
        }
        q.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use certhound_actors::finding::{test_finding, RegistrationInfo};
    use certhound_actors::store::Verdict;

    fn pairs(q: &str) -> Vec<(String, String)> {
        url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect()
    }

    fn record(domain: &str, rules: &[&str], stored_at: u64) -> Record {
        let mut f = test_finding(domain);
        f.rules = rules.iter().map(|r| r.to_string()).collect();
        Record {
            finding: f,
            stored_at,
            channels: Vec::new(),
            verdict: None,
        }
    }

    #[test]
    fn each_filter_narrows_and_bad_values_are_named() {
        let now = 10_000_000;
        let mut a = record(
            "paypal-login.xyz",
            &["keyword:paypal", "words:login+verify"],
            now - 100,
        );
        a.finding.registration = Some(RegistrationInfo {
            recent: Some(true),
            ..Default::default()
        });
        let mut b = record("amaz0n-shop.top", &["lookalike:amazon"], now - 2 * 86_400);
        b.verdict = Some(Verdict {
            kind: VerdictKind::FalseAlarm,
            at: now,
            by: "x".into(),
        });
        let all = [a, b];
        let hits = |q: &str| -> Vec<String> {
            let f = Filter::parse(&pairs(q)).unwrap();
            all.iter()
                .filter(|r| f.matches(r, now))
                .map(|r| r.finding.domain.clone())
                .collect()
        };
        assert_eq!(hits("").len(), 2);
        assert_eq!(hits("since=24h"), ["paypal-login.xyz"]);
        assert_eq!(hits("rule=lookalike"), ["amaz0n-shop.top"]);
        assert_eq!(hits("brand=PayPal"), ["paypal-login.xyz"]);
        assert_eq!(hits("verdict=none"), ["paypal-login.xyz"]);
        assert_eq!(hits("verdict=false_alarm"), ["amaz0n-shop.top"]);
        assert_eq!(hits("registration=recent"), ["paypal-login.xyz"]);
        assert_eq!(hits("registration=unknown"), ["amaz0n-shop.top"]);
        assert_eq!(hits("q=AMAZ"), ["amaz0n-shop.top"]);
        assert!(hits("q=nothing").is_empty());
        for bad in [
            "since=2y",
            "verdict=maybe",
            "registration=soon",
            "page=0",
            "page=x",
        ] {
            let e = Filter::parse(&pairs(bad)).unwrap_err();
            assert!(e.starts_with(bad.split('=').next().unwrap()), "{e}");
        }
        let f = Filter::parse(&pairs("since=7d&verdict=none&q=a b&page=3")).unwrap();
        assert_eq!(f.page, 3);
        assert_eq!(f.query(4), "since=7d&verdict=none&q=a+b&page=4");
    }
}
