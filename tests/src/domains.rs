//! Domain names for the tests: certhound's default keyword and suspicious-word lists, a filter that tells whether a name
//! could trigger any default rule (also after TR39 look-alike folding, as certhound folds names),
//! a deterministic generator of benign background names that never trigger one, and punycode.

use std::sync::OnceLock;

/// certhound's own default lists: what the background names must never trigger.
pub use certhound_config::{DEFAULT_KEYWORDS, DEFAULT_SUSPICIOUS_WORDS};

/// Default `matcher.min_suspicious_words`.
pub const DEFAULT_MIN_SUSPICIOUS_WORDS: usize = 2;

/// The forms of a string a matcher may compare: lowercased, and its TR39 skeleton (lowercased
/// again, since skeletons map some characters to capitals, e.g. `0` to `O`), plus the crude
/// ASCII folds `m`→`rn`, `0`→`o`, `1`→`l`.
fn forms(s: &str) -> Vec<String> {
    let lower = s.to_lowercase();
    let skeleton: String = unicode_security::skeleton(&lower)
        .collect::<String>()
        .to_lowercase();
    let skeleton2: String = unicode_security::skeleton(&skeleton)
        .collect::<String>()
        .to_lowercase();
    let crude = lower.replace('m', "rn").replace('0', "o").replace('1', "l");
    let mut v = vec![lower, skeleton, skeleton2, crude];
    v.sort();
    v.dedup();
    v
}

type Needles = Vec<(&'static str, Vec<String>)>;

fn needles(list: &'static [&'static str]) -> Needles {
    list.iter().map(|k| (*k, forms(k))).collect()
}

fn hits(name: &str, needles: &Needles) -> Vec<&'static str> {
    let name_forms = forms(name);
    needles
        .iter()
        .filter(|(_, needle_forms)| {
            name_forms
                .iter()
                .any(|n| needle_forms.iter().any(|k| n.contains(k.as_str())))
        })
        .map(|(k, _)| *k)
        .collect()
}

/// Default keywords `name` contains, in any folded form.
pub fn keyword_hits(name: &str) -> Vec<&'static str> {
    static NEEDLES: OnceLock<Needles> = OnceLock::new();
    hits(name, NEEDLES.get_or_init(|| needles(DEFAULT_KEYWORDS)))
}

/// Default suspicious words `name` contains, in any folded form.
pub fn suspicious_hits(name: &str) -> Vec<&'static str> {
    static NEEDLES: OnceLock<Needles> = OnceLock::new();
    hits(
        name,
        NEEDLES.get_or_init(|| needles(DEFAULT_SUSPICIOUS_WORDS)),
    )
}

/// Whether `name` triggers no default rule: no keyword, fewer suspicious words than
/// [`DEFAULT_MIN_SUSPICIOUS_WORDS`] (both counted generously, over all folded forms).
pub fn is_benign(name: &str) -> bool {
    keyword_hits(name).is_empty() && suspicious_hits(name).len() < DEFAULT_MIN_SUSPICIOUS_WORDS
}

/// Whether `name` contains neither a keyword nor any suspicious word at all, and no label or
/// part of one between hyphens is a possible typo of a keyword (see [`near_keyword`]).
pub fn is_squeaky_clean(name: &str) -> bool {
    keyword_hits(name).is_empty()
        && suspicious_hits(name).is_empty()
        && near_keyword(name).is_none()
}

/// A default keyword of 5 letters or more that a label of `name` (or a part between hyphens, or
/// the label without its hyphens) of 5 letters or more is within 2 edits of: what a look-alike
/// matcher could take for a typo. Generous on purpose (certhound allows 1 edit below 10 letters).
pub fn near_keyword(name: &str) -> Option<&'static str> {
    let lower = name.to_lowercase();
    let mut parts: Vec<String> = Vec::new();
    for label in lower.split('.') {
        parts.push(label.replace('-', ""));
        parts.extend(label.split('-').map(str::to_string));
    }
    DEFAULT_KEYWORDS.iter().copied().find(|k| {
        let k = k.replace('-', "");
        k.len() >= 5
            && parts
                .iter()
                .any(|p| p.len() >= 5 && p.len().abs_diff(k.len()) <= 2 && edits(p, &k) <= 2)
    })
}

