//! Dates, in one place for every answer that carries them: WHOIS (every registry's own format,
//! [`parse_date`]), RDAP and urlscan (RFC 3339, [`parse_rfc3339`]), and the calendar arithmetic
//! both use. Times are Unix seconds (`i64`, UTC); nothing here panics, whatever the input.

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

pub(crate) fn parse_date_at(s: &str) -> Option<i64> {
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

/// Unix seconds of an RFC 3339 time (`2024-11-22T18:01:08Z`, `...08.5+01:00`).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = 0;
    let mut offset = 0;
    if b.len() >= 19 && (b[10] == b'T' || b[10] == b't' || b[10] == b' ') {
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        secs = h * 3600 + mi * 60 + se;
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
        }
        match b.get(i) {
            Some(b'Z') | Some(b'z') | None => {}
            Some(b'+') | Some(b'-') => {
                let sign = if b[i] == b'-' { -1 } else { 1 };
                let oh = num(i + 1..i + 3)?;
                let om = num(i + 4..i + 6).or_else(|| num(i + 3..i + 5)).unwrap_or(0);
                offset = sign * (oh * 3600 + om * 60);
            }
            _ => return None,
        }
    }
    Some(days_from_civil(y, mo as u32, d as u32) * 86400 + secs - offset)
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
}
