//! The matching rules: keywords, suspicious words and the allowlist, compiled once from
//! `[matcher]` into one Aho-Corasick automaton, so that the cost per name does not grow with the
//! number of keywords.
//!
//! Names are matched in their skeleton form (see [`crate::normalise`]); the allowlist is checked
//! only for names that matched, on their registrable domain (eTLD+1 from the Public Suffix List,
//! compiled into the `psl` crate).

use crate::normalise::{self, Normalised};
use aho_corasick::automaton::Automaton;
use aho_corasick::{dfa::DFA, AhoCorasick, AhoCorasickKind, Anchored, MatchKind};
use certhound_config::MatcherConfig;
use serde::Serialize;
use std::collections::HashSet;

/// What a pattern of the automaton stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Keyword,
    Word,
}

/// The compiled `[matcher]` rules.
pub struct RuleSet {
    /// The same patterns as `automaton`, stepped by hand on the hot path (see `any_match`).
    dfa: DFA,
    automaton: AhoCorasick,
    /// Per pattern id: the keyword as configured and its kind.
    patterns: Vec<(String, Kind)>,
    min_words: usize,
    allow_exact: HashSet<String>,
    /// `name` of each `name.*` allowlist entry.
    allow_any_suffix: HashSet<String>,
}

/// A name that matched a rule and is not allowlisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameMatch {
    /// Rules that matched, like `keyword:paypal` or `words:login+verify`.
    pub rules: Vec<String>,
    /// True when the match needed look-alike folding: the plain name does not contain it.
    pub homoglyph: bool,
}

/// Why a name is or is not a finding: what `certhound explain` prints.
#[derive(Debug, Serialize)]
pub struct Explanation {
    pub input: String,
    pub ascii: String,
    pub unicode: Option<String>,
    pub skeleton: String,
    pub registrable_domain: Option<String>,
    pub rules: Vec<String>,
    pub homoglyph: bool,
    pub allowlisted: bool,
    pub verdict: String,
}

/// Reusable buffers so that matching allocates nothing for names that do not match.
#[derive(Default)]
pub struct Scratch {
    skeleton: Vec<u8>,
    hits: Vec<usize>,
}

