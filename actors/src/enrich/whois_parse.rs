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
//! Nothing here panics, whatever the input (see the fuzz test below).

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

// ---------------------------------------------------------------------------------------------
// Dates

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = (if y >= 0 { y } else { y - 399 }) / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a count of days since 1970-01-01 (H. Hinnant's
/// `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = (if z >= 0 { z } else { z - 146_096 }) / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

fn valid_date(y: i64, m: u32, d: u32) -> bool {
    (1800..=2999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m)
}

/// Parses a WHOIS date value into Unix seconds (UTC). Accepts the value with trailing text
/// (`20050721 #162310`, `2001-Aug-23.`, `... (GMT+0:00)`), and when the value does not start
/// with a date, a date that starts a later word (`registrar AT ns.il 19990605 (Assigned)`).
pub fn parse_date(value: &str) -> Option<i64> {
    if let Some(t) = parse_date_at(value) {
        return Some(t);
    }
    value
        .char_indices()
        .filter(|&(i, c)| {
            !c.is_whitespace() && i > 0 && value[..i].ends_with(|p: char| p.is_whitespace())
        })
        .take(16)
        .find_map(|(i, _)| parse_date_at(&value[i..]))
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// Month number of an English month name or its abbreviation (at least 3 letters).
fn month_of(word: &str) -> Option<u32> {
    if word.len() < 3 {
        return None;
    }
    let w = word.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| m.starts_with(&w) || (w == "sept" && *m == "september"))
        .map(|i| i as u32 + 1)
}

fn is_weekday(word: &str) -> bool {
    let w = word.to_ascii_lowercase();
    w.len() >= 3 && WEEKDAYS.iter().any(|d| d.starts_with(&w))
}

/// A byte cursor; it only ever stops on ASCII bytes, so slicing at `pos` is always valid.
struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_any(&mut self, set: &[u8]) -> Option<u8> {
        let b = self.peek()?;
        if set.contains(&b) {
            self.pos += 1;
            Some(b)
        } else {
            None
        }
    }

    fn skip_spaces(&mut self) -> usize {
        let start = self.pos;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        self.pos - start
    }

    /// Digits at the cursor: (value, count). The value saturates; the count does not.
    fn digits(&mut self) -> Option<(u64, usize)> {
        let start = self.pos;
        let mut v: u64 = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            v = v.saturating_mul(10).saturating_add(u64::from(b - b'0'));
            self.pos += 1;
        }
        let n = self.pos - start;
        (n > 0).then_some((v, n))
    }

    fn word(&mut self) -> Option<&'a str> {
        let start = self.pos;
        while matches!(self.peek(), Some(b) if b.is_ascii_alphabetic()) {
            self.pos += 1;
        }
        // Only ASCII letters were consumed, so this is valid UTF-8.
        std::str::from_utf8(&self.s[start..self.pos])
            .ok()
            .filter(|w| !w.is_empty())
    }
}

