//! Name normalisation: the form a certificate name is matched in.
//!
//! `*.PayPaI-Login.example.` → strip the wildcard and the trailing dot → lowercase →
//! decode punycode labels (`xn--`) to Unicode → fold look-alike characters to their Unicode TR39
//! skeleton and lowercase again. The skeleton is what the rules match, so `раypal` (Cyrillic `р`
//! and `а`), `paypa1` and `xn--ypal-43d9g.com` all read as `paypal`. Keywords go through the same
//! folding ([`skeleton_of`]), so both sides agree (the skeleton of `m` is `rn`, of `0` is `o`).
//!
//! Nearly every name is plain ASCII: that path uses a 128-entry table built once from the TR39
//! data and allocates nothing (the caller's buffer is reused). Only names with `xn--` labels or
//! non-ASCII characters take the full Unicode path.

use std::borrow::Cow;
use std::sync::OnceLock;

/// A name ready for matching. `ascii` is what certificates and DNS use; `unicode` is set when it
/// differs (IDNs); `skeleton` is what rules match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised<'a> {
    pub ascii: Cow<'a, str>,
    pub unicode: Option<String>,
}

/// Strips `*.` and a trailing dot and lowercases; borrows when nothing changes.
pub fn clean(name: &str) -> Cow<'_, str> {
    clean_scan(name).0
}

/// [`clean`], and whether the result has a punycode label; one pass over the bytes.
fn clean_scan(name: &str) -> (Cow<'_, str>, bool) {
    let mut s = name.trim_ascii();
    while let Some(rest) = s.strip_prefix("*.") {
        s = rest;
    }
    let s = s.strip_suffix('.').unwrap_or(s);
    let bytes = s.as_bytes();
    let mut needs_lowering = false;
    let mut punycode = false;
    for (i, &b) in bytes.iter().enumerate() {
        needs_lowering |= b.is_ascii_uppercase() || !b.is_ascii();
        punycode |= (b == b'x' || b == b'X')
            && (i == 0 || bytes[i - 1] == b'.')
            && bytes[i + 1..].len() >= 3
            && bytes[i + 1..i + 4].eq_ignore_ascii_case(b"n--");
    }
    if needs_lowering {
        (Cow::Owned(s.to_lowercase()), punycode)
    } else {
        (Cow::Borrowed(s), punycode)
    }
}

/// Cleans `name` and, for IDNs, computes both the ASCII (punycode) and the Unicode form.
pub fn normalise(name: &str) -> Normalised<'_> {
    let (cleaned, punycode) = clean_scan(name);
    // `clean` lowercases non-ASCII names, so a borrowed result is ASCII.
    if matches!(cleaned, Cow::Borrowed(_)) || cleaned.is_ascii() {
        if punycode {
            let (unicode, result) = idna::domain_to_unicode(&cleaned);
            // On a decoding error keep the ASCII form: a broken xn-- label is matched as it is.
            let unicode = (result.is_ok() && unicode != cleaned.as_ref()).then_some(unicode);
            return Normalised {
                ascii: cleaned,
                unicode,
            };
        }
        return Normalised {
            ascii: cleaned,
            unicode: None,
        };
    }
    // A raw Unicode name (some CNs carry them): its ASCII form comes from IDNA.
    let unicode = cleaned.into_owned();
    let ascii = idna::domain_to_ascii(&unicode).unwrap_or_else(|_| unicode.clone());
    Normalised {
        ascii: Cow::Owned(ascii),
        unicode: Some(unicode),
    }
}

impl Normalised<'_> {
    /// The Unicode form if there is one, else the ASCII form.
    pub fn display(&self) -> &str {
        self.unicode.as_deref().unwrap_or(&self.ascii)
    }

    /// Writes the skeleton of this name into `out` (cleared first).
    pub fn skeleton_into(&self, out: &mut Vec<u8>) {
        skeleton_into(self.display(), out)
    }
}

/// Writes the lowercase TR39 skeleton of an already cleaned (lowercase) name into `out` as
/// UTF-8 bytes (cleared first). Bytes, not a `String`, so the ASCII path is a plain table copy.
pub fn skeleton_into(name: &str, out: &mut Vec<u8>) {
    out.clear();
    if name.is_ascii() {
        let table = ascii_table();
        out.reserve(name.len() + 8);
        for &b in name.as_bytes() {
            let i = usize::from(b & 0x7f);
            match table.single[i] {
                0 => out.extend_from_slice(table.multi[i].as_bytes()),
                m => out.push(m),
            }
        }
    } else {
        let mut folded = String::with_capacity(name.len() + 8);
        for c in unicode_security::skeleton(name) {
            folded.extend(c.to_lowercase());
        }
        // The skeleton of a lowercase letter can be an uppercase one (`0` → `O`): fold again so
        // that rules match the same text whatever path a name took.
        if folded.bytes().any(|b| b.is_ascii_uppercase()) {
            folded = folded.to_lowercase();
        }
        out.extend_from_slice(folded.as_bytes());
    }
}