impl RuleSet {
    pub fn new(cfg: &MatcherConfig) -> Result<RuleSet, String> {
        let mut patterns: Vec<(String, Kind)> = Vec::new();
        let mut seen = HashSet::new();
        for (list, kind) in [
            (&cfg.keywords, Kind::Keyword),
            (&cfg.suspicious_words, Kind::Word),
        ] {
            for k in list {
                let k = k.trim().to_lowercase();
                if seen.insert((k.clone(), kind)) {
                    patterns.push((k, kind));
                }
            }
        }
        let skeletons: Vec<String> = patterns
            .iter()
            .map(|(k, _)| normalise::skeleton_of(k))
            .collect();
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&skeletons)
            .or_else(|_| {
                // Very large keyword sets can exceed the DFA's size limit: fall back to the
                // automatic choice (a contiguous NFA), slower per byte but without that limit.
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&skeletons)
            })
            .map_err(|e| format!("cannot compile keywords: {e}"))?;
        let dfa = DFA::builder()
            .match_kind(MatchKind::Standard)
            .build(&skeletons)
            .map_err(|e| format!("cannot compile keywords: {e}"))?;
        let mut allow_exact = HashSet::new();
        let mut allow_any_suffix = HashSet::new();
        for a in &cfg.allowlist {
            let a = a.trim().to_lowercase();
            match a.strip_suffix(".*") {
                Some(name) => allow_any_suffix.insert(name.to_string()),
                None => allow_exact.insert(a),
            };
        }
        Ok(RuleSet {
            dfa,
            automaton,
            patterns,
            min_words: cfg.min_suspicious_words,
            allow_exact,
            allow_any_suffix,
        })
    }

    /// Number of patterns compiled.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Matches one normalised name. `None` for the vast majority of names; allocation happens
    /// only for a match. The allowlist is not consulted here (see [`RuleSet::is_allowlisted`]).
    pub fn match_name(&self, name: &Normalised<'_>, scratch: &mut Scratch) -> Option<NameMatch> {
        if name.unicode.is_none() && !self.any_match(name.ascii.as_bytes()) {
            return None;
        }
        name.skeleton_into(&mut scratch.skeleton);
        scratch.hits.clear();
        for m in self
            .automaton
            .find_overlapping_iter(scratch.skeleton.as_slice())
        {
            let id = m.pattern().as_usize();
            if !scratch.hits.contains(&id) {
                scratch.hits.push(id);
            }
        }
        if scratch.hits.is_empty() {
            return None;
        }
        self.decide(name, &scratch.hits)
    }

    /// Whether any pattern occurs in the skeleton of an ASCII name, without building the
    /// skeleton: each byte's skeleton is fed to the DFA directly. Nearly every name ends here, so
    /// this loop is the cost of matching (no allocation, no copy, no per-call setup).
    fn any_match(&self, ascii: &[u8]) -> bool {
        let dfa = &self.dfa;
        let Ok(mut sid) = dfa.start_state(Anchored::No) else {
            return true; // cannot happen for an unanchored DFA; take the full path
        };
        let mut step = |b: u8| {
            sid = dfa.next_state(Anchored::No, sid, b);
            dfa.is_special(sid) && dfa.is_match(sid)
        };
        let table = normalise::ascii_skeletons();
        for &b in ascii {
            match table.get(b) {
                Ok(one) => {
                    if step(one) {
                        return true;
                    }
                }
                Err(many) => {
                    for &m in many.as_bytes() {
                        if step(m) {
                            return true;
                        }
                    }
                }
            }
        }
        false
    }

    fn decide(&self, name: &Normalised<'_>, hits: &[usize]) -> Option<NameMatch> {
        let mut rules = Vec::new();
        let mut words: Vec<&str> = Vec::new();
        // A rule that matched only after folding look-alikes makes the finding a homoglyph one:
        // that is the tell-tale of a deliberate imitation, even when another rule matched plainly.
        let mut folded = false;
        let plain = name.display();
        for &id in hits {
            let (k, kind) = &self.patterns[id];
            match kind {
                Kind::Keyword => {
                    rules.push(format!("keyword:{k}"));
                    folded |= !plain.contains(k.as_str());
                }
                Kind::Word => words.push(k),
            }
        }
        if self.min_words > 0 && words.len() >= self.min_words {
            words.sort_unstable();
            rules.push(format!("words:{}", words.join("+")));
            folded |= !words.iter().all(|w| plain.contains(w));
        }
        if rules.is_empty() {
            return None;
        }
        rules.sort_unstable();
        Some(NameMatch {
            rules,
            homoglyph: folded,
        })
    }

    /// True when the registrable domain is the brand's own (allowlist).
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
                self.allow_any_suffix.contains(name)
            }
            _ => false,
        }
    }

    /// Everything certhound would decide about one name, step by step.
    pub fn explain(&self, input: &str) -> Explanation {
        let name = normalise::normalise(input);
        let mut scratch = Scratch::default();
        let m = self.match_name(&name, &mut scratch);
        let registrable = registrable_domain(&name.ascii).map(str::to_string);
        let allowlisted = registrable
            .as_deref()
            .map(|r| self.is_allowlisted(r))
            .unwrap_or(false);
        let verdict = match (&m, allowlisted) {
            (Some(m), false) => format!("finding: {}", m.rules.join(", ")),
            (Some(m), true) => format!(
                "not reported: {} matched, but {} is on the allowlist",
                m.rules.join(", "),
                registrable.as_deref().unwrap_or_default()
            ),
            (None, _) => {
                let mut words = Vec::new();
                for mt in self
                    .automaton
                    .find_overlapping_iter(scratch.skeleton.as_slice())
                {
                    let (k, kind) = &self.patterns[mt.pattern().as_usize()];
                    if *kind == Kind::Word && !words.contains(k) {
                        words.push(k.clone());
                    }
                }
                if words.is_empty() {
                    "no rule matched: no keyword or suspicious word occurs in the skeleton"
                        .to_string()
                } else {
                    format!(
                        "no rule matched: suspicious word(s) {} found, {} needed",
                        words.join(", "),
                        self.min_words
                    )
                }
            }
        };
        Explanation {
            input: input.to_string(),
            ascii: name.ascii.to_string(),
            unicode: name.unicode.clone(),
            skeleton: String::from_utf8_lossy(&scratch.skeleton).into_owned(),
            registrable_domain: registrable,
            homoglyph: m.as_ref().map(|m| m.homoglyph).unwrap_or(false),
            rules: m.map(|m| m.rules).unwrap_or_default(),
            allowlisted,
            verdict,
        }
    }
}

