//! Parsing of WHOIS (port 43) answers: creation, last update and expiry dates.
//!
//! WHOIS has no schema: every registry labels its dates differently (`Creation Date:`,
//! `created:`, `Registered on:`, `[Created on]`, `Record created on ...`), writes them in its own
//! format (`2018-03-12T21:44:25+01:00`, `26.03.2008 16:18:03`, `20050721 #...`, `21-Jul-2005`,
//! `before Aug-1996`, ...) and some (RIPE style: .br, .fr, .at, .cr, .ar) repeat `created:` and
//! `changed:` in the contact objects that follow the domain object. The rules used here:
//!
//! - labels are matched case-insensitively, ignoring padding dots (`created......:`), `-`/`_`
//!   versus space and the spacing before the colon;
//! - for every field the FIRST labelled value that parses as a date wins: the domain object
//!   always comes before the contact objects, so their `created:`/`changed:` lines are ignored;
//! - the update date is the latest of a run of consecutive update lines (.il lists the
//!   domain's history as consecutive `changed:` lines);
//! - times without a zone are taken as UTC; `Z`, `+02`, `+0300`, `+03:00`, `UTC`, `GMT`,
//!   `(GMT+0:00)`, `(UTC+8)` and a few common zone abbreviations are honoured;
//! - `free-date` (.ru: when a lapsed name is released) is deliberately not an expiry date.
//!
//! The dates themselves are read by [`crate::dates`]. Nothing here panics, whatever the input
//! (see the fuzz test below).

use crate::dates::{parse_date, parse_date_at};
use serde::{Deserialize, Serialize};

/// What [`parse`] extracts from a WHOIS answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhoisDates {
    /// Unix seconds (UTC) of each date found, None when the answer has none.
    pub created: Option<i64>,
    pub updated: Option<i64>,
    pub expires: Option<i64>,
    /// The registrar's name, when the answer gives one.
    pub registrar: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Created,
    Updated,
    Expires,
}

/// Labels (normalised by [`normalize_label`]) of the creation date.
const CREATED_LABELS: &[&str] = &[
    "creation date",
    "created",
    "created on",
    "created date",
    "created at",
    "create date",
    "creation",
    "registered",
    "registered on",
    "registered date",
    "registration date",
    "registration time",
    "registration",
    "domain registration date",
    "domain registered",
    "record created on",
    "record created",
    "domain created on",
    "domain created",
    "domain create date",
    "domain creation date",
    "domain record activated",
    "activated on",
    "first registration date",
    "domain name commencement date",
    "commencement date",
    "assigned",
    "fecha de creación",
    "fecha de creacion",
    "fecha de registro",
    "登録年月日",
];

/// Labels of the last update. (`>>> Last update of WHOIS database` is not one of them: it is
/// the time of the answer, and `>>>` lines are skipped anyway.)
const UPDATED_LABELS: &[&str] = &[
    "updated date",
    "updated",
    "updated on",
    "update date",
    "last updated",
    "last updated on",
    "last updated date",
    "last update",
    "last update date",
    "last modified",
    "last modified date",
    "modified",
    "modified date",
    "modification date",
    "changed",
    "last changed",
    "record last updated on",
    "record last updated",
    "domain last updated",
    "domain last modified",
    "domain updated",
    "ultima actualización",
    "última actualización",
    "ultima actualizacion",
    "fecha de actualización",
    "最終更新",
];

/// Labels of the expiry date (not `free-date`, see the module documentation).
const EXPIRES_LABELS: &[&str] = &[
    "expiry date",
    "registry expiry date",
    "registrar registration expiration date",
    "registrar expiration date",
    "expiration date",
    "expiration time",
    "expiration",
    "expires",
    "expires on",
    "expires at",
    "expire",
    "expire date",
    "expiry",
    "paid till",
    "renewal date",
    "valid until",
    "validity",
    "record expires on",
    "domain expires on",
    "domain expires",
    "domain expiration date",
    "fecha de vencimiento",
    "fecha de expiración",
    "有効期限",
];

/// Labels of lines that carry a date without a colon (`Record created on 02-May-1991.`),
/// lowercase ASCII, each followed by a space in the line.
const NO_COLON_LABELS: &[(&str, Field)] = &[
    ("record created on ", Field::Created),
    ("domain created on ", Field::Created),
    ("created on ", Field::Created),
    ("registered on ", Field::Created),
    ("record last updated on ", Field::Updated),
    ("last updated on ", Field::Updated),
    ("updated on ", Field::Updated),
    ("record expires on ", Field::Expires),
    ("domain expires on ", Field::Expires),
    ("expires on ", Field::Expires),
];

