//! Cutting a label into words, so that a brand counts only where it stands as a word.
//!
//! `securepaypal` is `secure` + `paypal`, `paypal-login2` is `paypal` + `login` + `2`, while
//! `purchase` is one word (no `chase` in it) and `turtlebay` is `turtle` + `bay` (no `ebay`).
//! A label is cut at hyphens and between letters and digits; each run of letters is then cut by
//! the most probable sequence of words (Viterbi over a unigram model, as in Norvig's
//! "Natural Language Corpus Data" chapter): a word's cost is the log of its frequency rank, an
//! unknown stretch costs more per letter than any known word, so random strings stay whole.
//!
//! The word list is the 50,000 most frequent English words of the web corpus that the
//! `wordsegment` package ships (Apache-2.0; see `words.README.md` beside this file), plus the
//! configured keywords and suspicious words. It is decompressed once per process (~5 ms).

use flate2::read::GzDecoder;
use rustc_hash::FxHashMap;
use std::io::Read;
use std::sync::OnceLock;

/// The shipped word list, most frequent first.
const WORDS_GZ: &[u8] = include_bytes!("words.txt.gz");

/// Longest word tried when cutting (longer stretches are unknown).
const MAX_WORD: usize = 24;

/// Rank given to configured keywords and suspicious words missing from the list: as likely as
/// a fairly common word, so that `paypalsecure` is cut at the brand.
const CONFIGURED_RANK: u32 = 3_000;

/// Words ranked at or above this are "ordinary words": a label that is one is no look-alike
/// (`papal` is not a typo of `paypal`).
pub const DICTIONARY_RANK: u32 = 40_000;

/// The English word list, shared by every [`Lexicon`].
fn base_words() -> &'static FxHashMap<Box<[u8]>, u32> {
    static WORDS: OnceLock<FxHashMap<Box<[u8]>, u32>> = OnceLock::new();
    WORDS.get_or_init(|| {
        let mut text = String::new();
        // The list is part of the binary; a failure here is a build defect, caught by tests.
        GzDecoder::new(WORDS_GZ)
            .read_to_string(&mut text)
            .expect("the embedded word list decompresses");
        let mut map = FxHashMap::default();
        for (rank, w) in text.lines().enumerate() {
            map.entry(w.as_bytes().into()).or_insert(rank as u32 + 1);
        }
        map
    })
}

/// The word list with the configured words added.
pub struct Lexicon {
    base: &'static FxHashMap<Box<[u8]>, u32>,
    /// Configured words (folded) that the base list lacks or ranks low.
    extra: FxHashMap<Box<[u8]>, u32>,
}

/// What cutting a label found: the byte offsets where words start, and how much of the label
/// no known word covered.
#[derive(Debug, Default, Clone)]
pub struct Cut {
    /// Offsets (into the label) of every word boundary, including 0 and the label's length,
    /// ascending.
    pub boundaries: Vec<usize>,
    /// Bytes of letters that no known word covered.
    pub unknown: usize,
}

impl Cut {
    pub fn is_boundary(&self, at: usize) -> bool {
        self.boundaries.binary_search(&at).is_ok()
    }

    /// The words of `label` (the text this cut was made of).
    pub fn words<'a>(&self, label: &'a str) -> Vec<&'a str> {
        self.boundaries
            .windows(2)
            .map(|w| &label[w[0]..w[1]])
            .filter(|w| *w != "-")
            .collect()
    }
}

