//! Brand look-alikes within a small edit distance: the typo families that `dnstwist` generates
//! (omission, insertion, replacement, transposition, repetition, vowel swap, bitsquatting,
//! addition) are all one edit away from the brand, once homoglyphs are folded.
//!
//! A symmetric-deletion index (the SymSpell idea) for one edit: every brand is stored under
//! itself and each string that deleting one of its letters gives; a query looks up itself and
//! its own one-letter deletions, and two strings one edit apart always share one of those keys.
//! Each candidate is then checked with the optimal-string-alignment distance
//! (Damerau-Levenshtein where a transposition is one edit). A query is `len + 1` hash probes and
//! no distance at all for the vast majority of strings, which share no key with any brand.
//!
//! Long brands are allowed two edits. Their deletion keys would cost `len² / 2` probes per
//! query, so they are checked directly instead, behind a filter that rejects nearly every
//! string in a few instructions: each edit adds at most one kind of character and removes at
//! most one, so a string within two edits of a brand lacks at most two of the brand's
//! characters and has at most two it lacks, and keeps all but at most six of its adjacent
//! pairs, three per swap (sets of characters and of pairs as 64-bit masks). The same bound
//! keeps them from being scanned one by one: of any seven distinct pairs of a brand, a string
//! within two edits still holds one, so each brand is listed under seven of its pairs and a
//! query looks at the brands listed under its own pairs only (a brand with fewer distinct
//! pairs, `aaaaaaaaaa`, is always looked at).
//!
//! Keys are the strings packed into a `u128` (at most 16 bytes; folded text has no zero byte,
//! so the packing is unique); brands longer than 16 bytes get no look-alikes.

use rustc_hash::FxHashMap;

/// Longest brand (folded bytes) that gets look-alikes.
pub const MAX_LEN: usize = 16;

/// One brand of the index.
#[derive(Debug, Clone)]
struct Entry {
    text: Vec<u8>,
    max_edits: u8,
}

/// A two-edit brand, for the direct check.
#[derive(Debug, Clone, Copy)]
struct TwoEdit {
    id: u32,
    len: usize,
    chars: u64,
    bigrams: u64,
}

/// The index of every brand's deletions.
#[derive(Default)]
pub struct LookalikeIndex {
    brands: Vec<Entry>,
    /// Key (a brand or one of its one-letter deletions) → ids of the brands with that key.
    keys: FxHashMap<u128, Vec<u32>>,
    /// The brands allowed two edits, checked directly.
    two_edit: Vec<TwoEdit>,
    /// The brands listed under each adjacent pair, as a table indexed by [`pair_slot`]: the
    /// listings of slot `p` are `two_edit_listed[two_edit_starts[p]..two_edit_starts[p + 1]]`.
    /// Built from `two_edit_pairs` at each insert (a few hundred brands: cheap).
    two_edit_starts: Vec<u32>,
    /// A listing: position in `two_edit` << 8 | the brand's length, so that the length test
    /// needs no other load.
    two_edit_listed: Vec<u32>,
    /// Pair slot → positions in `two_edit`, the source of the table above.
    two_edit_pairs: Vec<Vec<u32>>,
    /// Positions in `two_edit` of the brands with too few distinct pairs to be listed.
    two_edit_always: Vec<u32>,
    /// Shortest and longest two-edit brand.
    two_edit_min_len: usize,
    two_edit_max_len: usize,
    /// One bit per key hash (2^17 bits, 16 KiB: stays in the L1/L2 cache where the map does
    /// not): nearly every probe of a query is a miss and ends here.
    filter: Vec<u64>,
    /// Shortest and longest brand indexed: queries outside `min - 2 ..= max + 2` cannot match
    /// and are not probed.
    min_len: usize,
    max_len: usize,
}

/// A look-alike found: which brand (by the id given to [`LookalikeIndex::insert`]) and how many
/// edits away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Near {
    pub brand: u32,
    pub edits: u8,
}

impl LookalikeIndex {
    pub fn new() -> Self {
        LookalikeIndex {
            min_len: usize::MAX,
            ..LookalikeIndex::default()
        }
    }

