//! Verdicts on DynamoDB: item `F#<n>` / `V` beside the finding (`verdict`, `at`, `by`, `ttl`),
//! written only while the finding's item exists, read with the finding by `get` (a query of its
//! partition) and by `list` (the scan).

use super::outbox::finding_pk;
use super::*;
use crate::store::verdicts::finding_number;
use crate::store::{Record, Verdict, VerdictKind};
use aws_sdk_dynamodb::types::{ConditionCheck, TransactWriteItem};

/// The verdict of finding `n` from its `V` item.
pub(super) fn decode(n: u64, item: &Item) -> Result<Verdict, StoreError> {
    let bad = |what: &str| StoreError::Remote(format!("DynamoDB: verdict of finding {n}: {what}"));
    let kind = get_str(item, "verdict").ok_or_else(|| bad("no verdict"))?;
    Ok(Verdict {
        kind: kind
            .parse::<VerdictKind>()
            .map_err(|e| bad(&e.to_string()))?,
        at: get_num(item, "at").ok_or_else(|| bad("no time"))?,
        by: get_str(item, "by").unwrap_or_default().to_string(),
    })
}

impl Db {
    /// Writes finding `n`'s verdict in one transaction with a check that the finding's item
    /// exists; false (nothing written) when it does not.
    async fn set_verdict(&self, n: u64, verdict: Verdict) -> Result<bool, StoreError> {
        let check = ConditionCheck::builder()
            .table_name(self.table())
            .set_key(Some(key(finding_pk(n), "F")))
            .condition_expression("attribute_exists(pk)")
            .build()
            .expect("table, key and condition");
        let mut item = key(finding_pk(n), "V");
        item.insert("verdict".into(), s(verdict.kind.as_str()));
        item.insert("at".into(), num(verdict.at));
        item.insert("by".into(), s(verdict.by));
        item.insert("ttl".into(), num(self.expiry()));
        let items = vec![
            TransactWriteItem::builder().condition_check(check).build(),
            self.put(item),
        ];
        // The condition is the first item's, as in a holder's transaction.
        self.transact_held(items).await
    }
}

impl DynamoStore {
    /// Sets (or replaces) the verdict of the finding with this id (`<store id>:<n>`).
    /// `Ok(false)` when there is no such finding in this table.
    pub fn set_verdict(&self, id: &str, verdict: &Verdict) -> Result<bool, StoreError> {
        let Some(n) = finding_number(self.id(), id) else {
            return Ok(false);
        };
        let verdict = verdict.to_store();
        self.run(move |db| async move { db.set_verdict(n, verdict).await })
    }

    /// One finding by id, with its delivery states and verdict.
    pub fn get(&self, id: &str) -> Result<Option<Record>, StoreError> {
        let Some(n) = finding_number(self.id(), id) else {
            return Ok(None);
        };
        self.run(move |db| async move { db.record(n).await })
    }
}