/// Optimal string alignment distance (insertions, deletions, substitutions, adjacent swaps).
fn edits(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The ASCII (punycode, `xn--`) form of a domain name.
pub fn punycode(domain: &str) -> String {
    idna::domain_to_ascii(domain).unwrap_or_else(|e| panic!("cannot punycode {domain}: {e:?}"))
}

const CONSONANTS: &[u8] = b"bdfgknprstvz"; // no `m`: it folds to `rn`
const VOWELS: &[u8] = b"aeiou";
const TLDS: &[&str] = &["com", "net", "org", "de", "io"];

/// Deterministic generator of benign-looking names (`kadobeti.net`, `www.sorufa.io`): one label
/// of 2 to 5 consonant-vowel syllables (no `m`, no digits, no hyphen), sometimes a `www.` or
/// another short host label in front, and a TLD among com, net, org, de, io. Every name is checked
/// with [`is_squeaky_clean`].
#[derive(Debug, Clone)]
pub struct Background {
    state: u64,
}

impl Background {
    pub fn new(seed: u64) -> Self {
        Background {
            state: seed ^ 0x6A09_E667_F3BC_C908,
        }
    }

    fn next_u64(&mut self) -> u64 {
        // splitmix64
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    fn label(&mut self, min: u64, max: u64) -> String {
        let syllables = min + self.below(max - min + 1);
        let mut s = String::new();
        for _ in 0..syllables {
            s.push(CONSONANTS[self.below(CONSONANTS.len() as u64) as usize] as char);
            s.push(VOWELS[self.below(VOWELS.len() as u64) as usize] as char);
        }
        s
    }

    /// The next benign name.
    pub fn next_name(&mut self) -> String {
        loop {
            let base = format!(
                "{}.{}",
                self.label(2, 5),
                TLDS[self.below(TLDS.len() as u64) as usize]
            );
            let name = match self.below(4) {
                0 => format!("www.{base}"),
                1 => format!("{}.{base}", self.label(1, 2)),
                _ => base,
            };
            if is_squeaky_clean(&name) {
                return name;
            }
        }
    }

    /// The next `n` names.
    pub fn names(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.next_name()).collect()
    }
}

/// The benign names of `domains/labelled.tsv` that contain no keyword and no suspicious word (in
/// any folded form), in file order.
pub fn labelled_benign_names() -> Vec<String> {
    crate::fixtures::labelled_domains()
        .into_iter()
        .filter(|(d, label)| label == "benign" && d.is_ascii() && !d.contains('*'))
        .map(|(d, _)| d)
        .filter(|d| is_squeaky_clean(d))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The copies above must equal the lists certhound ships (read from its source when present).
    #[test]
    fn filter_sees_through_look_alikes() {
        assert_eq!(keyword_hits("paypal-login.com"), ["paypal"]);
        assert_eq!(
            keyword_hits("\u{440}\u{430}\u{443}\u{440}\u{430}l.com"),
            ["paypal"],
            "Cyrillic \u{440}, \u{430}, \u{443}"
        );
        assert!(keyword_hits("payp4l.com").is_empty());
        assert!(!keyword_hits("rnicrosoft.net").is_empty(), "rn reads as m");
        assert!(!keyword_hits("itau-app.com").is_empty());
        assert!(!is_benign("secure-login.example"));
        assert!(is_benign("update.example"));
        assert!(!is_squeaky_clean("update.example"));
        assert_eq!(near_keyword("du.verizo.io"), Some("verizon"));
        assert_eq!(near_keyword("gu.govuka.com"), Some("gov-uk"));
        assert_eq!(near_keyword("pay-pall.com"), Some("paypal"));
        assert_eq!(near_keyword("dobe.net"), None, "4 letters");
        assert!(is_squeaky_clean("sorufa.io"));
    }

    #[test]
    fn background_names_are_clean_and_deterministic() {
        let a = Background::new(7).names(5_000);
        let b = Background::new(7).names(5_000);
        assert_eq!(a, b);
        assert_ne!(a, Background::new(8).names(5_000));
        let distinct: std::collections::HashSet<_> = a.iter().collect();
        assert!(distinct.len() > 4_500, "{}", distinct.len());
        for n in &a {
            let label = n.rsplit_once('.').unwrap().0;
            assert!(
                n.is_ascii() && !label.contains('m') && !n.chars().any(|c| c.is_ascii_digit()),
                "{n}"
            );
            assert!(is_squeaky_clean(n), "{n}");
            for bad in [
                "dhl", "itau", "chase", "ing-bank", "usps", "verizon", "bonus",
            ] {
                assert!(!n.contains(bad), "{n}");
            }
        }
    }

    #[test]
    fn labelled_benign_names_are_many_and_clean() {
        let names = labelled_benign_names();
        assert!(names.len() > 1000, "{}", names.len());
        assert!(names.iter().all(|n| is_squeaky_clean(n)));
    }

    #[test]
    fn punycode_of_cyrillic_look_alike() {
        let p = punycode("\u{440}\u{430}ypal-secure.com");
        assert!(
            p.starts_with("xn--ypal-secure-") && p.ends_with(".com"),
            "{p}"
        );
        assert_eq!(punycode("Example.COM"), "example.com");
    }
}