    /// Adds a brand (folded) allowed up to `max_edits` (1 or 2) edits; returns its id, the
    /// order of insertion.
    pub fn insert(&mut self, brand: &[u8], max_edits: u8) -> Option<u32> {
        if brand.is_empty() || brand.len() > MAX_LEN || max_edits == 0 {
            return None;
        }
        let id = self.brands.len() as u32;
        let max_edits = max_edits.min(2);
        self.brands.push(Entry {
            text: brand.to_vec(),
            max_edits,
        });
        self.min_len = self.min_len.min(brand.len());
        self.max_len = self.max_len.max(brand.len());
        if max_edits == 2 {
            let t = TwoEdit {
                id,
                len: brand.len(),
                chars: char_set(brand),
                bigrams: bigram_set(brand),
            };
            let at = self.two_edit.len() as u32;
            self.two_edit.push(t);
            if at == 0 {
                self.two_edit_min_len = t.len;
            }
            self.two_edit_min_len = self.two_edit_min_len.min(t.len);
            self.two_edit_max_len = self.two_edit_max_len.max(t.len);
            let mut pairs: Vec<usize> = Vec::new();
            for w in brand.windows(2) {
                let p = pair_slot(w);
                if !pairs.contains(&p) {
                    pairs.push(p);
                }
            }
            if pairs.len() < LISTED_PAIRS {
                self.two_edit_always.push(at);
            } else {
                if self.two_edit_pairs.is_empty() {
                    self.two_edit_pairs = vec![Vec::new(); PAIR_SLOTS];
                }
                for &p in &pairs[..LISTED_PAIRS] {
                    self.two_edit_pairs[p].push(at);
                }
                self.two_edit_starts.clear();
                self.two_edit_listed.clear();
                for listed in &self.two_edit_pairs {
                    self.two_edit_starts.push(self.two_edit_listed.len() as u32);
                    self.two_edit_listed.extend(
                        listed
                            .iter()
                            .map(|&at| at << 8 | self.two_edit[at as usize].len as u32),
                    );
                }
                self.two_edit_starts.push(self.two_edit_listed.len() as u32);
            }
            return Some(id);
        }
        if self.filter.is_empty() {
            self.filter = vec![0; FILTER_WORDS];
        }
        let (keys, filter) = (&mut self.keys, &mut self.filter);
        let mut add = |k: u128| {
            let ids = keys.entry(k).or_default();
            if ids.last() != Some(&id) {
                ids.push(id);
            }
            let bit = filter_bit(k);
            filter[bit / 64] |= 1 << (bit % 64);
        };
        add(pack(brand));
        deletions(brand, &mut add);
        Some(id)
    }

    pub fn is_empty(&self) -> bool {
        self.brands.is_empty()
    }

    /// Whether a string of this length could be near a brand at all (cheap, for callers that
    /// want to skip building a query).
    #[inline]
    pub fn may_match_len(&self, len: usize) -> bool {
        !self.brands.is_empty() && len + 2 >= self.min_len && len <= self.max_len + 2
    }

    /// The brands within their allowed edits of `s` (the same string as a brand is not
    /// reported: that is an exact hit, not a look-alike). Appends to `out`, one entry per brand.
    pub fn find(&self, s: &[u8], out: &mut Vec<Near>) {
        if !self.may_match_len(s.len()) || s.len() > MAX_LEN + 2 {
            return;
        }
        let start = out.len();
        let check = |id: u32, out: &mut Vec<Near>| {
            if out[start..].iter().any(|n| n.brand == id) {
                return;
            }
            let e = &self.brands[id as usize];
            let d = osa_distance(s, &e.text, e.max_edits);
            if (1..=e.max_edits).contains(&d) {
                out.push(Near {
                    brand: id,
                    edits: d,
                });
            }
        };
        if !self.keys.is_empty() && s.len() <= MAX_LEN + 1 {
            let mut probe = |k: u128| {
                let bit = filter_bit(k);
                if self.filter[bit / 64] & (1 << (bit % 64)) == 0 {
                    return;
                }
                if let Some(ids) = self.keys.get(&k) {
                    for &id in ids {
                        check(id, out);
                    }
                }
            };
            if s.len() <= MAX_LEN {
                probe(pack(s));
            }
            deletions(s, &mut probe);
        }
        if !self.two_edit.is_empty()
            && s.len() + 2 >= self.two_edit_min_len
            && s.len() <= self.two_edit_max_len + 2
        {
            let (chars, bigrams) = (char_set(s), bigram_set(s));
            // Brands that passed the masks: a brand listed under several pairs of the query is
            // checked once (past the few remembered, a repeat is only checked again).
            let mut seen = [u32::MAX; 16];
            let mut seen_len = 0;
            let mut consider = |at: u32, out: &mut Vec<Near>| {
                let t = &self.two_edit[at as usize];
                // An edit destroys at most three of the brand's adjacent pairs (a swap does).
                if !(at_most_two_bits(t.chars & !chars)
                    && at_most_two_bits(chars & !t.chars)
                    && (t.bigrams & !bigrams).count_ones() <= 6)
                {
                    return;
                }
                if seen[..seen_len].contains(&at) {
                    return;
                }
                if seen_len < seen.len() {
                    seen[seen_len] = at;
                    seen_len += 1;
                }
                check(t.id, out);
            };
            for &at in &self.two_edit_always {
                if self.two_edit[at as usize].len.abs_diff(s.len()) <= 2 {
                    consider(at, out);
                }
            }
            if !self.two_edit_listed.is_empty() {
                for w in s.windows(2) {
                    let p = pair_slot(w);
                    let (from, to) = (self.two_edit_starts[p], self.two_edit_starts[p + 1]);
                    for &listing in &self.two_edit_listed[from as usize..to as usize] {
                        if ((listing & 0xff) as usize).abs_diff(s.len()) <= 2 {
                            consider(listing >> 8, out);
                        }
                    }
                }
            }
        }
    }
}

