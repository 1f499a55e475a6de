//! One message per finding, the same content on every human channel (Telegram, email): the date
//! of the finding, the domain, CDu (date of the last registration change) and Delta (days since
//! it), the urlscan result and screenshot links or why there are none, the rules that matched,
//! the score with its terms, and the certificate's issuer. Rendered as plain text (email) or Telegram HTML, where every dynamic
//! value is escaped so that a hostile name or issuer cannot inject markup.

use crate::finding::Finding;

/// A message in lines of (label, value, optional link); rendered per channel.
pub struct Message {
    pub title: String,
    pub lines: Vec<Line>,
}

pub struct Line {
    pub label: &'static str,
    pub value: String,
    /// Links shown after the value: (text, URL).
    pub links: Vec<(&'static str, String)>,
}

fn line(label: &'static str, value: impl Into<String>) -> Line {
    Line {
        label,
        value: value.into(),
        links: Vec::new(),
    }
}

/// The message for `f`. `enrich_on`/`scan_on` say whether those stages ran, so that a missing
/// value says why it is missing.
pub fn message(f: &Finding, enrich_on: bool, scan_on: bool) -> Message {
    let mut lines = Vec::new();
    lines.push(line(
        "Date",
        f.detected_at.replace('T', " ").replace('Z', " UTC"),
    ));
    let mut domain = f.domain.clone();
    if let Some(u) = &f.domain_unicode {
        domain = format!("{u} ({})", f.domain);
    }
    lines.push(line("Domain", domain));
    if f.registrable_domain != f.domain {
        lines.push(line("Registrable", f.registrable_domain.clone()));
    }
    match &f.registration {
        Some(r) if r.cdu.is_some() => {
            let cdu = r.cdu.clone().unwrap_or_default();
            let day = cdu.split('T').next().unwrap_or(&cdu).to_string();
            lines.push(line("CDu", day));
            lines.push(line(
                "Delta",
                format!("{} days", r.delta_days.unwrap_or_default()),
            ));
            if let Some(c) = &r.created {
                lines.push(line(
                    "Created",
                    c.split('T').next().unwrap_or(c).to_string(),
                ));
            }
        }
        Some(r) => lines.push(line(
            "CDu",
            r.note
                .clone()
                .unwrap_or_else(|| "registration date unknown".into()),
        )),
        None if enrich_on => lines.push(line("CDu", "registration date unknown")),
        None => lines.push(line("CDu", "registration data: not looked up")),
    }
    match &f.scan {
        Some(s) => {
            let mut l = line(
                "urlscan",
                match (&s.note, s.finished) {
                    (Some(n), _) => n.clone(),
                    (None, true) => verdict(s.malicious, s.score),
                    (None, false) => "scan not finished".into(),
                },
            );
            if let Some(u) = &s.result_url {
                l.links.push(("result", u.clone()));
            }
            if let (true, Some(u)) = (s.finished, &s.screenshot_url) {
                l.links.push(("screenshot", u.clone()));
            }
            lines.push(l);
        }
        None if scan_on => lines.push(line("urlscan", "not scanned")),
        None => lines.push(line("urlscan", "off")),
    }
    let mut rules = f.rules.join(", ");
    if f.homoglyph {
        rules.push_str(" (look-alike characters)");
    }
    lines.push(line("Rules", rules));
    // Why it scored: the terms, strongest first (a finding of an older store has none).
    if !f.terms.is_empty() {
        lines.push(line(
            "Score",
            format!("{:.2} = {}", f.score, f.terms.join(", ")),
        ));
    }
    if let Some(i) = &f.cert.issuer {
        lines.push(line("Issuer", i.clone()));
    }
    if let Some(s) = f.source.as_ref().and_then(|s| s.name.clone()) {
        lines.push(line("CT log", s));
    }
    Message {
        // `certhound test-notify` sends a finding whose id starts with `test:`.
        title: if f.id.starts_with("test:") {
            "TEST ALERT from certhound test-notify (not a finding)".into()
        } else {
            "Phishing candidate".into()
        },
        lines,
    }
}

fn verdict(malicious: Option<bool>, score: Option<i64>) -> String {
    match (malicious, score) {
        (Some(true), s) => format!("malicious (score {})", s.unwrap_or_default()),
        (Some(false), Some(s)) => format!("not flagged (score {s})"),
        _ => "scanned".into(),
    }
}

/// Escapes text for Telegram's HTML mode (and any HTML): `&`, `<`, `>` and quotes.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Message {
    /// Telegram HTML, at most `max` characters: values are cut (never inside an entity) rather
    /// than the message refused.
    pub fn to_html(&self, max: usize) -> String {
        let mut out = format!("🚨 <b>{}</b>\n", escape_html(&self.title));
        for l in &self.lines {
            let mut value = l.value.clone();
            if value.chars().count() > 300 {
                value = value.chars().take(300).collect::<String>() + "…";
            }
            let mut s = format!("<b>{}:</b> {}", escape_html(l.label), escape_html(&value));
            for (text, url) in &l.links {
                s.push_str(&format!(
                    " · <a href=\"{}\">{}</a>",
                    escape_html(url),
                    escape_html(text)
                ));
            }
            s.push('\n');
            if out.chars().count() + s.chars().count() > max {
                break;
            }
            out.push_str(&s);
        }
        out.trim_end().to_string()
    }