/// Labels whose value is the registrar's name (or, in RIPE-style objects, its handle).
const REGISTRAR_LABELS: &[&str] = &[
    "registrar",
    "sponsoring registrar",
    "registrar name",
    "registrar of record",
    "registrar organization",
    "registrar organisation",
    "current registrar",
    "current registar",
];

/// Inside a registrar object or section, the labels of its name, best first.
const REGISTRAR_NAME_LABELS: &[&[&str]] = &[
    &["organization", "organisation", "org", "organization name"],
    &["name"],
];

/// One non-empty, non-comment line of the answer.
struct Line<'a> {
    /// The trimmed line.
    text: &'a str,
    /// Normalised label: the text before the first colon, inside `[...]`, or the whole line
    /// when it has neither (a section header such as `Registrar`).
    label: String,
    /// The trimmed value after the label ("" for a header).
    value: &'a str,
    /// Index of the blank-line separated paragraph.
    para: usize,
    /// Whether this is the first line of its paragraph.
    first: bool,
}

/// Extracts the creation, update and expiry dates and the registrar from a WHOIS answer.
pub fn parse(text: &str) -> WhoisDates {
    let lines = split_lines(text);
    let mut out = WhoisDates::default();
    let mut i = 0;
    while i < lines.len() {
        if let Some((field, value)) = date_field(&lines, i) {
            match field {
                Field::Created if out.created.is_none() => out.created = parse_date(value),
                Field::Expires if out.expires.is_none() => out.expires = parse_date(value),
                Field::Updated if out.updated.is_none() => {
                    if let Some(first) = parse_date(value) {
                        // The latest of a run of consecutive update lines (.il history).
                        let mut latest = first;
                        let mut j = i + 1;
                        while let Some((Field::Updated, v)) = date_field(&lines, j) {
                            if let Some(t) = parse_date(v) {
                                latest = latest.max(t);
                            }
                            j += 1;
                        }
                        out.updated = Some(latest);
                        i = j;
                        continue;
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    out.registrar = registrar(&lines);
    out
}

fn is_comment(t: &str) -> bool {
    t.starts_with('%') || t.starts_with('#') || t.starts_with(">>>") || t.starts_with(';')
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut para = 0;
    let mut first = true;
    for raw in text.lines() {
        let t = raw.trim();
        if t.is_empty() {
            if !first {
                para += 1;
                first = true;
            }
            continue;
        }
        if is_comment(t) {
            continue;
        }
        let (label, value) = split_label(t);
        out.push(Line {
            text: t,
            label,
            value,
            para,
            first,
        });
        first = false;
    }
    out
}

fn split_label(t: &str) -> (String, &str) {
    if let Some(rest) = t.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return (normalize_label(&rest[..end]), rest[end + 1..].trim());
        }
    }
    match t.find(':') {
        Some(i) => (normalize_label(&t[..i]), t[i + 1..].trim()),
        None => (normalize_label(t), ""),
    }
}

/// Lowercase, `-`/`_` as spaces, no padding dots or brackets, single spaces.
fn normalize_label(s: &str) -> String {
    let lowered = s.to_lowercase().replace(['-', '_'], " ");
    let trimmed = lowered.trim_matches(|c: char| c == '.' || c == '*' || c.is_whitespace());
    trimmed.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn field_of(label: &str) -> Option<Field> {
    if CREATED_LABELS.contains(&label) {
        Some(Field::Created)
    } else if UPDATED_LABELS.contains(&label) {
        Some(Field::Updated)
    } else if EXPIRES_LABELS.contains(&label) {
        Some(Field::Expires)
    } else {
        None
    }
}

/// The date field of line `i` and its value, if it is a date line. An empty value is taken
/// from the next line of the same paragraph when that line is a date
/// (`First registration date:\n1996-02-08`).
fn date_field<'a>(lines: &[Line<'a>], i: usize) -> Option<(Field, &'a str)> {
    let line = lines.get(i)?;
    if let Some(field) = field_of(&line.label) {
        if !line.value.is_empty() {
            return Some((field, line.value));
        }
        return match lines.get(i + 1) {
            Some(next) if next.para == line.para && parse_date_at(next.text).is_some() => {
                Some((field, next.text))
            }
            _ => None,
        };
    }
    let lower = line.text.to_ascii_lowercase();
    NO_COLON_LABELS
        .iter()
        .find(|(prefix, _)| lower.starts_with(prefix))
        .map(|(prefix, field)| (*field, line.text[prefix.len()..].trim()))
}

fn clean_registrar(v: &str) -> Option<String> {
    let v = v.trim();
    let lower = v.to_ascii_lowercase();
    let placeholder = v.is_empty()
        || matches!(
            lower.as_str(),
            "-" | "n/a" | "na" | "none" | "null" | "not disclosed"
        )
        || lower.starts_with("no registrar")
        || lower.starts_with("redacted");
    (!placeholder).then(|| v.to_string())
}

/// The registrar: from a registrar object or section (a paragraph that starts with a registrar
/// label or a bare `Registrar` header), preferring its organisation or name to a handle
/// (.sk, .ua, .it, .eu), else the first `Registrar:`-like value.
fn registrar(lines: &[Line<'_>]) -> Option<String> {
    for (i, line) in lines.iter().enumerate() {
        if !line.first || !REGISTRAR_LABELS.contains(&line.label.as_str()) {
            continue;
        }
        let rest: Vec<&Line<'_>> = lines[i + 1..]
            .iter()
            .take_while(|l| l.para == line.para)
            .collect();
        for group in REGISTRAR_NAME_LABELS {
            let named = rest
                .iter()
                .filter(|l| group.contains(&l.label.as_str()))
                .find_map(|l| clean_registrar(l.value));
            if named.is_some() {
                return named;
            }
        }
        if let Some(v) = clean_registrar(line.value) {
            return Some(v);
        }
        let labelled = rest
            .iter()
            .filter(|l| REGISTRAR_LABELS.contains(&l.label.as_str()))
            .find_map(|l| clean_registrar(l.value));
        if labelled.is_some() {
            return labelled;
        }
        // `Registrar:` with the name on the next line (.uk, .nl, .li).
        if let Some(next) = rest.first() {
            if line.value.is_empty() && !next.text.contains(':') {
                if let Some(v) = clean_registrar(next.text) {
                    return Some(v);
                }
            }
        }
    }
    lines
        .iter()
        .filter(|l| REGISTRAR_LABELS.contains(&l.label.as_str()))
        .find_map(|l| clean_registrar(l.value))
}

/// Whether the answer says that the domain is not registered. Rate-limit answers are not
/// "no match" (see [`looks_rate_limited`]), nor is an answer that has a creation date.
pub fn looks_like_no_match(text: &str) -> bool {
    if looks_rate_limited(text) {
        return false;
    }
    const PHRASES: &[&str] = &[
        "no match for",
        "no match!!",
        "not found",
        "no entries found",
        "no entry found",
        "no data found",
        "no matching record",
        "no such domain",
        "nothing found",
        "no object found",
        "object does not exist",
        "domain not registered",
        "this domain name has not been registered",
        "is available for registration",
        "is free",
        "domain name not known",
        "no information available about domain name",
    ];
    let lower = text.to_lowercase();
    let phrase = PHRASES.iter().any(|p| lower.contains(p));
    let free_status = lower.lines().any(|l| {
        let (label, value) = split_label(l.trim());
        matches!(label.as_str(), "status" | "domain status" | "state")
            && matches!(
                value.trim_end_matches('.'),
                "free" | "available" | "not registered" | "no object found"
            )
    });
    (phrase || free_status) && parse(text).created.is_none()
}

/// Whether the answer is a refusal because of too many queries ("limit exceeded", "too many
/// requests", "quota", "try again later").
pub fn looks_rate_limited(text: &str) -> bool {
    const PHRASES: &[&str] = &[
        "exceeded",
        "too many",
        "quota",
        "rate limit",
        "query limit",
        "try again later",
        "please wait",
        "temporarily blocked",
        "temporarily denied",
    ];
    let lower = text.to_lowercase();
    PHRASES.iter().any(|p| lower.contains(p)) && parse(text).created.is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        let text = "Domain: example.test\n\
                    Created On:05-Oct-1997 04:00:00 UTC\n\
                    created............: 18.7.2012 04:04:23\n\
                    Last modified : 2022-08-04 10:20:10 (GMT+0:00)\n\
                    paid-till: 2030-01-01T00:00:00Z\n\
                    free-date: 2030-02-01\n\
                    Sponsoring Registrar:Tucows Inc.\n";
        let got = parse(text);
        assert_eq!(got.created, parse_date("1997-10-05 04:00:00"));
        assert_eq!(got.updated, parse_date("2022-08-04 10:20:10"));
        assert_eq!(got.expires, parse_date("2030-01-01"));
        assert_eq!(got.registrar.as_deref(), Some("Tucows Inc."));

        let jp = "[Domain Name]  EXAMPLE.JP\n[Created on]  2005/07/21\n\
                  [Expires on]  2026/07/31\n[Last Updated]  2025/08/01 01:05:44 (JST)\n";
        let got = parse(jp);
        assert_eq!(got.created, parse_date("2005-07-21"));
        assert_eq!(got.expires, parse_date("2026-07-31"));
        assert_eq!(got.updated, parse_date("2025-07-31 16:05:44"));

        let no_colon = "Record created on 02-May-1991.\nRecord expires on 03-May-2014.\n\
                        Record last updated on 15-Nov-2007 10:00:00.\n";
        let got = parse(no_colon);
        assert_eq!(got.created, parse_date("1991-05-02"));
        assert_eq!(got.expires, parse_date("2014-05-03"));
        assert_eq!(got.updated, parse_date("2007-11-15 10:00:00"));
    }

    #[test]
    fn domain_object_before_contacts() {
        // .br: the contacts' created/changed come after the domain's.
        let br = "domain:      example.com.br\ncreated:     19990518 #162310\n\
                  changed:     20190417\nexpires:     20200518\n\n\
                  nic-hdl-br:  ABC12\ncreated:     20100520\nchanged:     20180324\n";
        let got = parse(br);
        assert_eq!(got.created, parse_date("1999-05-18"));
        assert_eq!(got.updated, parse_date("2019-04-17"));
        assert_eq!(got.expires, parse_date("2020-05-18"));
        // .de has only Changed.
        let de = "Domain: example.de\nStatus: connect\nChanged: 2018-03-12T21:44:25+01:00\n";
        let got = parse(de);
        assert_eq!(got.created, None);
        assert_eq!(got.expires, None);
        assert_eq!(got.updated, parse_date("2018-03-12 20:44:25"));
    }

    #[test]
    fn no_match_and_rate_limit() {
        for t in [
            "No match for \"EXAMPLE-NOPE.COM\".\r\n>>> Last update of whois database: 2026-01-01T00:00:00Z <<<",
            "NOT FOUND\n",
            "No entries found for the selected source(s).",
            "%% No entries found in the AFNIC Database.",
            "Domain: example-nope.de\nStatus: free\n",
            "Status: AVAILABLE\n",
            "The queried object does not exist: DOMAIN NOT FOUND",
        ] {
            assert!(looks_like_no_match(t), "{t}");
            assert!(!looks_rate_limited(t), "{t}");
        }
        for t in [
            "Query limit exceeded. Please try again later.",
            "%% Maximum query rate reached: limit exceeded",
            "Too many requests, slow down",
            "Your daily quota of queries has been used",
            "WHOIS LIMIT EXCEEDED - SEE WWW.PIR.ORG/WHOIS FOR DETAILS",
        ] {
            assert!(looks_rate_limited(t), "{t}");
            assert!(!looks_like_no_match(t), "{t}");
        }
        let registered = "Domain Name: EXAMPLE.COM\nCreation Date: 1995-08-14T04:00:00Z\n\
                          Registrar: Example Registrar\n";
        assert!(!looks_like_no_match(registered));
        assert!(!looks_rate_limited(registered));
        assert!(!looks_like_no_match(""));
        assert!(!looks_rate_limited(""));
    }

    #[test]
    fn never_panics() {
        // xorshift64*, fixed seed: reproducible "random" inputs.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let alphabet: &[u8] = b"0123456789:-./+ TZ\n\r\t[]()#%>abcdefgjnoprstuvyADFJMNOS";
        for round in 0..3000 {
            let len = (next() % 200) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if round % 2 == 0 {
                        (r >> 24) as u8
                    } else {
                        alphabet[(r % alphabet.len() as u64) as usize]
                    }
                })
                .collect();
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse(&text);
            let _ = parse_date(&text);
            let _ = looks_like_no_match(&text);
            let _ = looks_rate_limited(&text);
        }
        let huge_digits = "9".repeat(100_000);
        let huge_line = format!(
            "Creation Date: {huge_digits}\nchanged: {}",
            "x ".repeat(50_000)
        );
        for text in [
            "",
            "\n\n\n",
            ":",
            "[",
            "[]",
            "Creation Date:",
            "Creation Date:\nUpdated Date:\nExpiry Date:\n",
            "Registrar:",
            "Registrar:\n\n",
            "created: 99999999999999999999-99-99T99:99:99+99:99",
            "changed: 2005-07-21T23:59:60+14:00",
            "expires: 2005-07-21T12:00:00-",
            "Last updated: Ω 2005-07-21 ö",
            huge_line.as_str(),
            huge_digits.as_str(),
        ] {
            let _ = parse(text);
            let _ = parse_date(text);
            let _ = looks_like_no_match(text);
            let _ = looks_rate_limited(text);
        }
        assert_eq!(parse(""), WhoisDates::default());
        assert_eq!(
            parse("Creation Date:\nUpdated Date:\n"),
            WhoisDates::default()
        );
    }
}