/// Distinct adjacent pairs a two-edit brand is listed under: two edits destroy at most six.
const LISTED_PAIRS: usize = 7;

/// Character classes of the pair table: a letter or digit each, `-`, and everything else
/// (pairs sharing a slot only make the listing longer, never miss a brand).
const CLASSES: usize = 38;
const PAIR_SLOTS: usize = CLASSES * CLASSES;

#[inline]
fn class(b: u8) -> usize {
    usize::from(match b {
        b'a'..=b'z' => b - b'a',
        b'0'..=b'9' => 26 + b - b'0',
        b'-' => 36,
        _ => 37,
    })
}

/// An adjacent pair's slot in the pair table.
#[inline]
fn pair_slot(w: &[u8]) -> usize {
    class(w[0]) * CLASSES + class(w[1])
}

const FILTER_BITS: u32 = 17;
const FILTER_WORDS: usize = (1 << FILTER_BITS) / 64;

#[inline]
fn filter_bit(k: u128) -> usize {
    let h = ((k as u64) ^ ((k >> 64) as u64).rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> (64 - FILTER_BITS)) as usize
}

/// The set of adjacent pairs of `s`, hashed to 64 bits (pairs sharing a bit only make the
/// filter let more through).
#[inline]
fn bigram_set(s: &[u8]) -> u64 {
    s.windows(2).fold(0u64, |m, w| {
        let h = (u32::from(w[0]).wrapping_mul(31) ^ u32::from(w[1])).wrapping_mul(0x9E37_79B9);
        m | (1u64 << (h >> 26))
    })
}

/// Whether `x` has at most two bits set (clearing the lowest twice leaves nothing); no
/// `popcnt`, which the portable build does not have.
#[inline]
fn at_most_two_bits(x: u64) -> bool {
    let once = x & x.wrapping_sub(1);
    once & once.wrapping_sub(1) == 0
}

/// The set of characters of `s` as a mask: a bit per letter and digit, one for `-` and one for
/// everything else (sharing a bit only makes the filter let more through, never less).
#[inline]
fn char_set(s: &[u8]) -> u64 {
    s.iter().fold(0u64, |m, &b| m | (1u64 << class(b)))
}

/// Packs up to 16 bytes into a key.
#[inline]
fn pack(s: &[u8]) -> u128 {
    let mut k: u128 = 0;
    for &b in s {
        k = (k << 8) | u128::from(b);
    }
    k
}

/// Calls `f` with the key of every string made by deleting one byte of `s` (with repeats; the
/// original itself is not included). Strings over 16 bytes after deletion are skipped. Each key
/// is the packed prefix before the deleted byte shifted over the packed suffix after it, so
/// the `len` keys cost `len` steps, not `len²`.
fn deletions(s: &[u8], f: &mut impl FnMut(u128)) {
    let n = s.len();
    if n == 0 || n - 1 > MAX_LEN {
        return;
    }
    // suffix[i] = pack(s[i..]), for i in 0..=n.
    let mut suffix = [0u128; MAX_LEN + 2];
    // (Of 17 bytes, the whole string does not fit a key and is never needed: start at 1.)
    for i in (n.saturating_sub(MAX_LEN)..n).rev() {
        suffix[i] = (u128::from(s[i]) << (8 * (n - 1 - i))) | suffix[i + 1];
    }
    let mut prefix: u128 = 0; // pack(s[..i])
    for i in 0..n {
        let tail = n - 1 - i; // bytes after the deleted one
        let key = if tail == 16 {
            suffix[i + 1]
        } else {
            (prefix << (8 * tail)) | suffix[i + 1]
        };
        f(key);
        prefix = (prefix << 8) | u128::from(s[i]);
    }
}

