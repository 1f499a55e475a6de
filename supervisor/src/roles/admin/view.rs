//! What the page shows of a finding, and the page templates (`supervisor/templates/`, askama).
//!
//! Everything a certificate or a feed carries is attacker-controlled: names, the CN, the issuer,
//! links. Askama escapes every `{{ }}` of an `.html` template (`<`, `>`, `&`, `"`, `'`), and
//! nothing here is marked safe, so such text can only ever be text. Two more things an analyst
//! must not be fooled by: control characters and bidirectional overrides (U+202E turns
//! `gpj.exe` into `exe.jpg` on screen) are shown as visible `⟨U+202E⟩` marks ([`shown`]), and
//! every such value is set in its own `<bdi>` so that whatever direction it has cannot reorder
//! the text around it. Links are made only of `http(s)` URLs.

use super::stats::{rules_and_brands, Stats};
use askama::Template;
use certhound_actors::finding::Finding;
use certhound_actors::store::{Delivery, Record};
use std::time::{Duration, UNIX_EPOCH};

/// `s` with every control character, bidirectional control and invisible character replaced by
/// a visible `⟨U+XXXX⟩`.
pub fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let hidden = c.is_control()
            || matches!(c,
                '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2069}' | '\u{FEFF}');
        if hidden {
            out.push_str(&format!("⟨U+{:04X}⟩", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` when it is an http(s) URL, for an `href`.
pub fn http_link(s: Option<&str>) -> Option<String> {
    let s = s?.trim();
    let lower = s.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")).then(|| s.to_string())
}

/// Unix seconds as `2026-12-06T17:00:00Z`.
pub fn time_of(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

/// One finding as a row of the list.
pub struct Row {
    pub id: String,
    pub detected_at: String,
    pub domain: String,
    pub unicode: Option<String>,
    pub registrable: String,
    pub score: String,
    pub rules: Vec<String>,
    pub brands: Vec<String>,
    pub terms: Vec<String>,
    pub homoglyph: bool,
    /// "5 days (2026-12-01)", or why it is unknown.
    pub registration: String,
    /// `recent`, `old` or `unknown`: a CSS class and what the filter calls it.
    pub registration_class: &'static str,
    pub scan: String,
    pub scan_class: &'static str,
    pub scan_url: Option<String>,
    /// A finished scan: the screenshot is served at `/screenshots/<id>`.
    pub screenshot: bool,
    /// (channel, state, CSS class).
    pub channels: Vec<(String, String, &'static str)>,
    /// The verdict's label and name (`false alarm`, `false_alarm`), with who and when.
    pub verdict: Option<(String, &'static str, String)>,
}

impl Row {
    pub fn of(r: &Record) -> Row {
        let f = &r.finding;
        let (rules, brands) = rules_and_brands(&f.rules);
        let (registration, registration_class) = registration(f);
        let (scan, scan_class) = scan(f);
        Row {
            id: f.id.clone(),
            detected_at: shown(&f.detected_at),
            domain: shown(&f.domain),
            unicode: f.domain_unicode.as_deref().map(shown),
            registrable: shown(&f.registrable_domain),
            score: format!("{:.2}", f.score),
            rules,
            brands,
            terms: f.terms.iter().map(|t| shown(t)).collect(),
            homoglyph: f.homoglyph,
            registration,
            registration_class,
            scan,
            scan_class,
            scan_url: f
                .scan
                .as_ref()
                .and_then(|s| http_link(s.result_url.as_deref())),
            screenshot: f
                .scan
                .as_ref()
                .is_some_and(|s| s.finished && s.uuid.is_some()),
            channels: r
                .channels
                .iter()
                .map(|c| {
                    let class = match c.state {
                        Delivery::Pending => "pending",
                        Delivery::Sent { .. } => "sent",
                        Delivery::Failed { .. } => "failed",
                        Delivery::Skipped { .. } => "skipped",
                    };
                    (shown(&c.channel), shown(&c.state.to_string()), class)
                })
                .collect(),
            verdict: r.verdict.as_ref().map(|v| {
                (
                    v.kind.label().to_string(),
                    v.kind.as_str(),
                    format!("{} at {}", shown(&v.by), time_of(v.at)),
                )
            }),
        }
    }
}

fn registration(f: &Finding) -> (String, &'static str) {
    let Some(g) = &f.registration else {
        return ("not looked up".into(), "unknown");
    };
    let class = match g.recent {
        Some(true) => "recent",
        Some(false) => "old",
        None => "unknown",
    };
    let text = match (&g.delta_days, &g.cdu) {
        (Some(d), Some(cdu)) => {
            format!("{d} days (changed {})", shown(cdu.get(..10).unwrap_or(cdu)))
        }
        _ => g
            .note
            .as_deref()
            .map(shown)
            .unwrap_or_else(|| "unknown".into()),
    };
    (text, class)
}

fn scan(f: &Finding) -> (String, &'static str) {
    let Some(s) = &f.scan else {
        return ("not scanned".into(), "none");
    };
    if let Some(note) = &s.note {
        return (shown(note), "none");
    }
    if !s.finished {
        return ("scanning".into(), "none");
    }
    match (s.malicious, s.score) {
        (Some(true), score) => (
            format!(
                "malicious{}",
                score.map(|s| format!(" (score {s})")).unwrap_or_default()
            ),
            "malicious",
        ),
        (Some(false), score) => (
            format!(
                "no verdict{}",
                score.map(|s| format!(" (score {s})")).unwrap_or_default()
            ),
            "clean",
        ),
        (None, _) => ("finished".into(), "none"),
    }
}

/// What every page shows in its header.
pub struct Chrome {
    /// The forms' CSRF token; empty when the page is read-only.
    pub csrf: String,
    pub writable: bool,
}

/// One verdict button.
pub struct Choice {
    pub value: &'static str,
    pub label: &'static str,
}

pub const CHOICES: [Choice; 3] = [
    Choice {
        value: "phishing",
        label: "phishing",
    },
    Choice {
        value: "false_alarm",
        label: "false alarm",
    },
    Choice {
        value: "unsure",
        label: "unsure",
    },
];

/// An option of a filter's `<select>`.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

pub fn options(values: &[(&str, &str)], current: Option<&str>) -> Vec<Opt> {
    values
        .iter()
        .map(|(v, l)| Opt {
            value: v.to_string(),
            label: l.to_string(),
            selected: current == Some(*v),
        })
        .collect()
}

#[derive(Template)]
#[template(path = "findings.html")]
pub struct ListPage {
    pub chrome: Chrome,
    pub rows: Vec<Row>,
    pub total: usize,
    pub first: usize,
    pub last: usize,
    pub prev: Option<String>,
    pub next: Option<String>,
    pub since: Vec<Opt>,
    pub rule: Vec<Opt>,
    pub brand: Vec<Opt>,
    pub verdict: Vec<Opt>,
    pub registration: Vec<Opt>,
    pub q: String,
    /// The list's own address with its filters, for the verdict forms to come back to.
    pub here: String,
    pub choices: &'static [Choice],
    /// "7 days: 0.83 (12 judged)" and the 30 days' figure.
    pub precision: Vec<String>,
}

/// A certificate field: its label and value.
pub struct Field {
    pub label: &'static str,
    pub value: String,
    pub link: Option<String>,
}

#[derive(Template)]
#[template(path = "finding.html")]
pub struct DetailPage {
    pub chrome: Chrome,
    pub row: Row,
    pub names: Vec<String>,
    pub cert: Vec<Field>,
    pub cert_names: Vec<String>,
    pub registration: Vec<Field>,
    pub scan: Vec<Field>,
    pub choices: &'static [Choice],
    /// The allowlist form: the file's name, or why there is none.
    pub allowlist: Result<String, String>,
    /// A notice after a POST (`?done=`).
    pub notice: Option<String>,
    pub here: String,
}

impl DetailPage {
    /// The detail view of `r`; `allowlist` is the allowlist file's name or why there is none,
    /// `notice` what a POST just did.
    pub fn of(
        r: &Record,
        chrome: Chrome,
        allowlist: Result<String, String>,
        notice: Option<String>,
    ) -> DetailPage {
        let f = &r.finding;
        let field = |label, value: Option<String>| Field {
            label,
            value: value.map(|v| shown(&v)).unwrap_or_else(|| "–".into()),
            link: None,
        };
        let at = |t: Option<i64>| t.map(|t| time_of(t.max(0) as u64));
        let c = &f.cert;
        let cert = vec![
            field("CN", c.cn.clone()),
            field("issuer", c.issuer.clone()),
            field("not before", at(c.not_before)),
            field("not after", at(c.not_after)),
            field("serial number", c.serial_number.clone()),
            field("SHA-1 fingerprint", c.fingerprint.clone()),
            field("entry type", c.update_type.clone()),
            field("log index", c.cert_index.map(|i| i.to_string())),
            field(
                "log",
                f.source
                    .as_ref()
                    .and_then(|s| s.name.clone().or(s.url.clone())),
            ),
            field(
                "seen by the feed",
                f.seen.map(|s| time_of(s.max(0.0) as u64)),
            ),
            Field {
                link: http_link(c.cert_link.as_deref()),
                ..field("entry", c.cert_link.clone())
            },
        ];
        let g = f.registration.clone().unwrap_or_default();
        let registration = vec![
            field("created", g.created),
            field("updated", g.updated),
            field("expires", g.expires),
            field("registrar", g.registrar),
            field("source", g.source),
            field("note", g.note),
        ];
        let s = f.scan.clone().unwrap_or_default();
        let scan = vec![
            field("uuid", s.uuid),
            field("final URL", s.final_url),
            field("title", s.title),
            field("IP", s.ip),
            field("country", s.country),
            field("visibility", s.visibility),
            field("reused", Some(s.reused.to_string())),
            field("note", s.note),
            Field {
                link: http_link(s.result_url.as_deref()),
                ..field("result", s.result_url.clone())
            },
        ];
        DetailPage {
            chrome,
            here: format!("/findings/{}", f.id),
            row: Row::of(r),
            names: f.matched_names.iter().map(|n| shown(n)).collect(),
            cert,
            cert_names: c.all_domains.iter().map(|n| shown(n)).collect(),
            registration,
            scan,
            choices: &CHOICES,
            allowlist,
            notice,
        }
    }
}

/// One line of a precision table.
pub struct PrecisionRow {
    pub name: String,
    /// Per window: precision ("0.83" or "–"), phishing, false alarm, unsure, not judged.
    pub cells: Vec<[String; 5]>,
}

#[derive(Template)]
#[template(path = "precision.html")]
pub struct PrecisionPage {
    pub chrome: Chrome,
    pub windows: Vec<u64>,
    pub all: PrecisionRow,
    pub rules: Vec<PrecisionRow>,
    pub brands: Vec<PrecisionRow>,
    pub days: Vec<(String, u64, u64)>,
    pub computed_at: String,
}

impl PrecisionPage {
    pub fn of(stats: &Stats, chrome: Chrome) -> PrecisionPage {
        let cells = |c: Option<&super::stats::Counts>| {
            let c = c.copied().unwrap_or_default();
            [
                c.precision().map_or("–".into(), |p| format!("{p:.2}")),
                c.phishing.to_string(),
                c.false_alarm.to_string(),
                c.unsure.to_string(),
                c.unjudged().to_string(),
            ]
        };
        let names = |brands: bool| {
            let mut all: Vec<String> = stats
                .windows
                .iter()
                .flat_map(|w| {
                    if brands {
                        w.by_brand.keys()
                    } else {
                        w.by_rule.keys()
                    }
                })
                .cloned()
                .collect();
            all.sort();
            all.dedup();
            all.into_iter()
                .map(|name| PrecisionRow {
                    cells: stats
                        .windows
                        .iter()
                        .map(|w| {
                            cells(if brands {
                                w.by_brand.get(&name)
                            } else {
                                w.by_rule.get(&name)
                            })
                        })
                        .collect(),
                    name: shown(&name),
                })
                .collect::<Vec<_>>()
        };
        PrecisionPage {
            chrome,
            windows: stats.windows.iter().map(|w| w.days).collect(),
            all: PrecisionRow {
                name: "all findings".into(),
                cells: stats.windows.iter().map(|w| cells(Some(&w.all))).collect(),
            },
            rules: names(false),
            brands: names(true),
            days: stats
                .days
                .iter()
                .map(|d| (d.day.clone(), d.findings, d.alerts))
                .collect(),
            computed_at: time_of(stats.computed_at),
        }
    }
}

/// The JSON of a finding for `/api/findings`: the finding as the JSONL channel writes it, with
/// its stored time, delivery states and verdict.
pub fn json(r: &Record) -> serde_json::Value {
    let mut v = serde_json::to_value(&r.finding).unwrap_or_default();
    let (rules, brands) = rules_and_brands(&r.finding.rules);
    if let Some(o) = v.as_object_mut() {
        o.insert("stored_at".into(), time_of(r.stored_at).into());
        o.insert("rule_kinds".into(), rules.into());
        o.insert("brands".into(), brands.into());
        o.insert(
            "channels".into(),
            r.channels
                .iter()
                .map(|c| {
                    (
                        c.channel.clone(),
                        serde_json::Value::from(c.state.to_string()),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
        );
        o.insert(
            "verdict".into(),
            r.verdict.as_ref().map_or(serde_json::Value::Null, |v| {
                serde_json::json!({"verdict": v.kind.as_str(), "at": time_of(v.at), "by": v.by})
            }),
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_direction_overrides_are_made_visible() {
        assert_eq!(shown("pay\u{202E}lapyap.com"), "pay⟨U+202E⟩lapyap.com");
        assert_eq!(shown("a\u{0}b\nc\u{2066}"), "a⟨U+0000⟩b⟨U+000A⟩c⟨U+2066⟩");
        assert_eq!(shown("bücher.de <b>"), "bücher.de <b>");
        assert_eq!(http_link(Some("javascript:alert(1)")), None);
        assert_eq!(
            http_link(Some(" HTTPS://x.example/a ")),
            Some("HTTPS://x.example/a".into())
        );
    }

    #[test]
    fn templates_escape_what_they_show() {
        let mut f = certhound_actors::finding::test_finding("x.example");
        f.id = "ab:1".into();
        f.cert.cn = Some("<script>alert('cn')</script>\"".into());
        let r = Record {
            finding: f,
            stored_at: 0,
            channels: Vec::new(),
            verdict: None,
        };
        let page = DetailPage::of(
            &r,
            Chrome {
                csrf: "1.ab".into(),
                writable: true,
            },
            Err("none".into()),
            None,
        )
        .render()
        .unwrap();
        assert!(!page.contains("<script>"), "{page}");
        assert!(
            page.contains("&#60;script&#62;") || page.contains("&lt;script&gt;"),
            "{page}"
        );
    }
}