impl Lexicon {
    /// The shipped list plus `configured` (already folded) words.
    pub fn new<'a>(configured: impl IntoIterator<Item = &'a str>) -> Lexicon {
        let base = base_words();
        let mut extra = FxHashMap::default();
        for w in configured {
            // Hyphenated keywords (`gov-uk`) are matched without their hyphens.
            let compact: Vec<u8> = w.bytes().filter(|b| *b != b'-').collect();
            if compact.is_empty() {
                continue;
            }
            let have = base.get(compact.as_slice()).copied();
            if have.is_none_or(|r| r > CONFIGURED_RANK) {
                extra.insert(compact.into_boxed_slice(), CONFIGURED_RANK);
            }
        }
        Lexicon { base, extra }
    }

    /// The frequency rank of a word (1 = most frequent), if it is one.
    pub fn rank(&self, word: &[u8]) -> Option<u32> {
        match (self.extra.get(word), self.base.get(word)) {
            (Some(a), Some(b)) => Some((*a).min(*b)),
            (a, b) => a.or(b).copied(),
        }
    }

    /// Whether `word` is an ordinary word of the shipped list (not just a configured one).
    pub fn is_dictionary_word(&self, word: &[u8]) -> bool {
        self.base.get(word).is_some_and(|r| *r <= DICTIONARY_RANK)
    }

    /// Cuts a folded label into words: at hyphens, between letters and digits, and inside runs
    /// of letters by the word list.
    pub fn cut(&self, label: &[u8], out: &mut Cut) {
        out.boundaries.clear();
        out.unknown = 0;
        out.boundaries.push(0);
        let mut start = 0;
        while start < label.len() {
            let kind = class(label[start]);
            let mut end = start + 1;
            while end < label.len() && class(label[end]) == kind {
                end += 1;
            }
            if kind == Class::Letter {
                self.cut_letters(label, start, end, out);
            }
            push_boundary(&mut out.boundaries, end);
            start = end;
        }
    }

    /// Viterbi over one run of letters `label[from..to]`; pushes the inner boundaries.
    fn cut_letters(&self, label: &[u8], from: usize, to: usize, out: &mut Cut) {
        let run = &label[from..to];
        let n = run.len();
        if n <= 1 {
            return;
        }
        // best[i]: cost of the best cut of run[..i]; back[i]: where its last word starts;
        // known[i]: whether that word is known.
        let mut best = vec![f64::INFINITY; n + 1];
        let mut back = vec![0usize; n + 1];
        let mut known = vec![false; n + 1];
        best[0] = 0.0;
        for i in 1..=n {
            for j in i.saturating_sub(MAX_WORD)..i {
                if best[j].is_infinite() {
                    continue;
                }
                let w = &run[j..i];
                let (c, k) = match self.rank(w) {
                    Some(rank) => (word_cost(rank, w.len()), true),
                    None => (unknown_cost(w.len()), false),
                };
                let total = best[j] + c;
                if total < best[i] {
                    best[i] = total;
                    back[i] = j;
                    known[i] = k;
                }
            }
        }
        let mut cuts = Vec::new();
        let mut i = n;
        while i > 0 {
            let j = back[i];
            if !known[i] {
                out.unknown += i - j;
            }
            if j > 0 {
                cuts.push(from + j);
            }
            i = j;
        }
        for c in cuts.into_iter().rev() {
            push_boundary(&mut out.boundaries, c);
        }
    }
}

fn push_boundary(b: &mut Vec<usize>, at: usize) {
    if b.last() != Some(&at) {
        b.push(at);
    }
}

/// Cost of a known word: the log of its rank (Zipf), plus a fixed cost per word so that fewer,
/// longer words win over many short ones, plus a penalty for one- and two-letter words, which
/// the web list has plenty of (`th`, `nd`).
fn word_cost(rank: u32, len: usize) -> f64 {
    let short = match len {
        1 => 6.0,
        2 => 3.0,
        _ => 0.0,
    };
    (f64::from(rank) + 1.0).ln() + 2.5 + short
}

/// Cost of an unknown stretch: more per letter than a rare known word, so that known words are
/// preferred, but one long unknown stretch beats many short unknown ones.
fn unknown_cost(len: usize) -> f64 {
    9.0 + 3.0 * len as f64
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    Hyphen,
}

fn class(b: u8) -> Class {
    match b {
        b'0'..=b'9' => Class::Digit,
        b'-' => Class::Hyphen,
        // Letters, and any byte of a non-ASCII character left after folding.
        _ => Class::Letter,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(lex: &Lexicon, label: &str) -> Vec<String> {
        let mut cut = Cut::default();
        lex.cut(label.as_bytes(), &mut cut);
        cut.words(label).into_iter().map(str::to_string).collect()
    }

    #[test]
    fn glued_words_are_cut_where_a_reader_would() {
        let lex = Lexicon::new(["paypal", "chase", "ebay", "google", "secure", "login"]);
        for (label, want) in [
            ("securepaypal", vec!["secure", "paypal"]),
            ("paypalsecure", vec!["paypal", "secure"]),
            ("paypal-login2", vec!["paypal", "login", "2"]),
            ("purchase", vec!["purchase"]),
            ("turtlebayresort", vec!["turtle", "bay", "resort"]),
            ("thebay", vec!["the", "bay"]),
            ("9to5google", vec!["9", "to", "5", "google"]),
        ] {
            assert_eq!(words(&lex, label), want, "{label}");
        }
    }

    #[test]
    fn random_strings_stay_whole() {
        let lex = Lexicon::new([]);
        let mut cut = Cut::default();
        lex.cut(b"xkqzvbtrw", &mut cut);
        assert!(cut.unknown >= 6, "{cut:?}");
    }

    #[test]
    fn configured_words_are_known_and_dictionary_words_are_told_apart() {
        let lex = Lexicon::new(["zzqbrand", "gov-uk"]);
        assert!(lex.rank(b"zzqbrand").is_some());
        assert!(lex.rank(b"govuk").is_some());
        assert!(lex.is_dictionary_word(b"papal"));
        assert!(!lex.is_dictionary_word(b"zzqbrand"));
        assert!(!lex.is_dictionary_word(b"paypa"));
    }
}