/// Optimal string alignment distance (insertions, deletions, substitutions, adjacent
/// transpositions), or `limit + 1` as soon as it must exceed `limit`. No allocation: strings
/// longer than [`MAX_LEN`] + 2 are `limit + 1` away.
pub fn osa_distance(a: &[u8], b: &[u8], limit: u8) -> u8 {
    const W: usize = MAX_LEN + 3;
    let over = limit.saturating_add(1);
    let limit = usize::from(limit);
    if a.len().abs_diff(b.len()) > limit {
        return over;
    }
    if a == b {
        return 0;
    }
    let (n, m) = (a.len(), b.len());
    if n >= W || m >= W {
        return over;
    }
    // Three rows, row i at i % 3: i-2, i-1 and i. Only the band |i - j| <= limit can stay
    // within the limit; cells outside it hold a value over the limit.
    let far = limit + 1;
    let mut rows = [[far; W]; 3];
    for (j, v) in rows[0].iter_mut().enumerate().take(m.min(limit) + 1) {
        *v = j;
    }
    for i in 1..=n {
        let (cur, prev, prev2) = (i % 3, (i + 2) % 3, (i + 1) % 3);
        rows[cur] = [far; W];
        if i <= limit {
            rows[cur][0] = i;
        }
        let mut row_min = if i <= limit { i } else { far };
        for j in i.saturating_sub(limit).max(1)..=(i + limit).min(m) {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (rows[prev][j] + 1)
                .min(rows[cur][j - 1] + 1)
                .min(rows[prev][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(rows[prev2][j - 2] + 1);
            }
            let v = v.min(far);
            rows[cur][j] = v;
            row_min = row_min.min(v);
        }
        if row_min > limit {
            return over;
        }
    }
    rows[n % 3][m].min(limit + 1) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> LookalikeIndex {
        let mut ix = LookalikeIndex::new();
        ix.insert(b"paypal", 1);
        ix.insert(b"bankofamerica", 2);
        ix
    }

    fn near(ix: &LookalikeIndex, s: &str) -> Option<u8> {
        let mut out = Vec::new();
        ix.find(s.as_bytes(), &mut out);
        out.first().map(|n| n.edits)
    }

    #[test]
    fn every_one_edit_typo_family_is_found() {
        let ix = index();
        for typo in [
            "paypl",   // omission
            "aypal",   // omission of the first letter
            "paypall", // repetition
            "paypzal", // insertion
            "paypsl",  // replacement
            "paypla",  // transposition
            "paypol",  // vowel swap
            "pqypal",  // bitsquatting
            "paypals", // addition
        ] {
            assert_eq!(near(&ix, typo), Some(1), "{typo}");
        }
        assert_eq!(near(&ix, "paypal"), None, "exact is not a look-alike");
        assert_eq!(near(&ix, "pypl"), None, "two edits from a short brand");
        assert_eq!(near(&ix, "bnakofamreica"), Some(2));
        assert_eq!(
            near(&ix, "bankofamrica"),
            Some(1),
            "one edit from a two-edit brand"
        );
        assert_eq!(near(&ix, "bankxfamerixa"), Some(2), "two replacements");
        assert_eq!(near(&ix, "bankofamerica-x"), Some(2), "two additions");
        assert_eq!(near(&ix, "bankfamerca"), Some(2), "two omissions");
        assert_eq!(near(&ix, "bxnkofxmerixa"), None, "three edits");
        assert_eq!(near(&ix, "bankofamerica"), None);
        assert_eq!(near(&ix, "example"), None);
    }

    #[test]
    fn deletion_keys_are_the_packed_deletions() {
        for s in [
            "a",
            "ab",
            "paypal",
            "bankofamerica",
            "abcdefghijklmnop",
            "abcdefghijklmnopq",
        ] {
            let s = s.as_bytes();
            let mut got = Vec::new();
            deletions(s, &mut |k| got.push(k));
            let want: Vec<u128> = (0..s.len())
                .map(|i| {
                    let d: Vec<u8> = s
                        .iter()
                        .enumerate()
                        .filter(|(j, _)| *j != i)
                        .map(|(_, b)| *b)
                        .collect();
                    pack(&d)
                })
                .collect();
            assert_eq!(got, want, "{}", String::from_utf8_lossy(s));
        }
    }

    #[test]
    fn osa_distance_counts_a_transposition_once() {
        assert_eq!(osa_distance(b"paypal", b"paypla", 2), 1);
        assert_eq!(osa_distance(b"paypal", b"apypla", 2), 2);
        assert_eq!(osa_distance(b"paypal", b"xxxxxx", 2), 3);
        assert_eq!(osa_distance(b"", b"ab", 2), 2);
        assert_eq!(osa_distance(&[b'a'; 30], &[b'a'; 31], 2), 3, "too long");
        // The banded form against the full table, on every pair of a few hundred strings.
        let words: Vec<Vec<u8>> = [
            "paypal",
            "paypla",
            "apypal",
            "aypal",
            "paypall",
            "pypl",
            "payapl",
            "bankofamerica",
            "bnakofamerica",
            "bankfamerca",
            "amazon",
            "amzaon",
            "a",
            "",
            "ab",
            "ba",
        ]
        .iter()
        .map(|w| w.as_bytes().to_vec())
        .collect();
        for a in &words {
            for b in &words {
                for limit in [1u8, 2, 3] {
                    assert_eq!(
                        osa_distance(a, b, limit),
                        full_osa(a, b).min(usize::from(limit) + 1) as u8,
                        "{a:?} {b:?} {limit}"
                    );
                }
            }
        }
    }

    fn full_osa(a: &[u8], b: &[u8]) -> usize {
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

    /// Random one- and two-edit variants of long and short brands: the index finds exactly what
    /// the full distance says (the filters never reject a true look-alike).
    #[test]
    fn the_index_agrees_with_the_distance_on_random_edits() {
        // (`abababababab` has two distinct pairs: too few to be listed under them.)
        let brands: [&[u8]; 5] = [
            b"bankofamerica",
            b"westernunion",
            b"paypal",
            b"netflix",
            b"abababababab",
        ];
        let mut ix = LookalikeIndex::new();
        for b in brands {
            ix.insert(b, if b.len() >= 10 { 2 } else { 1 });
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let mut checked = 0;
        for round in 0..20_000 {
            let brand = brands[round % brands.len()];
            let mut s = brand.to_vec();
            for _ in 0..1 + next(2) {
                let i = next(s.len());
                match next(4) {
                    0 => s[i] = b'a' + next(26) as u8,
                    1 => s.insert(i, b'a' + next(26) as u8),
                    2 if s.len() > 1 => {
                        s.remove(i);
                    }
                    _ if i + 1 < s.len() => s.swap(i, i + 1),
                    _ => {}
                }
            }
            let mut out = Vec::new();
            ix.find(&s, &mut out);
            for (id, b) in brands.iter().enumerate() {
                let limit = if b.len() >= 10 { 2 } else { 1 };
                let d = full_osa(&s, b);
                let found = out.iter().find(|n| n.brand == id as u32).map(|n| n.edits);
                let want = (1..=limit).contains(&d).then_some(d as u8);
                assert_eq!(
                    found,
                    want,
                    "{} vs {}",
                    String::from_utf8_lossy(&s),
                    String::from_utf8_lossy(b)
                );
                checked += usize::from(want.is_some());
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn at_most_two_bits_counts_right() {
        for x in [0u64, 1, 2, 3, 5, 1 << 63, (1 << 63) | 1] {
            assert!(at_most_two_bits(x), "{x:b}");
        }
        for x in [7u64, 0b1011, u64::MAX, (1 << 63) | 3] {
            assert!(!at_most_two_bits(x), "{x:b}");
        }
    }

    #[test]
    fn long_and_empty_strings_are_ignored() {
        let mut ix = index();
        assert_eq!(ix.insert(b"", 1), None);
        assert_eq!(ix.insert(&[b'a'; 17], 1), None);
        assert_eq!(near(&ix, &"a".repeat(40)), None);
        assert_eq!(near(&ix, ""), None);
    }
}
