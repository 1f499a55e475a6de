//! Name normalisation: the form a certificate name is matched in.
//!
//! `*.PayPaI-Login.example.` → strip the wildcard and the trailing dot → lowercase → decode
//! punycode labels (`xn--`) to Unicode ([`normalise`]) → fold ([`fold_into`]):
//! 1. drop diacritics: NFD, then no combining marks (`ċhașe` → `chase`, `lǹstagram` →
//!    `lnstagram`);
//! 2. map every remaining non-ASCII character to its base Latin letter when it is one with a
//!    hook, stroke or small-capital form, or a Cyrillic or Greek look-alike (`ƥ` → `p`,
//!    `ь` → `b`; `fold_table.rs`), else to its Unicode TR39 skeleton, lowercased
//!    (Cyrillic `р`, `а` → `p`, `a`; `ɑ` → `a`);
//! 3. make the ASCII look-alikes one: `0` → `o`, `1` → `l`, `rn` → `m`, `vv` → `w`.
//!
//! Keywords go through the same folding ([`fold`]), so both sides agree: `amɑźon`, `arnazon`
//! and `amazon` all fold to `amazon`, `paypa1` to `paypal`. Folding never changes dots or
//! hyphens, so labels and words keep their boundaries.
//!
//! Nearly every name is plain ASCII: that path is a byte loop into the caller's reused buffer
//! and allocates nothing. Only names with `xn--` labels or non-ASCII characters take the
//! Unicode path.

use std::borrow::Cow;

/// A name ready for matching. `ascii` is what certificates and DNS use; `unicode` is set when it
/// differs (IDNs). [`Normalised::fold_into`] gives the form rules match.
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

    /// Writes the folded form of this name into `out` (cleared first): see [`fold_into`].
    pub fn fold_into(&self, out: &mut Vec<u8>) {
        fold_into(self.display(), out)
    }
}

