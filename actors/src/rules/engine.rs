//! The compiled rules and the decision for one name (see the module doc of [`super`]).

use super::lookalike::{LookalikeIndex, Near};
use super::score::{Term, TermKind};
use super::words::{Cut, Lexicon};
use super::{Assessment, CertContext, Explanation, LabelWords, NameMatch, RulesError, Verdict};
use crate::normalise::{self, Normalised};
use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::DFA;
use aho_corasick::{AhoCorasick, Anchored, MatchKind};
use certhound_config::{MatcherConfig, Weights};
use rustc_hash::FxHashSet;

/// Words that look like a top-level domain inside the name (`paypal.com.evil.example`).
const FAKE_TLD_WORDS: &[&str] = &["com", "net", "org"];

/// Brands this long or shorter (`ing`, `dhl`, `itau`) count only next to a label's edge, a
/// hyphen or a digit.
const SHORT_BRAND: usize = 4;

/// Whether `s[start..end]` has something other than a letter (or the end) on one side.
#[inline]
fn letter_edge(s: &[u8], start: usize, end: usize) -> bool {
    start == 0
        || end >= s.len()
        || !s[start - 1].is_ascii_lowercase()
        || !s[end].is_ascii_lowercase()
}

/// Endings that still count as the suspicious word (`verifying`, `accounts`, `updated`).
const INFLECTIONS: &[&str] = &[
    "s", "es", "ed", "d", "ing", "er", "ers", "ation", "ations", "ion", "ions", "y", "ment",
    "ments", "ly",
];

/// Ordinary words that start with a suspicious one and an inflection: not suspicious.
const NOT_INFLECTIONS: &[&str] = &["accounting", "accountancy", "servicing", "supporter"];

/// A configured brand, compiled.
#[derive(Debug)]
struct Brand {
    /// As configured, for messages (`paypal`, `gov-uk`).
    name: String,
    /// Folded, without hyphens: what is matched.
    folded: Vec<u8>,
    /// A common keyword: lower weight, no typo look-alikes.
    common: bool,
}

/// What an automaton pattern stands for.
#[derive(Debug, Clone, Copy)]
enum Pattern {
    Brand(u32),
    Word(u32),
}

/// The compiled `[matcher]` rules.
pub struct RuleSet {
    brands: Vec<Brand>,
    /// Suspicious words as configured, and whether each is a weak one.
    words: Vec<(String, bool)>,
    /// Every brand and suspicious word, folded and without hyphens.
    automaton: AhoCorasick,
    /// The same patterns, stepped by hand on the fast path.
    dfa: DFA,
    patterns: Vec<Pattern>,
    /// Folded brands and suspicious words: a label equal to one is not a look-alike of another.
    configured: FxHashSet<Vec<u8>>,
    lookalikes: LookalikeIndex,
    /// Look-alike id → brand index.
    lookalike_brand: Vec<u32>,
    /// Labels shorter than this are never look-alikes (`matcher.lookalike_min_length`).
    lookalike_min_length: usize,
    lexicon: Lexicon,
    allow_exact: FxHashSet<String>,
    allow_any_suffix: FxHashSet<String>,
    risky_tlds: FxHashSet<String>,
    free_cas: Vec<String>,
    weights: Weights,
    threshold: f64,
}

/// Reusable buffers, so that matching allocates nothing for names that match nothing.
#[derive(Default)]
pub struct Scratch {
    folded: Vec<u8>,
    part: Vec<u8>,
    /// Where each byte of `part` is in `folded`.
    part_at: Vec<usize>,
    nears: Vec<Near>,
    cut: Cut,
    /// The look-alikes of the name being checked, found once and read by every later step.
    lookalikes: Vec<FoundLookalike>,
    /// Whether `lookalikes` is filled for the name being checked.
    lookalikes_found: bool,
}

/// A brand look-alike in a name: in which label, which string (the label, a part between its
/// hyphens or the label without hyphens) and how near.
#[derive(Debug, Clone)]
struct FoundLookalike {
    label: usize,
    candidate: Vec<u8>,
    near: Near,
}

/// One brand seen in a name: how strongly, and where.
#[derive(Debug, Clone)]
struct BrandHit {
    brand: u32,
    kind: TermKind,
    weight: f64,
    detail: String,
    in_subdomain: bool,
}