fn small(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn two_digit_year(v: u64) -> i64 {
    let v = v as i64;
    if v < 50 {
        2000 + v
    } else {
        1900 + v
    }
}

fn parse_date_at(s: &str) -> Option<i64> {
    let mut c = Cursor {
        s: s.as_bytes(),
        pos: 0,
    };
    c.skip_spaces();
    // "before Aug-1996" (.uk) and a weekday ("Thu, 26 Jun 2008", "Thu Jul 21 2005").
    let save = c.pos;
    match c.word() {
        Some(w) if w.eq_ignore_ascii_case("before") || is_weekday(w) => {
            c.eat(b',');
            c.skip_spaces();
            let save2 = c.pos;
            match c.word() {
                Some(w2) if is_weekday(w2) => {
                    c.eat(b',');
                    c.skip_spaces();
                }
                _ => c.pos = save2,
            }
        }
        _ => c.pos = save,
    }
    let (y, m, d, mut secs) = date_part(&mut c)?;
    if !valid_date(y, m, d) {
        return None;
    }
    let mut offset = 0;
    if secs.is_none() {
        secs = time_part(&mut c);
    }
    if secs.is_some() {
        offset = zone_part(&mut c).unwrap_or(0);
    }
    Some(days_from_civil(y, m, d) * 86_400 + secs.unwrap_or(0) - offset)
}

/// The date: (year, month, day, time of day when the format puts it before the year).
fn date_part(c: &mut Cursor<'_>) -> Option<(i64, u32, u32, Option<i64>)> {
    if let Some((n1, k1)) = c.digits() {
        if k1 == 8 {
            // 20050721
            let (y, m, d) = (n1 / 10_000, (n1 / 100) % 100, n1 % 100);
            return Some((y as i64, m as u32, d as u32, None));
        }
        if k1 == 4 {
            // 2005-07-21, 2005/07/21, 2005.07.21, 2005. 07. 21., 2001-Aug-23
            let sep = c.eat_any(b"-/.")?;
            c.skip_spaces();
            let month = match c.digits() {
                Some((m, 1..=2)) => small(m),
                Some(_) => return None,
                None => month_of(c.word()?)?,
            };
            if !c.eat(sep) {
                return None;
            }
            c.skip_spaces();
            let (d, kd) = c.digits()?;
            if kd > 2 {
                return None;
            }
            return Some((n1 as i64, month, small(d), None));
        }
        if k1 <= 2 {
            let sep = c.eat_any(b"-/. ")?;
            if sep == b' ' {
                c.skip_spaces();
            }
            if let Some((n2, k2)) = c.digits() {
                // 21.07.2005, 21/07/2005, 21-07-2005, 18.7.2012; month first only when the
                // first number cannot be a month... or the second cannot.
                if k2 > 2 || !c.eat(sep) {
                    return None;
                }
                let (y, ky) = c.digits()?;
                if ky != 4 {
                    return None;
                }
                let (a, b) = (small(n1), small(n2));
                let (m, d) = if b > 12 && a <= 12 { (a, b) } else { (b, a) };
                return Some((y as i64, m, d, None));
            }
            // 21-Jul-2005, 29-APR-05, 26 Jun 2008, 21 July 2005
            let m = month_of(c.word()?)?;
            c.eat_any(b"-/.,");
            c.skip_spaces();
            let (y, ky) = c.digits()?;
            let y = match ky {
                4 => y as i64,
                2 => two_digit_year(y),
                _ => return None,
            };
            return Some((y, m, small(n1), None));
        }
        return None;
    }
    // Jul 21 2005, July 21, 2005, Aug-1996, Jul 21 12:00:00 2005 (ctime)
    let m = month_of(c.word()?)?;
    c.eat_any(b"-/.");
    c.skip_spaces();
    let (n, k) = c.digits()?;
    if k == 4 {
        return Some((n as i64, m, 1, None));
    }
    if k > 2 {
        return None;
    }
    c.eat(b',');
    c.skip_spaces();
    let save = c.pos;
    if let Some((y, 4)) = c.digits() {
        return Some((y as i64, m, small(n), None));
    }
    c.pos = save;
    let secs = time_part(c)?;
    c.skip_spaces();
    let (y, ky) = c.digits()?;
    (ky == 4).then_some((y as i64, m, small(n), Some(secs)))
}

/// `[T| ]HH:MM[:SS[.frac]]` as seconds of the day; the cursor is unchanged when absent.
fn time_part(c: &mut Cursor<'_>) -> Option<i64> {
    let save = c.pos;
    let parsed = (|| {
        if !c.eat(b'T') {
            c.skip_spaces();
        }
        let (h, kh) = c.digits()?;
        if kh > 2 || h > 24 || !c.eat(b':') {
            return None;
        }
        let (mi, km) = c.digits()?;
        if km != 2 || mi > 59 {
            return None;
        }
        let mut s = 0;
        if c.eat(b':') {
            let (sv, ks) = c.digits()?;
            if ks != 2 || sv > 60 {
                return None;
            }
            s = sv;
            // A fraction, not a sentence's final dot ("... 10:00:00.").
            let before_frac = c.pos;
            if c.eat_any(b".,").is_some() && c.digits().is_none() {
                c.pos = before_frac;
            }
        }
        Some((h * 3600 + mi * 60 + s) as i64)
    })();
    if parsed.is_none() {
        c.pos = save;
    }
    parsed
}

/// A numeric offset `+2`, `+02`, `+0200`, `+02:00`, `+0:00` after the sign, in seconds.
fn numeric_offset(c: &mut Cursor<'_>) -> Option<i64> {
    let sign = match c.eat_any(b"+-")? {
        b'-' => -1,
        _ => 1,
    };
    let (v, k) = c.digits()?;
    let (h, m) = match k {
        1 | 2 => {
            let save = c.pos;
            let m = if c.eat(b':') {
                match c.digits() {
                    Some((m, 2)) => m,
                    _ => {
                        c.pos = save;
                        0
                    }
                }
            } else {
                0
            };
            (v, m)
        }
        3 | 4 => (v / 100, v % 100),
        _ => return None,
    };
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60) as i64)
}