/// Writes the folded form of an already cleaned (lowercase) name into `out` as UTF-8 bytes
/// (cleared first). Bytes, not a `String`, so the ASCII path is a plain byte loop.
pub fn fold_into(name: &str, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(name.len());
    if name.is_ascii() {
        fold_ascii(name.as_bytes(), out);
        return;
    }
    let mut wide = Vec::with_capacity(name.len() + 8);
    let mut tmp = String::new();
    for c in name.chars() {
        if c.is_ascii() {
            wide.push(c.to_ascii_lowercase() as u8);
            continue;
        }
        let mut buf = [0u8; 4];
        let base = unicode_normalization::UnicodeNormalization::nfd(std::iter::once(c))
            .filter(|m| !unicode_normalization::char::is_combining_mark(*m));
        for b in base {
            if b.is_ascii() {
                wide.push(b.to_ascii_lowercase() as u8);
                continue;
            }
            if let Some(l) = crate::fold_table::base_letter(b) {
                wide.push(l);
                continue;
            }
            tmp.clear();
            tmp.push(b);
            for k in unicode_security::skeleton(&tmp) {
                for l in k.to_lowercase() {
                    // A character whose skeleton is a dot (U+2024) must not make a new label.
                    let l = if l == '.' { '-' } else { l };
                    wide.extend_from_slice(l.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
    }
    fold_ascii(&wide, out);
}

/// The ASCII step of folding, on bytes that may also hold UTF-8 sequences (left as they are).
fn fold_ascii(bytes: &[u8], out: &mut Vec<u8>) {
    // The output is never longer than the input: written in place of a zeroed tail, then cut
    // to length (one bounds check per byte instead of a capacity check per push).
    let start = out.len();
    out.resize(start + bytes.len(), 0);
    let dst = &mut out[start..];
    let (mut i, mut j) = (0, 0);
    while i < bytes.len() {
        let b = ASCII_FOLD[usize::from(bytes[i])];
        let pair = match (b, bytes.get(i + 1).map(u8::to_ascii_lowercase)) {
            (b'r', Some(b'n')) => Some(b'm'),
            (b'v', Some(b'v')) => Some(b'w'),
            _ => None,
        };
        match pair {
            Some(m) => {
                dst[j] = m;
                i += 2;
            }
            None => {
                dst[j] = b;
                i += 1;
            }
        }
        j += 1;
    }
    out.truncate(start + j);
}

/// One byte of [`fold_ascii`]: lowercase, `0` as `o`, `1` as `l`; bytes of UTF-8 sequences
/// unchanged.
static ASCII_FOLD: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = (i as u8).to_ascii_lowercase();
        i += 1;
    }
    t[b'0' as usize] = b'o';
    t[b'1' as usize] = b'l';
    t
};

/// The folded form of a keyword or any text: lowercased, then folded like names are.
pub fn fold(text: &str) -> String {
    let lower = text.trim().to_lowercase();
    let mut out = Vec::with_capacity(lower.len());
    fold_into(&lower, &mut out);
    String::from_utf8(out).expect("folding UTF-8 text gives UTF-8")
}

/// `text` without diacritics (NFD, combining marks dropped), when that changes anything: the
/// first folding step, for `explain`.
pub fn without_diacritics(text: &str) -> Option<String> {
    if text.is_ascii() {
        return None;
    }
    let s: String = unicode_normalization::UnicodeNormalization::nfd(text)
        .filter(|m| !unicode_normalization::char::is_combining_mark(*m))
        .collect();
    (s != text).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folded(name: &str) -> String {
        let n = normalise(name);
        let mut out = Vec::new();
        n.fold_into(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn cleaning() {
        assert_eq!(clean("*.PayPal.COM."), "paypal.com");
        assert_eq!(clean("*.*.a.example"), "a.example");
        assert!(matches!(clean("plain.example"), Cow::Borrowed(_)));
    }

    #[test]
    fn cyrillic_and_greek_lookalikes_fold_to_latin() {
        // р (U+0440) and а (U+0430) are Cyrillic; ο in "micrοsoft" is Greek.
        assert_eq!(folded("раypal-login.com"), "paypal-login.com");
        assert_eq!(folded("micrοsoft-support.net"), "microsoft-support.net");
    }

    #[test]
    fn diacritics_are_dropped() {
        for (name, want) in [
            ("aḓobė.com", "adobe.com"),
            ("ċhașe.com", "chase.com"),
            ("amɑźon.com", "amazon.com"),
            ("lǹstagram.com", "lnstagram.com"),
            ("bancodirecta-señor.es", "bancodirecta-senor.es"),
            ("ƥaɏpal.com", "paypal.com"),
            ("һотмаіӏ.com", "hotmail.com"),
            ("еьау.com", "ebay.com"),
        ] {
            assert_eq!(folded(name), want, "{name}");
        }
        assert_eq!(without_diacritics("ċhașe").as_deref(), Some("chase"));
        assert_eq!(without_diacritics("chase"), None);
    }

    #[test]
    fn ascii_lookalikes_are_one_on_both_sides() {
        assert_eq!(fold("amazon"), "amazon");
        assert_eq!(folded("arnazon.com"), "amazon.com");
        assert_eq!(folded("paypa1-secure.com"), "paypal-secure.com");
        assert_eq!(folded("g00gle.com"), "google.com");
        assert_eq!(folded("vvellsfargo.com"), "wellsfargo.com");
        assert_eq!(folded("rnicrosoft.com"), fold("microsoft") + ".com");
        // `m` stays `m` (the TR39 skeleton alone would turn it into `rn` on one side only).
        assert_eq!(fold("instagram"), "instagram");
        assert_eq!(folded("ｐａｙｐａｌ.com"), "paypal.com");
    }

    #[test]
    fn punycode_is_decoded() {
        let ascii = idna::domain_to_ascii("раypal-login.com").unwrap();
        assert!(ascii.starts_with("xn--"), "{ascii}");
        let n = normalise(&ascii);
        assert_eq!(n.unicode.as_deref(), Some("раypal-login.com"));
        assert_eq!(folded(&ascii), "paypal-login.com");
    }

    #[test]
    fn folding_keeps_dots_and_hyphens() {
        for name in ["a-b.c-d.example", "x--y.z", "a.b.c"] {
            let f = folded(name);
            assert_eq!(
                f.bytes().filter(|b| *b == b'.' || *b == b'-').count(),
                name.bytes().filter(|b| *b == b'.' || *b == b'-').count(),
                "{name} -> {f}"
            );
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
            "\u{301}\u{301}.com",
        ] {
            let _ = folded(name);
        }
    }
}
