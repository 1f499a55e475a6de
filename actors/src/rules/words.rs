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
use std::io::{BufRead, BufReader};
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
fn base_words() -> &'static WordMap {
    static WORDS: OnceLock<WordMap> = OnceLock::new();
    WORDS.get_or_init(|| {
        // Read line by line into maps sized up front: no copy of the whole text and no
        // rehashing, whose freed tables the allocator would keep resident.
        let mut map = WordMap {
            upto8: FxHashMap::with_capacity_and_hasher(UPTO8_COUNT, Default::default()),
            upto16: FxHashMap::with_capacity_and_hasher(
                WORD_COUNT - UPTO8_COUNT,
                Default::default(),
            ),
            long: FxHashMap::default(),
            prefixes: FxHashMap::with_capacity_and_hasher(12_000, Default::default()),
        };
        let mut lines = BufReader::new(GzDecoder::new(WORDS_GZ));
        let mut line = Vec::with_capacity(64);
        let mut rank = 0u32;
        loop {
            line.clear();
            // The list is part of the binary; a failure here is a build defect, caught by tests.
            let n = lines
                .read_until(b'\n', &mut line)
                .expect("the embedded word list decompresses");
            if n == 0 {
                break;
            }
            let w = line.strip_suffix(b"\n").unwrap_or(&line);
            rank += 1;
            if !w.is_empty() && map.get(w).is_none() {
                map.insert(w, rank);
            }
        }
        map
    })
}

/// Lines of `words.txt.gz`, and how many of them have at most 8 bytes.
const WORD_COUNT: usize = 50_000;
const UPTO8_COUNT: usize = 36_463;

/// Words to ranks. Nearly every word fits 16 bytes and is keyed by its bytes packed into an
/// integer (folded text has no zero byte, so the packing is unique): one multiply to hash, one
/// compare to match, where a slice key costs a byte loop and a `memcmp`. Words of up to 8
/// bytes (three in four) are keyed by a `u64`: 16 bytes an entry where a `u128` key takes 32
/// (its alignment pads the rank), half a megabyte less resident.
#[derive(Default)]
struct WordMap {
    upto8: FxHashMap<u64, u32>,
    upto16: FxHashMap<u128, u32>,
    long: FxHashMap<Box<[u8]>, u32>,
    /// Three-letter start → the lengths (bit `len`) of the words that start so.
    prefixes: FxHashMap<u32, u32>,
}

impl WordMap {
    #[inline]
    fn get(&self, w: &[u8]) -> Option<u32> {
        if w.len() <= 8 {
            self.upto8.get(&(pack(w) as u64)).copied()
        } else if w.len() <= 16 {
            self.upto16.get(&pack(w)).copied()
        } else {
            self.long.get(w).copied()
        }
    }

    fn insert(&mut self, w: &[u8], rank: u32) {
        if w.len() <= 8 {
            self.upto8.insert(pack(w) as u64, rank);
        } else if w.len() <= 16 {
            self.upto16.insert(pack(w), rank);
        } else {
            self.long.insert(w.into(), rank);
        }
        note_prefix(&mut self.prefixes, w);
    }
}

#[inline]
fn pack(s: &[u8]) -> u128 {
    s.iter().fold(0u128, |k, &b| (k << 8) | u128::from(b))
}

fn pack3(w: &[u8]) -> u32 {
    u32::from(w[0]) << 16 | u32::from(w[1]) << 8 | u32::from(w[2])
}

fn note_prefix(map: &mut FxHashMap<u32, u32>, w: &[u8]) {
    if (3..=MAX_WORD).contains(&w.len()) {
        *map.entry(pack3(w)).or_insert(0) |= 1 << w.len();
    }
}

/// The word list with the configured words added.
pub struct Lexicon {
    base: &'static WordMap,
    /// Configured words (folded) that the base list lacks or ranks low.
    extra: WordMap,
    /// Three-letter start → the lengths (bit `len`) of the words, shipped or configured, that
    /// start so.
    prefixes: FxHashMap<u32, u32>,
    /// Ranks of the one- and two-letter words of `a`-`z` (0: not a word), by [`short_index`].
    short: Box<[u32; 27 * 27]>,
}