/// The skeleton of ASCII bytes, for callers that fold byte by byte.
pub fn ascii_skeletons() -> &'static AsciiTable {
    ascii_table()
}

impl AsciiTable {
    /// The skeleton of one ASCII byte: `Ok` when it is one byte (nearly always itself), `Err`
    /// with the longer skeleton otherwise (`m` → `rn`).
    #[inline]
    pub fn get(&self, b: u8) -> Result<u8, &'static str> {
        let i = usize::from(b & 0x7f);
        match self.single[i] {
            0 => Err(self.multi[i]),
            m => Ok(m),
        }
    }
}

/// The skeleton of a keyword or any text: lowercase, then folded like names are.
pub fn skeleton_of(text: &str) -> String {
    let lower = text.trim().to_lowercase();
    let mut out = Vec::with_capacity(lower.len());
    skeleton_into(&lower, &mut out);
    String::from_utf8(out).expect("skeletons of UTF-8 text are UTF-8")
}

/// The skeleton of each ASCII character, lowercased; computed once from the TR39 data so the
/// fast path agrees with the full one.
/// The skeleton of each ASCII character, lowercased, computed once from the TR39 data so that
/// the fast path agrees with the full one. Among DNS characters only `0` → `o`, `1` → `l` and
/// `m` → `rn` change.
pub struct AsciiTable {
    /// The skeleton when it is one byte (most are themselves), else 0.
    single: [u8; 128],
    /// The skeleton when it is longer.
    multi: [&'static str; 128],
}

fn ascii_table() -> &'static AsciiTable {
    static TABLE: OnceLock<AsciiTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = AsciiTable {
            single: [0; 128],
            multi: [""; 128],
        };
        for i in 0..128u8 {
            let c = char::from(i);
            let mut s = String::new();
            for k in unicode_security::skeleton(c.encode_utf8(&mut [0; 4])) {
                s.extend(k.to_lowercase());
            }
            if s.len() == 1 && s.as_bytes()[0] != 0 {
                t.single[usize::from(i)] = s.as_bytes()[0];
            } else {
                t.multi[usize::from(i)] = Box::leak(s.into_boxed_str());
            }
        }
        t
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skel(name: &str) -> String {
        let n = normalise(name);
        let mut out = Vec::new();
        n.skeleton_into(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("*.PayPal.COM."), "paypal.com");
        assert_eq!(clean("*.*.a.example"), "a.example");
        assert!(matches!(clean("plain.example"), Cow::Borrowed(_)));
    }

    #[test]
    fn cyrillic_lookalikes_fold_to_latin() {
        // р (U+0440) and а (U+0430) are Cyrillic.
        let s = skel("раypal-login.com");
        assert!(s.contains(&skeleton_of("paypal")), "{s}");
        // Greek omicron in "micrοsoft".
        assert!(skel("micrοsoft-support.net").contains(&skeleton_of("microsoft")));
    }

    #[test]
    fn punycode_is_decoded() {
        let ascii = idna::domain_to_ascii("раypal-login.com").unwrap();
        assert!(ascii.starts_with("xn--"), "{ascii}");
        let n = normalise(&ascii);
        assert_eq!(n.unicode.as_deref(), Some("раypal-login.com"));
        assert!(skel(&ascii).contains(&skeleton_of("paypal")));
    }

    #[test]
    fn ascii_confusables_fold() {
        assert!(skel("paypa1-secure.com").contains(&skeleton_of("paypal")));
        assert!(skel("netf1ix.com").contains(&skeleton_of("netflix")));
        assert!(skel("rnicrosoft.com").contains(&skeleton_of("microsoft")));
        assert!(skel("g00gle.com").contains(&skeleton_of("google")));
    }

    #[test]
    fn ascii_fast_path_agrees_with_full_skeleton() {
        for name in [
            "paypal-login.example",
            "a0-1lm|x.com",
            "www.bancodirecta.es",
        ] {
            let fast = skel(name);
            let mut full = String::new();
            for c in unicode_security::skeleton(name) {
                full.extend(c.to_lowercase());
            }
            assert_eq!(fast, full.to_lowercase(), "{name}");
        }
    }

    #[test]
    fn broken_punycode_does_not_panic() {
        for name in [
            "xn--.com",
            "xn--zzzzzzz-.example",
            "xn--a.xn--b",
            "\u{0}",
            "..",
            "",
        ] {
            let _ = skel(name);
        }
    }
}
