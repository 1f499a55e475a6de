//! The compiled rules and the per-name decision (temporary: substring keywords, being replaced).

use super::{Assessment, CertContext, Explanation, NameMatch, RulesError, Term, TermKind, Verdict};
use crate::normalise::{self, Normalised};
use aho_corasick::AhoCorasick;
use certhound_config::MatcherConfig;
use std::collections::HashSet;

pub struct RuleSet {
    automaton: AhoCorasick,
    patterns: Vec<String>,
    threshold: f64,
    allow_exact: HashSet<String>,
    allow_any_suffix: HashSet<String>,
}

#[derive(Default)]
pub struct Scratch {
    skeleton: Vec<u8>,
}

impl RuleSet {
    pub fn new(cfg: &MatcherConfig) -> Result<RuleSet, RulesError> {
        let patterns: Vec<String> = cfg.keywords.iter().map(|k| k.to_lowercase()).collect();
        let sk: Vec<String> = patterns.iter().map(|k| normalise::skeleton_of(k)).collect();
        let automaton = AhoCorasick::new(&sk).map_err(|e| RulesError {
            key: "matcher.keywords".into(),
            message: e.to_string(),
        })?;
        let mut allow_exact = HashSet::new();
        let mut allow_any_suffix = HashSet::new();
        for a in &cfg.allowlist {
            match a.strip_suffix(".*") {
                Some(n) => allow_any_suffix.insert(n.to_string()),
                None => allow_exact.insert(a.to_string()),
            };
        }
        Ok(RuleSet {
            automaton,
            patterns,
            threshold: cfg.threshold,
            allow_exact,
            allow_any_suffix,
        })
    }

    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn check(
        &self,
        name: &Normalised<'_>,
        ctx: CertContext<'_>,
        scratch: &mut Scratch,
    ) -> Verdict {
        let a = self.assess_normalised(name, ctx, scratch);
        if a.score < self.threshold {
            return Verdict::Clean;
        }
        if a.allowlisted {
            return Verdict::Allowlisted;
        }
        match a.registrable_domain {
            Some(r) => Verdict::Finding(NameMatch {
                registrable_domain: r,
                rules: a.rules,
                homoglyph: a.homoglyph,
                score: a.score,
                terms: a.terms,
            }),
            None => Verdict::Clean,
        }
    }

    pub fn assess(&self, input: &str, ctx: CertContext<'_>) -> Assessment {
        let name = normalise::normalise(input);
        self.assess_normalised(&name, ctx, &mut Scratch::default())
    }

    fn assess_normalised(
        &self,
        name: &Normalised<'_>,
        _ctx: CertContext<'_>,
        scratch: &mut Scratch,
    ) -> Assessment {
        name.skeleton_into(&mut scratch.skeleton);
        let mut terms = Vec::new();
        let mut rules = Vec::new();
        for m in self
            .automaton
            .find_overlapping_iter(scratch.skeleton.as_slice())
        {
            let k = &self.patterns[m.pattern().as_usize()];
            terms.push(Term {
                kind: TermKind::BrandWord,
                detail: k.clone(),
                weight: 1.0,
            });
            rules.push(format!("keyword:{k}"));
        }
        let registrable = registrable_domain(&name.ascii).map(str::to_string);
        let allowlisted = registrable
            .as_deref()
            .is_some_and(|r| self.is_allowlisted(r));
        Assessment {
            score: terms.iter().map(|t| t.weight).sum(),
            terms,
            rules,
            homoglyph: false,
            registrable_domain: registrable,
            allowlisted,
        }
    }

    pub fn is_allowlisted(&self, registrable: &str) -> bool {
        if self.allow_exact.contains(registrable) {
            return true;
        }
        match psl::suffix_str(registrable) {
            Some(suffix) if suffix.len() < registrable.len() => {
                let name = &registrable[..registrable.len() - suffix.len() - 1];
                self.allow_any_suffix.contains(name)
            }
            _ => false,
        }
    }

    pub fn explain(&self, input: &str) -> Explanation {
        let name = normalise::normalise(input);
        let a = self.assess(input, CertContext::default());
        Explanation {
            input: input.to_string(),
            cleaned: normalise::clean(input).into_owned(),
            ascii: name.ascii.to_string(),
            unicode: name.unicode.clone(),
            without_diacritics: None,
            folded: String::new(),
            registrable_domain: a.registrable_domain.clone(),
            public_suffix: None,
            labels: Vec::new(),
            score: a.score,
            threshold: self.threshold,
            verdict: String::new(),
            terms: a.terms,
            rules: a.rules,
            homoglyph: a.homoglyph,
            allowlisted: a.allowlisted,
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