impl RuleSet {
    /// Compiles `[matcher]`, reading `matcher.allowlist_file` if set.
    pub fn new(cfg: &MatcherConfig) -> Result<RuleSet, RulesError> {
        let err = |key: &str, message: String| RulesError {
            key: key.to_string(),
            message,
        };
        let mut brands: Vec<Brand> = Vec::new();
        let common: FxHashSet<Vec<u8>> = cfg
            .common_keywords
            .iter()
            .map(|k| compact(&normalise::fold(k)))
            .collect();
        for k in cfg.keywords.iter().chain(&cfg.common_keywords) {
            let folded = compact(&normalise::fold(k));
            if folded.is_empty() || brands.iter().any(|b| b.folded == folded) {
                continue;
            }
            let is_common = common.contains(&folded) || folded.len() <= 4;
            brands.push(Brand {
                name: k.trim().to_lowercase(),
                folded,
                common: is_common,
            });
        }
        let mut words: Vec<(String, bool)> = Vec::new();
        let mut word_folded: Vec<Vec<u8>> = Vec::new();
        let weak: FxHashSet<Vec<u8>> = cfg
            .weak_suspicious_words
            .iter()
            .map(|w| compact(&normalise::fold(w)))
            .collect();
        for w in cfg
            .suspicious_words
            .iter()
            .chain(&cfg.weak_suspicious_words)
        {
            let f = compact(&normalise::fold(w));
            if f.is_empty() || word_folded.contains(&f) || brands.iter().any(|b| b.folded == f) {
                continue;
            }
            words.push((w.trim().to_lowercase(), weak.contains(&f)));
            word_folded.push(f);
        }
        let mut texts: Vec<&[u8]> = Vec::new();
        let mut patterns = Vec::new();
        for (i, b) in brands.iter().enumerate() {
            texts.push(&b.folded);
            patterns.push(Pattern::Brand(i as u32));
        }
        for (i, w) in word_folded.iter().enumerate() {
            texts.push(w);
            patterns.push(Pattern::Word(i as u32));
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&texts)
            .map_err(|e| err("matcher.keywords", format!("cannot compile keywords: {e}")))?;
        let dfa = DFA::builder()
            .match_kind(MatchKind::Standard)
            .build(&texts)
            .map_err(|e| err("matcher.keywords", format!("cannot compile keywords: {e}")))?;
        let mut lookalikes = LookalikeIndex::new();
        let mut lookalike_brand = Vec::new();
        for (i, b) in brands.iter().enumerate() {
            if b.folded.len() < cfg.lookalike_min_length {
                continue;
            }
            let edits = if b.folded.len() >= cfg.lookalike_two_edits_length {
                2
            } else {
                1
            };
            if lookalikes.insert(&b.folded, edits).is_some() {
                lookalike_brand.push(i as u32);
            }
        }
        let configured: FxHashSet<Vec<u8>> = brands
            .iter()
            .map(|b| b.folded.clone())
            .chain(word_folded.iter().cloned())
            .collect();
        let lexicon = Lexicon::new(
            brands
                .iter()
                .map(|b| &b.folded)
                .chain(word_folded.iter())
                .filter_map(|b| std::str::from_utf8(b).ok()),
        );
        let mut allow_exact = FxHashSet::default();
        let mut allow_any_suffix = FxHashSet::default();
        let mut add_allow = |a: &str| {
            let a = a.trim().to_lowercase();
            match a.strip_suffix(".*") {
                Some(name) => allow_any_suffix.insert(name.to_string()),
                None => allow_exact.insert(a),
            };
        };
        for a in &cfg.allowlist {
            add_allow(a);
        }
        if !cfg.allowlist_file.is_empty() {
            let text = std::fs::read(&cfg.allowlist_file).map_err(|e| {
                err(
                    "matcher.allowlist_file",
                    format!("cannot read {}: {e}", cfg.allowlist_file),
                )
            })?;
            for (i, line) in text.split(|b| *b == b'\n').enumerate() {
                let line = String::from_utf8_lossy(line);
                let entry = line.split('#').next().unwrap_or("").trim();
                // Ranked lists come as `rank,domain`: take the last field.
                let entry = entry.rsplit(',').next().unwrap_or("").trim();
                if entry.is_empty() {
                    continue;
                }
                certhound_config::check_allow_entry(entry).map_err(|why| {
                    err(
                        "matcher.allowlist_file",
                        format!("{} line {}: {why}", cfg.allowlist_file, i + 1),
                    )
                })?;
                add_allow(entry);
            }
        }
        Ok(RuleSet {
            brands,
            words,
            automaton,
            dfa,
            patterns,
            configured,
            lookalikes,
            lookalike_brand,
            lookalike_min_length: cfg.lookalike_min_length,
            lexicon,
            allow_exact,
            allow_any_suffix,
            risky_tlds: cfg.risky_tlds.iter().map(|t| t.to_lowercase()).collect(),
            free_cas: cfg
                .free_ca_issuers
                .iter()
                .map(|c| c.to_lowercase())
                .collect(),
            weights: cfg.weights.clone(),
            threshold: cfg.threshold,
        })
    }

