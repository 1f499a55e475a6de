//! A finding: one registrable domain of one certificate that matched the rules. This is what
//! every notifier delivers, and the JSONL sink writes it as it is.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id, `<store id>:<number>`, given when the finding is stored; receivers use it to
    /// recognise a repeat (webhook `Idempotency-Key`).
    pub id: String,
    /// When certhound matched it (RFC 3339, UTC).
    pub detected_at: String,
    /// The first matching name, lowercase ASCII, wildcard stripped.
    pub domain: String,
    /// Its Unicode form, when it is an IDN; null otherwise.
    pub domain_unicode: Option<String>,
    /// eTLD+1 of `domain`: what dedupe and lookups work on.
    pub registrable_domain: String,
    /// Every name of the certificate under this registrable domain that matched.
    pub matched_names: Vec<String>,
    /// Rules that matched, e.g. `keyword:paypal`, `lookalike:paypal`, `words:login+verify`.
    pub rules: Vec<String>,
    /// The brand only appeared after folding non-ASCII look-alikes (homoglyphs, diacritics).
    pub homoglyph: bool,
    /// The matcher's score of the highest-scoring matched name (at least `matcher.threshold`).
    pub score: f64,
    /// The terms of that score, largest first: `brand_word paypal +0.70`.
    pub terms: Vec<String>,
    pub cert: CertInfo,
    pub source: Option<SourceInfo>,
    /// When the certstream server saw the entry (epoch seconds).
    pub seen: Option<f64>,
    /// Registration data of the registrable domain (RDAP/WHOIS), once looked up.
    pub registration: Option<RegistrationInfo>,
    /// The urlscan.io scan, once submitted.
    pub scan: Option<ScanInfo>,
    /// The W3C `traceparent` of the finding's trace (see `crate::trace`), when traces are on.
    /// Not part of the finding's own encoding: the store keeps it in a table of its own, in the
    /// transaction that stores the finding, and fills it in when the finding is read back, so
    /// that a finding picked up after a restart continues its trace.
    #[serde(skip)]
    pub trace_parent: Option<String>,
}

/// The urlscan.io scan of a finding. The screenshot link is only set once the scan finished.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ScanInfo {
    pub uuid: Option<String>,
    /// The result page.
    pub result_url: Option<String>,
    /// Only when the scan finished.
    pub screenshot_url: Option<String>,
    /// Visibility urlscan applied (can differ from the configured one).
    pub visibility: Option<String>,
    /// When it was submitted (Unix seconds).
    pub submitted_at: Option<u64>,
    pub finished: bool,
    /// Reused from an earlier scan of the domain (search) instead of a new one.
    pub reused: bool,
    pub final_url: Option<String>,
    pub title: Option<String>,
    pub ip: Option<String>,
    pub country: Option<String>,
    pub malicious: Option<bool>,
    pub score: Option<i64>,
    /// Why there is no (finished) scan: refused, quota exhausted, not finished in time.
    pub note: Option<String>,
}

/// What the lookup of a finding's registrable domain found: the original alerts' CDu (date of the
/// last update) and Delta (days since it), and whether that is recent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RegistrationInfo {
    /// RFC 3339 dates.
    pub created: Option<String>,
    pub updated: Option<String>,
    pub expires: Option<String>,
    pub registrar: Option<String>,
    /// `rdap <server>` or `whois <server>`.
    pub source: Option<String>,
    /// Date of the last change: `updated`, else `created`.
    pub cdu: Option<String>,
    /// Days since `cdu`.
    pub delta_days: Option<i64>,
    /// Created or changed within `enrich.recent_days`; null when unknown.
    pub recent: Option<bool>,
    /// Why the dates are unknown ("registration date unknown: ..."), when they are.
    pub note: Option<String>,
}

/// The certificate behind a finding, as far as the feed told.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CertInfo {
    pub cn: Option<String>,
    pub all_domains: Vec<String>,
    pub issuer: Option<String>,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub serial_number: Option<String>,
    pub fingerprint: Option<String>,
    pub update_type: Option<String>,
    pub cert_index: Option<u64>,
    pub cert_link: Option<String>,
}

/// The CT log the certificate was seen in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    pub name: Option<String>,
    pub url: Option<String>,
}

/// A finding of `domain` as the matcher makes one, for tests and benchmarks.
pub fn test_finding(domain: &str) -> Finding {
    Finding {
        id: String::new(),
        detected_at: "2026-11-28T12:00:00.000Z".into(),
        domain: domain.into(),
        domain_unicode: None,
        registrable_domain: domain.into(),
        matched_names: vec![domain.into()],
        rules: vec!["keyword:paypal".into()],
        score: 1.45,
        terms: vec![
            "brand_word paypal +0.70".into(),
            "suspicious_word verify +0.45".into(),
        ],
        homoglyph: false,
        cert: CertInfo::default(),
        source: None,
        seen: Some(1.5),
        registration: None,
        scan: None,
        trace_parent: None,
    }
}
