//! The terms of a name's score: what each adds, and how `explain` and notifications show them.

use serde::Serialize;

/// What a term stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TermKind {
    BrandLabel,
    BrandPart,
    BrandWord,
    Lookalike,
    Homoglyph,
    SuspiciousWord,
    BrandInSubdomain,
    FakeTldWord,
    DeepNesting,
    RiskyTld,
    FreeCa,
    Hyphens,
    Digits,
    RandomLabel,
}

impl TermKind {
    /// The name of the term, as in `[matcher.weights]`.
    pub fn key(self) -> &'static str {
        match self {
            TermKind::BrandLabel => "brand_label",
            TermKind::BrandPart => "brand_part",
            TermKind::BrandWord => "brand_word",
            TermKind::Lookalike => "lookalike",
            TermKind::Homoglyph => "homoglyph",
            TermKind::SuspiciousWord => "suspicious_word",
            TermKind::BrandInSubdomain => "brand_in_subdomain",
            TermKind::FakeTldWord => "fake_tld_word",
            TermKind::DeepNesting => "deep_nesting",
            TermKind::RiskyTld => "risky_tld",
            TermKind::FreeCa => "free_ca",
            TermKind::Hyphens => "hyphens",
            TermKind::Digits => "digits",
            TermKind::RandomLabel => "random_label",
        }
    }
}

/// One term of a score: `brand_word paypal +0.70`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Term {
    pub kind: TermKind,
    /// What it is about: the brand, the word, the suffix, the label.
    pub detail: String,
    pub weight: f64,
}

impl std::fmt::Display for Term {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {:+.2}", self.kind.key(), self.detail, self.weight)
    }
}