/// The registrable domain (eTLD+1) of a lowercase ASCII name, from the Public Suffix List.
/// `None` for a bare public suffix or an empty name.
pub fn registrable_domain(ascii: &str) -> Option<&str> {
    if ascii.is_empty() || !ascii.is_ascii() {
        return None;
    }
    psl::domain_str(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> RuleSet {
        RuleSet::new(&MatcherConfig::default()).unwrap()
    }

    fn check(r: &RuleSet, name: &str) -> Option<NameMatch> {
        r.match_name(&normalise::normalise(name), &mut Scratch::default())
    }

    #[test]
    fn keywords_match_case_insensitively_and_through_lookalikes() {
        let r = rules();
        let m = check(&r, "PAYPAL-Login.example.com").unwrap();
        assert!(m.rules.contains(&"keyword:paypal".to_string()));
        assert!(!m.homoglyph);
        let m = check(&r, "раypal-secure.com").unwrap();
        assert_eq!(m.rules, vec!["keyword:paypal"]);
        assert!(m.homoglyph);
        // Cyrillic о in the brand; the suspicious words match plainly.
        let m = check(&r, "micrоsoft-account-update.net").unwrap();
        assert!(m.homoglyph, "{m:?}");
        let puny = idna::domain_to_ascii("раypal-secure.com").unwrap();
        assert_eq!(check(&r, &puny).unwrap().rules, vec!["keyword:paypal"]);
        assert!(check(&r, "bancodirecta-seguro.com")
            .unwrap()
            .rules
            .contains(&"keyword:banco".to_string()));
    }

    #[test]
    fn suspicious_words_need_two() {
        let r = rules();
        assert_eq!(check(&r, "login.example.com"), None);
        let m = check(&r, "secure-login.example.com").unwrap();
        assert_eq!(m.rules, vec!["words:login+secure"]);
    }

    #[test]
    fn benign_names_do_not_match() {
        let r = rules();
        for n in [
            "example.org",
            "cebit.hannover-verkehr.de",
            "portal.dragonjar.org",
        ] {
            assert_eq!(check(&r, n), None, "{n}");
        }
    }

    #[test]
    fn allowlist_exact_and_any_suffix() {
        let r = rules();
        assert!(r.is_allowlisted("paypal.com"));
        assert!(r.is_allowlisted("amazon.co.uk"));
        assert!(r.is_allowlisted("microsoftonline.com"));
        assert!(!r.is_allowlisted("paypal-login.com"));
        assert!(!r.is_allowlisted("amazon-secure.co.uk"));
    }

    #[test]
    fn registrable_domain_uses_the_public_suffix_list() {
        assert_eq!(
            registrable_domain("a.b.example.co.uk"),
            Some("example.co.uk")
        );
        assert_eq!(registrable_domain("login.paypal.com"), Some("paypal.com"));
        assert_eq!(registrable_domain("co.uk"), None);
        assert_eq!(registrable_domain(""), None);
    }

    #[test]
    fn fast_path_agrees_with_the_full_skeleton_scan() {
        let r = rules();
        let text = include_str!("../../tests/fixtures/domains/labelled.tsv");
        let extra = [
            "rnicrosoft.com",
            "paypa1.com",
            "g00gle.com",
            "xn--pypal-4ve.com",
            "m",
            "",
        ];
        let mut buf = Vec::new();
        let mut checked = 0;
        for name in text
            .lines()
            .filter_map(|l| l.split('\t').next())
            .chain(extra)
        {
            let n = normalise::normalise(name);
            if n.unicode.is_some() {
                continue;
            }
            n.skeleton_into(&mut buf);
            assert_eq!(
                r.any_match(n.ascii.as_bytes()),
                r.automaton.is_match(buf.as_slice()),
                "{name}"
            );
            checked += 1;
        }
        assert!(checked > 5000);
    }

    #[test]
    fn explain_says_why() {
        let r = rules();
        assert!(r.explain("www.paypal.com").verdict.contains("allowlist"));
        assert!(r
            .explain("example.org")
            .verdict
            .starts_with("no rule matched"));
        let e = r.explain(&idna::domain_to_ascii("раypal-login.com").unwrap());
        assert!(e.verdict.starts_with("finding"), "{e:?}");
        assert_eq!(e.unicode.as_deref(), Some("раypal-login.com"));
    }
}