    /// Number of brands and suspicious words compiled.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Allowlisted registrable domains (config and file).
    pub fn allowlist_len(&self) -> usize {
        self.allow_exact.len() + self.allow_any_suffix.len()
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// The decision for one name: nearly every name is [`Verdict::Clean`] after the fast path.
    pub fn check(
        &self,
        name: &Normalised<'_>,
        ctx: CertContext<'_>,
        scratch: &mut Scratch,
    ) -> Verdict {
        name.fold_into(&mut scratch.folded);
        scratch.lookalikes_found = false;
        // The score is rounded to hundredths: a bound just below the threshold may still round
        // up to it.
        if !self.may_hit(scratch) || self.score_bound(name, ctx, scratch) + 0.006 < self.threshold {
            return Verdict::Clean;
        }
        // A brand's own domain (`api.stage.paypal.com`) is not scored: it could alert, and is
        // allowlisted either way.
        if registrable_domain(&name.ascii).is_some_and(|r| self.is_allowlisted(r)) {
            return Verdict::Allowlisted;
        }
        let a = self.assess_folded(name, ctx, scratch, None);
        if a.score < self.threshold {
            return Verdict::Clean;
        }
        match a.registrable_domain {
            Some(registrable_domain) => Verdict::Finding(NameMatch {
                registrable_domain,
                rules: a.rules,
                homoglyph: a.homoglyph,
                score: a.score,
                terms: a.terms,
            }),
            None => Verdict::Clean,
        }
    }

    /// The full judgement of one name, whatever the threshold.
    pub fn assess(&self, input: &str, ctx: CertContext<'_>) -> Assessment {
        let name = normalise::normalise(input);
        let mut scratch = Scratch::default();
        name.fold_into(&mut scratch.folded);
        self.assess_folded(&name, ctx, &mut scratch, None)
    }

    /// The fast path: could any brand, suspicious word or look-alike be in the folded name?
    /// One DFA pass (hyphens skipped, so `pay-pal` reads as `paypal`) and the look-alike probes
    /// of the labels of brand-like length. No allocation.
    fn may_hit(&self, scratch: &mut Scratch) -> bool {
        let dfa = &self.dfa;
        if let Ok(mut sid) = dfa.start_state(Anchored::No) {
            for &b in &scratch.folded {
                if b == b'-' {
                    continue;
                }
                sid = dfa.next_state(Anchored::No, sid, b);
                if dfa.is_special(sid) && dfa.is_match(sid) {
                    return true;
                }
            }
        } else {
            return true; // cannot happen for an unanchored DFA; take the full path
        }
        self.find_lookalikes(scratch);
        !scratch.lookalikes.is_empty()
    }

    /// Fills `scratch.lookalikes` with the look-alikes of every label of the folded name, once
    /// per name: the fast path, the bound and the full score all read them.
    fn find_lookalikes(&self, scratch: &mut Scratch) {
        if scratch.lookalikes_found {
            return;
        }
        let Scratch {
            folded,
            part,
            nears,
            lookalikes,
            lookalikes_found,
            ..
        } = scratch;
        lookalikes.clear();
        *lookalikes_found = true;
        if self.lookalikes.is_empty() {
            return;
        }
        for (li, label) in folded.split(|b| *b == b'.').enumerate() {
            self.label_lookalikes(label, part, nears, |candidate, found| {
                lookalikes.extend(found.iter().map(|&near| FoundLookalike {
                    label: li,
                    candidate: candidate.to_vec(),
                    near,
                }));
            });
        }
    }

    /// An upper bound of the score of a name that passed [`Self::may_hit`], without cutting
    /// labels into words (the costly step): every brand or suspicious-word substring counts as
    /// if it stood at word boundaries with its strongest weight, every look-alike as one edit
    /// away, and the random-label term (which needs the words) as present. Most names with a substring hit (`booking` holds the common keyword `ing`,
    /// `onlineservices` two weak words) stay below the threshold here and are done.
    fn score_bound(
        &self,
        name: &Normalised<'_>,
        ctx: CertContext<'_>,
        scratch: &mut Scratch,
    ) -> f64 {
        let w = &self.weights;
        let strongest = w.brand_label.max(w.brand_part).max(w.brand_word);
        // (brand, weight) and (word, weight) seen, at most a few each.
        let mut brands: [(u32, f64); 8] = [(u32::MAX, 0.0); 8];
        let mut words: [(u32, f64); 8] = [(u32::MAX, 0.0); 8];
        fn keep(list: &mut [(u32, f64); 8], id: u32, weight: f64) -> bool {
            for slot in list.iter_mut() {
                if slot.0 == id {
                    slot.1 = slot.1.max(weight);
                    return true;
                }
                if slot.0 == u32::MAX {
                    *slot = (id, weight);
                    return true;
                }
            }
            false // more distinct hits than slots: no bound, take the full path
        }
        self.find_lookalikes(scratch);
        let Scratch {
            folded,
            part,
            part_at,
            lookalikes,
            ..
        } = scratch;
        part.clear();
        part_at.clear();
        for (i, b) in folded.iter().enumerate() {
            if *b != b'-' {
                part.push(*b);
                part_at.push(i);
            }
        }
        let ascii = name.ascii.as_ref();
        let suffix = public_suffix(ascii);
        let suffix_labels = suffix.map_or(1, |s| s.split('.').count());
        let labels = folded.split(|b| *b == b'.').count();
        let owners = labels.saturating_sub(suffix_labels);
        // Where the registrable domain's own label starts, in `part` (no hyphens): a brand
        // ending before it stands in a subdomain.
        let registrable_label = owners.saturating_sub(1);
        let mut reg_start = 0;
        let mut seen = 0;
        for (i, b) in folded.iter().enumerate() {
            if seen == registrable_label {
                reg_start = i;
                break;
            }
            if *b == b'.' {
                seen += 1;
            }
        }
        let reg_start = reg_start - folded[..reg_start].iter().filter(|b| **b == b'-').count();
        let mut brand_in_subdomain = false;
        for m in self.automaton.find_overlapping_iter(part.as_slice()) {
            let fits = match self.patterns[m.pattern().as_usize()] {
                Pattern::Brand(b) => {
                    let (start, end) = (part_at[m.start()], part_at[m.end() - 1] + 1);
                    if self.brands[b as usize].folded.len() <= SHORT_BRAND
                        && !letter_edge(folded, start, end)
                    {
                        continue;
                    }
                    brand_in_subdomain |= m.end() <= reg_start;
                    let weight = if self.brands[b as usize].common {
                        strongest * w.common_keyword
                    } else {
                        strongest
                    };
                    keep(&mut brands, b, weight)
                }
                Pattern::Word(i) => {
                    let weight = if self.words[i as usize].1 {
                        w.weak_suspicious_word
                    } else {
                        w.suspicious_word
                    };
                    keep(&mut words, i, weight)
                }
            };
            if !fits {
                return f64::INFINITY;
            }
        }
        for found in lookalikes.iter() {
            brand_in_subdomain |= found.label < registrable_label;
            let b = self.lookalike_brand[found.near.brand as usize];
            if !keep(&mut brands, b, w.lookalike) {
                return f64::INFINITY;
            }
        }
        let top = |list: &mut [(u32, f64); 8], n: usize| {
            list.sort_by(|a, b| b.1.total_cmp(&a.1));
            list.iter().take(n).map(|x| x.1).sum::<f64>()
        };
        let branded = brands[0].0 != u32::MAX;
        let content = top(&mut brands, 2) + top(&mut words, w.max_suspicious_words);
        if content == 0.0 {
            return 0.0;
        }
        let owner = || {
            folded
                .split(|b| *b == b'.')
                .take(labels.saturating_sub(suffix_labels))
        };
        let mut structure = 0.0;
        let mut add = |on: bool, weight: f64| {
            if on {
                structure += weight;
            }
        };
        add(brand_in_subdomain, w.brand_in_subdomain);
        add(
            owner().any(|l| {
                l.split(|b| *b == b'-')
                    .any(|p| FAKE_TLD_WORDS.iter().any(|f| f.as_bytes() == p))
            }),
            w.fake_tld_word,
        );
        add(owners.saturating_sub(1) >= 4, w.deep_nesting);
        add(ctx.issuer.is_some(), w.free_ca);
        add(
            owner().any(|l| l.iter().filter(|b| **b == b'-').count() >= 3),
            w.hyphens,
        );
        add(has_digit_run(ascii, 4), w.digits);
        add(
            owner().any(|l| l.iter().filter(|b| **b != b'-').count() >= 12),
            w.random_label,
        );
        if !branded {
            structure = structure.min(w.unbranded_structure_cap);
        }
        let risky = suffix.is_some_and(|s| self.risky_tlds.contains(s));
        let homoglyph = branded && name.unicode.is_some();
        content
            + structure
            + if risky { w.risky_tld } else { 0.0 }
            + if homoglyph { w.homoglyph } else { 0.0 }
    }

    /// Look-alikes of brands in one label: the label, its parts between hyphens, and the label
    /// without hyphens (`pay-pal`, hyphenation). `visit` gets each candidate that is near a
    /// brand, with the brands it is near (`nears` is the scratch space for those).
    fn label_lookalikes(
        &self,
        label: &[u8],
        part: &mut Vec<u8>,
        nears: &mut Vec<Near>,
        mut visit: impl FnMut(&[u8], &[Near]),
    ) {
        if !self.lookalikes.may_match_len(label.len()) && !label.contains(&b'-') {
            return;
        }
        // A candidate shorter than the shortest brand with look-alikes is no look-alike:
        // four letters one edit from a five-letter brand are mostly other names (`dobe`, `fede`).
        let mut probe = |s: &[u8], nears: &mut Vec<Near>| {
            if s.len() >= self.lookalike_min_length && self.lookalikes.may_match_len(s.len()) {
                nears.clear();
                self.lookalikes.find(s, nears);
                // The word lookup only for the rare string that is near a brand.
                if !nears.is_empty() && !self.is_ordinary(s) {
                    visit(s, nears);
                }
            }
        };
        if label.contains(&b'-') {
            part.clear();
            part.extend(label.iter().filter(|b| **b != b'-'));
            probe(part, nears);
            for p in label.split(|b| *b == b'-') {
                probe(p, nears);
            }
        } else {
            probe(label, nears);
        }
    }

    /// A word of the dictionary or a configured word: not a look-alike of a brand even when it
    /// is one edit from one (`papal`, `finance`).
    fn is_ordinary(&self, s: &[u8]) -> bool {
        self.lexicon.is_dictionary_word(s) || self.configured.contains(s)
    }

    /// Scores a folded name. `labels_out` collects each label's words for `explain`.
    fn assess_folded(
        &self,
        name: &Normalised<'_>,
        ctx: CertContext<'_>,
        scratch: &mut Scratch,
        mut labels_out: Option<&mut Vec<LabelWords>>,
    ) -> Assessment {
        let ascii = name.ascii.as_ref();
        let registrable = registrable_domain(ascii).map(str::to_string);
        let suffix = public_suffix(ascii);
        let suffix_labels = suffix.map_or(1, |s| s.split('.').count());
        let folded = String::from_utf8_lossy(&scratch.folded).into_owned();
        let labels: Vec<&str> = folded.split('.').collect();
        // Labels below the public suffix; the last of them is the registrable domain's own.
        let owner = &labels[..labels.len().saturating_sub(suffix_labels)];
        let mut brand_hits: Vec<BrandHit> = Vec::new();
        let mut found_words: Vec<u32> = Vec::new();
        let mut fake_tld = false;
        let mut random_label: Option<String> = None;
        let last = owner.len().saturating_sub(1);
        let mut uncut_long: Vec<usize> = Vec::new();
        let w = &self.weights;
        for (li, label) in owner.iter().enumerate() {
            let bytes = label.as_bytes();
            let in_subdomain = li != last;
            // Compact form (no hyphens) and where each of its bytes is in the label.
            let (compact, at): (Vec<u8>, Vec<usize>) = bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b != b'-')
                .map(|(i, b)| (*b, i))
                .unzip();
            let pos = |c: usize| at.get(c).copied().unwrap_or(bytes.len());
            let end_pos = |c: usize| if c == 0 { 0 } else { pos(c - 1) + 1 };
            // Glued words are not enough (`paycomonline`): a label or a part between hyphens.
            fake_tld |= label.split('-').any(|p| FAKE_TLD_WORDS.contains(&p));
            let letters = compact.len();
            let hits: Vec<_> = self
                .automaton
                .find_overlapping_iter(compact.as_slice())
                .collect();
            // Cutting into words is the costly step: only labels with a hit need it now; a long
            // label without one is cut later, and only if the random-label term could count.
            if hits.is_empty() && labels_out.is_none() {
                if letters >= 12 {
                    uncut_long.push(li);
                }
            } else {
                self.lexicon.cut(bytes, &mut scratch.cut);
                if letters >= 12 && scratch.cut.unknown * 10 >= letters * 6 {
                    random_label = Some(label.to_string());
                }
            }
            let cut = &scratch.cut;
            if let Some(out) = labels_out.as_deref_mut() {
                out.push(LabelWords {
                    label: label.to_string(),
                    words: cut.words(label).into_iter().map(str::to_string).collect(),
                });
            }
            for m in hits {
                let (start, end) = (pos(m.start()), end_pos(m.end()));
                if !cut.is_boundary(start) {
                    continue;
                }
                match self.patterns[m.pattern().as_usize()] {
                    Pattern::Brand(b) => {
                        if !cut.is_boundary(end) {
                            continue;
                        }
                        let brand = &self.brands[b as usize];
                        // A short brand glued between two words is mostly a piece of another
                        // word (`painting`, `bidhlawn`): it counts only against a label's edge,
                        // a hyphen or a digit on one side at least.
                        if brand.folded.len() <= SHORT_BRAND && !letter_edge(bytes, start, end) {
                            continue;
                        }
                        let whole = m.start() == 0 && m.end() == compact.len();
                        // Between hyphens or a label's ends, with no hyphen inside.
                        let part = (start == 0 || bytes[start - 1] == b'-')
                            && (end == bytes.len() || bytes[end] == b'-')
                            && !bytes[start..end].contains(&b'-');
                        let (kind, base) = if whole {
                            (TermKind::BrandLabel, w.brand_label)
                        } else if part {
                            (TermKind::BrandPart, w.brand_part)
                        } else {
                            (TermKind::BrandWord, w.brand_word)
                        };
                        let weight = if brand.common {
                            base * w.common_keyword
                        } else {
                            base
                        };
                        brand_hits.push(BrandHit {
                            brand: b,
                            kind,
                            weight,
                            detail: if brand.common {
                                format!("{} (common word)", brand.name)
                            } else {
                                brand.name.clone()
                            },
                            in_subdomain,
                        });
                    }
                    Pattern::Word(i) => {
                        if (cut.is_boundary(end) || inflected_to_boundary(bytes, start, end, cut))
                            && !found_words.contains(&i)
                        {
                            found_words.push(i);
                        }
                    }
                }
            }
        }
        self.find_lookalikes(scratch);
        for found in scratch.lookalikes.iter().filter(|f| f.label < owner.len()) {
            let n = found.near;
            let b = self.lookalike_brand[n.brand as usize];
            let factor = if n.edits == 1 { 1.0 } else { 0.8 };
            brand_hits.push(BrandHit {
                brand: b,
                kind: TermKind::Lookalike,
                weight: w.lookalike * factor,
                detail: format!(
                    "{} ({} edit{} in {})",
                    self.brands[b as usize].name,
                    n.edits,
                    if n.edits == 1 { "" } else { "s" },
                    String::from_utf8_lossy(&found.candidate)
                ),
                in_subdomain: found.label != last,
            });
        }

        // The best hit of each brand, strongest brands first; at most two brands count.
        brand_hits.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        let mut best: Vec<BrandHit> = Vec::new();
        for h in brand_hits {
            if !best.iter().any(|b| b.brand == h.brand) {
                best.push(h);
            }
        }
        let mut terms: Vec<Term> = Vec::new();
        let mut rules: Vec<String> = Vec::new();
        for h in best.iter().take(2) {
            terms.push(Term {
                kind: h.kind,
                detail: h.detail.clone(),
                weight: h.weight,
            });
        }
        for h in &best {
            let name = &self.brands[h.brand as usize].name;
            let rule = match h.kind {
                TermKind::Lookalike => format!("lookalike:{name}"),
                _ => format!("keyword:{name}"),
            };
            if !rules.contains(&rule) {
                rules.push(rule);
            }
        }
        // Strong words first, so that the cap keeps the strongest.
        let mut found: Vec<&(String, bool)> = found_words
            .iter()
            .map(|i| &self.words[*i as usize])
            .collect();
        found.sort_unstable_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        for (word, weak) in found.iter().take(w.max_suspicious_words) {
            terms.push(Term {
                kind: TermKind::SuspiciousWord,
                detail: if *weak {
                    format!("{word} (weak)")
                } else {
                    word.clone()
                },
                weight: if *weak {
                    w.weak_suspicious_word
                } else {
                    w.suspicious_word
                },
            });
        }
        let mut word_names: Vec<&str> = found.iter().map(|(w, _)| w.as_str()).collect();
        word_names.sort_unstable();
        if !word_names.is_empty() {
            rules.push(format!("words:{}", word_names.join("+")));
        }
        // A brand that only shows after folding non-ASCII characters is an imitation.
        let homoglyph = !best.is_empty() && name.unicode.is_some() && {
            let plain = name.display();
            best.iter().any(|h| {
                let b = &self.brands[h.brand as usize];
                !plain.contains(b.name.as_str())
            })
        };
        let content = !terms.is_empty();
        if content && random_label.is_none() {
            for &li in &uncut_long {
                let label = owner[li];
                self.lexicon.cut(label.as_bytes(), &mut scratch.cut);
                let letters = label.bytes().filter(|b| *b != b'-').count();
                if scratch.cut.unknown * 10 >= letters * 6 {
                    random_label = Some(label.to_string());
                    break;
                }
            }
        }
        // Structure strengthens a brand; without one it is capped (see the weight's doc).
        let branded = !best.is_empty();
        let mut unbranded_structure = 0.0;
        if content {
            let mut add = |on: bool, kind: TermKind, detail: String, weight: f64| {
                let capped = !branded && !matches!(kind, TermKind::Homoglyph | TermKind::RiskyTld);
                if capped {
                    if !on || unbranded_structure + weight > w.unbranded_structure_cap + 1e-9 {
                        return;
                    }
                    unbranded_structure += weight;
                }
                if on && weight > 0.0 {
                    terms.push(Term {
                        kind,
                        detail,
                        weight,
                    });
                }
            };
            add(
                homoglyph,
                TermKind::Homoglyph,
                "non-ASCII look-alikes".into(),
                w.homoglyph,
            );
            add(
                best.iter().any(|h| h.in_subdomain),
                TermKind::BrandInSubdomain,
                registrable.clone().unwrap_or_default(),
                w.brand_in_subdomain,
            );
            add(
                fake_tld,
                TermKind::FakeTldWord,
                "com/net/org".into(),
                w.fake_tld_word,
            );
            let below = owner.len().saturating_sub(1);
            add(
                below >= 4,
                TermKind::DeepNesting,
                format!("{below} labels"),
                w.deep_nesting,
            );
            if let Some(s) = suffix {
                add(
                    self.risky_tlds.contains(s),
                    TermKind::RiskyTld,
                    s.to_string(),
                    w.risky_tld,
                );
            }
            if let Some(issuer) = ctx.issuer {
                let lower = issuer.to_lowercase();
                let free = self.free_cas.iter().find(|c| lower.contains(c.as_str()));
                add(
                    free.is_some(),
                    TermKind::FreeCa,
                    issuer.to_string(),
                    w.free_ca,
                );
            }
            let hyphens = owner.iter().find(|l| l.matches('-').count() >= 3);
            add(
                hyphens.is_some(),
                TermKind::Hyphens,
                hyphens.map(|s| s.to_string()).unwrap_or_default(),
                w.hyphens,
            );
            add(
                has_digit_run(ascii, 4),
                TermKind::Digits,
                "4+ digits".into(),
                w.digits,
            );
            add(
                random_label.is_some(),
                TermKind::RandomLabel,
                random_label.unwrap_or_default(),
                w.random_label,
            );
        }
        terms.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        let score = terms.iter().map(|t| t.weight).sum::<f64>();
        // Round to hundredths so that the score shown is the score compared.
        let score = (score * 100.0).round() / 100.0;
        rules.sort_unstable();
        let allowlisted = registrable
            .as_deref()
            .is_some_and(|r| self.is_allowlisted(r));
        Assessment {
            score,
            terms,
            rules,
            homoglyph,
            registrable_domain: registrable,
            allowlisted,
        }
    }