/// Index of a one- or two-letter `a`-`z` string in [`Lexicon::short`].
#[inline]
fn short_index(w: &[u8]) -> usize {
    let second = w.get(1).map_or(26, |b| usize::from(b - b'a'));
    usize::from(w[0] - b'a') * 27 + second
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
    /// The Viterbi tables, kept between cuts so that cutting allocates nothing.
    best: Vec<f64>,
    back: Vec<usize>,
    known: Vec<bool>,
    cuts: Vec<usize>,
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
        let mut extra = WordMap::default();
        // The lengths of the words of each three-letter start (bit `len`): most positions of
        // a label start no word of three letters or more, and a stretch is looked up only if a
        // word of its length starts so.
        let mut prefixes = base.prefixes.clone();
        for w in configured {
            // Hyphenated keywords (`gov-uk`) are matched without their hyphens.
            let compact: Vec<u8> = w.bytes().filter(|b| *b != b'-').collect();
            if compact.is_empty() {
                continue;
            }
            let have = base.get(&compact);
            if have.is_none_or(|r| r > CONFIGURED_RANK) {
                note_prefix(&mut prefixes, &compact);
                extra.insert(&compact, CONFIGURED_RANK);
            }
        }
        let mut lex = Lexicon {
            base,
            extra,
            prefixes,
            short: Box::new([0; 27 * 27]),
        };
        // Every one- and two-letter stretch is looked up at every position: a table, not a map.
        let mut short = Box::new([0u32; 27 * 27]);
        for a in b'a'..=b'z' {
            short[short_index(&[a])] = lex.rank_from_maps(&[a]).unwrap_or(0);
            for b in b'a'..=b'z' {
                short[short_index(&[a, b])] = lex.rank_from_maps(&[a, b]).unwrap_or(0);
            }
        }
        lex.short = short;
        lex
    }

    /// The frequency rank of a word (1 = most frequent), if it is one.
    #[inline]
    pub fn rank(&self, word: &[u8]) -> Option<u32> {
        if (1..=2).contains(&word.len()) && word.iter().all(u8::is_ascii_lowercase) {
            let r = self.short[short_index(word)];
            return (r != 0).then_some(r);
        }
        self.rank_from_maps(word)
    }

    fn rank_from_maps(&self, word: &[u8]) -> Option<u32> {
        // A configured word is in `extra` only where it ranks better than in the list.
        self.extra.get(word).or_else(|| self.base.get(word))
    }

    /// Whether `word` is an ordinary word of the shipped list (not just a configured one).
    pub fn is_dictionary_word(&self, word: &[u8]) -> bool {
        self.base.get(word).is_some_and(|r| r <= DICTIONARY_RANK)
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

    /// Viterbi over one run of letters `label[from..to]`; pushes the inner boundaries. Forward
    /// form: from each position, every stretch up to [`MAX_WORD`] letters is a word (its
    /// rank's cost) or unknown (a cost per letter); a word list lookup only where a word of
    /// that length can start. Ties go to the earliest start, as in the textbook form.
    fn cut_letters(&self, label: &[u8], from: usize, to: usize, out: &mut Cut) {
        let run = &label[from..to];
        let n = run.len();
        if n <= 1 {
            return;
        }
        // best[i]: cost of the best cut of run[..i]; back[i]: where its last word starts;
        // known[i]: whether that word is known.
        let Cut {
            best,
            back,
            known,
            cuts,
            ..
        } = out;
        best.clear();
        best.resize(n + 1, f64::INFINITY);
        back.clear();
        back.resize(n + 1, 0);
        known.clear();
        known.resize(n + 1, false);
        best[0] = 0.0;
        for j in 0..n {
            let from_j = best[j];
            let lengths = if n - j >= 3 {
                self.prefixes.get(&pack3(&run[j..])).copied().unwrap_or(0)
            } else {
                0
            };
            for len in 1..=MAX_WORD.min(n - j) {
                let i = j + len;
                let w = &run[j..i];
                let rank = if len <= 2 || lengths & (1 << len) != 0 {
                    self.rank(w)
                } else {
                    None
                };
                let (c, k) = match rank {
                    Some(rank) => (word_cost(rank, len), true),
                    None => (unknown_cost(len), false),
                };
                let total = from_j + c;
                if total < best[i] {
                    best[i] = total;
                    back[i] = j;
                    known[i] = k;
                }
            }
        }
        cuts.clear();
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
        for &c in cuts.iter().rev() {
            push_boundary(&mut out.boundaries, c);
        }
    }

    /// The textbook form of [`Self::cut_letters`] (every stretch looked up), which the fast
    /// form must agree with.
    #[cfg(test)]
    fn cut_letters_reference(&self, run: &[u8]) -> (Vec<usize>, usize) {
        let n = run.len();
        if n <= 1 {
            return (Vec::new(), 0);
        }
        let mut best = vec![f64::INFINITY; n + 1];
        let mut back = vec![0usize; n + 1];
        let mut known = vec![false; n + 1];
        best[0] = 0.0;
        for i in 1..=n {
            for j in i.saturating_sub(MAX_WORD)..i {
                let w = &run[j..i];
                let (c, k) = match self.rank(w) {
                    Some(rank) => (word_cost(rank, w.len()), true),
                    None => (unknown_cost(w.len()), false),
                };
                if best[j] + c < best[i] {
                    best[i] = best[j] + c;
                    back[i] = j;
                    known[i] = k;
                }
            }
        }
        let (mut cuts, mut unknown, mut i) = (Vec::new(), 0, n);
        while i > 0 {
            let j = back[i];
            if !known[i] {
                unknown += i - j;
            }
            if j > 0 {
                cuts.push(j);
            }
            i = j;
        }
        cuts.reverse();
        (cuts, unknown)
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
    fn the_fast_cut_agrees_with_the_textbook_one() {
        let lex = Lexicon::new(["paypal", "chase", "gov-uk", "zzqbrand"]);
        let text = include_str!("../../../tests/fixtures/domains/labelled.tsv");
        let mut cut = Cut::default();
        let mut runs = 0;
        for line in text.lines().skip(1) {
            let name = line.split('\t').next().unwrap();
            for label in name.split('.') {
                for run in label
                    .as_bytes()
                    .split(|b| !b.is_ascii_lowercase())
                    .filter(|r| r.len() > 1)
                {
                    cut.boundaries.clear();
                    cut.unknown = 0;
                    lex.cut_letters(run, 0, run.len(), &mut cut);
                    let want = lex.cut_letters_reference(run);
                    assert_eq!(
                        (cut.boundaries.clone(), cut.unknown),
                        want,
                        "{}",
                        String::from_utf8_lossy(run)
                    );
                    runs += 1;
                }
            }
        }
        assert!(runs > 10_000, "{runs}");
    }

    #[test]
    fn the_short_word_table_agrees_with_the_maps() {
        let lex = Lexicon::new(["ab", "zq"]);
        for a in b'a'..=b'z' {
            assert_eq!(lex.rank(&[a]), lex.rank_from_maps(&[a]));
            for b in b'a'..=b'z' {
                assert_eq!(lex.rank(&[a, b]), lex.rank_from_maps(&[a, b]));
            }
        }
        assert!(
            lex.rank(b"zq").is_some(),
            "configured two-letter words count"
        );
        assert_eq!(lex.rank(b""), None);
    }

    #[test]
    fn the_maps_are_sized_for_the_shipped_list() {
        let words = base_words();
        // Sized up front: a list that changed without the counts would rehash (and the freed
        // tables stay with the allocator).
        assert_eq!(words.upto8.len(), UPTO8_COUNT);
        assert_eq!(
            words.upto8.len() + words.upto16.len() + words.long.len(),
            WORD_COUNT
        );
        assert_eq!(words.get(b"the"), Some(1));
        for w in [&b"security"[..], b"passwords", b"internationalization"] {
            assert!(words.get(w).is_some(), "{}", String::from_utf8_lossy(w));
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
