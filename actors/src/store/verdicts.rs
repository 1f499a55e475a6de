//! Analysts' verdicts on findings ("phishing", "false alarm", "unsure"), given on the admin page
//! and listed by `certhound findings`: the measured precision per rule and brand comes from
//! them. Kept beside the finding (table `verdicts`, by finding number) rather than in its
//! encoding, so that giving one does not rewrite the finding and no stored format changes; a
//! purge deletes a finding's verdict with it.
//!
//! A finding is named by its id, `<store id>:<n>`: an id of another store (a copy of the file,
//! the other backend) names no finding here.

use super::*;
use redb::ReadableTable;

/// What an analyst said of a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Phishing,
    FalseAlarm,
    Unsure,
}

impl VerdictKind {
    pub const ALL: [VerdictKind; 3] = [
        VerdictKind::Phishing,
        VerdictKind::FalseAlarm,
        VerdictKind::Unsure,
    ];

    /// The name in JSON, on the command line and in DynamoDB.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictKind::Phishing => "phishing",
            VerdictKind::FalseAlarm => "false_alarm",
            VerdictKind::Unsure => "unsure",
        }
    }

    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            VerdictKind::Phishing => "phishing",
            VerdictKind::FalseAlarm => "false alarm",
            VerdictKind::Unsure => "unsure",
        }
    }
}

/// A name that is no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a verdict (phishing, false_alarm or unsure)")]
pub struct UnknownVerdict(pub String);

impl std::str::FromStr for VerdictKind {
    type Err = UnknownVerdict;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "false-alarm" => Ok(VerdictKind::FalseAlarm),
            _ => VerdictKind::ALL
                .into_iter()
                .find(|k| k.as_str() == s)
                .ok_or_else(|| UnknownVerdict(s.to_string())),
        }
    }
}

impl std::fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A finding's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub kind: VerdictKind,
    /// When it was given (Unix seconds).
    pub at: u64,
    /// Who gave it, as the page knows them ("page", or the basic-auth user name); free text,
    /// at most [`VERDICT_BY_MAX`] chars (longer is cut).
    pub by: String,
}

/// The longest `by` stored, in chars.
pub const VERDICT_BY_MAX: usize = 64;

impl Verdict {
    /// The verdict as stored: `by` cut to [`VERDICT_BY_MAX`] chars.
    pub(super) fn to_store(&self) -> Verdict {
        Verdict {
            by: self.by.chars().take(VERDICT_BY_MAX).collect(),
            ..self.clone()
        }
    }
}

/// The finding number in `id` when it is an id of the store `store_id`.
pub(super) fn finding_number(store_id: &str, id: &str) -> Option<u64> {
    let (store, n) = id.rsplit_once(':')?;
    // Digits only, as the store writes them: `+5` or `05` would name finding 5 too.
    let canonical = !n.starts_with('0') && n.bytes().all(|b| b.is_ascii_digit());
    if store != store_id || !canonical {
        return None;
    }
    n.parse().ok()
}

/// The `verdicts` table of a read transaction, or none in a file no writer opened since verdicts
/// came (a writer creates it at open; a reader cannot).
pub(super) fn open_verdicts(
    tx: &redb::ReadTransaction,
) -> Result<Option<redb::ReadOnlyTable<u64, &'static [u8]>>, StoreError> {
    match tx.open_table(VERDICTS) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Finding `n`'s verdict from the `verdicts` table, if any.
pub(super) fn read_verdict(
    verdicts: Option<&redb::ReadOnlyTable<u64, &'static [u8]>>,
    n: u64,
) -> Result<Option<Verdict>, StoreError> {
    let Some(t) = verdicts else {
        return Ok(None);
    };
    Ok(match t.get(n)? {
        Some(v) => Some(codec::decode(v.value())?),
        None => None,
    })
}

impl RedbStore {
    /// Sets (or replaces) the verdict of the finding with this id (`<store id>:<n>`), durably.
    /// `Ok(false)` (nothing written) when there is no such finding in this store.
    pub fn set_verdict(&self, id: &str, verdict: &Verdict) -> Result<bool, StoreError> {
        let Some(n) = finding_number(&self.id, id) else {
            return Ok(false);
        };
        let tx = self.db.begin_write()?;
        let exists = tx.open_table(FINDINGS)?.get(n)?.is_some();
        if !exists {
            tx.abort()?;
            return Ok(false);
        }
        tx.open_table(VERDICTS)?
            .insert(n, codec::encode(&verdict.to_store())?.as_slice())?;
        tx.commit()?;
        Ok(true)
    }

    /// One finding by id, with its delivery states and verdict.
    pub fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let Some(n) = finding_number(&self.id, id) else {
            return Ok(None);
        };
        let tx = self.db.begin_read()?;
        let findings = tx.open_table(FINDINGS)?;
        let Some(v) = findings.get(n)? else {
            return Ok(None);
        };
        let stored: Stored = codec::decode(v.value())?;
        let delivery = tx.open_table(DELIVERY)?;
        let verdicts = open_verdicts(&tx)?;
        record(n, stored, &delivery, verdicts.as_ref()).map(Some)
    }
}