    /// True when the registrable domain is allowlisted: exactly, or by a `name.*` pattern under
    /// any public suffix but the risky ones (`paypal.*` covers paypal.de, not paypal.tk).
    pub fn is_allowlisted(&self, registrable: &str) -> bool {
        if self.allow_exact.contains(registrable) {
            return true;
        }
        if self.allow_any_suffix.is_empty() {
            return false;
        }
        match psl::suffix_str(registrable) {
            Some(suffix) if suffix.len() < registrable.len() => {
                let name = &registrable[..registrable.len() - suffix.len() - 1];
                self.allow_any_suffix.contains(name) && !self.risky_tlds.contains(suffix)
            }
            _ => false,
        }
    }

    /// Everything certhound would decide about one name, step by step.
    pub fn explain(&self, input: &str) -> Explanation {
        let name = normalise::normalise(input);
        let mut scratch = Scratch::default();
        name.fold_into(&mut scratch.folded);
        let mut labels = Vec::new();
        let a = self.assess_folded(
            &name,
            CertContext::default(),
            &mut scratch,
            Some(&mut labels),
        );
        let verdict = if a.registrable_domain.is_none() {
            "not reported: no registrable domain (a bare public suffix)".to_string()
        } else if a.score < self.threshold {
            if a.terms.is_empty() {
                "no finding: no brand, look-alike or suspicious word in its labels".to_string()
            } else {
                format!(
                    "no finding: score {:.2} is below the threshold {:.2}",
                    a.score, self.threshold
                )
            }
        } else if a.allowlisted {
            format!(
                "not reported: score {:.2} ({}), but {} is on the allowlist",
                a.score,
                a.rules.join(", "),
                a.registrable_domain.as_deref().unwrap_or_default()
            )
        } else {
            format!("finding: score {:.2} ({})", a.score, a.rules.join(", "))
        };
        let display = name.display().to_string();
        Explanation {
            input: input.to_string(),
            cleaned: normalise::clean(input).into_owned(),
            ascii: name.ascii.to_string(),
            unicode: name.unicode.clone(),
            without_diacritics: normalise::without_diacritics(&display),
            folded: String::from_utf8_lossy(&scratch.folded).into_owned(),
            registrable_domain: a.registrable_domain.clone(),
            public_suffix: public_suffix(&name.ascii).map(str::to_string),
            labels,
            score: a.score,
            threshold: self.threshold,
            verdict,
            terms: a.terms,
            rules: a.rules,
            homoglyph: a.homoglyph,
            allowlisted: a.allowlisted,
        }
    }