    /// Plain text: for email bodies.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n\n", self.title);
        for l in &self.lines {
            out.push_str(&format!("{}: {}", l.label, l.value));
            for (text, url) in &l.links {
                out.push_str(&format!("\n  {text}: {url}"));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::{test_finding, CertInfo, RegistrationInfo, ScanInfo};

    /// The test finding with a subdomain, an issuer and scan links that need escaping, and a
    /// recent registration.
    fn finding() -> Finding {
        Finding {
            id: "s:1".into(),
            domain: "login.paypal-x.com".into(),
            matched_names: vec![],
            cert: CertInfo {
                issuer: Some("<a href=x>&\"Evil CA".into()),
                ..CertInfo::default()
            },
            seen: None,
            registration: Some(RegistrationInfo {
                cdu: Some("2026-11-25T00:00:00Z".into()),
                delta_days: Some(3),
                ..RegistrationInfo::default()
            }),
            scan: Some(ScanInfo {
                result_url: Some("https://urlscan.io/result/u/".into()),
                screenshot_url: Some("https://urlscan.io/screenshots/u.png".into()),
                finished: true,
                ..ScanInfo::default()
            }),
            ..test_finding("paypal-x.com")
        }
    }

    #[test]
    fn html_escapes_every_value_and_links_the_scan() {
        let html = message(&finding(), true, true).to_html(4096);
        assert!(
            html.contains("&lt;a href=x&gt;&amp;&quot;Evil CA"),
            "{html}"
        );
        assert!(!html.contains("<a href=x>"), "{html}");
        assert!(html.contains("<b>CDu:</b> 2026-11-25"), "{html}");
        assert!(html.contains("<b>Delta:</b> 3 days"), "{html}");
        assert!(html.contains("<a href=\"https://urlscan.io/screenshots/u.png\">screenshot</a>"));
        assert!(
            html.contains(
                "<b>Score:</b> 1.45 = brand_word paypal +0.70, suspicious_word verify +0.45"
            ),
            "{html}"
        );
        let text = message(&finding(), true, true).to_text();
        assert!(
            text.contains("Score: 1.45 = brand_word paypal +0.70, suspicious_word verify +0.45"),
            "{text}"
        );
    }

    #[test]
    fn missing_parts_say_why_and_no_screenshot_before_the_scan_finished() {
        let mut f = finding();
        f.registration = None;
        f.scan = None;
        let t = message(&f, false, false).to_text();
        assert!(t.contains("CDu: registration data: not looked up"), "{t}");
        assert!(t.contains("urlscan: off"), "{t}");
        f.scan = Some(ScanInfo {
            result_url: Some("https://urlscan.io/result/u/".into()),
            screenshot_url: Some("https://urlscan.io/screenshots/u.png".into()),
            finished: false,
            note: Some("scan not finished within 1m 30s".into()),
            ..ScanInfo::default()
        });
        let t = message(&f, true, true).to_text();
        assert!(
            t.contains("scan not finished within") && !t.contains("screenshot"),
            "{t}"
        );
    }

    #[test]
    fn stays_within_the_limit() {
        let mut f = finding();
        f.cert.issuer = Some("x".repeat(10_000));
        let html = message(&f, true, true).to_html(4096);
        assert!(html.chars().count() <= 4096);
    }
}
