//! Upgrading a store written by an older certhound, in the transaction that opens it, so that
//! an upgrade on ECS (same EFS volume, new image) keeps every pending delivery instead of
//! refusing to start. Only the previous format is migrated; older ones are refused by name.
//!
//! Format 3 → 4: findings gained `score` and `terms` (the scoring engine). A migrated finding
//! gets score 0 and no terms: the notification then shows no score line rather than a made-up
//! one. Delivery states and cached lookups did not change: only their format byte is
//! rewritten.

use super::codec;
use super::{StoreError, Stored, DELIVERY, FINDINGS, LOOKUPS};
use crate::finding::{CertInfo, Finding, RegistrationInfo, ScanInfo, SourceInfo};
use redb::{ReadableTable, WriteTransaction};
use serde::{Deserialize, Serialize};

/// The format this module upgrades from.
pub const FROM: u8 = 3;

/// A finding as format 3 stored it (field order matters: bincode is positional).
#[derive(Serialize, Deserialize)]
pub(super) struct FindingV3 {
    pub id: String,
    pub detected_at: String,
    pub domain: String,
    pub domain_unicode: Option<String>,
    pub registrable_domain: String,
    pub matched_names: Vec<String>,
    pub rules: Vec<String>,
    pub homoglyph: bool,
    pub cert: CertInfo,
    pub source: Option<SourceInfo>,
    pub seen: Option<f64>,
    pub registration: Option<RegistrationInfo>,
    pub scan: Option<ScanInfo>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct StoredV3 {
    pub finding: FindingV3,
    pub stored_at: u64,
}

impl From<FindingV3> for Finding {
    fn from(f: FindingV3) -> Finding {
        Finding {
            id: f.id,
            detected_at: f.detected_at,
            domain: f.domain,
            domain_unicode: f.domain_unicode,
            registrable_domain: f.registrable_domain,
            matched_names: f.matched_names,
            rules: f.rules,
            homoglyph: f.homoglyph,
            score: 0.0,
            terms: Vec::new(),
            cert: f.cert,
            source: f.source,
            seen: f.seen,
            registration: f.registration,
            scan: f.scan,
            trace_parent: None,
        }
    }
}

/// The way back, for the tests that build a format-3 store.
#[cfg(test)]
impl From<Finding> for FindingV3 {
    fn from(f: Finding) -> FindingV3 {
        FindingV3 {
            id: f.id,
            detected_at: f.detected_at,
            domain: f.domain,
            domain_unicode: f.domain_unicode,
            registrable_domain: f.registrable_domain,
            matched_names: f.matched_names,
            rules: f.rules,
            homoglyph: f.homoglyph,
            cert: f.cert,
            source: f.source,
            seen: f.seen,
            registration: f.registration,
            scan: f.scan,
        }
    }
}

/// Rewrites every value of a format-3 store in format 4. Returns how many findings moved.
pub(super) fn from_3(tx: &WriteTransaction) -> Result<u64, StoreError> {
    let mut moved = 0;
    {
        let mut findings = tx.open_table(FINDINGS)?;
        let mut rewritten: Vec<(u64, Vec<u8>)> = Vec::new();
        for row in findings.iter()? {
            let (k, v) = row?;
            let old: StoredV3 = codec::decode_format(v.value(), FROM)?;
            let new = Stored {
                finding: old.finding.into(),
                stored_at: old.stored_at,
            };
            rewritten.push((k.value(), codec::encode(&new)?));
        }
        for (k, v) in &rewritten {
            findings.insert(*k, v.as_slice())?;
            moved += 1;
        }
    }
    {
        let mut delivery = tx.open_table(DELIVERY)?;
        let mut rewritten: Vec<((u64, String), Vec<u8>)> = Vec::new();
        for row in delivery.iter()? {
            let (k, v) = row?;
            let (n, channel) = k.value();
            rewritten.push(((n, channel.to_string()), codec::reformat(v.value(), FROM)?));
        }
        for ((n, channel), v) in &rewritten {
            delivery.insert((*n, channel.as_str()), v.as_slice())?;
        }
    }
    {
        let mut lookups = tx.open_table(LOOKUPS)?;
        let mut rewritten: Vec<(String, Vec<u8>)> = Vec::new();
        for row in lookups.iter()? {
            let (k, v) = row?;
            rewritten.push((k.value().to_string(), codec::reformat(v.value(), FROM)?));
        }
        for (k, v) in &rewritten {
            lookups.insert(k.as_str(), v.as_slice())?;
        }
    }
    Ok(moved)
}