    /// The configured brands that get typo look-alikes, as configured (for tests and `eval`).
    pub fn lookalike_brands(&self) -> Vec<&str> {
        self.lookalike_brand
            .iter()
            .map(|b| self.brands[*b as usize].name.as_str())
            .collect()
    }
}

/// `s` without hyphens.
fn compact(s: &str) -> Vec<u8> {
    s.bytes().filter(|b| *b != b'-').collect()
}

/// Whether the label goes on from `end` with an inflection that ends at a word boundary
/// (`verify|ing`, `account|s`).
fn inflected_to_boundary(label: &[u8], start: usize, end: usize, cut: &Cut) -> bool {
    INFLECTIONS.iter().any(|inf| {
        let e = end + inf.len();
        label.get(end..e) == Some(inf.as_bytes())
            && (e == label.len() || cut.is_boundary(e))
            && !NOT_INFLECTIONS
                .iter()
                .any(|w| label.get(start..e) == Some(w.as_bytes()))
    })
}

fn has_digit_run(s: &str, n: usize) -> bool {
    let mut run = 0;
    for b in s.bytes() {
        if b.is_ascii_digit() {
            run += 1;
            if run >= n {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// The public suffix of a lowercase ASCII name (`co.uk`), from the Public Suffix List.
fn public_suffix(ascii: &str) -> Option<&str> {
    if !is_domain_shaped(ascii) {
        return None;
    }
    psl::suffix_str(ascii)
}

/// The registrable domain (eTLD+1) of a lowercase ASCII name, from the Public Suffix List.
/// `None` for a bare public suffix, an empty name or one with an empty label (`a..com`).
pub fn registrable_domain(ascii: &str) -> Option<&str> {
    if !is_domain_shaped(ascii) {
        return None;
    }
    psl::domain_str(ascii)
}

/// ASCII, not empty, and no empty label: a name a certificate could carry.
fn is_domain_shaped(ascii: &str) -> bool {
    !ascii.is_empty() && ascii.is_ascii() && !ascii.split('.').any(str::is_empty)
}