/// The zone after a time, as its offset from UTC in seconds (local = UTC + offset).
fn zone_part(c: &mut Cursor<'_>) -> Option<i64> {
    let save = c.pos;
    let spaces = c.skip_spaces();
    let paren = c.eat(b'(');
    if let Some(b'+' | b'-') = c.peek() {
        if spaces <= 1 {
            if let Some(off) = numeric_offset(c) {
                return Some(off);
            }
        }
        c.pos = save;
        return None;
    }
    let Some(word) = c.word() else {
        c.pos = save;
        return None;
    };
    if word == "Z" && spaces == 0 && !paren {
        return Some(0);
    }
    let base: i64 = match word.to_ascii_uppercase().as_str() {
        "Z" | "UTC" | "GMT" | "UT" | "WET" => 0,
        "BST" | "CET" | "WEST" => 3600,
        "CEST" | "EET" | "SAST" => 7200,
        "EEST" | "MSK" => 3 * 3600,
        "JST" | "KST" => 9 * 3600,
        "EST" | "CDT" => -5 * 3600,
        "EDT" => -4 * 3600,
        "CST" | "MDT" => -6 * 3600,
        "MST" | "PDT" => -7 * 3600,
        "PST" => -8 * 3600,
        "CLT" => -4 * 3600,
        "CLST" | "BRT" => -3 * 3600,
        _ => {
            c.pos = save;
            return None;
        }
    };
    let save_offset = c.pos;
    let extra = numeric_offset(c).unwrap_or_else(|| {
        c.pos = save_offset;
        0
    });
    Some(base + extra)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "YYYY-MM-DD HH:MM:SS" (UTC) of a parsed value, for readable assertions.
    fn show(v: &str) -> Option<String> {
        parse_date(v).map(|t| {
            let (y, m, d) = civil_from_days(t.div_euclid(86_400));
            let s = t.rem_euclid(86_400);
            format!(
                "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
                s / 3600,
                s / 60 % 60,
                s % 60
            )
        })
    }

    #[test]
    fn civil_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        for z in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(z);
            assert!(valid_date(y, m, d) || !(1800..=2999).contains(&y));
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }

    #[test]
    fn iso_formats() {
        let want = Some("2005-07-21 00:00:00".to_string());
        assert_eq!(show("2005-07-21"), want);
        assert_eq!(show("2005-07-21T00:00:00Z"), want);
        assert_eq!(show("2005-07-21T00:00:00.0Z"), want);
        assert_eq!(show("2005-07-21T00:00:00.123456Z"), want);
        assert_eq!(show("2005-07-21 00:00:00 (UTC)"), want);
        assert_eq!(show("2005-07-21 00:00:00 GMT"), want);
        assert_eq!(show("2005-07-21 03:00:00+0300"), want);
        assert_eq!(show("2005-07-21 03:00:00+03:00"), want);
        assert_eq!(show("2005-07-21 02:00:00+02"), want);
        assert_eq!(show("2005-07-21 00:00:00 (GMT+0:00)"), want);
        assert_eq!(show("2005-07-21 08:00:00 (UTC+8)"), want);
        assert_eq!(
            show("2018-03-12T21:44:25+01:00").as_deref(),
            Some("2018-03-12 20:44:25")
        );
        assert_eq!(
            show("2002-12-04 00:00:00+02").as_deref(),
            Some("2002-12-03 22:00:00")
        );
        assert_eq!(
            show("2005-07-20 20:00:00-04:00").as_deref(),
            Some("2005-07-21 00:00:00")
        );
    }

    #[test]
    fn registry_formats() {
        let day = Some("2005-07-21 00:00:00".to_string());
        for v in [
            "21/07/2005",
            "21.07.2005",
            "21-07-2005",
            "20050721",
            "20050721 #162310",
            "2005/07/21",
            "2005.07.21",
            "2005. 07. 21.",
            "21-Jul-2005",
            "21-jul-2005",
            "21-JUL-05",
            "21 Jul 2005",
            "2005-Jul-21.",
            "Thu Jul 21 2005",
            "Thu, 21 Jul 2005",
            "July 21 2005",
            "July 21, 2005",
            "21.7.2005",
            "07/21/2005",
        ] {
            assert_eq!(show(v), day, "{v}");
        }
        assert_eq!(
            show("Thu Jul 21 12:00:00 2005").as_deref(),
            Some("2005-07-21 12:00:00")
        );
        assert_eq!(
            show("18.7.2012 04:04:23").as_deref(),
            Some("2012-07-18 04:04:23")
        );
        assert_eq!(
            show("before Aug-1996").as_deref(),
            Some("1996-08-01 00:00:00")
        );
        assert_eq!(
            show("registrar AT ns.il 19990605 (Assigned)").as_deref(),
            Some("1999-06-05 00:00:00")
        );
        assert_eq!(
            show("05-Oct-1997 04:00:00 UTC").as_deref(),
            Some("1997-10-05 04:00:00")
        );
        assert_eq!(
            show("Thu, 26 Jun 2008 21:39:08 EDT").as_deref(),
            Some("2008-06-27 01:39:08")
        );
    }

    #[test]
    fn not_dates() {
        for v in [
            "",
            "see at www.register.bg",
            "2005",
            "2005-13-01",
            "2005-02-30",
            "31.31.2005",
            "KAZNIC",
            "123456789",
            "Jul",
            "1 year",
            "::::",
            "2005-07",
            "+02:00",
        ] {
            assert_eq!(parse_date(v), None, "{v}");
        }
    }

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
