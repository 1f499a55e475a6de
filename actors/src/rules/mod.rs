//! The detection engine: which certificate names are findings, and why.
//!
//! Compiled once from `[matcher]` (and `matcher.allowlist_file`) into a [`RuleSet`]; a reload
//! builds a new one and swaps it in ([`SharedRules`]), so the matcher never waits for a rebuild.
//! For each name:
//! 1. [`crate::normalise`] cleans it and folds it (diacritics, TR39 confusables, the ASCII
//!    look-alikes `rn`/`m`, `vv`/`w`, `1`/`l`, `0`/`o`), the same folding the keywords get;
//! 2. the labels below the public suffix are cut into words ([`words`]): at hyphens, at digits,
//!    and by a word list for glued words, so `securepaypal` is `secure`+`paypal` while
//!    `purchase` holds no `chase` and `turtlebay` no `ebay`;
//! 3. brands are found as whole labels, as words, and as look-alikes within a small edit
//!    distance ([`lookalike`]: omission, insertion, replacement, transposition, repetition,
//!    vowel swap, bitsquatting, hyphenation);
//! 4. [`score`] adds up the terms that apply into one score; at `matcher.threshold` the name is
//!    a finding, unless its registrable domain is allowlisted.
//!
//! Cost: nearly every name matches nothing. Those take the fast path: one pass of an
//! Aho-Corasick DFA over the folded bytes (are there brand or suspicious-word substrings?) and a
//! handful of hash probes of the look-alike index for the labels of brand-like length. Only
//! names with a hit are segmented and scored.

mod engine;
pub mod lookalike;
pub mod score;
pub mod words;

#[cfg(test)]
mod tests;

pub use engine::{registrable_domain, RuleSet, Scratch};
pub use score::{Term, TermKind};

use serde::Serialize;
use std::sync::Arc;

/// The rules in force, shared by the matcher and whatever reloads them: a reload stores a new
/// [`RuleSet`], the matcher loads the current one for each batch (one atomic load).
pub type SharedRules = Arc<arc_swap::ArcSwap<RuleSet>>;

/// Wraps compiled rules for sharing.
pub fn shared(rules: RuleSet) -> SharedRules {
    Arc::new(arc_swap::ArcSwap::from_pointee(rules))
}

/// Why rules could not be built: the config key at fault and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key `{key}`: {message}")]
pub struct RulesError {
    pub key: String,
    pub message: String,
}

/// What a certificate adds to the judgement of its names.
#[derive(Debug, Clone, Copy, Default)]
pub struct CertContext<'a> {
    /// The issuer's organisation or common name, when known.
    pub issuer: Option<&'a str>,
}

/// The decision for one name.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Below the threshold (nearly every name).
    Clean,
    /// The registrable domain is allowlisted and the name could reach the threshold (its score
    /// bound does; it is not scored further).
    Allowlisted,
    /// A finding.
    Finding(NameMatch),
}

/// A name whose score reached the threshold and that is not allowlisted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NameMatch {
    /// eTLD+1 of the name.
    pub registrable_domain: String,
    /// The rules that fired, short and stable for filters: `keyword:paypal`,
    /// `lookalike:paypal`, `words:login+verify`.
    pub rules: Vec<String>,
    /// The brand only appeared after folding non-ASCII look-alikes.
    pub homoglyph: bool,
    /// The name's score (at least the threshold).
    pub score: f64,
    /// Every term that added to the score, largest first.
    pub terms: Vec<Term>,
}

/// The full judgement of one name, whatever the threshold: what `certhound eval` sweeps.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub score: f64,
    pub terms: Vec<Term>,
    pub rules: Vec<String>,
    pub homoglyph: bool,
    pub registrable_domain: Option<String>,
    pub allowlisted: bool,
}

impl Assessment {
    /// Whether this name alerts at `threshold`.
    pub fn alerts_at(&self, threshold: f64) -> bool {
        !self.allowlisted && self.registrable_domain.is_some() && self.score >= threshold
    }
}

/// Why a name is or is not a finding, step by step: what `certhound explain` prints.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub input: String,
    /// Wildcard and trailing dot stripped, lowercased.
    pub cleaned: String,
    pub ascii: String,
    pub unicode: Option<String>,
    /// Diacritics dropped (NFD without combining marks), when that changed anything.
    pub without_diacritics: Option<String>,
    /// TR39 skeleton and the ASCII look-alikes folded: the text that brands are matched in.
    pub folded: String,
    pub registrable_domain: Option<String>,
    pub public_suffix: Option<String>,
    /// Each label below the public suffix with the words it was cut into.
    pub labels: Vec<LabelWords>,
    pub terms: Vec<Term>,
    pub score: f64,
    pub threshold: f64,
    pub rules: Vec<String>,
    pub homoglyph: bool,
    pub allowlisted: bool,
    pub verdict: String,
}

/// One label and its words, for `explain`.
#[derive(Debug, Clone, Serialize)]
pub struct LabelWords {
    pub label: String,
    pub words: Vec<String>,
}
